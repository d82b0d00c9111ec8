/**
 * Few-shot adaptation by regularised linear discriminant analysis, learned from the
 * labelled reference vectors alone (the embedding model is not touched):
 *
 *   x ─► signed power |x|^p ─► L2 ─► − centre ─► L2 ─► P·(·) − offset ─► L2
 *
 * P whitens the within-class scatter (shrunk toward a multiple of the identity, which
 * keeps it invertible with 30 references in 1,280 dimensions) and keeps the C−1
 * directions along which the class means differ. Queries and references are then
 * compared by cosine in that space, where look-alike classes are pulled apart.
 *
 * Method, defaults and fit times: docs/accuracy.md ("Method"). Cost for n references in
 * d dimensions: one d×d scatter (n·d²/2), one Cholesky (d³/6), a few triangular solves.
 */
import { backSolveTransposedRows, choleskyInPlace, forwardSolveRows, gram, mat, mul, mulABt, symmetricEigen } from './linalg.js';

export interface AdaptOptions {
  /** Signed power applied to every feature before anything else (default 0.875; 1 = none). Post-ReLU pooled features are skewed; a root evens them out. */
  power?: number;
  /** Shrinkage of the within-class covariance toward (trace/d)·I, in [0, 1] (default 0.3; galleries of a built-in model may use their own, see builtin-models.ts). */
  shrinkage?: number;
  /** Output dimensions (default and maximum: classes − 1). */
  dims?: number;
}

/** Chosen on Grocery Store val.csv by bench/choose-defaults.ts (docs/gallery.md). */
export const DEFAULT_POWER = 0.875;
export const DEFAULT_SHRINKAGE = 0.3;
/**
 * The defaults before issue 29 re-chose them on val. adapt() now records the power and
 * shrinkage it used; a gallery file whose adaptation lacks them was written when these
 * applied, and re-fits with them.
 */
export const LEGACY_ADAPT_DEFAULTS: Readonly<AdaptOptions> = { power: 0.75, shrinkage: 0.15 };

/** A fitted adaptation: everything needed to map a raw embedding into the adapted space. */
export interface Adaptation {
  method: 'lda';
  inDim: number;
  outDim: number;
  power: number;
  shrinkage: number;
  /** Mean of the power-transformed, normalised references (inDim). */
  center: Float32Array;
  /** outDim × inDim, row-major. */
  projection: Float32Array;
  /** Projection of the mean re-normalised reference, subtracted after projecting (outDim). */
  offset: Float32Array;
}

export type FitResult = { adaptation: Adaptation; reason?: undefined } | { adaptation: null; reason: string };

/**
 * Fit the adaptation on n row-major reference vectors (n × dim) with class indices.
 * Returns `adaptation: null` and a reason when the references cannot support it (fewer
 * than 3 classes, or no class with two references): the caller keeps the identity.
 */
