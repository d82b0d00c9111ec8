/**
 * ReferenceGallery: labelled reference vectors (optionally reduced per class with
 * k-means), a vector index over them, and kNN voting that names a query or answers
 * "unknown". Platform-free: HNSW and file writes come from the registered platform.
 */
import type { Embedder, EmbedFailure, EmbedInput, EmbedProgress } from '../embedder.js';
import { SkulensError } from '../errors.js';
import { getPlatform } from '../platform.js';
import { adaptDefaultsFor, isBuiltinModelId } from '../model.js';
import { DEFAULT_KMEANS_SEED, reduceVectors } from './cluster.js';
import { normalizeInPlace } from '../vector.js';
import { definedOnly } from '../options.js';
import { ExactIndex } from './exact-index.js';
import { decodeGallery, encodeGallery, type EncodeOptions, type GalleryData } from './format.js';
import { applyAdaptation, fitAdaptation, type Adaptation, type AdaptOptions } from '../adapt/lda.js';
import { adaptationFromRecord, adaptationToRecord, type CalibrationRecord } from '../adapt/serialize.js';
import {
  assignFolds,
  calibratedScore,
  calibrationFromAnswers,
  DEFAULT_COHORT_SIZE,
  DEFAULT_COHORT_WEIGHT,
  DEFAULT_FOLDS,
  DEFAULT_REJECT_RATE,
  type CalibrateOptions,
  type HeldOutAnswer,
} from '../adapt/calibrate.js';
import type { HnswParams, Metric, VectorIndex } from './vector-index.js';

export type IndexChoice = 'auto' | 'exact' | 'hnsw';

/** Who made the vectors: a gallery only accepts vectors (and images) from the same embedder. */
export interface GalleryEmbedderInfo {
  /** `Embedder.fingerprint`: model bytes + output + normalisation + preprocessing. */
  fingerprint: string;
  /** The preprocessing spec, so a command can re-create the embedder from the gallery alone. */
  spec: Record<string, unknown>;
  /** Where the model was loaded from (commands re-open it from here unless told otherwise). */
  path?: string;
  /** The preset name it was created with, if any (informational). */
  preset?: string;
  /** The model output holding the embedding. */
  output?: string;
}

export interface ReferenceGalleryOptions {
  /** Vector dimension; taken from the first vectors added when omitted. */
  dim?: number;
  /** `cosine` (default) compares directions; `l2` compares positions (see docs/gallery.md). */
  metric?: Metric;
  /** Keep at most K k-means centroids per class, or `'all'` references (default DEFAULT_CLUSTERS = 1: the class mean). */
  clustersPerClass?: number | 'all';
  /**
   * `auto` (default): the exact index, switching to HNSW (where the platform has it) once
   * the gallery holds ≥ AUTO_HNSW_MIN_SIZE vectors AND has answered (or is asked in one
   * batch) AUTO_HNSW_AFTER_QUERIES queries, i.e. once building the graph pays for itself.
   */
  index?: IndexChoice;
  hnsw?: Partial<HnswParams>;
  /** The embedder the vectors come from (set automatically by `addImages`). */
  embedder?: GalleryEmbedderInfo;
  /** Seed for k-means++ and the HNSW level generator (default 42): same inputs, same gallery. */
  seed?: number;
  /** Default `threshold` for classify (stored in the file), e.g. calibrated for this gallery's embedder. */
  threshold?: number;
}

export interface ClassifyOptions {
  /** Neighbours that vote (default DEFAULT_K). */
  k?: number;
  /** Best similarity below this → `unknown: true` (default: the gallery's threshold, else DEFAULT_THRESHOLD). */
  threshold?: number;
  /** Length of the ranked `labels` list (default 5). */
  top?: number;
  /**
   * Softness of the vote (default DEFAULT_TEMPERATURE): a neighbour's weight is
   * exp((score - best) / temperature), so near-ties share the vote and clearly worse
   * neighbours barely count. Large values approach a plain majority vote.
   */
  temperature?: number;
}

export interface Neighbor {
  label: string;
  score: number;
}

export interface LabelScore {
  label: string;
  /** Best similarity of this label's references to the query. */
  score: number;
  /** Share (0–1) of the weighted vote among the k nearest neighbours. */
  votes: number;
}

export interface Classification {
  /** The winning label (the best guess even when `unknown` is true). */
  label: string;
  /** Best similarity of the winning label's references to the query. */
  score: number;
  /**
   * The number compared with the threshold: the best similarity, or on a calibrated
   * gallery the winning label's similarity minus that label's offset and minus the
   * weighted mean similarity of the next best labels (see calibrate()).
   */
  unknownScore: number;
  /** True when `unknownScore` is below the threshold: treat the query as not in the gallery. */
  unknown: boolean;
  /** The k nearest references, best first. */
  neighbors: Neighbor[];
  /** Labels ranked by vote, then by best similarity (`top` of them; for top-5 accuracy and UIs). */
  labels: LabelScore[];
}

export interface AddImagesResult {
  added: number;
  failures: EmbedFailure[];
}

/** What adapt() learned (see docs/accuracy.md). */
export interface AdaptationInfo {
  /** `lda`, or `identity` when the references cannot support an adaptation (see `reason`). */
  method: 'lda' | 'identity';
  inDim: number;
  outDim: number;
  /** References the projection was fitted on. */
  references: number;
  options: AdaptOptions;
  power?: number;
  shrinkage?: number;
  reason?: string;
  /** Time of the last fit in this session (0 after a load). */
  fitMs: number;
}

/** What calibrate() found. */
export interface CalibrationInfo {
  threshold: number;
  /** Held-out references answered. */
  heldOut: number;
  /** Their top-1 (optimistic: references resemble each other more than queries resemble them). */
  heldOutTop1: number;
  folds: number;
  rejectRate: number;
  ms: number;
}

