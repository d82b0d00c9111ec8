/**
 * ReferenceGallery: labelled reference vectors (optionally reduced per class with
 * k-means), a vector index over them, and kNN voting that names a query or answers
 * "unknown". Platform-free: HNSW and file writes come from the registered platform.
 *
 * The class keeps the classes and ties the parts together; the parts live beside it:
 * types.ts (public shapes, defaults), vote.ts (voting), labelled-index.ts (ids ↔ labels,
 * the auto index switch), persistence.ts and format.ts (what is saved; bytes), ../adapt/adapter.ts
 * (adapt()'s lazy fit), calibrate-gallery.ts and ../adapt/calibrate.ts (calibrate()'s loop, scoring).
 */
import { Adapter } from '../adapt/adapter.js';
import { calibrateSettings, type Calibration, type CalibrateOptions } from '../adapt/calibrate.js';
import { DEFAULT_POWER, DEFAULT_SHRINKAGE, type AdaptOptions } from '../adapt/lda.js';
import type { CalibrationRecord } from '../adapt/serialize.js';
import type { Embedder, EmbedInput, EmbedProgress } from '../embedder.js';
import { SkulensError } from '../errors.js';
import { adaptDefaultsFor } from '../builtin-models.js';
import { check, is } from '../is.js';
import { definedOnly } from '../options.js';
import type { HnswParams, Metric } from '../vector-index.js';
import { checkGalleryOptions, checkLabel, checkReferences, classifySettings, concat, dimError, flattenVectors, queryVector } from './checks.js';
import { calibrateOnFolds, calibrationReferences } from './calibrate-gallery.js';
import { DEFAULT_KMEANS_SEED, reduceVectors } from './cluster.js';
import { embedImages } from './embed-images.js';
import { checkEmbedder, openRecordedEmbedder, type EmbedderIdentity, type OpenEmbedderOptions } from './embedder-binding.js';
import { readGalleryFile, writeGalleryFile } from './file.js';
import { decodeGallery, encodeGallery, type EncodeOptions, type GalleryData } from './format.js';
import { LabelledIndex } from './labelled-index.js';
import { galleryData, loadedGallery, type ClassEntry } from './persistence.js';
import { normalizedRows, OpenSet } from './open-set.js';
import { rawThreshold, thresholdForSpace } from './threshold.js';
import {
  DEFAULT_CLUSTERS,
  DEFAULT_THRESHOLD,
  type AdaptationInfo,
  type AddImagesOptions,
  type AddImagesResult,
  type ThresholdSource,
  type CalibrationInfo,
  type Classification,
  type ClassifyOptions,
  type ClassInfo,
  type GalleryEmbedderInfo,
  type IndexChoice,
  type Neighbor,
  type ReferenceGalleryOptions,
} from './types.js';
import { voteNeighbors } from './vote.js';

// Callers (and other branches) import these from here; their home is types.ts / vote.ts.
export * from './types.js';
export { bestScoreByLabel, otherLabelScores, voteNeighbors, type UnknownScorer } from './vote.js';
export type { AdaptOptions } from '../adapt/lda.js';
export type { CalibrateOptions } from '../adapt/calibrate.js';
export type { AugmentOptions } from '../augment/augment.js';
export type { NegativeCalibration } from '../adapt/serialize.js';

export class ReferenceGallery {
  readonly metric: Metric;
  readonly clustersPerClass: number | 'all';
  readonly indexChoice: IndexChoice;
  readonly hnsw: HnswParams;
  readonly seed: number;
  private _threshold: number;
  /** Set by adapt() (or a load of an adapted gallery): the projection searched through. */
  private adapter: Adapter | undefined;
  /** From calibrate(): per-label offsets and the cohort term of the unknown score. */
  private calibration: Calibration | undefined;
  private _dim: number | undefined;
  private _embedder: GalleryEmbedderInfo | undefined;
  private classes = new Map<string, ClassEntry>();
  private readonly index: LabelledIndex;
  /** Metadata fields from a file that this version does not interpret, written back unchanged. */
  private extraMeta: Record<string, unknown> = {};
  private _thresholdSource: ThresholdSource;
  /** Negative references and the raw-space view the open-set guards use (open-set.ts). */
  private openSet = new OpenSet();

