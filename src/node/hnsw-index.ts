/**
 * HNSW through hnswlib-node, behind the gallery's VectorIndex interface. Cosine runs in
 * hnswlib's inner-product space over the unit vectors the gallery stores; l2 in its
 * (squared) l2 space. Scores are converted to the similarities of vector-index.ts.
 */
import hnswlib from 'hnswlib-node';
import type { AnnIndexOptions, SearchHit, VectorIndex } from '../core/vector-index.js';

const { HierarchicalNSW } = hnswlib;

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  readonly dim: number;
  private readonly index: InstanceType<typeof HierarchicalNSW>;
  private readonly l2: boolean;
  private live = new Set<number>();
  /** Slots held by deleted points; reused by later adds (allowReplaceDeleted). */
  private deleted = 0;

  constructor(options: AnnIndexOptions) {
    this.dim = options.dim;
    this.l2 = options.metric === 'l2';
    this.index = new HierarchicalNSW(this.l2 ? 'l2' : 'ip', options.dim);
    this.index.initIndex({
      maxElements: Math.max(16, options.capacity),
      m: options.M,
      efConstruction: options.efConstruction,
      randomSeed: options.seed,
      allowReplaceDeleted: true,
    });
    this.index.setEf(options.ef);
  }

  get size(): number {
    return this.live.size;
  }

  add(id: number, vector: Float32Array): void {
    if (this.live.has(id)) this.remove(id);
    const reuse = this.deleted > 0;
    // Grow by doubling so that adding n vectors costs O(n) resizes in total.
    if (!reuse && this.index.getCurrentCount() >= this.index.getMaxElements()) this.index.resizeIndex(this.index.getMaxElements() * 2);
    this.index.addPoint(Array.from(vector), id, reuse);
    if (reuse) this.deleted--;
    this.live.add(id);
  }

  remove(id: number): void {
    if (!this.live.delete(id)) return;
    this.index.markDelete(id);
    this.deleted++;
  }

  search(query: Float32Array, k: number): SearchHit[] {
    const kk = Math.min(k, this.live.size);
    if (kk <= 0) return [];
    // hnswlib searches with max(ef, k) candidates.
    const { neighbors, distances } = this.index.searchKnn(Array.from(query), kk);
    return neighbors.map((id, i) => ({ id, score: this.l2 ? 1 - distances[i]! / 2 : 1 - distances[i]! }));
  }

  /** Change the search candidate list (recall/speed trade-off) without rebuilding. */
  setEf(ef: number): void {
    this.index.setEf(ef);
  }

  dispose(): void {
    this.live.clear();
  }
}

export function createHnswIndex(options: AnnIndexOptions): VectorIndex {
  return new HnswIndex(options);
}