export type { AdaptOptions } from '../adapt/lda.js';
export type { CalibrateOptions } from '../adapt/calibrate.js';

/** Per-class summary, for `gallery info`. */
export interface ClassInfo {
  label: string;
  /** Reference vectors given (before clustering). */
  references: number;
  /** Vectors stored and searched (≤ clustersPerClass). */
  vectors: number;
}

/**
 * Defaults chosen from bench/gallery-accuracy.ts on the Grocery Store dataset with
 * MobileNetV2 (see docs/gallery.md for the table).
 */
export const DEFAULT_K = 10;
export const DEFAULT_TEMPERATURE = 0.02;
/** A floor, not a calibration: for unit vectors, "more than 60° from every reference". Calibrate per embedder (docs/gallery.md). */
export const DEFAULT_THRESHOLD = 0.5;
export const DEFAULT_CLUSTERS: number | 'all' = 1;
export const DEFAULT_HNSW: HnswParams = { M: 32, efConstruction: 100, ef: 128 };
/**
 * `index: 'auto'`: below this many stored vectors the exact index is used whatever the
 * load (the per-query crossover measured by bench/search.ts is ~170 1280-d vectors, but
 * below ~1,000 an exact query costs < 3 ms anyway and needs no graph).
 */
export const AUTO_HNSW_MIN_SIZE = 1000;
/**
 * `index: 'auto'`: building HNSW costs as much as ~170–1,600 exact queries, at any size
 * (bench/search.ts: 0.3–3 ms per inserted vector vs ~1.8 µs per vector scanned), so the
 * exact index answers until the gallery has served (or is asked in one batch) this many.
 */
export const AUTO_HNSW_AFTER_QUERIES = 300;

interface ClassEntry {
  label: string;
  /** References given so far (raw count, kept through clustering and save/load). */
  refs: number;
  /** Stored vectors (centroids when clustered), row-major. */
  vectors: Float32Array;
  /** Every reference added in this session, kept only while clustering needs it for re-clustering (and always on an adapted gallery, whose stored vectors live in the adapted space). */
  raw?: Float32Array;
  /** Index ids of the stored vectors. */
  ids: number[];
}

export class ReferenceGallery {
  readonly metric: Metric;
  readonly clustersPerClass: number | 'all';
  readonly indexChoice: IndexChoice;
  readonly hnsw: HnswParams;
  readonly seed: number;
  private _threshold: number;
  /** Set by adapt(): the options to (re-)fit with whenever the classes change. */
  private adaptOptions: AdaptOptions | undefined;
  private adaptation: Adaptation | null = null;
  private adaptReason: string | undefined;
  /** Work owed before the next search/save: re-fit the adaptation, or only re-project (after a load). */
  private adaptPending: 'none' | 'refit' | 'reproject' = 'none';
  private adaptMs = 0;
  /** From calibrate(): per-label offsets subtracted from the winner's similarity before the threshold test. */
  private calibration: (CalibrationRecord & { map: Map<string, number>; mean: number }) | undefined;
  private _dim: number | undefined;
  private _embedder: GalleryEmbedderInfo | undefined;
  private classes = new Map<string, ClassEntry>();
  /** Label of each live index id. */
  private labelOfId = new Map<number, string>();
  private nextId = 0;
  private index: VectorIndex | undefined;
  /** Metadata fields from a file that this version does not interpret, written back unchanged. */
  private extraMeta: Record<string, unknown> = {};
  /** Queries answered so far (the auto index switches to HNSW when that pays). */
  private queries = 0;

  constructor(options: ReferenceGalleryOptions = {}) {
    const { dim, metric = 'cosine', clustersPerClass = DEFAULT_CLUSTERS, index = 'auto', hnsw = {}, embedder, seed = DEFAULT_KMEANS_SEED, threshold = DEFAULT_THRESHOLD } = options;
    if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new SkulensError('E_INPUT', `threshold must be a number, got ${String(threshold)}.`);
    if (metric !== 'cosine' && metric !== 'l2') throw new SkulensError('E_INPUT', `metric must be "cosine" or "l2", got "${String(metric)}".`);
    if (clustersPerClass !== 'all' && !(Number.isInteger(clustersPerClass) && clustersPerClass >= 1)) {
      throw new SkulensError('E_INPUT', `clustersPerClass must be a positive integer or "all", got ${String(clustersPerClass)}.`);
    }
    if (!['auto', 'exact', 'hnsw'].includes(index)) throw new SkulensError('E_INPUT', `index must be "auto", "exact" or "hnsw", got "${String(index)}".`);
    if (dim !== undefined && !(Number.isInteger(dim) && dim >= 1)) throw new SkulensError('E_INPUT', `dim must be a positive integer, got ${String(dim)}.`);
    const params = { ...DEFAULT_HNSW, ...hnsw };
    for (const [k, v] of Object.entries(params)) {
      if (!(Number.isInteger(v) && v >= 1)) throw new SkulensError('E_INPUT', `hnsw.${k} must be a positive integer, got ${String(v)}.`);
    }
    this.metric = metric;
    this.clustersPerClass = clustersPerClass;
    this.indexChoice = index;
    this.hnsw = params;
    this.seed = seed;
    this._threshold = threshold;
    this._dim = dim;
    this._embedder = embedder ? { ...embedder } : undefined;
  }

  /** Default threshold for classify (set by calibrate() on a calibrated gallery). */
  get threshold(): number {
    return this._threshold;
  }