  constructor(options: ReferenceGalleryOptions = {}) {
    const { dim, metric = 'cosine', clustersPerClass = DEFAULT_CLUSTERS, index = 'auto', hnsw = {}, embedder, seed = DEFAULT_KMEANS_SEED, threshold = DEFAULT_THRESHOLD } = options;
    const params = checkGalleryOptions({ dim, metric, clustersPerClass, index, hnsw, seed, threshold });
    this.metric = metric;
    this.clustersPerClass = clustersPerClass;
    this.indexChoice = index;
    this.hnsw = params;
    this.seed = seed;
    this._threshold = threshold;
    this._thresholdSource = options.threshold !== undefined ? 'explicit' : 'default';
    this._dim = dim;
    this._embedder = embedder ? { ...embedder } : undefined;
    this.index = new LabelledIndex({ choice: index, metric, hnsw: params, seed });
  }

  /** Default threshold for classify (set by calibrate() on a calibrated gallery). */
  get threshold(): number {
    return this._threshold;
  }

  /** Change the default threshold (it is saved with the gallery). On a calibrated gallery it applies to the calibrated score. */
  setThreshold(value: number): this {
    check(is.number(value), 'threshold', 'a number', value);
    this._threshold = value;
    this._thresholdSource = 'explicit';
    return this;
  }

  /** Where the default threshold comes from (docs/gallery.md, "Where the default threshold comes from"). */
  get thresholdSource(): ThresholdSource {
    return this._thresholdSource;
  }

  /** Negative references held (addNegatives). */
  get negativeCount(): number {
    return this.openSet.count(this.dim);
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
    return this.index.kind;
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
    const { data: flat, dim } = flattenVectors(vectors, this._dim, label);
    if (flat.length === 0) return this;
    this._dim ??= dim;
    checkReferences(flat, dim, this.metric, label);
    const n = flat.length / dim;
    const old = this.classes.get(label);
    const refs = (old?.refs ?? 0) + n;
    // Everything this class has seen (after a load, the stored centroids stand in for the references).
    const raw = old ? concat(old.raw ?? old.vectors, flat) : flat;
    if (this.adapter) {
      // Adapted: keep the references; the projection is re-fitted before the next search or save.
      if (old) this.index.drop(old);
      this.classes.set(label, { label, refs, vectors: new Float32Array(0), raw, ids: [] });
      this.classesChanged();
      return this;
    }
    this.classesChanged();
    let stored = raw;
    if (this.clustersPerClass !== 'all') stored = reduceVectors(raw, dim, this.clustersPerClass, this.metric, this.seed);
    if (old) this.index.drop(old);
    const entry: ClassEntry = { label, refs, vectors: stored, ids: [] };
    if (stored !== raw) entry.raw = raw;
    this.classes.set(label, entry);
    this.index.add(entry, this.searchDim);
    return this;
  }

  /**
   * Embed images and add them under a label. Images that cannot be read are reported
   * in `failures` and skipped; the embedder must match the gallery's (E_FINGERPRINT).
   */
  async addImages(embedder: Embedder, label: string, images: readonly EmbedInput[], options: AddImagesOptions = {}): Promise<AddImagesResult> {
    checkLabel(label);
    this.bindEmbedder(embedder);
    const r = await embedImages(embedder, label, images, options, this.seed);
    if (r.vectors.length) this.add(label, r.vectors);
    return { added: r.added, vectors: r.vectors.length, failures: r.failures };
  }

  /**
   * Negative references: vectors of products that are NOT targets (a shelf's other
   * brands, look-alikes). Never returned as a label; a query closer to one of them than
   * to the winning label is `unknown` (docs/gallery.md, "Negative references"), and
   * calibrate() measures and limits how many held-out negatives would still be named.
   */
  addNegatives(vectors: Float32Array | readonly (Float32Array | readonly number[])[]): this {
    const { data: flat, dim } = flattenVectors(vectors, this._dim, 'negatives');
    if (flat.length === 0) return this;
    this._dim ??= dim;
    checkReferences(flat, dim, 'cosine', 'negatives');
    this.openSet.add(flat, dim);
    this.calibration?.markStale();
    return this;
  }

  /** Embed images of non-target products and add them as negative references (bad images are reported in `failures` and skipped). */
  async addNegativeImages(embedder: Embedder, images: readonly EmbedInput[], options: { onProgress?: (p: EmbedProgress) => void } = {}): Promise<AddImagesResult> {
    this.bindEmbedder(embedder);
    const r = await embedImages(embedder, '', images, options, this.seed);
    if (r.vectors.length) this.addNegatives(r.vectors);
    return { added: r.added, vectors: r.vectors.length, failures: r.failures };
  }