export function fitAdaptation(vectors: ArrayLike<number>, labels: ArrayLike<number>, dim: number, options: AdaptOptions = {}): FitResult {
  const power = options.power ?? DEFAULT_POWER;
  const shrinkage = options.shrinkage ?? DEFAULT_SHRINKAGE;
  if (!(power > 0 && power <= 4)) throw new RangeError(`power must be in (0, 4], got ${power}`);
  if (!(shrinkage >= 0 && shrinkage <= 1)) throw new RangeError(`shrinkage must be in [0, 1], got ${shrinkage}`);
  const n = labels.length;
  if (vectors.length !== n * dim) throw new RangeError(`fitAdaptation: ${vectors.length} values for ${n} labels of ${dim}-d`);

  // Class indices → dense 0..C-1.
  const classOf = new Map<number, number>();
  const y = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const l = labels[i]!;
    let c = classOf.get(l);
    if (c === undefined) classOf.set(l, (c = classOf.size));
    y[i] = c;
  }
  const C = classOf.size;
  if (C < 3)
    return { adaptation: null, reason: `adaptation needs references of at least 3 classes (got ${C}); using the embeddings as they are` };
  const counts = new Float64Array(C);
  for (let i = 0; i < n; i++) counts[y[i]!]!++;
  if (counts.every((c) => c < 2))
    return {
      adaptation: null,
      reason: 'adaptation needs at least one class with two or more references; using the embeddings as they are',
    };

  // 1. signed power + L2, centre, L2.
  const X = new Float64Array(n * dim);
  for (let i = 0; i < n; i++) powerNormalize(vectors, i * dim, dim, power, X, i * dim);
  const center = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) center[k] = center[k]! + X[i * dim + k]!;
  for (let k = 0; k < dim; k++) center[k] = center[k]! / n;
  for (let i = 0; i < n; i++) {
    const o = i * dim;
    for (let k = 0; k < dim; k++) X[o + k] = X[o + k]! - center[k]!;
    normalizeRow(X, o, dim);
  }
  const mean2 = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) mean2[k] = mean2[k]! + X[i * dim + k]!;
  for (let k = 0; k < dim; k++) mean2[k] = mean2[k]! / n;

  // 2. class means and within-class scatter.
  const means = new Float64Array(C * dim);
  for (let i = 0; i < n; i++) {
    const mo = y[i]! * dim;
    const o = i * dim;
    for (let k = 0; k < dim; k++) means[mo + k] = means[mo + k]! + X[o + k]!;
  }
  for (let c = 0; c < C; c++) for (let k = 0; k < dim; k++) means[c * dim + k] = means[c * dim + k]! / counts[c]!;
  for (let i = 0; i < n; i++) {
    const mo = y[i]! * dim;
    const o = i * dim;
    for (let k = 0; k < dim; k++) X[o + k] = X[o + k]! - means[mo + k]!;
  }
  // Total scatter around the mean, to judge the within-class scatter against (rounding noise is not signal).
  let totalTrace = 0;
  for (let i = 0; i < n; i++) for (let k = 0; k < dim; k++) totalTrace += (X[i * dim + k]! + means[y[i]! * dim + k]! - mean2[k]!) ** 2;
  const S = gram(mat(n, dim, X));
  const Sd = S.data;
  let trace = 0;
  for (let k = 0; k < dim; k++) trace += Sd[k * dim + k]!;
  if (!(trace > 1e-9 * totalTrace))
    return { adaptation: null, reason: 'the references of each class are identical: nothing to learn; using the embeddings as they are' };
  const ridge = (shrinkage * trace) / dim / n;
  const keep = (1 - shrinkage) / n;
  for (let t = 0; t < Sd.length; t++) Sd[t] = Sd[t]! * keep;
  // A floor keeps the factorisation possible at shrinkage 0 with fewer references than dimensions.
  for (let k = 0; k < dim; k++) Sd[k * dim + k] = Sd[k * dim + k]! + Math.max(ridge, (1e-6 * trace) / dim / n);
  if (!choleskyInPlace(S))
    return {
      adaptation: null,
      reason: 'the within-class covariance could not be factorised (raise shrinkage); using the embeddings as they are',
    };

  // 3. whitened class means (centred), their principal directions = discriminant axes.
  const M = mat(C, dim);
  for (let c = 0; c < C; c++) for (let k = 0; k < dim; k++) M.data[c * dim + k] = means[c * dim + k]! - mean2[k]!;
  const Mw = forwardSolveRows(S, M); // rows: L⁻¹ m_c
  const { values, vectors: U } = symmetricEigen(mulABt(Mw, Mw)); // C×C
  const top = values[0]!;
  let d = 0;
  const maxDims = Math.min(options.dims ?? C - 1, C - 1);
  while (d < maxDims && values[d]! > 1e-9 * top && values[d]! > 0) d++;
  if (d < 2)
    return { adaptation: null, reason: 'the class means are (nearly) identical after whitening; using the embeddings as they are' };
  const V = mul(mat(d, C, U.data.slice(0, d * C)), Mw); // d × dim, orthogonal rows of norm √λ
  for (let i = 0; i < d; i++) {
    const s = 1 / Math.sqrt(values[i]!);
    for (let k = 0; k < dim; k++) V.data[i * dim + k] = V.data[i * dim + k]! * s;
  }
  const P = backSolveTransposedRows(S, V); // rows: L⁻ᵀ v_i, so P·x = Vᵀ·L⁻¹·x
  const offset = new Float32Array(d);
  for (let i = 0; i < d; i++) {
    let s = 0;
    for (let k = 0; k < dim; k++) s += P.data[i * dim + k]! * mean2[k]!;
    offset[i] = s;
  }
  return {
    adaptation: {
      method: 'lda',
      inDim: dim,
      outDim: d,
      power,
      shrinkage,
      center: Float32Array.from(center),
      projection: Float32Array.from(P.data),
      offset,
    },
  };
}

/**
 * Map raw embeddings (n × inDim, row-major) into the adapted space: n × outDim,
 * each row L2-normalised. Pure function of the adaptation.
 */
export function applyAdaptation(a: Adaptation, vectors: ArrayLike<number>): Float32Array {
  const { inDim, outDim } = a;
  if (vectors.length % inDim !== 0) throw new RangeError(`applyAdaptation: ${vectors.length} values is not a multiple of ${inDim}`);
  const n = vectors.length / inDim;
  const out = new Float32Array(n * outDim);
  const x = new Float64Array(inDim);
  const P = a.projection;
  for (let r = 0; r < n; r++) {
    powerNormalize(vectors, r * inDim, inDim, a.power, x, 0);
    for (let k = 0; k < inDim; k++) x[k] = x[k]! - a.center[k]!;
    normalizeRow(x, 0, inDim);
    const o = r * outDim;
    let q = 0;
    for (let i = 0; i < outDim; i++) {
      const po = i * inDim;
      let s0 = 0;
      let s1 = 0;
      let k = 0;
      for (; k + 1 < inDim; k += 2) {
        s0 += P[po + k]! * x[k]!;
        s1 += P[po + k + 1]! * x[k + 1]!;
      }
      if (k < inDim) s0 += P[po + k]! * x[k]!;
      const v = s0 + s1 - a.offset[i]!;
      out[o + i] = v;
      q += v * v;
    }
    // A query exactly at the mean reference has no direction: leave it at zero (similarity 0 to everything).
    if (q > 0) {
      const inv = 1 / Math.sqrt(q);
      for (let i = 0; i < outDim; i++) out[o + i] = out[o + i]! * inv;
    }
  }
  return out;
}

function powerNormalize(src: ArrayLike<number>, so: number, dim: number, p: number, dst: Float64Array, dOff: number): void {
  let q = 0;
  for (let k = 0; k < dim; k++) {
    const v = src[so + k]!;
    const t = p === 1 ? v : p === 0.5 ? Math.sign(v) * Math.sqrt(Math.abs(v)) : Math.sign(v) * Math.abs(v) ** p;
    dst[dOff + k] = t;
    q += t * t;
  }
  if (q > 0) {
    const inv = 1 / Math.sqrt(q);
    for (let k = 0; k < dim; k++) dst[dOff + k] = dst[dOff + k]! * inv;
  }
}

function normalizeRow(X: Float64Array, o: number, dim: number): void {
  let q = 0;
  for (let k = 0; k < dim; k++) q += X[o + k]! * X[o + k]!;
  if (q > 0) {
    const inv = 1 / Math.sqrt(q);
    for (let k = 0; k < dim; k++) X[o + k] = X[o + k]! * inv;
  }
}