  /** Change the default threshold (it is saved with the gallery). On a calibrated gallery it applies to the calibrated score. */
  setThreshold(value: number): this {
    if (typeof value !== 'number' || Number.isNaN(value)) throw new SkulensError('E_INPUT', `threshold must be a number, got ${String(value)}.`);
    this._threshold = value;
    return this;
  }

  /** Vector dimension (0 until known). */
  get dim(): number {
    return this._dim ?? 0;
  }

  /** Labels, sorted. */
  get labels(): string[] {
    return [...this.classes.keys()].sort();
  }

  /** Stored (searched) vectors across all classes. */
  get size(): number {
    return this.totalStored();
  }

  get embedder(): GalleryEmbedderInfo | undefined {
    return this._embedder ? { ...this._embedder } : undefined;
  }

  /** Which index answers queries now (`none` before the first query). */
  get indexKind(): 'exact' | 'hnsw' | 'none' {
    return this.index?.kind ?? 'none';
  }

  /** Per-class counts: references given and vectors stored. */
  classInfo(): ClassInfo[] {
    this.refreshAdaptation();
    return this.labels.map((label) => {
      const c = this.classes.get(label)!;
      return { label, references: c.refs, vectors: c.vectors.length / this.searchDim };
    });
  }

  has(label: string): boolean {
    return this.classes.has(label);
  }

  /**
   * Add reference vectors for a label (a new label, or more references for an existing
   * one: they merge, and a clustered class is re-clustered). Accepts an array of vectors,
   * or one Float32Array holding one or more vectors back to back.
   */
  add(label: string, vectors: Float32Array | readonly (Float32Array | readonly number[])[]): this {
    checkLabel(label);
    const flat = this.flatten(vectors, label);
    const dim = this.dim;
    const n = flat.length / dim;
    if (n === 0) return this;
    for (let i = 0; i < n; i++) {
      const row = flat.subarray(i * dim, (i + 1) * dim);
      for (let j = 0; j < dim; j++) {
        if (!Number.isFinite(row[j]!)) throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" has a non-finite value at ${j}.`, { input: label });
      }
      if (this.metric === 'cosine' && !normalizeInPlace(row)) {
        throw new SkulensError('E_INPUT', `Vector ${i} for "${label}" is all zeros: it has no direction to compare with the cosine metric.`, { input: label });
      }
    }
    const old = this.classes.get(label);
    const refs = (old?.refs ?? 0) + n;
    // Everything this class has seen (after a load, the stored centroids stand in for the references).
    const raw = old ? concat(old.raw ?? old.vectors, flat) : flat;
    if (this.adaptOptions) {
      // Adapted: keep the references; the projection is re-fitted before the next search or save.
      if (old) this.dropFromIndex(old);
      this.classes.set(label, { label, refs, vectors: new Float32Array(0), raw, ids: [] });
      this.classesChanged();
      return this;
    }
    this.classesChanged();
    let stored = raw;
    if (this.clustersPerClass !== 'all') stored = reduceVectors(raw, dim, this.clustersPerClass, this.metric, this.seed);
    if (old) this.dropFromIndex(old);
    const entry: ClassEntry = { label, refs, vectors: stored, ids: [] };
    if (stored !== raw) entry.raw = raw;
    this.classes.set(label, entry);
    this.addToIndex(entry);
    return this;
  }

  /**
   * Embed images and add them under a label. Images that cannot be read are reported
   * in `failures` and skipped; the embedder must match the gallery's (E_FINGERPRINT).
   */
  async addImages(
    embedder: Embedder,
    label: string,
    images: readonly EmbedInput[],
    options: { onProgress?: (p: EmbedProgress) => void } = {},
  ): Promise<AddImagesResult> {
    checkLabel(label);
    this.useEmbedder(embedder);
    const { vectors, failures } = await embedder.embedSettled(images, options.onProgress ? { onProgress: options.onProgress } : {});
    const ok = vectors.filter((v): v is Float32Array => v !== null);
    if (ok.length) this.add(label, ok);
    return { added: ok.length, failures };
  }

  /**
   * Check that an embedder makes vectors comparable with this gallery's (and adopt it
   * when the gallery has none yet). Throws E_FINGERPRINT on a different model/spec.
   */
  useEmbedder(embedder: Pick<Embedder, 'fingerprint' | 'spec' | 'modelPath' | 'dim' | 'outputName'> & { preset?: string | undefined }): void {
    const recorded = this._embedder;
    // Same built-in id, other weights (of any width): the gallery predates this release's model.
    if (recorded && recorded.fingerprint !== embedder.fingerprint && recorded.path !== undefined && recorded.path === embedder.modelPath && isBuiltinModelId(recorded.path)) {
      throw new SkulensError(
        'E_FINGERPRINT',
        `This gallery was built with an earlier version of the built-in model ${recorded.path} (embedder ${recorded.fingerprint}; this skulens ships ${embedder.fingerprint}). Its vectors cannot be compared with the new model's: rebuild the gallery from its reference photos (skulens gallery build).`,
      );
    }
    if (this._dim !== undefined && embedder.dim !== this._dim) {
      throw new SkulensError('E_DIM_MISMATCH', `The embedder makes ${embedder.dim}-d vectors but this gallery holds ${this._dim}-d vectors.`);
    }
    if (recorded) {
      if (recorded.fingerprint !== embedder.fingerprint) {
        throw new SkulensError(
          'E_FINGERPRINT',
          `This gallery was built with embedder ${recorded.fingerprint}${recorded.path ? ` (${recorded.path})` : ''} but the embedder given is ${embedder.fingerprint}${embedder.modelPath ? ` (${embedder.modelPath})` : ''}: a different model or preprocessing makes incomparable vectors. Use the gallery's model and preset, or rebuild the gallery.`,
        );
      }
      return;
    }
    if (this.size > 0) {
      throw new SkulensError('E_FINGERPRINT', 'This gallery holds vectors from an unrecorded embedder, so images cannot be added or compared safely. Rebuild it with addImages (or pass `embedder` to the constructor).');
    }
    this._embedder = {
      fingerprint: embedder.fingerprint,
      spec: JSON.parse(JSON.stringify(embedder.spec)) as Record<string, unknown>,
      ...(embedder.modelPath !== undefined ? { path: embedder.modelPath } : {}),
      ...(embedder.preset !== undefined ? { preset: embedder.preset } : {}),
      output: embedder.outputName,
    };
    this._dim ??= embedder.dim;
  }

