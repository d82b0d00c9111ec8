/**
 * The vector index behind a gallery, with the bookkeeping the index itself does not
 * know: which label each id belongs to, and which index (exact or HNSW) should answer
 * now. `auto` starts exact and switches to HNSW once the graph pays for itself; any
 * switch or rebuild re-inserts every class's stored vectors in label order.
 */
import { getPlatform, type Platform } from '../platform.js';
import type { HnswParams, Metric, VectorIndex } from '../vector-index.js';
import { ExactIndex } from './exact-index.js';
import { AUTO_HNSW_AFTER_QUERIES, AUTO_HNSW_MIN_SIZE, type IndexChoice, type Neighbor } from './types.js';

/** A class as the index sees it: its stored vectors (row-major) and the ids they got. */
export interface IndexedClass {
  label: string;
  vectors: Float32Array;
  ids: number[];
}

export interface LabelledIndexSettings {
  choice: IndexChoice;
  metric: Metric;
  hnsw: HnswParams;
  seed: number;
}

export class LabelledIndex {
  /** Queries answered so far (the auto index switches to HNSW when that pays). */
  queries = 0;
  private index: VectorIndex | undefined;
  /** Label of each live index id. */
  private labelOfId = new Map<number, string>();
  private nextId = 0;

  constructor(private readonly settings: LabelledIndexSettings) {}

  /** Which index answers queries now (`none` before the first query or after a reset). */
  get kind(): 'exact' | 'hnsw' | 'none' {
    return this.index?.kind ?? 'none';
  }

  /**
   * The index to search, (re)built when missing or when `auto` decides to switch.
   * `classes` lists every class in label order (called only on a rebuild); `stored` is
   * their total vector count; `upcoming` queries are known to follow (a batch).
   */
  ensure(classes: () => IndexedClass[], dim: number, stored: number, upcoming: number): VectorIndex {
    const kind = this.wanted(stored, upcoming);
    if (this.index && this.index.kind === kind) return this.index;
    this.reset();
    const { metric, seed, hnsw } = this.settings;
    const capacity = Math.max(16, Math.ceil(stored * 1.25));
    this.index =
      kind === 'exact' ? new ExactIndex(dim, metric, capacity) : getPlatform().createAnnIndex!({ ...hnsw, metric, dim, capacity, seed });
    for (const entry of classes()) this.add(entry, dim);
    return this.index;
  }

  /** The n nearest stored vectors with their labels, best first (the index must exist: see ensure()). */
  search(query: Float32Array, n: number): Neighbor[] {
    return this.searchBatch([query], n)[0]!;
  }

  /** `search` for each query (in one pass over the vectors where the index can). */
  searchBatch(queries: readonly Float32Array[], n: number): Neighbor[][] {
    const index = this.index!;
    const hits = index.searchBatch ? index.searchBatch(queries, n) : queries.map((q) => index.search(q, n));
    return hits.map((list) => list.map((h) => ({ label: this.labelOfId.get(h.id)!, score: h.score })));
  }

  /** Give a class's stored vectors ids, and put them into the index when one exists (else it is built at the next query). */
  add(entry: IndexedClass, dim: number): void {
    entry.ids = [];
    const n = entry.vectors.length / dim;
    for (let i = 0; i < n; i++) {
      const id = this.nextId++;
      entry.ids.push(id);
      this.labelOfId.set(id, entry.label);
      this.index?.add(id, entry.vectors.subarray(i * dim, (i + 1) * dim));
    }
  }

  drop(entry: IndexedClass): void {
    for (const id of entry.ids) {
      this.index?.remove(id);
      this.labelOfId.delete(id);
    }
    entry.ids = [];
  }

  /** Forget the index and every id (the vectors changed): the next ensure() rebuilds. */
  reset(): void {
    this.dispose();
    this.labelOfId.clear();
    this.nextId = 0;
  }

  /** Release the index's native memory; ids stay, so the next ensure() rebuilds with the same labels. */
  dispose(): void {
    this.index?.dispose?.();
    this.index = undefined;
  }

  private wanted(stored: number, upcoming: number): 'exact' | 'hnsw' {
    const canHnsw = platformOrUndefined()?.createAnnIndex !== undefined;
    const { choice } = this.settings;
    // Where there is no HNSW (the browser) the exact index gives the same answers, only slower on big galleries.
    if (choice === 'hnsw' && canHnsw) return 'hnsw';
    if (choice === 'exact' || !canHnsw || stored < AUTO_HNSW_MIN_SIZE) return 'exact';
    if (this.index?.kind === 'hnsw') return 'hnsw';
    if (this.queries + upcoming < AUTO_HNSW_AFTER_QUERIES) return 'exact';
    // Asked only now, so a missing addon costs nothing (and says nothing) until HNSW would pay.
    if (platformOrUndefined()?.annIndexAvailable?.() === false) {
      noteExactFallback();
      return 'exact';
    }
    return 'hnsw';
  }
}

let notedFallback = false;
/** One line per process: results are the same, only slower on big galleries. */
function noteExactFallback(): void {
  if (notedFallback) return;
  notedFallback = true;
  console.warn('skulens: note: HNSW is unavailable (the hnswlib-node addon is not built): searching with the exact index.');
}

function platformOrUndefined(): Platform | undefined {
  try {
    return getPlatform();
  } catch {
    return undefined;
  }
}
