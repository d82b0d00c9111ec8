/** The detector's result type, apart so that tiles.ts and detector.ts need not import each other. */
import type { Rect } from '../image.js';

/** One detected object. */
export interface Detection {
  /** In the original image's pixels, clipped to it. */
  box: Rect;
  score: number;
  classId: number;
  label?: string;
}
