/**
 * HNSW through hnswlib-node, behind the gallery's VectorIndex interface. Cosine runs in
 * hnswlib's inner-product space over the unit vectors the gallery stores; l2 in its
 * (squared) l2 space. Scores are converted to the similarities of vector-index.ts.
 */
import { createRequire } from 'node:module';
import type HnswlibModule from 'hnswlib-node';
import { SkulensError, messageOf } from '../core/errors.js';
import type { AnnIndexOptions, SearchHit, VectorIndex } from '../core/vector-index.js';

type Hnswlib = typeof HnswlibModule;

/**
 * hnswlib-node is a native addon that an install without build scripts leaves unbuilt.
 * It is only an accelerator, so it is loaded on first use: `import 'skulens'` and the CLI
 * work without it, and only an explicit HNSW request fails (E_PLATFORM, with the fix).
 */
let hnswlib: Hnswlib | undefined;
let loadError: unknown;
function loadHnswlib(): Hnswlib {
  if (hnswlib) return hnswlib;
  if (loadError === undefined) {
    try {
      hnswlib = createRequire(import.meta.url)('hnswlib-node') as Hnswlib;
      return hnswlib;
    } catch (err) {
      loadError = err;
    }
  }
  throw new SkulensError(
    'E_PLATFORM',
    `HNSW needs the hnswlib-node native addon, which is not built (${messageOf(loadError).split('\n')[0]}). ` +
      'Run `npm install-scripts approve hnswlib-node && npm rebuild hnswlib-node`, or use index "exact" or "auto".',
    { cause: loadError },
  );
}

/** Whether hnswlib-node loads (tried once). */
export function hnswAvailable(): boolean {
  try {
    loadHnswlib();
    return true;
  } catch {
    return false;
  }
}

export class HnswIndex implements VectorIndex {
  readonly kind = 'hnsw';
  readonly dim: number;
  private readonly index: InstanceType<Hnswlib['HierarchicalNSW']>;
  private readonly l2: boolean;
  private live = new Set<number>();
  /** Slots held by deleted points; reused by later adds (allowReplaceDeleted). */
  private deleted = 0;

  constructor(options: AnnIndexOptions) {
    this.dim = options.dim;
    this.l2 = options.metric === 'l2';
    const { HierarchicalNSW } = loadHnswlib();
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
