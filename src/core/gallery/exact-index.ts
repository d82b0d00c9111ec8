/**
 * Exact (brute-force) nearest neighbours over one contiguous Float32Array: a dot
 * product per stored row in a tight, 4-way unrolled loop (two queries at a time in a
 * batch) and a partial top-k kept in a small sorted buffer. Faster than HNSW for small
 * galleries, always exact, and the only index in the browser.
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
    return this.searchBatch([query], k)[0]!;
  }

  /**
   * `search` for many queries. Queries go through the stored rows two at a time, so each
   * row is read once per pair (the loop is bound by loads, not arithmetic); each query's
   * sums are formed in the same order as alone, so its scores are the same to the bit.
   */
  searchBatch(queries: readonly Float32Array[], k: number): SearchHit[][] {
    const kk = Math.min(k, this.count);
    if (kk <= 0) return queries.map(() => []);
    const dots = new Float64Array(2 * this.count);
    const hits: SearchHit[][] = [];
    for (let q = 0; q < queries.length; q += 2) {
      const a = queries[q]!;
      const b = queries[q + 1];
      this.dotRows(a, b, dots);
      hits.push(this.best(a, dots, 0, kk));
      if (b) hits.push(this.best(b, dots, this.count, kk));
    }
    return hits;
  }

  /** Dot products of `a` with every stored row into dots[r], and of `b` (when given) into dots[count + r]. */
  private dotRows(a: Float32Array, b: Float32Array | undefined, dots: Float64Array): void {
    const n = this.count;
    const d = this.dim;
    const data = this.data;
    const d4 = d - (d % 4);
    for (let r = 0, off = 0; r < n; r++, off += d) {
      // Four partial sums per query (independent additions pipeline), added up in a fixed order.
      let a0 = 0,
        a1 = 0,
        a2 = 0,
        a3 = 0;
      let i = 0;
      if (b) {
        let b0 = 0,
          b1 = 0,
          b2 = 0,
          b3 = 0;
        for (; i < d4; i += 4) {
          const x0 = data[off + i]!;
          const x1 = data[off + i + 1]!;
          const x2 = data[off + i + 2]!;
          const x3 = data[off + i + 3]!;
          a0 += a[i]! * x0;
          a1 += a[i + 1]! * x1;
          a2 += a[i + 2]! * x2;
          a3 += a[i + 3]! * x3;
          b0 += b[i]! * x0;
          b1 += b[i + 1]! * x1;
          b2 += b[i + 2]! * x2;
          b3 += b[i + 3]! * x3;
        }
        for (let j = i; j < d; j++) b0 += b[j]! * data[off + j]!;
        dots[n + r] = b0 + b1 + b2 + b3;
      } else {
        for (; i < d4; i += 4) {
          a0 += a[i]! * data[off + i]!;
          a1 += a[i + 1]! * data[off + i + 1]!;
          a2 += a[i + 2]! * data[off + i + 2]!;
          a3 += a[i + 3]! * data[off + i + 3]!;
        }
      }
      for (; i < d; i++) a0 += a[i]! * data[off + i]!;
      dots[r] = a0 + a1 + a2 + a3;
    }
  }

  /** The kk best rows for one query from its dot products dots[from + r], best first. */
  private best(query: Float32Array, dots: Float64Array, from: number, kk: number): SearchHit[] {
    const d = this.dim;
    const l2 = this.metric === 'l2';
    let qn = 0;
    for (let i = 0; i < d; i++) qn += query[i]! * query[i]!;
    // Top-k buffer, sorted best first; `worst` is the score a row must beat to enter.
    const topScore = new Float64Array(kk).fill(-Infinity);
    const topRow = new Int32Array(kk).fill(-1);
    let worst = -Infinity;
    for (let r = 0; r < this.count; r++) {
      const dot = dots[from + r]!;
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
