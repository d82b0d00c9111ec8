/**
 * A gallery's default threshold and where it comes from: the floor or a built-in
 * embedder's measured value for raw similarities, and what becomes of a threshold when
 * the searched space changes between the raw embeddings and an adapted one.
 */
import { defaultThresholdFor } from '../builtin-models.js';
import { DEFAULT_THRESHOLD, type ThresholdSource } from './types.js';

export interface ThresholdState {
  threshold: number;
  source: ThresholdSource;
}

/** Raw similarities of `model`'s vectors: its measured threshold when it is built in, else the generic floor. */
export function rawThreshold(model: string | undefined): ThresholdState {
  const measured = model !== undefined ? defaultThresholdFor(model) : undefined;
  return measured !== undefined ? { threshold: measured, source: 'embedder' } : { threshold: DEFAULT_THRESHOLD, source: 'default' };
}

/**
 * The threshold after adapt() or a re-fit that switched between a projection (`fitted`)
 * and the identity. Adapted similarities are on another scale, where no threshold of the
 * raw space means anything: nothing is "unknown" there (-1) until calibrate() or an
 * explicit threshold. Back in the raw space (an identity fit), a threshold that was set
 * there stays (undefined: keep it); one of the adapted space, or of a calibration adapt()
 * dropped, gives way to the raw default.
 */
export function thresholdForSpace(
  source: ThresholdSource,
  fitted: boolean,
  wasFitted: boolean,
  model: string | undefined,
): ThresholdState | undefined {
  if (fitted) return { threshold: -1, source: 'adapted' };
  return wasFitted || source === 'adapted' || source === 'calibrated' ? rawThreshold(model) : undefined;
}
