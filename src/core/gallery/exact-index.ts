/**
 * Exact (brute-force) nearest neighbours over one contiguous Float32Array: a dot
 * product per stored row in a tight, 4-way unrolled loop and a partial top-k kept in a
 * small sorted buffer. Faster than HNSW for small galleries, always exact, and the only
 * index in the browser.
 */
import type { Metric, SearchHit, VectorIndex } from '../vector-index.js';

export class ExactIndex implements VectorIndex {
  readonly kind = 'exact';
  private data: Float32Array;
  private ids: Float64Array;
  /** ‖row‖² per row, for the l2 score. */
  private norms: Float32Array;
  private rowOf = new Map<number, number>();
  private count = 0;

  constructor(
    readonly dim: number,
    readonly metric: Metric,
    capacity = 64,
  ) {
    const cap = Math.max(1, capacity);
    this.data = new Float32Array(cap * dim);
    this.ids = new Float64Array(cap);
    this.norms = new Float32Array(cap);
  }

  get size(): number {
    return this.count;
  }

  add(id: number, vector: Float32Array): void {
    const existing = this.rowOf.get(id);
    const row = existing ?? this.count;
    if (existing === undefined) {
      if (row === this.ids.length) this.grow();
      this.count++;
    }
    const d = this.dim;
    this.data.set(vector.subarray(0, d), row * d);
    let n = 0;
    for (let i = 0; i < d; i++) n += vector[i]! * vector[i]!;
    this.norms[row] = n;
    this.ids[row] = id;
    this.rowOf.set(id, row);
  }

  remove(id: number): void {
    const row = this.rowOf.get(id);
    if (row === undefined) return;
    // Move the last row into the hole so the live rows stay contiguous.
    const last = this.count - 1;
    if (row !== last) {
      const d = this.dim;
      this.data.copyWithin(row * d, last * d, (last + 1) * d);
      this.norms[row] = this.norms[last]!;
      const movedId = this.ids[last]!;
      this.ids[row] = movedId;
      this.rowOf.set(movedId, row);
    }
    this.rowOf.delete(id);
    this.count--;
  }

  search(query: Float32Array, k: number): SearchHit[] {
    const n = this.count;
    const kk = Math.min(k, n);
    if (kk <= 0) return [];
    const d = this.dim;
    const data = this.data;
    const l2 = this.metric === 'l2';
    let qn = 0;
    for (let i = 0; i < d; i++) qn += query[i]! * query[i]!;
    // Top-k buffer, sorted best first; `worst` is the score a row must beat to enter.
    const topScore = new Float64Array(kk).fill(-Infinity);
    const topRow = new Int32Array(kk).fill(-1);
    let worst = -Infinity;
    const d4 = d - (d % 4);
    for (let r = 0, off = 0; r < n; r++, off += d) {
      let s0 = 0,
        s1 = 0,
        s2 = 0,
        s3 = 0;
      let i = 0;
      for (; i < d4; i += 4) {
        s0 += query[i]! * data[off + i]!;
        s1 += query[i + 1]! * data[off + i + 1]!;
        s2 += query[i + 2]! * data[off + i + 2]!;
        s3 += query[i + 3]! * data[off + i + 3]!;
      }
      for (; i < d; i++) s0 += query[i]! * data[off + i]!;
      const dot = s0 + s1 + s2 + s3;
      const score = l2 ? 1 - (qn + this.norms[r]! - 2 * dot) / 2 : dot;
      if (score <= worst) continue;
      // Insert into the sorted buffer (k is small: a shift beats a heap here).
      let j = kk - 1;
      while (j > 0 && topScore[j - 1]! < score) {
        topScore[j] = topScore[j - 1]!;
        topRow[j] = topRow[j - 1]!;
        j--;
      }
      topScore[j] = score;
      topRow[j] = r;
      worst = topScore[kk - 1]!;
    }
    const hits: SearchHit[] = [];
    for (let j = 0; j < kk; j++) {
      const r = topRow[j]!;
      if (r >= 0) hits.push({ id: this.ids[r]!, score: topScore[j]! });
    }
    return hits;
  }

  private grow(): void {
    const cap = this.ids.length * 2;
    const data = new Float32Array(cap * this.dim);
    data.set(this.data);
    this.data = data;
    const ids = new Float64Array(cap);
    ids.set(this.ids);
    this.ids = ids;
    const norms = new Float32Array(cap);
    norms.set(this.norms);
    this.norms = norms;
  }
}
