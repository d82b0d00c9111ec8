/**
 * Per-class reduction: k-means (ml-kmeans, k-means++ seeding with a fixed seed, so the
 * same references always give the same centroids) from n reference vectors to K.
 */
import { kmeans } from 'ml-kmeans';
import { normalizeInPlace } from '../vector.js';
import type { Metric } from '../vector-index.js';

export const DEFAULT_KMEANS_SEED = 42;

/**
 * Reduce `n` row-major vectors (n × dim) to `k` centroids. With n ≤ k the vectors are
 * returned as they are. For cosine the centroids are re-normalised to unit length (a
 * spherical k-means step), since only their direction is compared.
 */
export function reduceVectors(vectors: Float32Array, dim: number, k: number, metric: Metric, seed = DEFAULT_KMEANS_SEED): Float32Array {
  const n = vectors.length / dim;
  if (n <= k) return vectors;
  const rows: number[][] = [];
  for (let i = 0; i < n; i++) rows.push(Array.from(vectors.subarray(i * dim, (i + 1) * dim)));
  let centroids: number[][];
  if (k === 1) {
    centroids = [mean(rows, dim)]; // the exact mean; no need for iterations
  } else {
    const result = kmeans(rows, k, { initialization: 'kmeans++', seed, maxIterations: 100 });
    // An empty cluster (possible with duplicates) would leave a meaningless centroid: drop it.
    const sizes = new Array<number>(k).fill(0);
    for (const c of result.clusters) sizes[c]!++;
    centroids = result.centroids.filter((_, i) => sizes[i]! > 0);
  }
  const out = new Float32Array(centroids.length * dim);
  centroids.forEach((c, i) => {
    const row = out.subarray(i * dim, (i + 1) * dim);
    row.set(c);
    if (metric === 'cosine') normalizeInPlace(row);
  });
  return out;
}

function mean(rows: number[][], dim: number): number[] {
  const m = new Array<number>(dim).fill(0);
  for (const r of rows) for (let i = 0; i < dim; i++) m[i]! += r[i]!;
  return m.map((x) => x / rows.length);
}