  /** Forget a label and its vectors. Returns false when it was not there. */
  remove(label: string): boolean {
    const entry = this.classes.get(label);
    if (!entry) return false;
    this.dropFromIndex(entry);
    this.classes.delete(label);
    this.classesChanged();
    return true;
  }

  /** Name one query vector by similarity-weighted voting of its k nearest references. */
  classify(vector: Float32Array | readonly number[], options: ClassifyOptions = {}): Classification {
    const { k = DEFAULT_K, threshold = this.threshold, top = 5, temperature = DEFAULT_TEMPERATURE } = options;
    if (!(temperature > 0)) throw new SkulensError('E_INPUT', `temperature must be a positive number, got ${String(temperature)}.`);
    if (!(Number.isInteger(k) && k >= 1)) throw new SkulensError('E_INPUT', `k must be a positive integer, got ${String(k)}.`);
    if (!(Number.isInteger(top) && top >= 1)) throw new SkulensError('E_INPUT', `top must be a positive integer, got ${String(top)}.`);
    if (typeof threshold !== 'number' || Number.isNaN(threshold)) throw new SkulensError('E_INPUT', `threshold must be a number, got ${String(threshold)}.`);
    // Fetch enough neighbours to rank `top` distinct labels, not only the k voters. With a
    // cohort term, every one of the best cohortSize + 1 labels must show its best vector:
    // each label stores at most M vectors, so the first (cohortSize + 1) × M neighbours
    // always hold them (the same labels and scores calibrate() saw).
    const perClass = this.maxStoredPerClass();
    const cohort = this.calibration?.cohortWeight ? (this.calibration.cohortSize ?? DEFAULT_COHORT_SIZE) + 1 : 0;
    const neighbors = this.nearest(vector, Math.max(k, top * Math.min(perClass, 8), cohort * perClass));
    return voteNeighbors(neighbors, { k, threshold, top, temperature }, this.calibratedScorer());
  }

  /** The n stored vectors most similar to a query, best first (scores as in docs/gallery.md). */
  nearest(vector: Float32Array | readonly number[], n: number): Neighbor[] {
    const query = this.prepareQuery(vector);
    this.queries++;
    return this.ensureIndex()
      .search(query, n)
      .map((h) => ({ label: this.labelOfId.get(h.id)!, score: h.score }));
  }

  /** `classify` for many queries (an array of vectors, or n × dim values back to back). */
  classifyBatch(vectors: Float32Array | readonly (Float32Array | readonly number[])[], options: ClassifyOptions = {}): Classification[] {
    const dim = this.dim;
    if (vectors instanceof Float32Array && (dim === 0 || vectors.length % dim !== 0)) throw dimError(vectors.length, dim, 'a batch of');
    // A big batch is known up front: let the auto index switch before it rather than midway.
    if (this.classes.size > 0) this.ensureIndex(vectors instanceof Float32Array ? vectors.length / dim : vectors.length);
    if (vectors instanceof Float32Array) {
      const out: Classification[] = [];
      for (let i = 0; i < vectors.length; i += dim) out.push(this.classify(vectors.subarray(i, i + dim), options));
      return out;
    }
    return vectors.map((v) => this.classify(v, options));
  }

  /**
   * Build (or switch) the search index now rather than at the first query, e.g. right
   * after loading a big gallery.
   */
  buildIndex(): void {
    this.ensureIndex(Infinity);
  }

  /** Release the index's native memory (HNSW). The gallery stays usable: it rebuilds on demand. */
  dispose(): void {
    this.index?.dispose?.();
    this.index = undefined;
  }

  /** The portable binary form (docs/gallery-format.md). */
  toBytes(options: EncodeOptions = {}): Uint8Array {
    if (this._dim === undefined) throw new SkulensError('E_EMPTY', 'An empty gallery with no dimension cannot be saved: add vectors first.');
    return encodeGallery(this.toData(), options);
  }

  /** Read a gallery from `toBytes()` output; verifies magic, version, sizes and checksum (E_GALLERY_FORMAT). */
  static fromBytes(bytes: Uint8Array, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'> = {}): ReferenceGallery {
    return ReferenceGallery.fromData(decodeGallery(bytes), options);
  }

  /** Save atomically (temp file in the same folder, fsync, rename): a crash never leaves a half file. */
  async save(path: string, options: EncodeOptions = {}): Promise<void> {
    const write = getPlatform().writeFileAtomic;
    if (!write) throw new SkulensError('E_PLATFORM', 'This platform cannot write files: use toBytes() and store the bytes yourself.');
    await write(path, this.toBytes(options));
  }

  static async load(path: string, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'> = {}): Promise<ReferenceGallery> {
    let bytes: Uint8Array;
    try {
      bytes = await getPlatform().readBinary(path);
    } catch (err) {
      if (err instanceof SkulensError) throw err;
      const code = (err as { code?: string }).code;
      throw new SkulensError('E_IO', `Cannot read gallery "${path}": ${code === 'ENOENT' ? 'no such file' : String((err as Error).message ?? err)}.`, { cause: err, input: path });
    }
    try {
      return ReferenceGallery.fromBytes(bytes, options);
    } catch (err) {
      if (err instanceof SkulensError && err.code === 'E_GALLERY_FORMAT') {
        throw new SkulensError('E_GALLERY_FORMAT', `"${path}" is not a usable gallery: ${err.message}`, { cause: err, input: path });
      }
      throw err;
    }
  }

