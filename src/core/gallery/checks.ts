/**
 * Checks on what callers hand a gallery: labels, reference vectors, and the embedder
 * whose vectors it will hold. Each failure is a SkulensError saying what to fix.
 */
import type { Embedder } from '../embedder.js';
import { SkulensError } from '../errors.js';
import { isBuiltinModelId } from '../model.js';
import { normalizeInPlace } from '../vector.js';
import type { Metric } from '../vector-index.js';
import type { GalleryEmbedderInfo } from './types.js';

/** What a gallery needs to know about an embedder (an Embedder has it all). */
export type EmbedderIdentity = Pick<Embedder, 'fingerprint' | 'spec' | 'modelPath' | 'dim' | 'outputName'> & { preset?: string | undefined };

export { checkLabel } from './label.js';

/**
 * Vectors given to add() as one row-major copy. `dim` is the gallery's, when known;
 * otherwise the first vector's length sets it (returned with the data).
 */
export function flattenVectors(vectors: Float32Array | readonly (Float32Array | readonly number[])[], known: number | undefined, label: string): { data: Float32Array; dim: number } {
  if (vectors instanceof Float32Array) {
    // n vectors back to back or one vector? Unknowable until the dimension is: say so rather than guess.
    if (known === undefined) {
      throw new SkulensError('E_INPUT', `The gallery's dimension is not known yet, so a flat Float32Array of ${vectors.length} values for "${label}" is ambiguous: pass \`dim\` to the constructor, or an array of vectors.`, { input: label });
    }
    const dim = known;
    if (vectors.length % dim !== 0) throw dimError(vectors.length, dim, `vectors for "${label}": a`);
    return { data: vectors.slice(), dim };
  }
  if (!Array.isArray(vectors)) throw new SkulensError('E_INPUT', `add() takes an array of vectors or a Float32Array, got ${typeof vectors}.`, { input: label });
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
      if (!Number.isFinite(row[j]!)) throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" has a non-finite value at ${j}.`, { input: label });
    }
    if (metric === 'cosine' && !normalizeInPlace(row)) {
      throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" is all zeros: it has no direction to compare with the cosine metric.`, { input: label });
    }
  }
}

/** A query as a unit-length copy (for cosine), after checking its length and values. */
export function queryVector(vector: Float32Array | readonly number[], dim: number, metric: Metric): Float32Array {
  if (!vector || typeof vector.length !== 'number') throw new SkulensError('E_INPUT', 'classify() takes one vector (Float32Array or number[]).');
  if (vector.length !== dim) throw dimError(vector.length, dim, 'a query');
  const q = Float32Array.from(vector);
  for (let i = 0; i < q.length; i++) if (!Number.isFinite(q[i]!)) throw new SkulensError('E_INPUT', `The query has a non-finite value at ${i}.`);
  if (metric === 'cosine') normalizeInPlace(q);
  return q;
}

/**
 * Whether `embedder` makes vectors comparable with a gallery that recorded `recorded`
 * and holds `dim`-d vectors (`stored` of them). Throws E_FINGERPRINT / E_DIM_MISMATCH
 * when not; returns the record to adopt when the gallery has none yet, else undefined.
 */
export function checkEmbedder(recorded: GalleryEmbedderInfo | undefined, embedder: EmbedderIdentity, dim: number | undefined, stored: number): GalleryEmbedderInfo | undefined {
  // Same built-in id, other weights (of any width): the gallery predates this release's model.
  if (recorded && recorded.fingerprint !== embedder.fingerprint && recorded.path !== undefined && recorded.path === embedder.modelPath && isBuiltinModelId(recorded.path)) {
    throw new SkulensError(
      'E_FINGERPRINT',
      `This gallery was built with an earlier version of the built-in model ${recorded.path} (embedder ${recorded.fingerprint}; this skulens ships ${embedder.fingerprint}). Its vectors cannot be compared with the new model's: rebuild the gallery from its reference photos (skulens gallery build).`,
    );
  }
  if (dim !== undefined && embedder.dim !== dim) {
    throw new SkulensError('E_DIM_MISMATCH', `The embedder makes ${embedder.dim}-d vectors but this gallery holds ${dim}-d vectors.`);
  }
  if (recorded) {
    if (recorded.fingerprint !== embedder.fingerprint) {
      throw new SkulensError(
        'E_FINGERPRINT',
        `This gallery was built with embedder ${recorded.fingerprint}${recorded.path ? ` (${recorded.path})` : ''} but the embedder given is ${embedder.fingerprint}${embedder.modelPath ? ` (${embedder.modelPath})` : ''}: a different model or preprocessing makes incomparable vectors. Use the gallery's model and preset, or rebuild the gallery.`,
      );
    }
    return undefined;
  }
  if (stored > 0) {
    throw new SkulensError('E_FINGERPRINT', 'This gallery holds vectors from an unrecorded embedder, so images cannot be added or compared safely. Rebuild it with addImages (or pass `embedder` to the constructor).');
  }
  return {
    fingerprint: embedder.fingerprint,
    spec: JSON.parse(JSON.stringify(embedder.spec)) as Record<string, unknown>,
    ...(embedder.modelPath !== undefined ? { path: embedder.modelPath } : {}),
    ...(embedder.preset !== undefined ? { preset: embedder.preset } : {}),
    output: embedder.outputName,
  };
}

export function dimError(got: number, dim: number, what: string): SkulensError {
  return new SkulensError('E_DIM_MISMATCH', `${what} vector has ${got} values but the gallery holds ${dim}-d vectors: was it made by the gallery's embedder?`);
}

export function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}
