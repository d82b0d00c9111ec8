/**
 * Open-set calibration from the references alone. Each class's references are split
 * into folds; a gallery built (and adapted) without one fold answers that fold's
 * references, which play the part of unseen queries of known classes. From those
 * answers come
 *  - a per-label offset: the mean similarity a held-out reference of that label gets to
 *    its own label. Compact classes (one packaging, one view) score higher than diffuse
 *    ones (loose fruit), so "similarity minus the label's usual similarity" ranks
 *    unknown queries below known ones better than the raw similarity does;
 *  - a cohort term: the mean similarity of the query's best few other labels, weighted
 *    and subtracted too. A query of a class the gallery lacks tends to be about as similar
 *    to several labels as to the winner; one of a known class stands out from them (the
 *    idea of cohort score normalisation in speaker verification);
 *  - the threshold on that calibrated score that rejects a chosen share of the held-out
 *    references that were answered correctly.
 */
import { SkulensError } from '../errors.js';
import { check, is } from '../is.js';
import { Rng } from './rng.js';
import type { CalibrationRecord, GuardCalibration } from './serialize.js';

export interface CalibrateOptions {
  /** Folds of references held out in turn (default 4; at least 2). */
  folds?: number;
  /** Share of held-out, correctly answered references to fall below the threshold (default DEFAULT_REJECT_RATE). */
  rejectRate?: number;
  /** Seed for the split of references into folds (default: the gallery's seed). */
  seed?: number;
  /** Weight of the cohort term (default DEFAULT_COHORT_WEIGHT; 0 = offsets only). */
  cohortWeight?: number;
  /** Other labels averaged into the cohort term (default DEFAULT_COHORT_SIZE). */
  cohortSize?: number;
  /**
   * Adapted galleries: also calibrate the raw-space guard (default true), which keeps
   * products the gallery lacks from being named after adapt() (gallery/open-set.ts).
   */
  rawSpace?: boolean;
  /**
   * With negative references: the share of held-out negatives that may still be named
   * (default DEFAULT_FALSE_NAME_RATE, 0.02); the negative guard's threshold is raised
   * toward it (gallery/open-set.ts).
   */
  falseNameRate?: number;
}

/** Chosen on val.csv with bench/accuracy.ts (docs/accuracy.md): queries sit further from the references than held-out references do. */
export const DEFAULT_REJECT_RATE = 0.005;
export const DEFAULT_FOLDS = 4;
/** Chosen on val.csv with bench/accuracy.ts (docs/accuracy.md); helped with raw and adapted embeddings alike. */
export const DEFAULT_COHORT_WEIGHT = 0.25;
export const DEFAULT_COHORT_SIZE = 10;

/**
 * The calibrated "unknown" score: the winner's similarity, minus its label's offset,
 * minus `weight` × the mean similarity of the `size` best other labels (fewer when the
 * gallery has fewer; none, no term). `others` are the other labels' best similarities,
 * best first.
 */
export function calibratedScore(winnerScore: number, offset: number, others: readonly number[], weight: number, size: number): number {
  const n = Math.min(size, others.length);
  if (weight === 0 || n === 0) return winnerScore - offset;
  let sum = 0;
  for (let i = 0; i < n; i++) sum += others[i]!;
  return winnerScore - offset - (weight * sum) / n;
}

export interface HeldOutAnswer {
  /** True label of the held-out reference. */
  label: string;
  /** Label the fold gallery answered. */
  answer: string;
  /** Best similarity of the answered label. */
  score: number;
  /** Best similarity of the true label, when it was among the ranked labels. */
  ownScore: number | undefined;
  /** Best similarities of the labels other than the answer, best first (for the cohort term). */
  others: number[];
}

export interface CalibrationResult {
  offsets: Record<string, number>;
  threshold: number;
  /** Top-1 of the held-out references (a rough, optimistic accuracy estimate). */
  heldOutTop1: number;
  heldOut: number;
}

/** For each class with n references: a fold number per reference (classes with one reference are never held out: -1). */
export function assignFolds(counts: readonly number[], folds: number, seed: number): Int32Array[] {
  const rng = new Rng(seed);
  return counts.map((n) => {
    const f = new Int32Array(n).fill(-1);
    if (n < 2) return f;
    const order = rng.shuffle(Array.from({ length: n }, (_, i) => i));
    // Never hold out every reference of a class: with n < folds some folds skip it.
    order.forEach((idx, pos) => (f[idx] = pos % Math.min(folds, n)));
    return f;
  });
}