  /**
   * Few-shot adaptation (docs/accuracy.md): learn a projection from the labelled
   * references (regularised LDA: within-class whitening, keep the directions that
   * separate the class means) and search in that space from now on. Queries are
   * projected the same way; the projection is stored in the file and re-fitted when
   * classes are added or removed. Needs at least 3 classes and a class with two
   * references; otherwise the gallery keeps the embeddings as they are (identity) and
   * says why in `adaptationInfo.reason`. Deterministic: the same references give the
   * same projection. Resets the default threshold to -1 (never unknown) and drops any
   * calibration: run calibrate() afterwards for open-set use.
   */
  adapt(options: AdaptOptions = {}): AdaptationInfo {
    if (this.classes.size === 0) throw new SkulensError('E_EMPTY', 'The gallery is empty: add references before adapting it.');
    for (const [k, v] of Object.entries(options)) {
      if (v !== undefined && (typeof v !== 'number' || !Number.isFinite(v))) throw new SkulensError('E_INPUT', `adapt(): ${k} must be a finite number, got ${String(v)}.`);
    }
    if (options.power !== undefined && !(options.power > 0 && options.power <= 4)) throw new SkulensError('E_INPUT', `adapt(): power must be in (0, 4], got ${options.power}.`);
    if (options.shrinkage !== undefined && !(options.shrinkage >= 0 && options.shrinkage <= 1)) throw new SkulensError('E_INPUT', `adapt(): shrinkage must be in [0, 1], got ${options.shrinkage}.`);
    if (options.dims !== undefined && !(Number.isInteger(options.dims) && options.dims >= 2)) throw new SkulensError('E_INPUT', `adapt(): dims must be an integer >= 2, got ${options.dims}.`);
    for (const e of this.classes.values()) {
      // The references (after a load of a clustered gallery, its centroids stand in for them).
      if (!e.raw) e.raw = e.vectors;
    }
    // A built-in model may bring its own defaults (model.ts); stored with the gallery so a re-fit after a load uses them too.
    this.adaptOptions = { ...adaptDefaultsFor(this._embedder?.path), ...definedOnly(options) };
    this.adaptPending = 'refit';
    this.classesChanged();
    // Similarities in the adapted space are on another scale: a threshold chosen for the raw
    // embeddings means nothing there. Nothing is "unknown" until calibrate() (or an explicit threshold).
    this._threshold = -1;
    this.calibration = undefined;
    this.refreshAdaptation();
    return this.adaptationInfo!;
  }

  /** The current adaptation (undefined when adapt() was never called). */
  get adaptationInfo(): AdaptationInfo | undefined {
    if (!this.adaptOptions) return undefined;
    this.refreshAdaptation();
    const a = this.adaptation;
    let refs = 0;
    for (const e of this.classes.values()) refs += (e.raw?.length ?? 0) / this.dim;
    return {
      method: a ? 'lda' : 'identity',
      inDim: this.dim,
      outDim: a ? a.outDim : this.dim,
      references: refs,
      options: { ...this.adaptOptions },
      ...(a ? { power: a.power, shrinkage: a.shrinkage } : {}),
      ...(this.adaptReason ? { reason: this.adaptReason } : {}),
      fitMs: this.adaptMs,
    };
  }

