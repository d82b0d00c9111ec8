/**
 * Checks on what callers hand a gallery: labels, reference vectors and queries. Each
 * failure is a SkulensError saying what to fix.
 */
import { SkulensError } from '../errors.js';
import { check, is } from '../is.js';
import { definedOnly } from '../options.js';
import { normalizeInPlace } from '../vector.js';
import { hnswParamsProblem, type HnswParams, type Metric } from '../vector-index.js';
import { DEFAULT_HNSW, DEFAULT_K, DEFAULT_TEMPERATURE, type ClassifyOptions, type ReferenceGalleryOptions } from './types.js';

export { checkLabel } from './label.js';

/**
 * Vectors given to add() as one row-major copy. `dim` is the gallery's, when known;
 * otherwise the first vector's length sets it (returned with the data).
 */
export function flattenVectors(
  vectors: Float32Array | readonly (Float32Array | readonly number[])[],
  known: number | undefined,
  label: string,
): { data: Float32Array; dim: number } {
  if (vectors instanceof Float32Array) {
    // n vectors back to back or one vector? Unknowable until the dimension is: say so rather than guess.
    if (known === undefined) {
      throw new SkulensError(
        'E_INPUT',
        `The gallery's dimension is not known yet, so a flat Float32Array of ${vectors.length} values for "${label}" is ambiguous: pass \`dim\` to the constructor, or an array of vectors.`,
        { input: label },
      );
    }
    const dim = known;
    if (vectors.length % dim !== 0) throw dimError(vectors.length, dim, `vectors for "${label}": a`);
    return { data: vectors.slice(), dim };
  }
  if (!Array.isArray(vectors))
    throw new SkulensError('E_INPUT', `add() takes an array of vectors or a Float32Array, got ${typeof vectors}.`, { input: label });
  if (vectors.length === 0) return { data: new Float32Array(0), dim: known ?? 0 };
  const dim = known ?? (vectors[0] as ArrayLike<number>).length;
  const out = new Float32Array(vectors.length * dim);
  vectors.forEach((v, i) => {
    if (!v || v.length !== dim) throw dimError(v?.length ?? 0, dim, `vector ${i} for "${label}": a`);
    out.set(v, i * dim);
  });
  return { data: out, dim };
}

/** Every value finite; for cosine, every row normalised in place (an all-zero row has no direction). */
export function checkReferences(flat: Float32Array, dim: number, metric: Metric, label: string): void {
  const n = flat.length / dim;
  for (let i = 0; i < n; i++) {
    const row = flat.subarray(i * dim, (i + 1) * dim);
    for (let j = 0; j < dim; j++) {
      if (!Number.isFinite(row[j]!))
        throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" has a non-finite value at ${j}.`, { input: label });
    }
    if (metric === 'cosine' && !normalizeInPlace(row)) {
      throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" is all zeros: it has no direction to compare with the cosine metric.`, {
        input: label,
      });
    }
  }
}

/** A query as a unit-length copy (for cosine), after checking its length and values. */
export function queryVector(vector: Float32Array | readonly number[], dim: number, metric: Metric): Float32Array {
  if (!vector || typeof vector.length !== 'number')
    throw new SkulensError('E_INPUT', 'classify() takes one vector (Float32Array or number[]).');
  if (vector.length !== dim) throw dimError(vector.length, dim, 'a query');
  const q = Float32Array.from(vector);
  for (let i = 0; i < q.length; i++)
    if (!Number.isFinite(q[i]!)) throw new SkulensError('E_INPUT', `The query has a non-finite value at ${i}.`);
  if (metric === 'cosine') normalizeInPlace(q);
  return q;
}

/** classify()'s options with the defaults filled in (`threshold`: the gallery's), checked. */
export function classifySettings(options: ClassifyOptions, threshold: number): Required<ClassifyOptions> {
  const { k = DEFAULT_K, top = 5, temperature = DEFAULT_TEMPERATURE } = options;
  const settings = { k, threshold: options.threshold ?? threshold, top, temperature };
  check(is.inRange(temperature, 0, Infinity, 'lo'), 'temperature', 'a positive number', temperature);
  check(is.positiveInt(k), 'k', 'a positive integer', k);
  check(is.positiveInt(top), 'top', 'a positive integer', top);
  check(is.number(settings.threshold), 'threshold', 'a number', settings.threshold);
  return settings;
}

export function dimError(got: number, dim: number, what: string): SkulensError {
  return new SkulensError(
    'E_DIM_MISMATCH',
    `${what} vector has ${got} values but the gallery holds ${dim}-d vectors: was it made by the gallery's embedder?`,
  );
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

/** The gallery constructor's options, checked; returns the HNSW parameters with the defaults filled in. */
export function checkGalleryOptions(
  o: Required<Pick<ReferenceGalleryOptions, 'metric' | 'clustersPerClass' | 'index' | 'hnsw' | 'seed' | 'threshold'>> &
    Pick<ReferenceGalleryOptions, 'dim'>,
): HnswParams {
  const { dim, metric, clustersPerClass, index, hnsw, seed, threshold } = o;
  check(is.number(threshold), 'threshold', 'a number', threshold);
  check(is.oneOf(metric, ['cosine', 'l2']), 'metric', '"cosine" or "l2"', metric);
  check(
    clustersPerClass === 'all' || is.positiveInt(clustersPerClass),
    'clustersPerClass',
    'a positive integer or "all"',
    clustersPerClass,
  );
  check(is.oneOf(index, ['auto', 'exact', 'hnsw']), 'index', '"auto", "exact" or "hnsw"', index);
  check(dim === undefined || is.positiveInt(dim), 'dim', 'a positive integer', dim);
  check(typeof hnsw === 'object' && hnsw !== null, 'hnsw', 'an object { M, efConstruction, ef }', hnsw);
  const hnswProblem = hnswParamsProblem(definedOnly(hnsw));
  if (hnswProblem) throw new SkulensError('E_INPUT', `${hnswProblem}.`);
  check(is.int(seed, 0, 0xffffffff), 'seed', 'an integer from 0 to 2^32-1', seed);
  // Only the three parameters: anything else would reach the native index's options.
  return {
    M: hnsw.M ?? DEFAULT_HNSW.M,
    efConstruction: hnsw.efConstruction ?? DEFAULT_HNSW.efConstruction,
    ef: hnsw.ef ?? DEFAULT_HNSW.ef,
  };
}
