/**
 * The one small interface both vector indexes implement: the exact flat index (plain
 * TypeScript, every platform) and HNSW (hnswlib-node, registered by the Node platform).
 *
 * Scores are similarities, higher is better, on the same scale for both indexes:
 * - cosine: the dot product of unit vectors (the gallery normalises what it stores and
 *   every query), in [-1, 1];
 * - l2: 1 - ‖q - r‖² / 2, which equals the cosine for unit vectors and keeps one
 *   threshold scale across metrics (it can go below -1 for long, unnormalised vectors).
 */
import { is } from './is.js';

export type Metric = 'cosine' | 'l2';

export interface SearchHit {
  /** The id given to `add`. */
  id: number;
  score: number;
}

export interface VectorIndex {
  readonly kind: 'exact' | 'hnsw';
  readonly dim: number;
  /** Live (not removed) vectors. */
  readonly size: number;
  /** Add one vector under an id (a non-negative integer < 2^32, unique among live vectors). */
  add(id: number, vector: Float32Array): void;
  /** Forget a vector; unknown ids are ignored. */
  remove(id: number): void;
  /** Up to k nearest live vectors, best first. */
  search(query: Float32Array, k: number): SearchHit[];
  /** `search` for each query, where the index can do a batch faster than one query at a time. */
  searchBatch?(queries: readonly Float32Array[], k: number): SearchHit[][];
  /** Release native memory, if any. */
  dispose?(): void;
}

export interface HnswParams {
  /** Graph degree: more links = better recall, more memory (≈ 2·M·4 bytes per vector on layer 0) and slower builds. */
  M: number;
  /** Candidate list while inserting: higher = better graph, slower build. */
  efConstruction: number;
  /** Candidate list while searching (raised to k when smaller): higher = better recall, slower queries. */
  ef: number;
}

/**
 * Accepted range of each HNSW parameter. hnswlib needs M >= 2, and wraps larger values
 * inside its C++ (M = 2^32 becomes 0 and crashes the process), so a gallery file or a
 * caller can never hand it anything outside these.
 */
export const HNSW_LIMITS: Readonly<Record<keyof HnswParams, readonly [min: number, max: number]>> = {
  M: [2, 256],
  efConstruction: [1, 10_000],
  ef: [1, 10_000],
};

/** The reason an HNSW parameter set is out of range, or undefined when it is fine. */
export function hnswParamsProblem(params: Record<string, unknown>): string | undefined {
  for (const key of Object.keys(params)) {
    const limits = HNSW_LIMITS[key as keyof HnswParams];
    if (!limits) return `hnsw.${key} is not an HNSW parameter (M, efConstruction, ef)`;
    const v = params[key];
    if (!is.int(v, limits[0], limits[1])) {
      return `hnsw.${key} must be an integer from ${limits[0]} to ${limits[1]}, got ${JSON.stringify(v) ?? String(v)}`;
    }
  }
  return undefined;
}

export interface AnnIndexOptions extends HnswParams {
  metric: Metric;
  dim: number;
  /** Initial capacity; the index grows itself as vectors are added. */
  capacity: number;
  /** Seed of the level generator, so builds are reproducible. */
  seed: number;
}
