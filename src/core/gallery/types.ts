/**
 * The gallery's public shapes and defaults. They live apart from the class so that the
 * file format (format.ts), the voting (vote.ts) and callers can use them without
 * importing ReferenceGallery itself.
 */
import type { AdaptOptions } from '../adapt/lda.js';
import type { AugmentOptions } from '../augment/augment.js';
import type { EmbedFailure, EmbedProgress } from '../embedder.js';
import type { NegativeCalibration } from '../adapt/serialize.js';
import type { HnswParams, Metric } from '../vector-index.js';

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
  /** Keep at most K k-means centroids per class, or `'all'` references (default DEFAULT_CLUSTERS = 3; 1 is the class mean). */
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
  /** Images added (each with its augmented views, when `augment` is set). */
  added: number;
  /** Reference vectors stored: images × (1 + views). */
  vectors: number;
  failures: EmbedFailure[];
}

export interface AddImagesOptions {
  onProgress?: (p: EmbedProgress) => void;
  /**
   * Store synthetic views of every image besides it (docs/gallery.md, "Augmentation"):
   * a number of views, or options. Deterministic: seeded by the gallery's seed, the label
   * and the image's position in `images`.
   */
  augment?: number | AugmentOptions;
}

/** Where the gallery's default threshold comes from (shown by `gallery info`). */
export type ThresholdSource = 'default' | 'embedder' | 'calibrated' | 'adapted' | 'explicit' | 'stored';
export const THRESHOLD_SOURCES: readonly ThresholdSource[] = ['default', 'embedder', 'calibrated', 'adapted', 'explicit', 'stored'];

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
  /** The raw-space guard's threshold (adapted galleries; see docs/gallery.md, "Open-set guards"). */
  rawThreshold?: number;
  /** The negative guard's calibration, on a gallery with negative references. */
  negatives?: NegativeCalibration;
  folds: number;
  rejectRate: number;
  ms: number;
}

/** Per-class summary, for `gallery info`. */
export interface ClassInfo {
  label: string;
  /** Reference vectors given (before clustering). */
  references: number;
  /** Vectors stored and searched (≤ clustersPerClass). */
  vectors: number;
}

/**
 * Defaults chosen on Grocery Store val.csv (never test) with MobileNetV2 by
 * bench/choose-defaults.ts (docs/gallery.md, "Defaults chosen on val").
 */
export const DEFAULT_K = 20;
export const DEFAULT_TEMPERATURE = 0.02;
/** A floor, not a calibration: for unit vectors, "more than 60° from every reference". Calibrate per embedder (docs/gallery.md). */
export const DEFAULT_THRESHOLD = 0.5;
export const DEFAULT_CLUSTERS: number | 'all' = 3;
export const DEFAULT_HNSW: HnswParams = { M: 32, efConstruction: 100, ef: 128 };
/** `index: 'auto'`: below this many stored vectors exact search is cheap enough to need no graph (docs/gallery.md, "Indexes"). */
export const AUTO_HNSW_MIN_SIZE = 1000;
/** `index: 'auto'`: exact search until this many queries, since building HNSW costs hundreds of exact queries (docs/gallery.md, "Indexes"). */
export const AUTO_HNSW_AFTER_QUERIES = 300;
