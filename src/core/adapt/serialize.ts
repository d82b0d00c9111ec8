/**
 * The adaptation as JSON-safe data for the gallery file's metadata block: numbers as
 * numbers, arrays of float32 as little-endian base64 (exact round trip). Platform-free.
 */
import { LITTLE_ENDIAN } from '../endian.js';
import type { Adaptation, AdaptOptions } from './lda.js';

export interface AdaptationRecord {
  /** The options adapt() was called with (re-used when classes change). */
  options: AdaptOptions;
  /** The fitted transform, or null when the references could not support one (identity). */
  fit: null | {
    method: 'lda';
    inDim: number;
    outDim: number;
    power: number;
    shrinkage: number;
    center: string;
    projection: string;
    offset: string;
  };
  /** Why the identity is used, when `fit` is null. */
  reason?: string;
}

export interface CalibrationRecord {
  /** Per-label offset subtracted from the winning label's similarity before the threshold test. */
  offsets: Record<string, number>;
  /** Share of held-out references the threshold was set to reject. */
  rejectRate: number;
  folds: number;
  /**
   * Weight of the cohort term: the mean similarity of the `cohortSize` best other labels
   * is multiplied by it and subtracted too. Absent (files from before it existed): 0.
   */
  cohortWeight?: number;
  cohortSize?: number;
  /** True once classes changed after calibrating (offsets of new labels fall back to the mean): re-run calibrate(). */
  stale?: boolean;
  /** Open-set guards in the embedder's raw space (gallery/open-set.ts); absent in older files: none. */
  guards?: GuardCalibration;
}

/** What calibrate() stores for the open-set guards (gallery/open-set.ts), inside the calibration record. */
export interface GuardCalibration {
  /** Raw-space guard: per-label offsets and the threshold on its calibrated score. */
  raw?: { offsets: Record<string, number>; threshold: number };
  /** Negative guard: threshold on (winner's raw similarity − best negative similarity). */
  negatives?: NegativeCalibration;
}

export interface NegativeCalibration {
  threshold: number;
  /** Held-out negative references answered in calibration. */
  heldOut: number;
  /** Share of them that the calibrated gallery still named (false names). */
  falseNameRate: number;
  /** Share of correctly answered held-out references that the negative guard rejected. */
  knownRejected: number;
}

export function adaptationToRecord(options: AdaptOptions, fit: Adaptation | null, reason?: string): AdaptationRecord {
  return {
    options: { ...options },
    fit: fit && {
      method: fit.method,
      inDim: fit.inDim,
      outDim: fit.outDim,
      power: fit.power,
      shrinkage: fit.shrinkage,
      center: f32ToBase64(fit.center),
      projection: f32ToBase64(fit.projection),
      offset: f32ToBase64(fit.offset),
    },
    ...(reason !== undefined ? { reason } : {}),
  };
}

/** Parse and check a stored record; throws Error(reason) when it is inconsistent. */
export function adaptationFromRecord(r: unknown, dim: number): { options: AdaptOptions; fit: Adaptation | null; reason?: string } {
  if (typeof r !== 'object' || r === null) throw new Error('the adaptation record is not an object');
  const rec = r as Partial<AdaptationRecord>;
  const options = typeof rec.options === 'object' && rec.options !== null ? { ...rec.options } : {};
  if (rec.fit === null || rec.fit === undefined)
    return { options, fit: null, ...(rec.reason !== undefined ? { reason: String(rec.reason) } : {}) };
  const f = rec.fit;
  if (f.method !== 'lda') throw new Error(`unknown adaptation method "${String(f.method)}"`);
  const ints = [f.inDim, f.outDim];
  if (!ints.every((v) => Number.isInteger(v) && v! >= 1)) throw new Error('the adaptation has invalid dimensions');
  if (f.inDim !== dim) throw new Error(`the adaptation expects ${f.inDim}-d vectors but the gallery holds ${dim}-d`);
  const center = base64ToF32(f.center, 'center');
  const projection = base64ToF32(f.projection, 'projection');
  const offset = base64ToF32(f.offset, 'offset');
  if (center.length !== f.inDim || projection.length !== f.inDim * f.outDim || offset.length !== f.outDim)
    throw new Error('the adaptation arrays have the wrong sizes');
  if (!(f.power > 0) || !(f.shrinkage >= 0)) throw new Error('the adaptation parameters are invalid');
  for (const a of [center, projection, offset])
    for (let i = 0; i < a.length; i++) if (!Number.isFinite(a[i]!)) throw new Error('the adaptation holds a non-finite value');
  return {
    options,
    fit: { method: 'lda', inDim: f.inDim, outDim: f.outDim, power: f.power, shrinkage: f.shrinkage, center, projection, offset },
  };
}

const B64 = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/';

export function f32ToBase64(a: Float32Array): string {
  const bytes = new Uint8Array(a.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < a.length; i++) view.setFloat32(i * 4, a[i]!, true);
  let out = '';
  const parts: string[] = [];
  for (let i = 0; i < bytes.length; i += 3) {
    const b0 = bytes[i]!;
    const b1 = i + 1 < bytes.length ? bytes[i + 1]! : 0;
    const b2 = i + 2 < bytes.length ? bytes[i + 2]! : 0;
    out +=
      B64[b0 >> 2]! +
      B64[((b0 & 3) << 4) | (b1 >> 4)]! +
      (i + 1 < bytes.length ? B64[((b1 & 15) << 2) | (b2 >> 6)]! : '=') +
      (i + 2 < bytes.length ? B64[b2 & 63]! : '=');
    if (out.length >= 8192) {
      parts.push(out);
      out = '';
    }
  }
  parts.push(out);
  return parts.join('');
}

export function base64ToF32(s: unknown, what: string): Float32Array {
  if (typeof s !== 'string' || s.length % 4 !== 0) throw new Error(`the adaptation's ${what} is not base64`);
  const pad = s.endsWith('==') ? 2 : s.endsWith('=') ? 1 : 0;
  const n = (s.length / 4) * 3 - pad;
  if (n % 4 !== 0) throw new Error(`the adaptation's ${what} is not a float32 array`);
  const bytes = new Uint8Array(n);
  const lut = new Int16Array(128).fill(-1);
  for (let i = 0; i < 64; i++) lut[B64.charCodeAt(i)] = i;
  let p = 0;
  for (let i = 0; i < s.length; i += 4) {
    const c = [0, 1, 2, 3].map((j) => {
      const ch = s.charCodeAt(i + j);
      if (ch === 61 /* = */ && i + 4 === s.length && j >= 4 - pad) return 0;
      const v = ch < 128 ? lut[ch]! : -1;
      if (v < 0) throw new Error(`the adaptation's ${what} is not base64`);
      return v;
    });
    const triple = (c[0]! << 18) | (c[1]! << 12) | (c[2]! << 6) | c[3]!;
    if (p < n) bytes[p++] = (triple >> 16) & 255;
    if (p < n) bytes[p++] = (triple >> 8) & 255;
    if (p < n) bytes[p++] = triple & 255;
  }
  const out = new Float32Array(n / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes);
  else {
    const view = new DataView(bytes.buffer);
    for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  }
  return out;
}
