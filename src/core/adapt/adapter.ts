/**
 * A gallery's adaptation state: the options adapt() was called with, the fitted
 * projection, and the work owed before the next search or save. Fitting is lazy, so a
 * gallery built class by class fits once, at its first query or save, not once per
 * class; a loaded gallery only re-projects its references with the stored fit.
 */
import { SkulensError } from '../errors.js';
import { check, is } from '../is.js';
import { LEGACY_ADAPT_DEFAULTS, applyAdaptation, fitAdaptation, type Adaptation, type AdaptOptions } from './lda.js';
import { adaptationFromRecord, adaptationToRecord, type AdaptationRecord } from './serialize.js';

/** What is owed: nothing, a new fit (the classes changed), or only re-projecting the references (after a load). */
export type AdaptWork = 'none' | 'refit' | 'reproject';

export class Adapter {
  /** The options to (re-)fit with; set by adapt() and kept in the file. */
  readonly options: AdaptOptions;
  private fit: Adaptation | null = null;
  private reason: string | undefined;
  private pending: AdaptWork = 'refit';
  /** Time of the last fit in this session (0 after a load). */
  private fitMs = 0;

  constructor(options: AdaptOptions) {
    this.options = { ...options };
  }

  /** Restore from a gallery file's record (E_GALLERY_FORMAT when it is inconsistent with `dim`). */
  static fromRecord(record: unknown, dim: number): Adapter {
    let rec: ReturnType<typeof adaptationFromRecord>;
    try {
      rec = adaptationFromRecord(record, dim);
    } catch (err) {
      throw new SkulensError('E_GALLERY_FORMAT', `the adaptation block is invalid: ${(err as Error).message}`);
    }
    const a = new Adapter({ ...LEGACY_ADAPT_DEFAULTS, ...rec.options });
    a.fit = rec.fit;
    a.reason = rec.reason;
    a.pending = 'reproject';
    return a;
  }

  /** Check adapt()'s options before anything changes. */
  static checkOptions(options: AdaptOptions): void {
    for (const [k, v] of Object.entries(options)) check(v === undefined || is.finite(v), `adapt(): ${k}`, 'a finite number', v);
    const { power, shrinkage, dims } = options;
    check(power === undefined || is.inRange(power, 0, 4, 'lo'), 'adapt(): power', 'in (0, 4]', power);
    check(shrinkage === undefined || is.inRange(shrinkage, 0, 1), 'adapt(): shrinkage', 'in [0, 1]', shrinkage);
    check(dims === undefined || is.int(dims, 2), 'adapt(): dims', 'an integer >= 2', dims);
  }

  /** The references changed: re-fit before the next use. */
  invalidate(): void {
    this.pending = 'refit';
  }

  /**
   * Do the work owed, if any: re-fit on the classes' references (`raws()`, in label
   * order) when they changed. Returns false when nothing was owed; true means the caller must
   * re-project its references with project() (and rebuild its index).
   */
  refresh(references: () => Float32Array[], dim: number): boolean {
    if (this.pending === 'none') return false;
    if (this.pending === 'refit') {
      const t0 = performance.now();
      const raws = references();
      let n = 0;
      for (const r of raws) n += r.length / dim;
      const all = new Float32Array(n * dim);
      const y = new Int32Array(n);
      let o = 0;
      raws.forEach((r, c) => {
        all.set(r, o * dim);
        y.fill(c, o, o + r.length / dim);
        o += r.length / dim;
      });
      const result = n > 0 ? fitAdaptation(all, y, dim, this.options) : { adaptation: null, reason: 'no references' };
      this.fit = result.adaptation;
      this.reason = result.reason;
      this.fitMs = performance.now() - t0;
    }
    this.pending = 'none';
    return true;
  }

  /** Vectors (n × inDim, row-major) in the adapted space; unchanged under the identity. */
  project(vectors: Float32Array): Float32Array {
    return this.fit ? applyAdaptation(this.fit, vectors) : vectors;
  }

  /** True when a projection is in use; false for the identity (the references could not support a fit). */
  get fitted(): boolean {
    return this.fit !== null;
  }

  /** Dimension of the searched vectors for `dim`-d embeddings. */
  outDim(dim: number): number {
    return this.fit?.outDim ?? dim;
  }

  toRecord(): AdaptationRecord {
    return adaptationToRecord(this.options, this.fit, this.reason);
  }

  /** For AdaptationInfo (gallery/types.ts). */
  describe(dim: number, references: number) {
    const a = this.fit;
    return {
      method: a ? ('lda' as const) : ('identity' as const),
      inDim: dim,
      outDim: a ? a.outDim : dim,
      references,
      options: { ...this.options },
      ...(a ? { power: a.power, shrinkage: a.shrinkage } : {}),
      ...(this.reason ? { reason: this.reason } : {}),
      fitMs: this.fitMs,
    };
  }
}
