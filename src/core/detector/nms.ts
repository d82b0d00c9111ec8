/**
 * Greedy non-maximum suppression over `Candidates`: highest score first, drop every
 * later box overlapping a kept one by more than `iou`. Class-aware by default (boxes of
 * different classes never suppress each other); class-agnostic for single-class shelf
 * detectors or when one object should get one box whatever its class.
 *
 * Dense shelves give thousands of candidates and hundreds of kept boxes, so comparing
 * every kept box with every later candidate (O(kept × candidates)) is too slow. The
 * boxes are bucketed in a coarse grid (cells about one typical box wide) and a kept box
 * is compared only with the candidates sharing a cell with it. The sort is a native
 * numeric sort of packed (score, index) keys.
 */
import type { Candidates } from './decode.js';

export interface NmsOptions {
  iou: number;
  maxDetections: number;
  classAgnostic: boolean;
}

const INDEX_BITS = 2 ** 32;
const SCORE_STEPS = 2 ** 20; // 53-bit doubles hold 20 bits of score above 32 bits of index

const MAX_CELLS_PER_AXIS = 64;

/**
 * NMS working arrays, grown to the largest candidate count seen and reused: one per caller
 * (each Detector owns one), so two detectors never write into each other's arrays.
 */
export class NmsScratch {
  keys = new Float64Array(0);
  order = new Uint32Array(0);
  // Boxes in score order: corners, area, class, whether still alive, the last kept box that compared it, its grid cells.
  x1 = new Float32Array(0);
  y1 = new Float32Array(0);
  x2 = new Float32Array(0);
  y2 = new Float32Array(0);
  area = new Float32Array(0);
  cls = new Int32Array(0);
  alive = new Uint8Array(0);
  stamp = new Int32Array(0);
  cellX0 = new Int32Array(0);
  cellX1 = new Int32Array(0);
  cellY0 = new Int32Array(0);
  cellY1 = new Int32Array(0);

  /** Make room for n candidates. */
  ensure(n: number): this {
    if (this.keys.length >= n) return this;
    this.keys = new Float64Array(n);
    this.order = new Uint32Array(n);
    this.x1 = new Float32Array(n);
    this.y1 = new Float32Array(n);
    this.x2 = new Float32Array(n);
    this.y2 = new Float32Array(n);
    this.area = new Float32Array(n);
    this.cls = new Int32Array(n);
    this.alive = new Uint8Array(n);
    this.stamp = new Int32Array(n);
    this.cellX0 = new Int32Array(n);
    this.cellX1 = new Int32Array(n);
    this.cellY0 = new Int32Array(n);
    this.cellY1 = new Int32Array(n);
    return this;
  }
}

/** Indices (into `c`) of the kept candidates, best first. Pass a `scratch` to reuse its arrays across calls. */
export function nms(c: Candidates, { iou, maxDetections, classAgnostic }: NmsOptions, scratch = new NmsScratch()): number[] {
  const n = c.count;
  const {
    keys,
    order,
    x1: sx1,
    y1: sy1,
    x2: sx2,
    y2: sy2,
    area: sArea,
    cls: sCls,
    alive,
    stamp,
    cellX0,
    cellX1,
    cellY0,
    cellY1,
  } = scratch.ensure(n);
  const { x1, y1, x2, y2, score, cls } = c;

  // Sort by score, descending; ties keep row order. Key = (1 - score) quantised, then index.
  const k = keys.subarray(0, n);
  for (let i = 0; i < n; i++) {
    const s = Math.min(1, Math.max(0, score[i]!));
    k[i] = Math.round((1 - s) * SCORE_STEPS) * INDEX_BITS + i;
  }
  k.sort();
  for (let p = 0; p < n; p++) {
    const i = k[p]! % INDEX_BITS;
    order[p] = i;
    sx1[p] = x1[i]!;
    sy1[p] = y1[i]!;
    sx2[p] = x2[i]!;
    sy2[p] = y2[i]!;
    sArea[p] = Math.max(0, x2[i]! - x1[i]!) * Math.max(0, y2[i]! - y1[i]!);
    sCls[p] = cls[i]!;
  }
  alive.fill(1, 0, n);
  stamp.fill(-1, 0, n);

  const grid = buildGrid(n, scratch);
  const kept: number[] = [];
  for (let p = 0; p < n && kept.length < maxDetections; p++) {
    if (!alive[p]) continue;
    kept.push(order[p]!);
    const ax1 = sx1[p]!;
    const ay1 = sy1[p]!;
    const ax2 = sx2[p]!;
    const ay2 = sy2[p]!;
    const aArea = sArea[p]!;
    const aCls = sCls[p]!;
    for (let gy = cellY0[p]!; gy <= cellY1[p]!; gy++) {
      for (let gx = cellX0[p]!; gx <= cellX1[p]!; gx++) {
        const cell = gy * grid.width + gx;
        for (let e = grid.start[cell]!, end = grid.start[cell + 1]!; e < end; e++) {
          const q = grid.entries[e]!;
          // Only later (weaker) candidates, each once per kept box.
          if (q <= p || !alive[q] || stamp[q] === p) continue;
          stamp[q] = p;
          if (!classAgnostic && sCls[q] !== aCls) continue;
          const w = (ax2 < sx2[q]! ? ax2 : sx2[q]!) - (ax1 > sx1[q]! ? ax1 : sx1[q]!);
          if (w <= 0) continue;
          const h = (ay2 < sy2[q]! ? ay2 : sy2[q]!) - (ay1 > sy1[q]! ? ay1 : sy1[q]!);
          if (h <= 0) continue;
          const inter = w * h;
          if (inter > iou * (aArea + sArea[q]! - inter)) alive[q] = 0; // inter / union > iou
        }
      }
    }
  }
  return kept;
}