  /** Forget every negative reference. */
  clearNegatives(): this {
    if (this.negativeCount) this.calibration?.markStale();
    this.openSet.clear();
    return this;
  }

  /**
   * Bind the gallery to the embedder its vectors come from: adopt it when the gallery has
   * none recorded yet, else check it makes comparable vectors (E_FINGERPRINT for another
   * model or preprocessing, E_DIM_MISMATCH for the same one of another width).
   */
  bindEmbedder(embedder: EmbedderIdentity): void {
    const adopt = checkEmbedder(this._embedder, embedder, this._dim, this.size);
    if (!adopt) return;
    this._embedder = adopt;
    this._dim ??= embedder.dim;
    // A threshold measured for this built-in embedder replaces the generic floor, unless the caller chose one.
    if (this._thresholdSource === 'default') ({ threshold: this._threshold, source: this._thresholdSource } = rawThreshold(embedder.modelPath));
  }

  /** @deprecated The old name of bindEmbedder(). */
  useEmbedder(embedder: EmbedderIdentity): void {
    this.bindEmbedder(embedder);
  }

  /**
   * Re-create the embedder this gallery was built with, from its recorded model (or
   * `options.model`, e.g. the same file elsewhere), preprocessing and output, and check
   * its fingerprint (E_FINGERPRINT when it makes other vectors). Dispose it when done.
   */
  openEmbedder(options: OpenEmbedderOptions = {}): Promise<Embedder> {
    return openRecordedEmbedder(this._embedder, options, (e) => this.bindEmbedder(e));
  }

  /** Forget a label and its vectors. Returns false when it was not there. */
  remove(label: string): boolean {
    const entry = this.classes.get(label);
    if (!entry) return false;
    this.index.drop(entry);
    this.classes.delete(label);
    this.classesChanged();
    return true;
  }

  /** Name one query vector by similarity-weighted voting of its k nearest references. */
  classify(vector: Float32Array | readonly number[], options: ClassifyOptions = {}): Classification {
    return this.classifyQueries([vector], options)[0]!;
  }

  /** The n stored vectors most similar to a query, best first (scores as in docs/gallery.md). */
  nearest(vector: Float32Array | readonly number[], n: number): Neighbor[] {
    const query = this.prepareQuery(vector);
    this.index.queries++;
    this.ensureIndex();
    return this.index.search(query, n);
  }

  /** `classify` for many queries (an array of vectors, or n × dim values back to back). */
  classifyBatch(vectors: Float32Array | readonly (Float32Array | readonly number[])[], options: ClassifyOptions = {}): Classification[] {
    const dim = this.dim;
    if (vectors instanceof Float32Array && (dim === 0 || vectors.length % dim !== 0)) throw dimError(vectors.length, dim, 'a batch of');
    const list = vectors instanceof Float32Array ? Array.from({ length: vectors.length / dim }, (_, i) => vectors.subarray(i * dim, (i + 1) * dim)) : vectors;
    return list.length ? this.classifyQueries(list, options) : [];
  }

  /** Build (or switch) the search index now rather than at the first query, e.g. right after loading a big gallery. */
  buildIndex(): void {
    this.ensureIndex(Infinity);
  }

  /** Release the index's native memory (HNSW). The gallery stays usable: it rebuilds on demand. */
  dispose(): void {
    this.index.dispose();
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
    await writeGalleryFile(path, this.toBytes(options));
  }

  /** Read a gallery file; a damaged or foreign file is E_GALLERY_FORMAT naming the file and the reason. */
  static async load(path: string, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'> = {}): Promise<ReferenceGallery> {
    return readGalleryFile(path, (bytes) => ReferenceGallery.fromBytes(bytes, options));
  }

