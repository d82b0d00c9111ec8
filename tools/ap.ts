/**
 * Detection quality against reference boxes: AP at IoU 0.5 (all-point interpolated, the
 * VOC 2010+/COCO way) and the best F1 over score thresholds, pooled over photos.
 */
import type { Rect } from '../src/core/image.js';

export interface Scored {
  box: Rect;
  score: number;
}

export function iou(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

export interface ApResult {
  ap: number;
  bestF1: number;
  /** Score threshold at which the best F1 is reached. */
  bestF1Threshold: number;
  /** Detections and reference boxes counted. */
  detections: number;
  references: number;
}

/**
 * `detections[i]` and `references[i]` belong to photo i. Detections are taken best first
 * over all photos; each is a true positive when it overlaps a not yet matched reference box
 * of its photo with IoU ≥ `threshold` (the best such box), else a false positive.
 */
export function averagePrecision(
  detections: readonly (readonly Scored[])[],
  references: readonly (readonly Rect[])[],
  threshold = 0.5,
): ApResult {
  const all = detections.flatMap((ds, photo) => ds.map((d) => ({ ...d, photo })));
  all.sort((a, b) => b.score - a.score);
  const matched = references.map((r) => new Uint8Array(r.length));
  const total = references.reduce((n, r) => n + r.length, 0);
  const tp = new Uint8Array(all.length);
  for (const [i, d] of all.entries()) {
    const refs = references[d.photo]!;
    let best = -1;
    let bestIou = threshold;
    for (const [j, r] of refs.entries()) {
      if (matched[d.photo]![j]) continue;
      const o = iou(d.box, r);
      if (o >= bestIou) {
        bestIou = o;
        best = j;
      }
    }
    if (best >= 0) {
      matched[d.photo]![best] = 1;
      tp[i] = 1;
    }
  }
  // Precision/recall after each detection; F1 only where the score changes (a threshold can fall there).
  const precision: number[] = [];
  const recall: number[] = [];
  let hits = 0;
  let bestF1 = 0;
  let bestF1Threshold = 1;
  for (let i = 0; i < all.length; i++) {
    hits += tp[i]!;
    precision.push(hits / (i + 1));
    recall.push(total ? hits / total : 0);
    if (i + 1 === all.length || all[i + 1]!.score !== all[i]!.score) {
      const p = precision[i]!;
      const r = recall[i]!;
      const f1 = p + r > 0 ? (2 * p * r) / (p + r) : 0;
      if (f1 > bestF1) {
        bestF1 = f1;
        bestF1Threshold = all[i]!.score;
      }
    }
  }
  // Area under the precision envelope (precision made non-increasing from the right).
  let ap = 0;
  let envelope = 0;
  for (let i = all.length - 1; i >= 0; i--) {
    envelope = Math.max(envelope, precision[i]!);
    const prev = i > 0 ? recall[i - 1]! : 0;
    ap += (recall[i]! - prev) * envelope;
  }
  return { ap, bestF1, bestF1Threshold, detections: all.length, references: total };
}