  /**
   * Open-set calibration from the references alone: hold out each fold of every class's
   * references in turn, answer them with a gallery built (and adapted) from the rest,
   * and set (1) per-label offsets — the usual similarity of a label's own held-out
   * references — and (2) the threshold on "winner's similarity minus its offset" that
   * rejects `rejectRate` of the correctly answered held-out references. The threshold
   * becomes this gallery's default (stored in the file). Re-run after changing classes.
   */
  calibrate(options: CalibrateOptions = {}): CalibrationInfo {
    const t0 = now();
    const folds = options.folds ?? DEFAULT_FOLDS;
    const rejectRate = options.rejectRate ?? DEFAULT_REJECT_RATE;
    const cohortWeight = options.cohortWeight ?? DEFAULT_COHORT_WEIGHT;
    const cohortSize = options.cohortSize ?? DEFAULT_COHORT_SIZE;
    if (!(cohortWeight >= 0 && cohortWeight <= 2)) throw new SkulensError('E_INPUT', `calibrate(): cohortWeight must be in [0, 2], got ${String(cohortWeight)}.`);
    if (!(Number.isInteger(cohortSize) && cohortSize >= 1)) throw new SkulensError('E_INPUT', `calibrate(): cohortSize must be a positive integer, got ${String(cohortSize)}.`);
    if (!(Number.isInteger(folds) && folds >= 2)) throw new SkulensError('E_INPUT', `calibrate(): folds must be an integer >= 2, got ${String(folds)}.`);
    if (!(rejectRate >= 0 && rejectRate < 1)) throw new SkulensError('E_INPUT', `calibrate(): rejectRate must be in [0, 1), got ${String(rejectRate)}.`);
    const labels = this.labels;
    if (labels.length < 2) throw new SkulensError('E_INPUT', `calibrate() needs at least 2 labels (this gallery has ${labels.length}).`);
    this.refreshAdaptation();
    const dim = this.dim;
    const raws = labels.map((l) => {
      const e = this.classes.get(l)!;
      const r = e.raw ?? (this.clustersPerClass === 'all' ? e.vectors : undefined);
      if (!r) {
        throw new SkulensError(
          'E_INPUT',
          `calibrate() needs the reference vectors, but this gallery keeps only ${String(this.clustersPerClass)} centroid(s) per class since it was loaded. Calibrate while building (skulens gallery build --calibrate), or keep the references (clustersPerClass "all", or adapt()).`,
        );
      }
      return r;
    });
    const assign = assignFolds(
      raws.map((r) => r.length / dim),
      folds,
      options.seed ?? this.seed,
    );
    if (assign.every((a) => a.every((f) => f < 0))) throw new SkulensError('E_INPUT', 'calibrate() needs a class with at least two references to hold one out.');
    const answers: HeldOutAnswer[] = [];
    for (let f = 0; f < folds; f++) {
      const g = new ReferenceGallery({ dim, metric: this.metric, clustersPerClass: this.clustersPerClass, index: 'exact', seed: this.seed });
      const held: { label: string; v: Float32Array }[] = [];
      labels.forEach((label, c) => {
        const r = raws[c]!;
        const keep: Float32Array[] = [];
        assign[c]!.forEach((fold, i) => {
          const v = r.subarray(i * dim, (i + 1) * dim);
          if (fold === f) held.push({ label, v });
          else keep.push(v);
        });
        if (keep.length) g.add(label, keep);
      });
      if (held.length === 0) continue;
      if (this.adaptOptions) g.adapt(this.adaptOptions);
      for (const h of held) {
        // One full ranking serves both the vote (as classify() would cast it) and every
        // label's best similarity: the own label's, and the answer's cohort.
        const ranked = g.nearest(h.v, g.size);
        const r = voteNeighbors(ranked, { k: DEFAULT_K, threshold: -Infinity, top: 1, temperature: DEFAULT_TEMPERATURE });
        const best = bestScoreByLabel(ranked);
        answers.push({ label: h.label, answer: r.label, score: r.score, ownScore: best.get(h.label), others: otherLabelScores(best, r.label) });
      }
      g.dispose();
    }
    const result = calibrationFromAnswers(answers, labels, rejectRate, { weight: cohortWeight, size: cohortSize });
    this.setCalibration({ offsets: result.offsets, rejectRate, folds, cohortWeight, cohortSize });
    this._threshold = result.threshold;
    return { threshold: result.threshold, heldOut: result.heldOut, heldOutTop1: result.heldOutTop1, folds, rejectRate, ms: now() - t0 };
  }

  /** The calibration in use (undefined before calibrate()). */
  get calibrationInfo(): (CalibrationRecord & { threshold: number }) | undefined {
    return this.calibration ? { ...calibrationRecord(this.calibration), threshold: this.threshold } : undefined;
  }

  // ---- internals ----

  /** Dimension of the searched vectors: the adapted space, or the embedder's. */
  private get searchDim(): number {
    return this.adaptation?.outDim ?? this.dim;
  }

  private setCalibration(rec: CalibrationRecord): void {
    if (typeof rec !== 'object' || rec === null || typeof rec.offsets !== 'object' || rec.offsets === null) {
      throw new SkulensError('E_GALLERY_FORMAT', 'the calibration block is invalid');
    }
    const badNumber = (v: unknown, ok: (x: number) => boolean) => v !== undefined && !(typeof v === 'number' && ok(v));
    if (badNumber(rec.cohortWeight, (x) => x >= 0 && x <= 2) || badNumber(rec.cohortSize, (x) => Number.isInteger(x) && x >= 1)) {
      throw new SkulensError('E_GALLERY_FORMAT', 'the calibration block has an invalid cohortWeight or cohortSize');
    }
    const map = new Map<string, number>();
    for (const [l, v] of Object.entries(rec.offsets)) if (typeof v === 'number' && Number.isFinite(v)) map.set(l, v);
    const vals = [...map.values()];
    this.calibration = { ...rec, offsets: { ...rec.offsets }, map, mean: vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : 0 };
  }

  /** The calibrated unknown score for voteNeighbors, when calibrated. */
  private calibratedScorer(): UnknownScorer | undefined {
    const c = this.calibration;
    if (!c) return undefined;
    const weight = c.cohortWeight ?? 0;
    const size = c.cohortSize ?? DEFAULT_COHORT_SIZE;
    return (winner, others) => calibratedScore(winner.score, c.map.get(winner.label) ?? c.mean, others, weight, size);
  }

  /** Classes were added or removed: an adaptation must be re-fitted, a calibration is out of date. */
  private classesChanged(): void {
    if (this.adaptOptions) this.adaptPending = 'refit';
    if (this.calibration) this.calibration.stale = true;
  }

  /** Re-fit or re-project the adapted vectors when owed (lazily, so building class by class fits once). */
  private refreshAdaptation(): void {
    if (!this.adaptOptions || this.adaptPending === 'none') return;
    const pending = this.adaptPending;
    this.adaptPending = 'none';
    const dim = this.dim;
    const labels = this.labels;
    if (pending === 'refit') {
      const t0 = now();
      let n = 0;
      for (const l of labels) n += this.classes.get(l)!.raw!.length / dim;
      const all = new Float32Array(n * dim);
      const y = new Int32Array(n);
      let o = 0;
      labels.forEach((l, c) => {
        const r = this.classes.get(l)!.raw!;
        all.set(r, o * dim);
        y.fill(c, o, o + r.length / dim);
        o += r.length / dim;
      });
      const fit = n > 0 ? fitAdaptation(all, y, dim, this.adaptOptions) : { adaptation: null, reason: 'no references' };
      this.adaptation = fit.adaptation;
      this.adaptReason = fit.reason;
      this.adaptMs = now() - t0;
    }
    this.index?.dispose?.();
    this.index = undefined;
    this.labelOfId.clear();
    this.nextId = 0;
    const sdim = this.searchDim;
    for (const l of labels) {
      const e = this.classes.get(l)!;
      const v = this.adaptation ? applyAdaptation(this.adaptation, e.raw!) : e.raw!;
      e.vectors = this.clustersPerClass === 'all' || v.length / sdim <= this.clustersPerClass ? v : reduceVectors(v, sdim, this.clustersPerClass, this.metric, this.seed);
      e.ids = [];
    }
  }

