/**
 * What a ReferenceGallery writes and reads (docs/gallery-format.md): its state as the
 * GalleryData that format.ts turns into bytes, and back. The class hands its parts in
 * and takes them back; this module never imports it (no import cycle).
 */
import { Adapter } from '../adapt/adapter.js';
import { Calibration } from '../adapt/calibrate.js';
import type { CalibrationRecord } from '../adapt/serialize.js';
import { defaultThresholdFor } from '../builtin-models.js';
import type { HnswParams, Metric } from '../vector-index.js';
import type { GalleryData, GalleryMeta } from './format.js';
import { OpenSet } from './open-set.js';
import {
  DEFAULT_THRESHOLD,
  THRESHOLD_SOURCES,
  type GalleryEmbedderInfo,
  type ReferenceGalleryOptions,
  type ThresholdSource,
} from './types.js';

export interface ClassEntry {
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

/** The parts of a gallery that are saved (the adaptation already refreshed). */
export interface SavedGallery {
  metric: Metric;
  dim: number;
  clustersPerClass: number | 'all';
  seed: number;
  index: ReferenceGalleryOptions['index'];
  hnsw: HnswParams;
  threshold: number;
  thresholdSource: ThresholdSource;
  embedder: GalleryEmbedderInfo | undefined;
  extraMeta: Record<string, unknown>;
  adapter: Adapter | undefined;
  calibration: Calibration | undefined;
  /** OpenSet.toRecord(), when there are negative references. */
  negatives: ReturnType<OpenSet['toRecord']>;
  /** Sorted by label. */
  classes: ClassEntry[];
}

/** A gallery read back: the constructor's options and the parts to put in place. */
export interface LoadedGallery {
  options: ReferenceGalleryOptions;
  extraMeta: Record<string, unknown>;
  thresholdSource: ThresholdSource;
  openSet: OpenSet | undefined;
  adapter: Adapter | undefined;
  calibration: Calibration | undefined;
  classes: ClassEntry[];
}

/**
 * The threshold source of a file that does not record one. Files record `thresholdSource`
 * only when these rules would get it wrong, so a gallery that uses no feature newer than
 * the field is written byte for byte as before it existed. In order: a calibration
 * record → 'calibrated'; an adaptation (and no calibration) → 'adapted'; the generic
 * DEFAULT_THRESHOLD → 'default'; the measured default of the recorded built-in embedder →
 * 'embedder'; any other number → 'explicit' (no default explains it, so a caller chose
 * it — or, in a file from an older skulens, a default that has since changed).
 */
export function inferThresholdSource(meta: GalleryMeta): ThresholdSource {
  if (meta.calibration !== undefined) return 'calibrated';
  if (meta.adaptation !== undefined) return 'adapted';
  const t = typeof meta.threshold === 'number' ? meta.threshold : DEFAULT_THRESHOLD;
  if (t === DEFAULT_THRESHOLD) return 'default';
  const path = meta.embedder?.path;
  if (path !== undefined && t === defaultThresholdFor(path)) return 'embedder';
  return 'explicit';
}

export function galleryData(g: SavedGallery): GalleryData {
  const adapter = g.adapter;
  const meta: GalleryMeta = {
    ...g.extraMeta,
    clustersPerClass: g.clustersPerClass,
    seed: g.seed,
    index: g.index,
    hnsw: g.hnsw,
    threshold: g.threshold,
    ...(g.embedder ? { embedder: g.embedder } : {}),
    // Format version 2 (docs/gallery-format.md): an adapted gallery stores its references in the embedder's space plus the fitted projection.
    ...(adapter ? { adaptation: adapter.toRecord() } : {}),
    ...(g.calibration ? { calibration: g.calibration.toRecord() } : {}),
  };
  // Written only when a load could not infer it (inferThresholdSource).
  if (inferThresholdSource(meta) !== g.thresholdSource) meta.thresholdSource = g.thresholdSource;
  // Negative references, raw embedder space (format version 4).
  if (g.negatives) meta.negatives = g.negatives;
  return {
    metric: g.metric,
    dim: g.dim,
    meta,
    classes: g.classes.map((c) => ({ label: c.label, refs: c.refs, vectors: adapter ? c.raw! : c.vectors })),
  };
}

export function loadedGallery(data: GalleryData, options: Pick<ReferenceGalleryOptions, 'index' | 'hnsw'>): LoadedGallery {
  const meta = data.meta;
  const {
    clustersPerClass: _c,
    seed: _s,
    index: _i,
    hnsw: _h,
    embedder: _e,
    threshold: _t,
    adaptation,
    calibration,
    thresholdSource,
    negatives,
    ...extra
  } = meta;
  return {
    options: {
      dim: data.dim,
      metric: data.metric,
      clustersPerClass: meta.clustersPerClass ?? 'all',
      index: options.index ?? meta.index ?? 'auto',
      hnsw: { ...meta.hnsw, ...options.hnsw },
      ...(meta.embedder ? { embedder: meta.embedder } : {}),
      ...(meta.seed !== undefined ? { seed: meta.seed } : {}),
      ...(typeof meta.threshold === 'number' ? { threshold: meta.threshold } : {}),
    },
    extraMeta: extra,
    // Absent: inferred (see inferThresholdSource); a value this version does not know: 'stored'.
    thresholdSource:
      thresholdSource === undefined
        ? inferThresholdSource(meta)
        : THRESHOLD_SOURCES.includes(thresholdSource as ThresholdSource)
          ? (thresholdSource as ThresholdSource)
          : 'stored',
    openSet: negatives !== undefined ? OpenSet.fromRecord(negatives, data.dim) : undefined,
    adapter: adaptation !== undefined ? Adapter.fromRecord(adaptation, data.dim) : undefined,
    // Stored vectors are already normalised and reduced: take them as they are (an adapted gallery stores its references, projected on first use).
    classes: data.classes.map((c) =>
      adaptation !== undefined
        ? { label: c.label, refs: c.refs, vectors: new Float32Array(0), raw: c.vectors, ids: [] }
        : { label: c.label, refs: c.refs, vectors: c.vectors, ids: [] },
    ),
    calibration: calibration !== undefined ? new Calibration(calibration as CalibrationRecord) : undefined,
  };
}
