/**
 * calibrate()'s fold loop (docs/gallery.md): hold out each fold of every class's
 * references, answer them with a gallery built from the rest (made by the caller, so
 * this module never imports ReferenceGallery), and turn the answers into a Calibration
 * with its open-set guards (open-set.ts). The scoring itself is ../adapt/calibrate.ts.
 */
import { SkulensError } from '../errors.js';
import { Calibration, calibrateSettings, calibrationFromAnswers, heldOutAnswers, type CalibrateOptions } from '../adapt/calibrate.js';
import { DEFAULT_FALSE_NAME_RATE, GuardCollector, type OpenSet, type RawMeans } from './open-set.js';
import type { CalibrationInfo, Neighbor } from './types.js';
import { heldOutAnswer } from './vote.js';

/**
 * Each class's references: held after building, and stored as its vectors wherever nothing
 * was reduced ('all', or no more references than clustersPerClass). A loaded gallery whose
 * classes were reduced to centroids has no references left: E_INPUT.
 */
export function calibrationReferences(
  classes: readonly { raw?: Float32Array; vectors: Float32Array; refs: number }[],
  clustersPerClass: number | 'all',
  dim: number,
): Float32Array[] {
  return classes.map((e) => {
    const r = e.raw ?? (clustersPerClass === 'all' || e.vectors.length === e.refs * dim ? e.vectors : undefined);
    if (!r) {
      throw new SkulensError(
        'E_INPUT',
        `calibrate() needs the reference vectors, but this gallery keeps only ${String(clustersPerClass)} centroid(s) per class since it was loaded. Calibrate while building (skulens gallery build --calibrate), or keep the references (clustersPerClass "all", or adapt()).`,
      );
    }
    return r;
  });
}

/** A gallery of one fold's training references. */
export interface FoldGallery {
  openSet: OpenSet;
  rawMeans(): RawMeans;
  /** Every stored vector, most similar first. */
  ranked(v: Float32Array): Neighbor[];
  dispose(): void;
}

export interface CalibrationInput {
  labels: string[];
  /** Each label's references, in the embedder's space. */
  raws: Float32Array[];
  dim: number;
  adapted: boolean;
  /** The negative references' rows (OpenSet.rows()). */
  negatives: Float32Array;
  seed: number;
}

export function calibrateOnFolds(
  input: CalibrationInput,
  options: CalibrateOptions,
  buildFold: (references: Map<string, Float32Array[]>) => FoldGallery,
): { calibration: Calibration; info: CalibrationInfo } {
  const t0 = performance.now();
  const { folds, rejectRate, cohortWeight, cohortSize } = calibrateSettings(options);
  const { labels, raws, dim } = input;
  // The open-set guards are calibrated on the same folds (open-set.ts).
  const collect = new GuardCollector(dim, input.adapted && (options.rawSpace ?? true), input.negatives, folds, options.seed ?? input.seed);
  const answers = heldOutAnswers(labels, raws, dim, { folds, seed: options.seed ?? input.seed }, (references) => {
    const g = buildFold(references);
    // One full ranking serves both the vote and every label's best similarity.
    const fold = { openSet: g.openSet, rawMeans: () => g.rawMeans(), answer: (v: Float32Array) => heldOutAnswer(g.ranked(v), '') };
    if (collect.active) collect.beginFold(fold);
    const answer = (label: string, v: Float32Array) => {
      const a = heldOutAnswer(g.ranked(v), label);
      collect.reference(label, v, a.answer, fold);
      return a;
    };
    return { answer, dispose: () => g.dispose() };
  });
  const cohort = { weight: cohortWeight, size: cohortSize };
  const result = calibrationFromAnswers(answers, labels, rejectRate, cohort);
  const guards = collect.finish(labels, result, rejectRate, cohort, options.falseNameRate ?? DEFAULT_FALSE_NAME_RATE);
  const calibration = new Calibration({
    offsets: result.offsets,
    rejectRate,
    folds,
    cohortWeight,
    cohortSize,
    ...(guards.raw || guards.negatives ? { guards } : {}),
  });
  const info: CalibrationInfo = {
    threshold: result.threshold,
    heldOut: result.heldOut,
    heldOutTop1: result.heldOutTop1,
    ...(guards.raw ? { rawThreshold: guards.raw.threshold } : {}),
    ...(guards.negatives ? { negatives: { ...guards.negatives } } : {}),
    folds,
    rejectRate,
    ms: performance.now() - t0,
  };
  return { calibration, info };
}
