/**
 * Open-set guards: checks in the embedder's own (raw) space that a named answer must
 * also pass, so that products outside the gallery are not named.
 *
 * Why: adapt() projects onto the few directions that separate the gallery's classes. A
 * product the gallery lacks has no component there that says so; the projection maps it
 * onto (or near) some class mean, where it scores like a known query (bench:accuracy,
 * "Open set on shelves", measures it). In the raw space such products stay far from
 * every class. Two guards, both compared by cosine on L2-normalised raw vectors:
 *  - the raw-space guard (adapted, calibrated galleries): the calibrated score of the same
 *    query against the raw class means, with its own offsets and threshold from the same
 *    held-out folds as calibrate()'s;
 *  - the negative guard (galleries with negative references, `addNegatives`): the
 *    winner's raw similarity minus the best similarity to any negative reference — a
 *    query closer to a product known NOT to be a target than to the winner is not named.
 * The unknown score is the smallest of the main score and each guard's margin over its
 * own threshold, shifted onto the main threshold, so one threshold test decides and an
 * explicit threshold moves every guard with it.
 */
import { assignFolds, calibratedScore, calibrationFromAnswers, type HeldOutAnswer } from '../adapt/calibrate.js';
import { base64ToF32, f32ToBase64, type GuardCalibration, type NegativeCalibration } from '../adapt/serialize.js';
import { SkulensError } from '../errors.js';

export type { GuardCalibration, NegativeCalibration } from '../adapt/serialize.js';

/** Default threshold of the negative guard on an uncalibrated gallery: never name a query that is closer to a negative than to the winner. */
export const DEFAULT_NEGATIVE_THRESHOLD = 0;
/** calibrate(): false-name rate on held-out negatives it aims for (raising the negative guard's threshold). */
export const DEFAULT_FALSE_NAME_RATE = 0.02;
/** …but never so far that the negative guard alone rejects more than this share of correctly answered held-out references. */
export const NEGATIVE_MAX_KNOWN_REJECT = 0.1;

/** L2-normalised copies of n row-major vectors (zero rows stay zero). */
export function normalizedRows(v: Float32Array, dim: number): Float32Array {
  const out = new Float32Array(v.length);
  for (let o = 0; o < v.length; o += dim) {
    let q = 0;
    for (let k = 0; k < dim; k++) q += v[o + k]! * v[o + k]!;
    const inv = q > 0 ? 1 / Math.sqrt(q) : 0;
    for (let k = 0; k < dim; k++) out[o + k] = v[o + k]! * inv;
  }
  return out;
}

/** The normalised mean of n row-major vectors. */
export function meanDirection(v: Float32Array, dim: number): Float32Array {
  const m = new Float32Array(dim);
  for (let o = 0; o < v.length; o += dim) for (let k = 0; k < dim; k++) m[k] = m[k]! + v[o + k]!;
  return normalizedRows(m, dim);
}

export function dot(a: Float32Array, b: Float32Array, bOffset = 0): number {
  let s0 = 0;
  let s1 = 0;
  const n = a.length;
  let k = 0;
  for (; k + 1 < n; k += 2) {
    s0 += a[k]! * b[bOffset + k]!;
    s1 += a[k + 1]! * b[bOffset + k + 1]!;
  }
  if (k < n) s0 += a[k]! * b[bOffset + k]!;
  return s0 + s1;
}

/** Best similarity of q to n row-major unit vectors (−Infinity when there are none). */
export function bestSimilarity(q: Float32Array, rows: Float32Array): number {
  const dim = q.length;
  let best = -Infinity;
  for (let o = 0; o < rows.length; o += dim) {
    const s = dot(q, rows, o);
    if (s > best) best = s;
  }
  return best;
}

/** A query's answer against raw class means: the winner, its similarity and the others' (best first). */
export interface RawAnswer {
  label: string;
  score: number;
  /** Similarity to every label's mean, by label. */
  byLabel: Map<string, number>;
  /** The other labels' similarities, best first. */
  others: number[];
}

export function rawAnswer(q: Float32Array, labels: readonly string[], means: Float32Array): RawAnswer {
  const dim = q.length;
  const scored = labels.map((label, i) => ({ label, score: dot(q, means, i * dim) }));
  scored.sort((a, b) => b.score - a.score || (a.label < b.label ? -1 : 1));
  return {
    label: scored[0]!.label,
    score: scored[0]!.score,
    byLabel: new Map(scored.map((s) => [s.label, s.score])),
    others: scored.slice(1).map((s) => s.score),
  };
}

/** The raw-space guard's calibrated score. */
export function rawGuardScore(
  a: RawAnswer,
  raw: NonNullable<GuardCalibration['raw']>,
  meanOffset: number,
  cohortWeight: number,
  cohortSize: number,
): number {
  return calibratedScore(a.score, raw.offsets[a.label] ?? meanOffset, a.others, cohortWeight, cohortSize);
}

/** Raw class means, labels sorted. */
export interface RawMeans {
  labels: string[];
  means: Float32Array;
}