  /**
   * Few-shot adaptation (docs/accuracy.md): learn a projection from the labelled
   * references (regularised LDA: within-class whitening, keep the directions that
   * separate the class means) and search in that space from now on. Queries are
   * projected the same way; the projection is stored in the file and re-fitted when
   * classes are added or removed. Needs at least 3 classes and a class with two
   * references; otherwise the gallery keeps the embeddings as they are (identity) and
   * says why in `adaptationInfo.reason`. Deterministic. Drops any calibration; a fitted
   * projection resets the threshold to -1 (never unknown; threshold.ts): run calibrate()
   * afterwards for open-set use. An identity fit keeps the raw space's threshold.
   */
  adapt(options: AdaptOptions = {}): AdaptationInfo {
    if (this.classes.size === 0) throw new SkulensError('E_EMPTY', 'The gallery is empty: add references before adapting it.');
    Adapter.checkOptions(options);
    for (const e of this.classes.values()) {
      // The references (after a load of a clustered gallery, its centroids stand in for them).
      if (!e.raw) e.raw = e.vectors;
    }
    const wasFitted = this.adapter?.fitted ?? false;
    // Built-in models may bring their own defaults; the resolved values are stored, so later re-fits keep them.
    const resolved = { power: DEFAULT_POWER, shrinkage: DEFAULT_SHRINKAGE, ...adaptDefaultsFor(this._embedder?.path), ...definedOnly(options) };
    this.adapter = new Adapter(resolved);
    this.calibration = undefined;
    this.refreshAdaptation();
    this.spaceChanged(wasFitted);
    return this.adaptationInfo!;
  }

  /** The current adaptation (undefined when adapt() was never called). */
  get adaptationInfo(): AdaptationInfo | undefined {
    if (!this.adapter) return undefined;
    this.refreshAdaptation();
    let refs = 0;
    for (const e of this.classes.values()) refs += (e.raw?.length ?? 0) / this.dim;
    return this.adapter.describe(this.dim, refs);
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
    calibrateSettings(options); // bad options fail first, as before calibrateOnFolds took the loop
    const labels = this.labels;
    if (labels.length < 2) throw new SkulensError('E_INPUT', `calibrate() needs at least 2 labels (this gallery has ${labels.length}).`);
    this.refreshAdaptation();
    const dim = this.dim;
    const raws = calibrationReferences(labels.map((l) => this.classes.get(l)!), this.clustersPerClass, dim);
    const input = { labels, raws, dim, adapted: this.adapter !== undefined, negatives: this.openSet.rows(), seed: this.seed };
    const { calibration, info } = calibrateOnFolds(input, options, (references) => {
      const g = new ReferenceGallery({ dim, metric: this.metric, clustersPerClass: this.clustersPerClass, index: 'exact', seed: this.seed });
      for (const [label, vectors] of references) g.add(label, vectors);
      if (this.adapter) g.adapt(this.adapter.options);
      return { openSet: g.openSet, rawMeans: () => g.rawMeans(), ranked: (v) => g.nearest(v, g.size), dispose: () => g.dispose() };
    });
    [this.calibration, this._threshold, this._thresholdSource] = [calibration, info.threshold, 'calibrated'];
    return info;
  }

  /** The calibration in use (undefined before calibrate()). */
  get calibrationInfo(): (CalibrationRecord & { threshold: number }) | undefined {
    return this.calibration ? { ...this.calibration.toRecord(), threshold: this.threshold } : undefined;
  }

  // ---- internals ----

  /** adapt() ran, or a re-fit switched between a projection and the identity: the scores' scale may have changed (threshold.ts). */
  private spaceChanged(wasFitted: boolean): void {
    const t = thresholdForSpace(this._thresholdSource, this.adapter!.fitted, wasFitted, this._embedder?.path);
    if (t) [this._threshold, this._thresholdSource] = [t.threshold, t.source];
  }

  /** Dimension of the searched vectors: the adapted space, or the embedder's. */
  private get searchDim(): number {
    return this.adapter?.outDim(this.dim) ?? this.dim;
  }

  /** Classes were added or removed: an adaptation must be re-fitted, a calibration is out of date. */
  private classesChanged(): void {
    this.openSet.invalidate();
    this.adapter?.invalidate();
    this.calibration?.markStale();
  }

  /** Normalised raw-space class means: of an adapted gallery's references, of a plain one's centroids (all its file keeps). */
  private rawMeans() {
    return this.openSet.rawMeans(this.dim, () => {
      const labels = this.labels;
      return { labels, raws: labels.map((l) => (this.adapter ? this.classes.get(l)!.raw! : this.classes.get(l)!.vectors)) };
    });
  }

