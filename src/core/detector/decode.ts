/**
 * YOLO output layouts: recognising them from the output shape, and decoding each into
 * candidate boxes (model-input pixels, corners) above the confidence threshold.
 * Decoders write into preallocated typed arrays: a dense shelf has tens of thousands of
 * rows, and the detector's own share of the time must stay small next to the model.
 */
import { SkulensError } from '../errors.js';
import { halfTable } from '../float16.js';

/** Output values: float32, or float16 bit patterns (Node has no Float16Array). */
export type OutputData = Float32Array | Uint16Array;

export type DetectorFormat = 'yolov5' | 'yolov8' | 'end2end' | 'yolox';
export const DETECTOR_FORMATS: readonly DetectorFormat[] = ['yolov5', 'yolov8', 'end2end', 'yolox'];

/** How to read one output tensor [1, A, B]. */
export interface OutputLayout {
  format: DetectorFormat;
  /** Number of candidate rows (boxes before filtering). */
  candidates: number;
  /** Number of classes the output scores. */
  classes: number;
  /** Values per candidate in memory order: B for row layouts; for YOLOv8 the row length N. */
  dims: [number, number, number];
  /** YOLOX only: the strides whose grids make up the rows, in order. */
  strides?: number[];
}

/** Candidate boxes as parallel typed arrays (x1, y1, x2, y2 in model-input pixels). */
export class Candidates {
  count = 0;
  x1!: Float32Array;
  y1!: Float32Array;
  x2!: Float32Array;
  y2!: Float32Array;
  score!: Float32Array;
  cls!: Int32Array;

  constructor(capacity = 1024) {
    this.allocate(capacity);
  }

  /** Empty the set, making sure `capacity` candidates fit without reallocating. */
  reset(capacity: number): void {
    this.count = 0;
    if (this.score.length < capacity) this.allocate(capacity);
  }

  private allocate(capacity: number): void {
    this.x1 = new Float32Array(capacity);
    this.y1 = new Float32Array(capacity);
    this.x2 = new Float32Array(capacity);
    this.y2 = new Float32Array(capacity);
    this.score = new Float32Array(capacity);
    this.cls = new Int32Array(capacity);
  }

  /** Add a box given by centre and size. */
  pushCenter(cx: number, cy: number, w: number, h: number, score: number, cls: number): void {
    const i = this.count++;
    this.x1[i] = cx - w / 2;
    this.y1[i] = cy - h / 2;
    this.x2[i] = cx + w / 2;
    this.y2[i] = cy + h / 2;
    this.score[i] = score;
    this.cls[i] = cls;
  }
}

export interface DecodeOptions {
  /** Minimum score (objectness × class score where there is objectness). */
  confidence: number;
  /** Per class id: 1 if wanted. Undefined = all classes. */
  classMask?: Uint8Array;
}

/** Grid cells of a feature pyramid at these strides for an input of w×h pixels. */
export function gridCells(width: number, height: number, strides: readonly number[]): number {
  return strides.reduce((n, s) => n + Math.ceil(width / s) * Math.ceil(height / s), 0);
}

const P5 = [8, 16, 32];
const P6 = [8, 16, 32, 64];

/** Row counts a YOLO head (3 anchors per cell, or anchor-free) produces for this input size. */
function isGridRowCount(rows: number, width: number, height: number): boolean {
  return [P5, P6].some((s) => rows === gridCells(width, height, s) || rows === 3 * gridCells(width, height, s));
}

/**
 * Decide how to read an output shaped `dims` for a model fed `width`×`height` images.
 * `auto` chooses by shape: [1,K,6] with K not a grid row count → end-to-end (already
 * NMS-ed), [1,N,5+C] with N > 5+C → YOLOv5, [1,4+C,N] with N > 4+C → YOLOv8/11.
 * Throws E_MODEL_SHAPE (with `describe`, naming the model's shapes) when nothing fits.
 */