  private toData(): GalleryData {
    this.refreshAdaptation();
    const adapted = this.adaptOptions !== undefined;
    return {
      metric: this.metric,
      dim: this.dim,
      meta: {
        ...this.extraMeta,
        clustersPerClass: this.clustersPerClass,
        seed: this.seed,
        index: this.indexChoice,
        hnsw: this.hnsw,
        threshold: this.threshold,
        ...(this._embedder ? { embedder: this._embedder } : {}),
        // Format version 2 (docs/gallery-format.md): an adapted gallery stores its references in the embedder's space plus the fitted projection.
        ...(adapted ? { adaptation: adaptationToRecord(this.adaptOptions!, this.adaptation, this.adaptReason) } : {}),
        ...(this.calibration ? { calibration: calibrationRecord(this.calibration) } : {}),
      },
      classes: this.labels.map((label) => {
        const c = this.classes.get(label)!;
        return { label, refs: c.refs, vectors: adapted ? c.raw! : c.vectors };
      }),
    };
  }

  private static fromData(data: GalleryData, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'>): ReferenceGallery {
    const meta = data.meta;
    const g = new ReferenceGallery({
      dim: data.dim,
      metric: data.metric,
      clustersPerClass: meta.clustersPerClass ?? 'all',
      index: options.index ?? meta.index ?? 'auto',
      hnsw: { ...meta.hnsw, ...options.hnsw },
      ...(meta.embedder ? { embedder: meta.embedder } : {}),
      ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
      ...(typeof meta.threshold === 'number' ? { threshold: meta.threshold } : {}),
    });
    const { clustersPerClass: _c, seed: _s, index: _i, hnsw: _h, embedder: _e, threshold: _t, adaptation, calibration, ...extra } = meta;
    g.extraMeta = extra;
    if (adaptation !== undefined) {
      let rec: ReturnType<typeof adaptationFromRecord>;
      try {
        rec = adaptationFromRecord(adaptation, data.dim);
      } catch (err) {
        throw new SkulensError('E_GALLERY_FORMAT', `the adaptation block is invalid: ${(err as Error).message}`);
      }
      g.adaptOptions = rec.options;
      g.adaptation = rec.fit;
      g.adaptReason = rec.reason;
      g.adaptPending = 'reproject';
    }
    for (const c of data.classes) {
      // Stored vectors are already normalised and reduced: take them as they are (an adapted gallery stores its references, projected on first use).
      g.classes.set(c.label, adaptation !== undefined ? { label: c.label, refs: c.refs, vectors: new Float32Array(0), raw: c.vectors, ids: [] } : { label: c.label, refs: c.refs, vectors: c.vectors, ids: [] });
    }
    if (calibration !== undefined) g.setCalibration(calibration as CalibrationRecord);
    return g;
  }

  private flatten(vectors: Float32Array | readonly (Float32Array | readonly number[])[], label: string): Float32Array {
    if (vectors instanceof Float32Array) {
      this._dim ??= vectors.length;
      if (vectors.length % this.dim !== 0) throw dimError(vectors.length, this.dim, `vectors for "${label}": a`);
      return vectors.slice();
    }
    if (!Array.isArray(vectors)) throw new SkulensError('E_INPUT', `add() takes an array of vectors or a Float32Array, got ${typeof vectors}.`, { input: label });
    if (vectors.length === 0) return new Float32Array(0);
    this._dim ??= vectors[0]!.length;
    const dim = this.dim;
    const out = new Float32Array(vectors.length * dim);
    vectors.forEach((v, i) => {
      if (!v || v.length !== dim) throw dimError(v?.length ?? 0, dim, `vector ${i} for "${label}": a`);
      out.set(v, i * dim);
    });
    return out;
  }

  private prepareQuery(vector: Float32Array | readonly number[]): Float32Array {
    if (this.classes.size === 0) throw new SkulensError('E_EMPTY', 'The gallery is empty: add references before classifying.');
    if (!vector || typeof vector.length !== 'number') throw new SkulensError('E_INPUT', 'classify() takes one vector (Float32Array or number[]).');
    if (vector.length !== this.dim) throw dimError(vector.length, this.dim, 'a query');
    const q = Float32Array.from(vector);
    for (let i = 0; i < q.length; i++) if (!Number.isFinite(q[i]!)) throw new SkulensError('E_INPUT', `The query has a non-finite value at ${i}.`);
    if (this.metric === 'cosine') normalizeInPlace(q);
    this.refreshAdaptation();
    return this.adaptation ? applyAdaptation(this.adaptation, q) : q;
  }

  private maxStoredPerClass(): number {
    this.refreshAdaptation();
    let m = 1;
    for (const c of this.classes.values()) m = Math.max(m, c.vectors.length / this.searchDim);
    return m;
  }

  private wantedIndex(upcoming: number): 'exact' | 'hnsw' {
    const canHnsw = getPlatformSafe()?.createAnnIndex !== undefined;
    if (this.indexChoice === 'hnsw') {
      if (!canHnsw) throw new SkulensError('E_PLATFORM', 'index: "hnsw" needs the Node platform (hnswlib-node); use "exact" or "auto" here.');
      return 'hnsw';
    }
    if (this.indexChoice === 'exact' || !canHnsw || this.totalStored() < AUTO_HNSW_MIN_SIZE) return 'exact';
    if (this.index?.kind === 'hnsw') return 'hnsw';
    return this.queries + upcoming >= AUTO_HNSW_AFTER_QUERIES ? 'hnsw' : 'exact';
  }