export function calibrationFromAnswers(
  answers: readonly HeldOutAnswer[],
  labels: readonly string[],
  rejectRate: number,
  cohort: { weight: number; size: number } = { weight: 0, size: DEFAULT_COHORT_SIZE },
): CalibrationResult {
  const sum = new Map<string, [number, number]>();
  for (const a of answers) {
    if (a.ownScore === undefined) continue;
    const s = sum.get(a.label) ?? [0, 0];
    s[0] += a.ownScore;
    s[1]++;
    sum.set(a.label, s);
  }
  let all = 0;
  let cnt = 0;
  for (const [s, n] of sum.values()) {
    all += s;
    cnt += n;
  }
  const fallback = cnt > 0 ? all / cnt : 0;
  const offsets: Record<string, number> = {};
  for (const l of labels) {
    const s = sum.get(l);
    offsets[l] = round6(s ? s[0] / s[1] : fallback);
  }
  const correct = answers
    .filter((a) => a.answer === a.label)
    .map((a) => calibratedScore(a.score, offsets[a.answer]!, a.others, cohort.weight, cohort.size));
  correct.sort((x, y) => x - y);
  const threshold = correct.length ? correct[Math.min(correct.length - 1, Math.floor(rejectRate * correct.length))]! : -Infinity;
  return {
    offsets,
    threshold: round6(threshold),
    heldOutTop1: answers.length ? correct.length / answers.length : 0,
    heldOut: answers.length,
  };
}

/** calibrate()'s options with their defaults, checked. */
export function calibrateSettings(options: CalibrateOptions): Required<Omit<CalibrateOptions, 'seed' | 'rawSpace' | 'falseNameRate'>> {
  const folds = options.folds ?? DEFAULT_FOLDS;
  const rejectRate = options.rejectRate ?? DEFAULT_REJECT_RATE;
  const cohortWeight = options.cohortWeight ?? DEFAULT_COHORT_WEIGHT;
  const cohortSize = options.cohortSize ?? DEFAULT_COHORT_SIZE;
  check(is.inRange(cohortWeight, 0, 2), 'calibrate(): cohortWeight', 'in [0, 2]', cohortWeight);
  check(is.positiveInt(cohortSize), 'calibrate(): cohortSize', 'a positive integer', cohortSize);
  check(is.int(folds, 2), 'calibrate(): folds', 'an integer >= 2', folds);
  check(is.inRange(rejectRate, 0, 1, 'hi'), 'calibrate(): rejectRate', 'in [0, 1)', rejectRate);
  check(
    options.falseNameRate === undefined || is.inRange(options.falseNameRate, 0, 1, 'hi'),
    'calibrate(): falseNameRate',
    'in [0, 1)',
    options.falseNameRate,
  );
  return { folds, rejectRate, cohortWeight, cohortSize };
}

/** A gallery built from every reference outside one fold, answering that fold's references. */
export interface FoldGallery {
  answer(label: string, vector: Float32Array): HeldOutAnswer;
  dispose(): void;
}

/**
 * The calibration loop: for each fold, `buildFold` makes a gallery from the other
 * folds' references (label → vectors, in label order) and answers the fold's own.
 * `raws[c]` holds class `labels[c]`'s references, n × dim row-major.
 */
export function heldOutAnswers(
  labels: readonly string[],
  raws: readonly Float32Array[],
  dim: number,
  settings: { folds: number; seed: number },
  buildFold: (references: Map<string, Float32Array[]>) => FoldGallery,
): HeldOutAnswer[] {
  const assign = assignFolds(
    raws.map((r) => r.length / dim),
    settings.folds,
    settings.seed,
  );
  if (assign.every((a) => a.every((f) => f < 0)))
    throw new SkulensError('E_INPUT', 'calibrate() needs a class with at least two references to hold one out.');
  const answers: HeldOutAnswer[] = [];
  for (let f = 0; f < settings.folds; f++) {
    const kept = new Map<string, Float32Array[]>();
    const held: { label: string; v: Float32Array }[] = [];
    labels.forEach((label, c) => {
      const r = raws[c]!;
      const keep: Float32Array[] = [];
      assign[c]!.forEach((fold, i) => {
        const v = r.subarray(i * dim, (i + 1) * dim);
        if (fold === f) held.push({ label, v });
        else keep.push(v);
      });
      if (keep.length) kept.set(label, keep);
    });
    if (held.length === 0) continue;
    const g = buildFold(kept);
    for (const h of held) answers.push(g.answer(h.label, h.v));
    g.dispose();
  }
  return answers;
}