export function resolveLayout(
  dims: readonly number[],
  requested: DetectorFormat | 'auto',
  width: number,
  height: number,
  describe: string,
  hint?: { end2end?: boolean },
): OutputLayout {
  const fail = (why: string): never => {
    throw new SkulensError(
      'E_MODEL_SHAPE',
      `Cannot read the detector's output: ${why}. Model: ${describe}. Readable layouts: YOLOv5 [1,N,5+C], ` +
        `YOLOv8/11 [1,4+C,N], end-to-end [1,K,6] (x1,y1,x2,y2,score,class), YOLOX raw grid [1,N,5+C] (format: 'yolox'). ` +
        `If the model has several outputs, name the detection output with \`output\`.`,
    );
  };
  if (dims.length !== 3 || dims[0] !== 1) fail(`the output is shaped [${dims.join(',')}], not [1,A,B]`);
  const [, a, b] = dims as [number, number, number];
  const shape = `[${dims.join(',')}]`;
  const rowLayout = (format: 'yolov5' | 'yolox', strides?: number[]): OutputLayout =>
    strides
      ? { format, candidates: a, classes: b - 5, dims: [1, a, b], strides }
      : { format, candidates: a, classes: b - 5, dims: [1, a, b] };

  let format: DetectorFormat;
  if (requested === 'auto') {
    if (b === 6 && (hint?.end2end || !isGridRowCount(a, width, height))) format = 'end2end';
    else if (a > b && b >= 6) format = 'yolov5';
    else if (b > a && a >= 5) format = 'yolov8';
    else return fail(`${shape} matches none of them`);
  } else format = requested;

  switch (format) {
    case 'yolov5':
      if (b < 6) fail(`YOLOv5 needs [1,N,5+C] with C ≥ 1, got ${shape}`);
      return rowLayout('yolov5');
    case 'yolov8':
      if (a < 5) fail(`YOLOv8 needs [1,4+C,N] with C ≥ 1, got ${shape}`);
      return { format, candidates: b, classes: a - 4, dims: [1, a, b] };
    case 'end2end':
      if (b < 6) fail(`end-to-end needs [1,K,6], got ${shape}`);
      return { format, candidates: a, classes: 0, dims: [1, a, b] };
    case 'yolox': {
      if (b < 6) fail(`YOLOX needs [1,N,5+C] with C ≥ 1, got ${shape}`);
      const strides = [P5, P6].find((s) => gridCells(width, height, s) === a);
      if (!strides) {
        fail(
          `YOLOX rows must be the grid cells at strides 8/16/32 for the ${width}x${height} input (${gridCells(width, height, P5)}), got ${a} in ${shape}; pass inputSize matching the export`,
        );
      }
      return rowLayout('yolox', strides);
    }
    default:
      return fail(`unknown format "${String(format)}" (use auto, ${DETECTOR_FORMATS.join(', ')})`);
  }
}

/**
 * Read output values by index. Float16 outputs are not converted up front: a YOLOv5
 * output holds 2.1 M values but the decoder reads little more than the 25,200
 * objectness scores, so each value read goes through a 65,536-entry lookup table.
 */
function reader(data: OutputData): (i: number) => number {
  if (data instanceof Float32Array) return (i) => data[i]!;
  const table = halfTable();
  return (i) => table[data[i]!]!;
}

/**
 * Whether rows shaped like YOLOv5's [1,N,5+C] hold one row per grid cell at strides
 * 8/16/32(/64) — anchor-free, as YOLOX raw grids and some decoded exports are — rather
 * than YOLOv5's three anchors per cell.
 */
export function isOneRowPerCell(rows: number, width: number, height: number): boolean {
  return [P5, P6].some((s) => rows === gridCells(width, height, s));
}

/**
 * Whether an output in a row layout holds raw YOLOX grid values rather than decoded boxes:
 * decoded centres are input pixels, spread over the whole input (median in the hundreds);
 * raw ones are offsets within a cell (about 0–1). A median |centre| under the smallest
 * stride (8 px) cannot be a decoded grid. Any image tells, a blank one included.
 */
export function looksLikeRawGrid(data: OutputData, layout: OutputLayout): boolean {
  const at = reader(data);
  const width = layout.dims[2];
  const cx: number[] = [];
  const cy: number[] = [];
  for (let i = 0, row = 0; i < layout.candidates; i++, row += width) {
    cx.push(Math.abs(at(row)));
    cy.push(Math.abs(at(row + 1)));
  }
  const median = (v: number[]) => v.sort((a, b) => a - b)[v.length >> 1]!;
  return median(cx) < P5[0]! && median(cy) < P5[0]!;
}

/** Decode any layout into `out` (reset first). */
export function decodeOutput(
  data: OutputData,
  layout: OutputLayout,
  inputWidth: number,
  inputHeight: number,
  opts: DecodeOptions,
  out: Candidates,
): void {
  switch (layout.format) {
    case 'yolov5':
      decodeRows(data, layout, opts, out, undefined);
      break;
    case 'yolox':
      decodeRows(data, layout, opts, out, yoloxGrid(layout.strides!, inputWidth, inputHeight));
      break;
    case 'yolov8':
      decodeYolov8(data, layout, opts, out);
      break;
    case 'end2end':
      decodeEnd2end(data, layout, opts, out);
      break;
  }
}

/** Per YOLOX row: grid x, grid y and stride (rows are stride-major, then row-major cells). */
interface Grid {
  gx: Float32Array;
  gy: Float32Array;
  stride: Float32Array;
}

