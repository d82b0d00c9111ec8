/** Output layouts, decoders and NMS on hand-made tensors (no models needed). */
import { describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { Candidates, decodeOutput, gridCells, isOneRowPerCell, looksLikeRawGrid, resolveLayout } from '../src/core/detector/decode.js';
import { nms } from '../src/core/detector/nms.js';
import { isSkulensError } from '../src/core/errors.js';

function expectShapeError(fn: () => unknown, pattern: RegExp) {
  try {
    fn();
  } catch (err) {
    expect(isSkulensError(err, 'E_MODEL_SHAPE')).toBe(true);
    expect((err as Error).message).toMatch(pattern);
    return;
  }
  throw new Error('expected E_MODEL_SHAPE');
}

describe('telling a YOLOX raw grid from decoded YOLOv5-shaped rows', () => {
  // 416×416, strides 8/16/32: 52² + 26² + 13² = 3549 rows of 5 + 80 values, in grid order.
  function rows(decoded: boolean): Float32Array {
    const out = new Float32Array(3549 * 85);
    let i = 0;
    for (const s of [8, 16, 32]) {
      const n = 416 / s;
      for (let gy = 0; gy < n; gy++) {
        for (let gx = 0; gx < n; gx++, i++) {
          // decoded: centre and size in input pixels; raw: offset in the cell and log size in strides
          out.set(decoded ? [(gx + 0.4) * s, (gy + 0.6) * s, 2 * s, 3 * s, 0.01] : [0.4, 0.6, Math.log(2), Math.log(3), -4.6], i * 85);
        }
      }
    }
    return out;
  }

  it('one row per cell is recognised; three anchors per cell are not', () => {
    expect(isOneRowPerCell(3549, 416, 416)).toBe(true);
    expect(isOneRowPerCell(8400, 640, 640)).toBe(true);
    expect(isOneRowPerCell(3 * 3549, 416, 416)).toBe(false);
    expect(isOneRowPerCell(25200, 640, 640)).toBe(false);
  });

  it('raw cell offsets are a raw grid; the same boxes decoded to pixels are not', () => {
    const layout = resolveLayout([1, 3549, 85], 'auto', 416, 416, 'm');
    expect(layout.format).toBe('yolov5'); // the shape alone cannot tell
    expect(looksLikeRawGrid(rows(false), layout)).toBe(true);
    expect(looksLikeRawGrid(rows(true), layout)).toBe(false);
  });
});

describe('resolveLayout', () => {
  it('auto picks the layout from the shape', () => {
    expect(resolveLayout([1, 84, 8400], 'auto', 640, 640, 'm').format).toBe('yolov8');
    expect(resolveLayout([1, 5, 8400], 'auto', 640, 640, 'm')).toMatchObject({ format: 'yolov8', classes: 1, candidates: 8400 });
    expect(resolveLayout([1, 25200, 85], 'auto', 640, 640, 'm')).toMatchObject({ format: 'yolov5', classes: 80, candidates: 25200 });
    // Single-class YOLOv5 is [1,N,6] like end-to-end: told apart by N being a grid row count.
    expect(resolveLayout([1, 25200, 6], 'auto', 640, 640, 'm').format).toBe('yolov5');
    expect(resolveLayout([1, 10647, 6], 'auto', 416, 416, 'm').format).toBe('yolov5');
    expect(resolveLayout([1, 300, 6], 'auto', 640, 640, 'm').format).toBe('end2end');
    expect(resolveLayout([1, 25200, 6], 'auto', 640, 640, 'm', { end2end: true }).format).toBe('end2end');
  });

  it('YOLOX needs rows matching its grids at the input size', () => {
    expect(gridCells(416, 416, [8, 16, 32])).toBe(3549);
    expect(resolveLayout([1, 3549, 85], 'yolox', 416, 416, 'm')).toMatchObject({ format: 'yolox', strides: [8, 16, 32], classes: 80 });
    expectShapeError(
      () => resolveLayout([1, 3549, 85], 'yolox', 640, 640, 'm'),
      /strides 8\/16\/32 for the 640x640 input \(8400\), got 3549/,
    );
  });

  it('unreadable shapes fail with E_MODEL_SHAPE naming the shapes', () => {
    expectShapeError(() => resolveLayout([1, 7], 'auto', 640, 640, 'input images [1,3,640,640]'), /\[1,7\].*input images \[1,3,640,640\]/);
    expectShapeError(() => resolveLayout([2, 84, 8400], 'auto', 640, 640, 'm'), /\[2,84,8400\]/);
    expectShapeError(() => resolveLayout([1, 5, 5], 'auto', 640, 640, 'm'), /\[1,5,5\] matches none/);
    expectShapeError(() => resolveLayout([1, 4, 8400], 'yolov8', 640, 640, 'm'), /YOLOv8 needs/);
  });
});

describe('decoders', () => {
  it('YOLOX: grid offsets in cells and log sizes in strides become input pixels', () => {
    // 64×64 input: 8×8 + 4×4 + 2×2 = 84 rows; one hit in the stride-16 grid at cell (2, 1).
    const layout = resolveLayout([1, 84, 7], 'yolox', 64, 64, 'm');
    const data = new Float32Array(84 * 7);
    const row = 64 + 1 * 4 + 2;
    data.set([0.5, 0.5, Math.log(2), Math.log(1), 0.9, 0.1, 0.8], row * 7);
    const c = new Candidates();
    decodeOutput(data, layout, 64, 64, { confidence: 0.25 }, c);
    expect(c.count).toBe(1);
    // centre ((0.5 + 2) * 16, (0.5 + 1) * 16) = (40, 24), size (2 * 16, 1 * 16).
    [c.x1[0], c.y1[0], c.x2[0], c.y2[0]].forEach((v, i) => expect(v).toBeCloseTo([24, 16, 56, 32][i]!, 4));
    expect(c.cls[0]).toBe(1);
    expect(c.score[0]).toBeCloseTo(0.72, 6);
  });

  it('YOLOv5: score = objectness × best class; class filter applies before choosing the best', () => {
    const layout = resolveLayout([1, 2, 8], 'yolov5', 640, 640, 'm');
    const data = Float32Array.from([100, 100, 20, 10, 0.8, 0.9, 0.5, 0.1, 300, 300, 10, 10, 0.2, 0.9, 0.9, 0.9]);
    const c = new Candidates();
    decodeOutput(data, layout, 640, 640, { confidence: 0.25 }, c);
    expect(c.count).toBe(1); // the second row's objectness 0.2 is below the threshold
    expect([c.x1[0], c.y1[0], c.x2[0], c.y2[0], c.cls[0]]).toEqual([90, 95, 110, 105, 0]);
    decodeOutput(data, layout, 640, 640, { confidence: 0.25, classMask: Uint8Array.from([0, 1, 1]) }, c);
    expect(c.cls[0]).toBe(1);
    expect(c.score[0]).toBeCloseTo(0.4, 6);
  });

  it('YOLOv8: channel-major [1,4+C,N], no objectness', () => {
    const n = 3;
    const layout = resolveLayout([1, 6, n], 'yolov8', 640, 640, 'm'); // too few rows for auto to tell
    // rows: cx, cy, w, h, class0, class1 — each of length n.
    const data = Float32Array.from([10, 20, 30, 10, 20, 30, 4, 4, 4, 4, 4, 4, 0.1, 0.7, 0.2, 0.3, 0.1, 0.2]);
    const c = new Candidates();
    decodeOutput(data, layout, 640, 640, { confidence: 0.25 }, c);
    expect(Array.from(c.cls.subarray(0, c.count))).toEqual([1, 0]);
    expect(Array.from(c.x1.subarray(0, c.count))).toEqual([8, 18]);
  });
});

/** The textbook O(n²) greedy NMS, to check the grid-bucketed one against. */
function referenceNms(c: Candidates, iou: number, max: number, agnostic: boolean): number[] {
  const idx = Array.from({ length: c.count }, (_, i) => i).sort((a, b) => c.score[b]! - c.score[a]! || a - b);
  const area = (i: number) => Math.max(0, c.x2[i]! - c.x1[i]!) * Math.max(0, c.y2[i]! - c.y1[i]!);
  const dead = new Set<number>();
  const kept: number[] = [];
  const keptSet = new Set<number>();
  for (const i of idx) {
    if (dead.has(i) || kept.length >= max) continue;
    kept.push(i);
    keptSet.add(i);
    for (const j of idx) {
      if (j === i || dead.has(j) || keptSet.has(j) || (!agnostic && c.cls[i] !== c.cls[j])) continue;
      const w = Math.min(c.x2[i]!, c.x2[j]!) - Math.max(c.x1[i]!, c.x1[j]!);
      const h = Math.min(c.y2[i]!, c.y2[j]!) - Math.max(c.y1[i]!, c.y1[j]!);
      if (w <= 0 || h <= 0) continue;
      const inter = w * h;
      if (inter / (area(i) + area(j) - inter) > iou) dead.add(j);
    }
  }
  return kept;
}

describe('nms', () => {
  it('matches the all-pairs reference on random boxes of mixed sizes and classes', () => {
    let seed = 7;
    const rand = () => (seed = (seed * 1103515245 + 12345) >>> 0) / 2 ** 32;
    for (let trial = 0; trial < 30; trial++) {
      const n = 50 + Math.floor(rand() * 1500);
      const c = new Candidates(n);
      for (let i = 0; i < n; i++) {
        // Mostly small boxes, some huge ones spanning many grid cells, some outside the frame.
        const size = rand() < 0.05 ? 200 + rand() * 600 : 5 + rand() * 40;
        c.pushCenter(
          -50 + rand() * 740,
          -50 + rand() * 740,
          size * (0.5 + rand()),
          size * (0.5 + rand()),
          Math.round(rand() * 1000) / 1000,
          Math.floor(rand() * 3),
        );
      }
      for (const agnostic of [true, false]) {
        for (const [iou, max] of [
          [0.45, 1000],
          [0.7, 1000],
          [0.3, 25],
        ] as const) {
          expect(nms(c, { iou, maxDetections: max, classAgnostic: agnostic })).toEqual(referenceNms(c, iou, max, agnostic));
        }
      }
    }
  });

  it('class-aware keeps overlapping boxes of different classes; class-agnostic keeps one', () => {
    const c = new Candidates();
    c.pushCenter(100, 100, 50, 50, 0.9, 0);
    c.pushCenter(102, 100, 50, 50, 0.8, 1);
    c.pushCenter(101, 101, 50, 50, 0.7, 0);
    expect(nms(c, { iou: 0.45, maxDetections: 10, classAgnostic: false })).toEqual([0, 1]);
    expect(nms(c, { iou: 0.45, maxDetections: 10, classAgnostic: true })).toEqual([0]);
  });

  it('handles no candidates', () => {
    expect(nms(new Candidates(), { iou: 0.45, maxDetections: 10, classAgnostic: true })).toEqual([]);
  });
});