/**
 * A gallery's negative references and the raw-space view of its classes that both guards
 * compare with. The gallery owns the classes; it hands them over as `raws` (every
 * class's raw reference vectors, or its stored vectors where the references are gone).
 */
export class OpenSet {
  /** Raw embedder space, L2-normalised, row-major. */
  private negatives: Float32Array = new Float32Array(0);
  private cache: RawMeans | undefined;

  count(dim: number): number {
    return dim ? this.negatives.length / dim : 0;
  }

  /** Add negative references (already checked for size and finiteness). */
  add(flat: Float32Array, dim: number): void {
    const out = new Float32Array(this.negatives.length + flat.length);
    out.set(this.negatives);
    out.set(normalizedRows(flat, dim), this.negatives.length);
    this.negatives = out;
  }

  clear(): void {
    this.negatives = new Float32Array(0);
  }

  /** Replace the negatives (a fold gallery in calibrate(), or a load). */
  set(rows: Float32Array): void {
    this.negatives = rows;
  }

  rows(): Float32Array {
    return this.negatives;
  }

  /** The classes changed: the raw means are recomputed at the next use. */
  invalidate(): void {
    this.cache = undefined;
  }

  rawMeans(dim: number, raws: () => { labels: string[]; raws: Float32Array[] }): RawMeans {
    if (this.cache) return this.cache;
    const { labels, raws: r } = raws();
    const means = new Float32Array(labels.length * dim);
    r.forEach((v, i) => means.set(meanDirection(normalizedRows(v, dim), dim), i * dim));
    return (this.cache = { labels, means });
  }

  /** The winner's raw similarity (to its class mean) minus the best similarity to a negative reference. */
  margin(q: Float32Array, winner: string, means: RawMeans): number {
    const i = means.labels.indexOf(winner);
    return dot(q, means.means, i * q.length) - bestSimilarity(q, this.negatives);
  }

  /**
   * The unknown score after the guards: the smallest of the main score and each active
   * guard's margin over its own threshold, shifted onto the gallery's threshold `base`.
   */
  guardedScore(
    main: number,
    winner: string,
    q: Float32Array,
    base: number,
    means: RawMeans,
    cal: { guards?: GuardCalibration | undefined; cohort: { weight: number; size: number } } | undefined,
    adapted: boolean,
  ): number {
    let u = main;
    const raw = cal?.guards?.raw;
    if (raw && adapted)
      u = Math.min(
        u,
        base +
          rawGuardScore(rawAnswer(q, means.labels, means.means), raw, meanOf(raw.offsets), cal!.cohort.weight, cal!.cohort.size) -
          raw.threshold,
      );
    if (this.negatives.length)
      u = Math.min(u, base + this.margin(q, winner, means) - (cal?.guards?.negatives?.threshold ?? DEFAULT_NEGATIVE_THRESHOLD));
    return u;
  }

  toRecord(dim: number): { count: number; vectors: string } | undefined {
    return this.negatives.length ? { count: this.count(dim), vectors: f32ToBase64(this.negatives) } : undefined;
  }

  /** Read the `negatives` metadata of a file (E_GALLERY_FORMAT when it is inconsistent). */
  static fromRecord(r: unknown, dim: number): OpenSet {
    const rec = r as { count?: unknown; vectors?: unknown } | null;
    let v: Float32Array;
    try {
      v = base64ToF32(rec?.vectors, 'negatives');
    } catch {
      throw new SkulensError('E_GALLERY_FORMAT', 'the negative references are not a base64 float32 array');
    }
    if (typeof rec?.count !== 'number' || v.length !== rec.count * dim)
      throw new SkulensError('E_GALLERY_FORMAT', `the negative references hold ${v.length} values, not count × ${dim}`);
    for (let i = 0; i < v.length; i++)
      if (!Number.isFinite(v[i]!)) throw new SkulensError('E_GALLERY_FORMAT', 'the negative references hold a non-finite value');
    const o = new OpenSet();
    o.negatives = v;
    return o;
  }
}

export function meanOf(offsets: Record<string, number>): number {
  const v = Object.values(offsets);
  return v.length ? v.reduce((a, b) => a + b, 0) / v.length : 0;
}

/** Rows of a row-major matrix whose index passes `keep`. */
export function pickRows(m: Float32Array, dim: number, keep: (i: number) => boolean): Float32Array {
  const idx: number[] = [];
  for (let i = 0; i < m.length / dim; i++) if (keep(i)) idx.push(i);
  const r = new Float32Array(idx.length * dim);
  idx.forEach((i, j) => r.set(m.subarray(i * dim, (i + 1) * dim), j * dim));
  return r;
}

/** One held-out negative reference as a fold gallery answered it. */
export interface HeldOutNegative {
  answer: string;
  score: number;
  others: number[];
  raw: RawAnswer | undefined;
  margin: number;
}

/**
 * The negative guard's threshold: the `rejectRate` quantile of the margins of correctly
 * answered held-out references (as for the main threshold), raised while more than
 * `falseNameRate` of the held-out negatives that pass the other tests would be named, but
 * never past the margin that would reject NEGATIVE_MAX_KNOWN_REJECT of those references.
 */