const gridCache = new Map<string, Grid>();

function yoloxGrid(strides: readonly number[], width: number, height: number): Grid {
  const key = `${strides.join(',')}@${width}x${height}`;
  let grid = gridCache.get(key);
  if (grid) return grid;
  const n = gridCells(width, height, strides);
  grid = { gx: new Float32Array(n), gy: new Float32Array(n), stride: new Float32Array(n) };
  let i = 0;
  for (const s of strides) {
    const gw = Math.ceil(width / s);
    const gh = Math.ceil(height / s);
    for (let y = 0; y < gh; y++) {
      for (let x = 0; x < gw; x++, i++) {
        grid.gx[i] = x;
        grid.gy[i] = y;
        grid.stride[i] = s;
      }
    }
  }
  gridCache.set(key, grid);
  return grid;
}

/**
 * Row layouts [1,N,5+C]: cx, cy, w, h, objectness, C class scores; score = obj × best
 * class. YOLOX rows hold raw grid values: centre offsets in cells and log sizes in strides.
 */
function decodeRows(data: OutputData, layout: OutputLayout, opts: DecodeOptions, out: Candidates, grid: Grid | undefined): void {
  const at = reader(data);
  const n = layout.candidates;
  const width = layout.dims[2];
  const classes = layout.classes;
  const { confidence, classMask } = opts;
  out.reset(n);
  for (let i = 0, row = 0; i < n; i++, row += width) {
    const obj = at(row + 4);
    if (obj < confidence) continue; // obj × cls ≤ obj: most rows stop here
    let best = -1;
    let bestScore = -Infinity;
    for (let c = 0; c < classes; c++) {
      if (classMask && !classMask[c]) continue;
      const s = at(row + 5 + c);
      if (s > bestScore) {
        bestScore = s;
        best = c;
      }
    }
    const score = obj * bestScore;
    if (best < 0 || !(score >= confidence)) continue;
    let cx = at(row);
    let cy = at(row + 1);
    let w = at(row + 2);
    let h = at(row + 3);
    if (grid) {
      const s = grid.stride[i]!;
      cx = (cx + grid.gx[i]!) * s;
      cy = (cy + grid.gy[i]!) * s;
      w = Math.exp(w) * s;
      h = Math.exp(h) * s;
    }
    out.pushCenter(cx, cy, w, h, score, best);
  }
}

/** Scratch for YOLOv8's column-major scan: best class score and id per candidate. */
let bestScore = new Float32Array(0);
let bestClass = new Int32Array(0);

/** [1,4+C,N]: rows are channels, so scan class by class (contiguous) keeping each column's best. */
function decodeYolov8(data: OutputData, layout: OutputLayout, opts: DecodeOptions, out: Candidates): void {
  const at = reader(data);
  const n = layout.candidates;
  const classes = layout.classes;
  const { confidence, classMask } = opts;
  if (bestScore.length < n) {
    bestScore = new Float32Array(n);
    bestClass = new Int32Array(n);
  }
  bestScore.fill(-Infinity, 0, n);
  bestClass.fill(-1, 0, n);
  for (let c = 0; c < classes; c++) {
    if (classMask && !classMask[c]) continue;
    const base = (4 + c) * n;
    for (let j = 0; j < n; j++) {
      const s = at(base + j);
      // Most scores are far below the threshold: test that first, the best-so-far rarely.
      if (s >= confidence && s > bestScore[j]!) {
        bestScore[j] = s;
        bestClass[j] = c;
      }
    }
  }
  out.reset(n);
  for (let j = 0; j < n; j++) {
    const score = bestScore[j]!;
    if (!(score >= confidence)) continue;
    out.pushCenter(at(j), at(n + j), at(2 * n + j), at(3 * n + j), score, bestClass[j]!);
  }
}

/** [1,K,6]: x1, y1, x2, y2, score, class — already NMS-ed by the model. */
function decodeEnd2end(data: OutputData, layout: OutputLayout, opts: DecodeOptions, out: Candidates): void {
  const at = reader(data);
  const k = layout.candidates;
  const width = layout.dims[2];
  const { confidence, classMask } = opts;
  out.reset(k);
  for (let i = 0, row = 0; i < k; i++, row += width) {
    const score = at(row + 4);
    if (!(score >= confidence)) continue;
    const cls = Math.round(at(row + 5));
    if (classMask && !classMask[cls]) continue;
    const j = out.count++;
    out.x1[j] = at(row);
    out.y1[j] = at(row + 1);
    out.x2[j] = at(row + 2);
    out.y2[j] = at(row + 3);
    out.score[j] = score;
    out.cls[j] = cls;
  }
}