  /** The index to search, (re)built when missing or when `auto` decides to switch. */
  private ensureIndex(upcoming = 0): VectorIndex {
    this.refreshAdaptation();
    const kind = this.wantedIndex(upcoming);
    if (this.index && this.index.kind === kind) return this.index;
    this.index?.dispose?.();
    this.index = undefined;
    this.labelOfId.clear();
    this.nextId = 0;
    const capacity = Math.max(16, Math.ceil(this.totalStored() * 1.25));
    this.index =
      kind === 'exact'
        ? new ExactIndex(this.searchDim, this.metric, capacity)
        : getPlatform().createAnnIndex!({ metric: this.metric, dim: this.searchDim, capacity, seed: this.seed, ...this.hnsw });
    for (const label of this.labels) this.addToIndex(this.classes.get(label)!);
    return this.index;
  }

  private totalStored(): number {
    this.refreshAdaptation();
    let n = 0;
    for (const c of this.classes.values()) n += c.vectors.length / this.searchDim;
    return n;
  }

  /** Put a class's stored vectors into the index (when one exists; else it is built at the first query). */
  private addToIndex(entry: ClassEntry): void {
    entry.ids = [];
    const dim = this.searchDim;
    const n = entry.vectors.length / dim;
    for (let i = 0; i < n; i++) {
      const id = this.nextId++;
      entry.ids.push(id);
      this.labelOfId.set(id, entry.label);
      this.index?.add(id, entry.vectors.subarray(i * dim, (i + 1) * dim));
    }
  }

  private dropFromIndex(entry: ClassEntry): void {
    for (const id of entry.ids) {
      this.index?.remove(id);
      this.labelOfId.delete(id);
    }
    entry.ids = [];
  }
}

/** Each label's best similarity among neighbours sorted best first; the map keeps that order. */
export function bestScoreByLabel(neighbors: readonly Neighbor[]): Map<string, number> {
  const best = new Map<string, number>();
  for (const n of neighbors) if (!best.has(n.label)) best.set(n.label, n.score);
  return best;
}

/** The best similarities of every label but `label`, best first (the cohort term's input). */
export function otherLabelScores(best: ReadonlyMap<string, number>, label: string): number[] {
  const others: number[] = [];
  for (const [l, score] of best) if (l !== label) others.push(score);
  return others;
}

/** Calibrated unknown score from the winner and the other labels' best similarities (best first). */
export type UnknownScorer = (winner: LabelScore, others: number[]) => number;

/**
 * Similarity-weighted kNN voting over neighbours sorted best first: each of the k
 * nearest votes for its label with weight exp((score - best) / temperature). Labels
 * rank by vote, then by their best similarity; labels seen only beyond the k voters
 * rank after them by best similarity.
 */
export function voteNeighbors(neighbors: readonly Neighbor[], options: Required<ClassifyOptions>, scorer?: UnknownScorer): Classification {
  const { k, threshold, top, temperature } = options;
  if (neighbors.length === 0) throw new SkulensError('E_EMPTY', 'No neighbours to vote: the gallery is empty.');
  const bestScore = neighbors[0]!.score;
  const best = bestScoreByLabel(neighbors);
  const weight = new Map<string, number>();
  let total = 0;
  for (const n of neighbors.slice(0, k)) {
    const w = Math.exp((n.score - bestScore) / temperature);
    weight.set(n.label, (weight.get(n.label) ?? 0) + w);
    total += w;
  }
  const ranked: LabelScore[] = [...best.entries()]
    .map(([label, score]) => ({ label, score, votes: (weight.get(label) ?? 0) / total }))
    .sort((a, b) => b.votes - a.votes || b.score - a.score || (a.label < b.label ? -1 : 1));
  const winner = ranked[0]!;
  const unknownScore = scorer ? scorer(winner, otherLabelScores(best, winner.label)) : bestScore;
  return {
    label: winner.label,
    score: winner.score,
    unknownScore,
    unknown: unknownScore < threshold,
    neighbors: neighbors.slice(0, k),
    labels: ranked.slice(0, top),
  };
}

function getPlatformSafe() {
  try {
    return getPlatform();
  } catch {
    return undefined;
  }
}

function checkLabel(label: string): void {
  if (typeof label !== 'string' || label.length === 0) throw new SkulensError('E_INPUT', `A label must be a non-empty string, got ${JSON.stringify(label)}.`);
  if (label.length > 16384) throw new SkulensError('E_INPUT', `A label must be at most 16384 characters (got ${label.length}).`, { input: label.slice(0, 40) });
}

function concat(a: Float32Array, b: Float32Array): Float32Array {
  const out = new Float32Array(a.length + b.length);
  out.set(a);
  out.set(b, a.length);
  return out;
}

function dimError(got: number, dim: number, what: string): SkulensError {
  return new SkulensError('E_DIM_MISMATCH', `${what} vector has ${got} values but the gallery holds ${dim}-d vectors: was it made by the gallery's embedder?`);
}

function calibrationRecord(c: CalibrationRecord): CalibrationRecord {
  return {
    offsets: { ...c.offsets },
    rejectRate: c.rejectRate,
    folds: c.folds,
    ...(c.cohortWeight !== undefined ? { cohortWeight: c.cohortWeight, cohortSize: c.cohortSize ?? DEFAULT_COHORT_SIZE } : {}),
    ...(c.stale ? { stale: true } : {}),
  };
}

function now(): number {
  return typeof performance !== 'undefined' ? performance.now() : Date.now();
}