interface Grid {
  width: number;
  /** Cell c holds entries[start[c] .. start[c+1]): positions (score order) of the boxes touching it, ascending. */
  start: Int32Array;
  entries: Int32Array;
}

/** Bucket the n sorted boxes into grid cells about one median box side wide. */
function buildGrid(n: number, scratch: NmsScratch): Grid {
  const { x1: sx1, y1: sy1, x2: sx2, y2: sy2, cellX0, cellX1, cellY0, cellY1 } = scratch;
  let minX = Infinity;
  let minY = Infinity;
  let maxX = -Infinity;
  let maxY = -Infinity;
  for (let p = 0; p < n; p++) {
    if (sx1[p]! < minX) minX = sx1[p]!;
    if (sy1[p]! < minY) minY = sy1[p]!;
    if (sx2[p]! > maxX) maxX = sx2[p]!;
    if (sy2[p]! > maxY) maxY = sy2[p]!;
  }
  // Median side of (up to 255 of) the boxes: big outliers then span many cells, typical boxes 1–4.
  const step = Math.max(1, Math.floor(n / 255));
  const sides: number[] = [];
  for (let p = 0; p < n; p += step) sides.push(Math.max(sx2[p]! - sx1[p]!, sy2[p]! - sy1[p]!));
  sides.sort((a, b) => a - b);
  const side = Math.max(1e-6, sides[sides.length >> 1] ?? 1);
  const spanX = maxX - minX;
  const spanY = maxY - minY;
  const gw = Number.isFinite(spanX) ? Math.min(MAX_CELLS_PER_AXIS, Math.max(1, Math.ceil(spanX / side))) : 1;
  const gh = Number.isFinite(spanY) ? Math.min(MAX_CELLS_PER_AXIS, Math.max(1, Math.ceil(spanY / side))) : 1;
  const cw = spanX / gw || 1;
  const ch = spanY / gh || 1;
  const cell = (v: number, lo: number, size: number, cells: number) => {
    const c = Math.floor((v - lo) / size);
    return c >= 0 ? (c < cells ? c : cells - 1) : 0; // NaN lands in cell 0
  };

  const start = new Int32Array(gw * gh + 1);
  for (let p = 0; p < n; p++) {
    cellX0[p] = cell(sx1[p]!, minX, cw, gw);
    cellX1[p] = Math.max(cellX0[p]!, cell(sx2[p]!, minX, cw, gw));
    cellY0[p] = cell(sy1[p]!, minY, ch, gh);
    cellY1[p] = Math.max(cellY0[p]!, cell(sy2[p]!, minY, ch, gh));
    for (let gy = cellY0[p]!; gy <= cellY1[p]!; gy++) for (let gx = cellX0[p]!; gx <= cellX1[p]!; gx++) start[gy * gw + gx + 1]!++;
  }
  for (let c = 1; c < start.length; c++) start[c]! += start[c - 1]!;
  const entries = new Int32Array(start[start.length - 1]!);
  const cursor = start.slice(0, gw * gh);
  for (let p = 0; p < n; p++) {
    for (let gy = cellY0[p]!; gy <= cellY1[p]!; gy++)
      for (let gx = cellX0[p]!; gx <= cellX1[p]!; gx++) entries[cursor[gy * gw + gx]!++] = p;
  }
  return { width: gw, start, entries };
}