  /** Re-fit or re-project the adapted vectors when owed (lazily, so building class by class fits once). */
  private refreshAdaptation(): void {
    const wasFitted = this.adapter?.fitted;
    if (!this.adapter?.refresh(() => this.labels.map((l) => this.classes.get(l)!.raw!), this.dim)) return;
    if (this.adapter.fitted !== wasFitted) this.spaceChanged(!!wasFitted);
    const labels = this.labels;
    this.index.reset();
    const sdim = this.searchDim;
    for (const l of labels) {
      const e = this.classes.get(l)!;
      const v = this.adapter.project(e.raw!);
      e.vectors = this.clustersPerClass === 'all' || v.length / sdim <= this.clustersPerClass ? v : reduceVectors(v, sdim, this.clustersPerClass, this.metric, this.seed);
      e.ids = [];
    }
  }

  private toData(): GalleryData {
    this.refreshAdaptation();
    const { metric, dim, clustersPerClass, seed, indexChoice: index, hnsw, threshold, adapter, calibration, extraMeta } = this;
    const [thresholdSource, embedder, negatives] = [this._thresholdSource, this._embedder, this.negativeCount ? this.openSet.toRecord(dim) : undefined];
    return galleryData({ metric, dim, clustersPerClass, seed, index, hnsw, threshold, thresholdSource, embedder, extraMeta, adapter, calibration, negatives, classes: this.labels.map((l) => this.classes.get(l)!) });
  }

  private static fromData(data: GalleryData, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'>): ReferenceGallery {
    const s = loadedGallery(data, options);
    const g = new ReferenceGallery(s.options);
    [g.extraMeta, g._thresholdSource, g.adapter, g.calibration, g.openSet] = [s.extraMeta, s.thresholdSource, s.adapter, s.calibration, s.openSet ?? g.openSet];
    for (const c of s.classes) g.classes.set(c.label, c);
    return g;
  }

  /** classify() for one or more queries: options checked and the index searched once for all of them. */
  private classifyQueries(vectors: readonly (Float32Array | readonly number[])[], options: ClassifyOptions): Classification[] {
    const settings = classifySettings(options, this.threshold);
    const queries = vectors.map((v) => this.prepareQuery(v));
    // Fetch enough neighbours to rank `top` distinct labels, not only the k voters. With a
    // cohort term, every one of the best cohortSize + 1 labels must show its best vector:
    // each label stores at most M vectors, so the first (cohortSize + 1) × M neighbours
    // always hold them (the same labels and scores calibrate() saw).
    const perClass = this.maxStoredPerClass();
    const cohort = this.calibration?.labelsScored ?? 0;
    // A batch is known up front: the auto index switches before it rather than midway.
    this.ensureIndex(queries.length);
    this.index.queries += queries.length;
    const found = this.index.searchBatch(queries, Math.max(settings.k, settings.top * Math.min(perClass, 8), cohort * perClass));
    const calibration = this.calibration;
    return found.map((neighbors, i) => {
      const r = voteNeighbors(neighbors, settings, calibration ? (winner, others) => calibration.score(winner, others) : undefined);
      if (!this.negativeCount && !(this.adapter && calibration?.guards?.raw)) return r;
      // The open-set guards (open-set.ts), in the embedder's raw space.
      const q = normalizedRows(Float32Array.from(vectors[i]!), this.dim);
      const u = this.openSet.guardedScore(r.unknownScore, r.label, q, this._threshold, this.rawMeans(), calibration, this.adapter !== undefined);
      return { ...r, unknownScore: u, unknown: u < settings.threshold };
    });
  }

  private prepareQuery(vector: Float32Array | readonly number[]): Float32Array {
    if (this.classes.size === 0) throw new SkulensError('E_EMPTY', 'The gallery is empty: add references before classifying.');
    const q = queryVector(vector, this.dim, this.metric);
    this.refreshAdaptation();
    return this.adapter ? this.adapter.project(q) : q;
  }

  private maxStoredPerClass(): number {
    this.refreshAdaptation();
    let m = 1;
    for (const c of this.classes.values()) m = Math.max(m, c.vectors.length / this.searchDim);
    return m;
  }

  /** The index to search, (re)built when missing or when `auto` decides to switch. */
  private ensureIndex(upcoming = 0): void {
    this.refreshAdaptation();
    const classes = () => this.labels.map((label) => this.classes.get(label)!);
    this.index.ensure(classes, this.searchDim, this.totalStored(), upcoming);
  }

  private totalStored(): number {
    this.refreshAdaptation();
    let n = 0;
    for (const c of this.classes.values()) n += c.vectors.length / this.searchDim;
    return n;
  }
}