/** A gallery's calibration in use: the stored record plus the offsets as a map. */
export class Calibration {
  private readonly record: CalibrationRecord;
  private readonly offsets = new Map<string, number>();
  /** Offset for labels calibrated after the fact (a stale calibration): the mean of the others. */
  private readonly meanOffset: number;

  /** Takes a record read from a file as well (E_GALLERY_FORMAT when it is invalid). */
  constructor(rec: CalibrationRecord) {
    if (typeof rec !== 'object' || rec === null || typeof rec.offsets !== 'object' || rec.offsets === null) {
      throw new SkulensError('E_GALLERY_FORMAT', 'the calibration block is invalid');
    }
    const badNumber = (v: unknown, ok: (x: number) => boolean) => v !== undefined && !(typeof v === 'number' && ok(v));
    if (badNumber(rec.cohortWeight, (x) => x >= 0 && x <= 2) || badNumber(rec.cohortSize, (x) => Number.isInteger(x) && x >= 1)) {
      throw new SkulensError('E_GALLERY_FORMAT', 'the calibration block has an invalid cohortWeight or cohortSize');
    }
    checkGuards(rec.guards);
    for (const [l, v] of Object.entries(rec.offsets)) if (typeof v === 'number' && Number.isFinite(v)) this.offsets.set(l, v);
    const vals = [...this.offsets.values()];
    this.meanOffset = vals.length ? vals.reduce((a, b) => a + b, 0) / vals.length : 0;
    this.record = { ...rec, offsets: { ...rec.offsets } };
  }

  /** Classes changed since: offsets of new labels fall back to the mean until calibrate() runs again. */
  markStale(): void {
    this.record.stale = true;
  }

  /** Labels whose best similarity the unknown score needs (the winner and its cohort; 0 without a cohort term). */
  get labelsScored(): number {
    return this.record.cohortWeight ? (this.record.cohortSize ?? DEFAULT_COHORT_SIZE) + 1 : 0;
  }

  /** The calibrated unknown score of a winning label given the other labels' best similarities, best first. */
  score(winner: { label: string; score: number }, others: number[]): number {
    const c = this.record;
    return calibratedScore(
      winner.score,
      this.offsets.get(winner.label) ?? this.meanOffset,
      others,
      c.cohortWeight ?? 0,
      c.cohortSize ?? DEFAULT_COHORT_SIZE,
    );
  }

  toRecord(): CalibrationRecord {
    const c = this.record;
    return {
      offsets: { ...c.offsets },
      rejectRate: c.rejectRate,
      folds: c.folds,
      ...(c.cohortWeight !== undefined ? { cohortWeight: c.cohortWeight, cohortSize: c.cohortSize ?? DEFAULT_COHORT_SIZE } : {}),
      ...(c.stale ? { stale: true } : {}),
      ...(c.guards ? { guards: JSON.parse(JSON.stringify(c.guards)) as GuardCalibration } : {}),
    };
  }

  /** The open-set guards' calibration (gallery/open-set.ts), when calibrate() stored one. */
  get guards(): GuardCalibration | undefined {
    return this.record.guards;
  }

  /** Weight and size of the cohort term (the raw-space guard uses the same). */
  get cohort(): { weight: number; size: number } {
    return { weight: this.record.cohortWeight ?? 0, size: this.record.cohortSize ?? DEFAULT_COHORT_SIZE };
  }
}

function checkGuards(guards: GuardCalibration | undefined): void {
  if (guards === undefined) return;
  const raw = guards?.raw;
  const neg = guards?.negatives;
  const finite = (v: unknown) => typeof v === 'number' && Number.isFinite(v);
  if (
    typeof guards !== 'object' ||
    guards === null ||
    (raw !== undefined &&
      (typeof raw?.offsets !== 'object' || raw.offsets === null || !finite(raw.threshold) || !Object.values(raw.offsets).every(finite))) ||
    (neg !== undefined && !finite(neg?.threshold))
  ) {
    throw new SkulensError('E_GALLERY_FORMAT', 'the calibration block has invalid open-set guards');
  }
}

function round6(x: number): number {
  return Number.isFinite(x) ? Math.round(x * 1e6) / 1e6 : x;
}