export function calibrateNegatives(
  refMargins: number[],
  held: HeldOutNegative[],
  rejectRate: number,
  falseNameRate: number,
  passesOthers: (x: HeldOutNegative) => boolean,
): NegativeCalibration {
  const refs = [...refMargins].sort((a, b) => a - b);
  const quantile = (p: number) =>
    refs.length ? refs[Math.min(refs.length - 1, Math.floor(p * refs.length))]! : DEFAULT_NEGATIVE_THRESHOLD;
  let threshold = quantile(rejectRate);
  const passing = held
    .filter(passesOthers)
    .map((x) => x.margin)
    .sort((a, b) => b - a);
  const allowed = Math.floor(falseNameRate * held.length);
  if (passing.filter((m) => m >= threshold).length > allowed) {
    // Just above the margin of the first negative past the allowance, so that it is rejected.
    threshold = Math.min(Math.max(threshold, passing[allowed]! + 1e-6), Math.max(threshold, quantile(NEGATIVE_MAX_KNOWN_REJECT)));
  }
  const named = passing.filter((m) => m >= threshold).length;
  return {
    threshold: Math.round(threshold * 1e6) / 1e6,
    heldOut: held.length,
    falseNameRate: held.length ? named / held.length : 0,
    knownRejected: refs.length ? refs.filter((m) => m < threshold).length / refs.length : 0,
  };
}

/** A fold gallery of calibrate(), as the guards' calibration sees it. */
export interface GuardFold {
  openSet: OpenSet;
  rawMeans(): RawMeans;
  /** The fold gallery's answer to a vector (its vote and the others' best similarities). */
  answer(v: Float32Array): { answer: string; score: number; others: number[] };
}

/**
 * Collects what the guards need from calibrate()'s folds — raw-space answers of the
 * held-out references, their negative margins, and the answers to held-out negative
 * references (the negatives are split into folds too) — and turns it into thresholds.
 */
export class GuardCollector {
  readonly active: boolean;
  private readonly negFold: Int32Array;
  private readonly rawAnswers: HeldOutAnswer[] = [];
  private readonly refMargins: number[] = [];
  private readonly held: HeldOutNegative[] = [];
  private calls = 0;

  constructor(
    private readonly dim: number,
    private readonly useRaw: boolean,
    private readonly negatives: Float32Array,
    folds: number,
    seed: number,
  ) {
    const n = negatives.length / dim;
    this.negFold = n ? assignFolds([n], folds, seed + 1)[0]! : new Int32Array(0);
    this.active = useRaw || n > 0;
  }

  /** A new fold gallery: give it the other folds' negatives and answer this fold's. */
  beginFold(g: GuardFold): void {
    const f = this.calls++;
    const dim = this.dim;
    if (!this.negFold.length) return;
    g.openSet.set(pickRows(this.negatives, dim, (i) => this.negFold[i] !== f));
    const means = g.rawMeans();
    this.negFold.forEach((fold, i) => {
      if (fold !== f) return;
      const v = this.negatives.subarray(i * dim, (i + 1) * dim);
      const a = g.answer(v);
      this.held.push({
        ...a,
        raw: this.useRaw ? rawAnswer(v, means.labels, means.means) : undefined,
        margin: g.openSet.margin(v, a.answer, means),
      });
    });
  }

  /** A held-out reference of `label` that the fold gallery answered `answer`. */
  reference(label: string, v: Float32Array, answer: string, g: GuardFold): void {
    if (!this.active) return;
    const q = normalizedRows(v, this.dim);
    const means = g.rawMeans();
    if (this.useRaw) {
      const r = rawAnswer(q, means.labels, means.means);
      this.rawAnswers.push({ label, answer: r.label, score: r.score, ownScore: r.byLabel.get(label), others: r.others });
    }
    if (this.negFold.length && answer === label) this.refMargins.push(g.openSet.margin(q, label, means));
  }

  /** The guards' calibration, given the main calibration's offsets and threshold. */
  finish(
    labels: readonly string[],
    main: { offsets: Record<string, number>; threshold: number },
    rejectRate: number,
    cohort: { weight: number; size: number },
    falseNameRate: number,
  ): GuardCalibration {
    const guards: GuardCalibration = {};
    if (this.useRaw) {
      const raw = calibrationFromAnswers(this.rawAnswers, labels, rejectRate, cohort);
      guards.raw = { offsets: raw.offsets, threshold: raw.threshold };
    }
    if (this.negFold.length) {
      guards.negatives = calibrateNegatives(this.refMargins, this.held, rejectRate, falseNameRate, (x) => {
        const named = calibratedScore(x.score, main.offsets[x.answer]!, x.others, cohort.weight, cohort.size) >= main.threshold;
        return (
          named &&
          (!guards.raw || rawGuardScore(x.raw!, guards.raw, meanOf(guards.raw.offsets), cohort.weight, cohort.size) >= guards.raw.threshold)
        );
      });
    }
    return guards;
  }
}
