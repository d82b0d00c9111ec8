/**
 * Detector: a YOLO-family ONNX model run on a letterboxed image, its output decoded,
 * NMS-ed and mapped back to the original image's pixels.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { SkulensError } from '../errors.js';
import { check, is } from '../is.js';
import type { Detection } from './types.js';
import { checkMaxPixels, decodeImage, describeInput, type ImageInput, type RawImage, type Rect } from '../image.js';
import { fitSpecToInput, formatShape, openImageModel, type ImageModel } from '../image-model.js';
import { DEFAULT_DETECTOR } from '../builtin-models.js';
import type { ModelSource } from '../model.js';
import { definedOnly } from '../options.js';
import { computePlacement, imageSize, resolveSpec, writeImageToTensor, type Placement, type PreprocessSpec } from '../preprocess.js';
import {
  Candidates,
  DETECTOR_FORMATS,
  decodeOutput,
  isOneRowPerCell,
  looksLikeRawGrid,
  resolveLayout,
  type DetectorFormat,
  type OutputLayout,
} from './decode.js';
import { NmsScratch, nms } from './nms.js';
import { halfBits } from '../float16.js';
import { MAX_TILES, autoTiles, mergeTiles, tileGrid, type TilePass, type TilesOption } from './tiles.js';

/** Smallest image side the detector accepts, and smallest side the image may shrink to in the model input. */
const MIN_IMAGE_SIDE = 16;
const MIN_INPUT_SIDE = 8;

export interface DetectorOptions extends Partial<PreprocessSpec> {
  /** Path/URL of the .onnx file, its bytes, or a built-in id (`'skulens:shelf'`). Required unless `DEFAULT_DETECTOR` names a default. */
  model?: ModelSource;
  /**
   * Output layout. `auto` (default) reads it from the output shape (YOLOv5, YOLOv8/11 or
   * end-to-end); a YOLOX raw grid, shaped like YOLOv5, is told apart by one blank run.
   */
  format?: DetectorFormat | 'auto';
  /** Model input size for models with a dynamic input: a side (square) or [width, height]. Default: the model's, else 640 (416 for YOLOX). */
  inputSize?: number | [number, number];
  /** Minimum score to keep a box (objectness × class score where the model has objectness). Default 0.25. */
  confidence?: number;
  /** NMS overlap (intersection over union) above which the weaker box is dropped. Default 0.45. */
  iou?: number;
  /** At most this many boxes per image, best first. Default 1000 (dense shelves hold 100–400 products). */
  maxDetections?: number;
  /** One NMS over all classes, instead of per class. Default false. */
  classAgnostic?: boolean;
  /** Keep only these class ids. */
  classes?: number[];
  /** Class names by id (default: the `names` an Ultralytics export records in its metadata). */
  labels?: string[];
  /** Name of the detection output, when the model has several (default: the first). */
  output?: string;
  /** Passed to onnxruntime's InferenceSession.create (threads, execution providers...). */
  sessionOptions?: InferenceSession.SessionOptions;
  /** Node: run inference in a worker thread so the event loop stays free (default true). */
  worker?: boolean;
  /**
   * Tiled inference for high-resolution photos: `'off'` (default), a number of overlapping
   * tiles along the photo's longer side (2–4; 1 = off), or `'auto'` (tiles only when the
   * whole-photo boxes are small for the model). The whole photo is always detected too.
   */
  tiles?: TilesOption;
  /** Refuse images with more pixels than this, before decoding (default DEFAULT_MAX_PIXELS, 64 MP). */
  maxPixels?: number;
}

export type { Detection } from './types.js';

/** Milliseconds spent per stage of one `detect` call. */
export interface DetectTimings {
  decode: number;
  preprocess: number;
  inference: number;
  /** Output decoding, NMS and mapping back to the image. */
  postprocess: number;
}

export interface DetectResult {
  detections: Detection[];
  /** Tiles the photo was cut into besides the whole-photo pass (0: none). */
  tiles: number;
  /** Size of the (decoded, EXIF-rotated) image the boxes refer to. */
  width: number;
  height: number;
  timings: DetectTimings;
}

/** Where the detector's format choice came from (`values`: a YOLOX raw grid, told from YOLOv5 by one blank run's output). */
export type FormatSource = 'option' | 'shape' | 'metadata' | 'values';

export class Detector {
  /** The output layout in use (what `auto` picked). */
  readonly format: DetectorFormat;
  readonly formatSource: FormatSource;
  /** Preprocessing actually applied (letterbox size, pad, scale, channel order...). */
  readonly spec: PreprocessSpec;
  readonly confidence: number;
  readonly iou: number;
  readonly maxDetections: number;
  readonly classAgnostic: boolean;
  readonly classes: readonly number[] | undefined;
  /** Class names by id, when known. */
  readonly labels: readonly string[] | undefined;
  /** Number of classes the model scores (0 for end-to-end outputs, which carry ids). */
  readonly numClasses: number;
  readonly inputName: string;
  readonly outputName: string;
  readonly outputShape: readonly number[];
  readonly modelPath: string | undefined;
  readonly tiles: TilesOption;
  /** Images with more pixels than this are refused (E_IMAGE_DECODE) before decoding. */
  readonly maxPixels: number;

  private readonly model: ImageModel;
  private readonly layout: OutputLayout;
  private readonly classMask: Uint8Array | undefined;
  private readonly candidates = new Candidates();
  private readonly nmsScratch = new NmsScratch();

  private constructor(init: {
    model: ImageModel;
    spec: PreprocessSpec;
    layout: OutputLayout;
    formatSource: FormatSource;
    outputName: string;
    options: Required<Pick<DetectorOptions, 'confidence' | 'iou' | 'maxDetections' | 'classAgnostic' | 'tiles' | 'maxPixels'>> &
      Pick<DetectorOptions, 'classes'>;
    labels: string[] | undefined;
    modelPath: string | undefined;
  }) {
    this.model = init.model;
    this.spec = init.spec;
    this.layout = init.layout;
    this.format = init.layout.format;
    this.formatSource = init.formatSource;
    this.inputName = init.model.input.name;
    this.outputName = init.outputName;
    this.outputShape = init.layout.dims;
    this.numClasses = init.layout.classes;
    this.confidence = init.options.confidence;
    this.iou = init.options.iou;
    this.maxDetections = init.options.maxDetections;
    this.classAgnostic = init.options.classAgnostic;
    this.classes = init.options.classes;
    this.labels = init.labels;
    this.modelPath = init.modelPath;
    this.tiles = init.options.tiles;
    this.maxPixels = init.options.maxPixels;
    if (init.options.classes) {
      const size = Math.max(init.layout.classes, ...init.options.classes.map((c) => c + 1));
      this.classMask = new Uint8Array(size);
      for (const c of init.options.classes) this.classMask[c] = 1;
    }
  }

  static async create(options: DetectorOptions = {}): Promise<Detector> {
    const {
      model = DEFAULT_DETECTOR,
      format: requested = 'auto',
      inputSize,
      confidence = 0.25,
      iou = 0.45,
      maxDetections = 1000,
      classAgnostic = false,
      classes,
      labels,
      output,
      sessionOptions,
      worker,
      tiles = 'off',
      maxPixels,
      ...overrides
    } = options ?? ({} as DetectorOptions);
    checkOptions({ requested, confidence, iou, maxDetections, classes, inputSize, tiles });
    const pixelLimit = checkMaxPixels(maxPixels);
    if (model === undefined)
      throw new SkulensError(
        'E_INPUT',
        'No detector model given: pass `model` (a YOLO .onnx path/URL or its bytes), or "skulens:shelf" for the built-in shelf detector.',
      );

    const opened = await openImageModel(model, 'detector', { sessionOptions, worker });
    try {
      return await Detector.build(opened, {
        requested,
        inputSize,
        confidence,
        iou,
        maxDetections,
        classAgnostic,
        classes,
        labels,
        output,
        tiles,
        maxPixels: pixelLimit,
        overrides,
      });
    } catch (err) {
      await opened.release().catch(() => undefined); // refused: do not leak the session (or its worker thread)
      throw err;
    }
  }

  private static async build(
    model: ImageModel,
    options: Required<Pick<DetectorOptions, 'confidence' | 'iou' | 'maxDetections' | 'classAgnostic' | 'maxPixels'>> &
      Pick<DetectorOptions, 'inputSize' | 'classes' | 'labels' | 'output'> & {
        requested: DetectorFormat | 'auto';
        tiles: TilesOption;
        overrides: Partial<PreprocessSpec>;
      },
  ): Promise<Detector> {
    const { requested, inputSize, confidence, iou, maxDetections, classAgnostic, classes, labels, output, tiles, maxPixels, overrides } =
      options;
    const { input, metadata: meta } = model;

    // Preprocessing: the family's preset, then an explicit input size, then overrides.
    const sizeFromMeta = ultralyticsImgsz(meta);
    const explicitSize = inputSize !== undefined || overrides.width !== undefined || overrides.height !== undefined;
    const [w, h] = typeof inputSize === 'number' ? [inputSize, inputSize] : (inputSize ?? sizeFromMeta ?? [undefined, undefined]);
    const defined = definedOnly(overrides);
    let spec = resolveSpec(requested === 'yolox' ? 'yolox' : 'yolo', { width: w, height: h, ...defined });
    spec = fitSpecToInput(spec, input, explicitSize);

    const outputName = output ?? model.outputNames[0];
    if (outputName === undefined || !model.outputNames.includes(outputName)) {
      throw new SkulensError('E_MODEL_SHAPE', `The model has no output "${output}"; its outputs are: ${model.describeOutputs()}.`);
    }
    const describe = `input ${input.name} ${input.dtype} [${input.layout === 'nchw' ? `1,3,${spec.height},${spec.width}` : `1,${spec.height},${spec.width},3`}], outputs ${model.describeOutputs()}`;

    // Symbolic output dims (dynamic exports): learn them from one blank image.
    let dims = model.outputShape(outputName);
    if (!dims || dims.some((d) => typeof d !== 'number' || d < 1)) {
      const probe = await model.probe(spec, outputName);
      dims = [...probe.dims];
      probe.dispose?.();
    }
    const end2endHint = meta.end2end === 'True';
    const where = model.outputNames.length > 1 ? `${describe} (detection output ${outputName} ${formatShape(dims)})` : describe;
    let layout = resolveLayout(dims as number[], requested, spec.width, spec.height, where, { end2end: end2endHint });
    let formatSource: FormatSource = requested !== 'auto' ? 'option' : end2endHint && layout.format === 'end2end' ? 'metadata' : 'shape';
    // YOLOX's raw grid has YOLOv5's shape with one row per cell. Ultralytics-style exports
    // (`stride` metadata, the built-in shelf detector too) hold decoded boxes; for others one
    // blank run tells raw cell offsets from pixels. YOLOX also has its own preprocessing.
    if (
      requested === 'auto' &&
      layout.format === 'yolov5' &&
      meta.stride === undefined &&
      isOneRowPerCell(layout.candidates, spec.width, spec.height)
    ) {
      const probe = await model.probe(spec, outputName);
      const raw = looksLikeRawGrid(probe.data as Float32Array | Uint16Array, layout);
      probe.dispose?.();
      if (raw) {
        spec = fitSpecToInput(resolveSpec('yolox', { width: spec.width, height: spec.height, ...defined }), input, explicitSize);
        layout = resolveLayout(dims as number[], 'yolox', spec.width, spec.height, where);
        formatSource = 'values';
      }
    }
    if (classes && layout.classes > 0) {
      const bad = classes.filter((c) => c >= layout.classes);
      if (bad.length)
        throw new SkulensError(
          'E_INPUT',
          `classes ${bad.join(', ')} are out of range: the model scores ${layout.classes} classes (0–${layout.classes - 1}).`,
        );
    }

    return new Detector({
      model,
      spec,
      layout,
      formatSource,
      outputName,
      options: { confidence, iou, maxDetections, classAgnostic, classes, tiles, maxPixels },
      labels: labels ?? ultralyticsNames(meta),
      modelPath: model.path,
    });
  }

  /** Detect objects in one image (path, encoded bytes or raw pixels). */
  async detect(image: ImageInput): Promise<Detection[]> {
    return (await this.detectDetailed(image)).detections;
  }

  /** `detect`, plus the image size, the tiles used and per-stage timings. */
  async detectDetailed(image: ImageInput): Promise<DetectResult> {
    this.model.ensureOpen();
    const t0 = performance.now();
    const raw = await decodeImage(image, { maxPixels: this.maxPixels });
    this.checkImageSize(raw, image);
    const timings: DetectTimings = { decode: performance.now() - t0, preprocess: 0, inference: 0, postprocess: 0 };
    const whole = await this.detectRegion(raw, undefined, timings);
    const n =
      this.tiles === 'auto'
        ? autoTiles(
            whole.detections.map((d) => d.box),
            whole.placement.scaleX,
            raw.width,
            raw.height,
            Math.max(this.spec.width, this.spec.height),
          )
        : this.tiles === 'off'
          ? 1
          : this.tiles;
    if (n <= 1) return { detections: whole.detections, tiles: 0, width: raw.width, height: raw.height, timings };

    const grid = tileGrid(raw.width, raw.height, n, this.spec.width / this.spec.height);
    const passes: TilePass[] = [{ detections: whole.detections }];
    for (const tile of grid.tiles) passes.push({ tile, detections: (await this.detectRegion(raw, tile, timings)).detections });
    const t = performance.now();
    const detections = mergeTiles(passes, {
      iou: this.iou,
      classAgnostic: this.classAgnostic,
      maxDetections: this.maxDetections,
      overlapX: grid.overlapX,
      overlapY: grid.overlapY,
    });
    timings.postprocess += performance.now() - t;
    return { detections, tiles: grid.tiles.length, width: raw.width, height: raw.height, timings };
  }

  /** One model run on the whole image or on a region of it; adds its times to `timings`. */
  private async detectRegion(
    raw: RawImage,
    region: Rect | undefined,
    timings: DetectTimings,
  ): Promise<{ detections: Detection[]; placement: Placement }> {
    const t1 = performance.now();
    const data = new Float32Array(imageSize(this.spec));
    const placement = writeImageToTensor(raw, this.spec, data, 0, region);
    const input = this.model.inputTensor(this.spec, data, 1); // float16 models: conversion counts as preprocessing
    const t2 = performance.now();
    const tensor = await this.model.run(input, this.outputName);
    const t3 = performance.now();
    try {
      const detections = this.postprocess(tensor, placement, raw.width, raw.height);
      timings.preprocess += t2 - t1;
      timings.inference += t3 - t2;
      timings.postprocess += performance.now() - t3;
      return { detections, placement };
    } finally {
      tensor.dispose?.();
    }
  }

  /** Refuse images too small or too thin to hold anything the model could find (an error, not an empty answer). */
  private checkImageSize(raw: RawImage, image: ImageInput): void {
    const placed = computePlacement(this.spec, { x: 0, y: 0, width: raw.width, height: raw.height });
    const inputSide = Math.min(raw.width * placed.scaleX, raw.height * placed.scaleY);
    if (Math.min(raw.width, raw.height) >= MIN_IMAGE_SIDE && inputSide >= MIN_INPUT_SIDE) return;
    const name = describeInput(image);
    throw new SkulensError(
      'E_IMAGE_DECODE',
      `Image ${name} is ${raw.width}x${raw.height} pixels: too small or too narrow to detect in (each side must be at least ${MIN_IMAGE_SIDE} px and at least ${MIN_INPUT_SIDE} px once fitted into the ${this.spec.width}x${this.spec.height} model input). Use a larger photo, or crop a very long strip into parts.`,
      { input: name },
    );
  }

  /**
   * Decode an output tensor of this model into detections on a `width`×`height` image
   * placed in the input as `placement` says (what `writeImageToTensor` returned).
   */
  postprocess(output: Pick<Tensor, 'type' | 'data' | 'dims'>, placement: Placement, width: number, height: number): Detection[] {
    const expected = this.layout.dims;
    if (output.dims.length !== 3 || output.dims.some((d, i) => d !== expected[i])) {
      throw new SkulensError(
        'E_MODEL_SHAPE',
        `The detector's output ${this.outputName} is ${formatShape(output.dims)} on this run, but it was ${formatShape(expected)} when the model was loaded.`,
      );
    }
    // float16 outputs stay as bits: the decoder converts only the values it reads.
    if (output.type !== 'float32' && output.type !== 'float16') {
      throw new SkulensError(
        'E_MODEL_SHAPE',
        `The detector's output ${this.outputName} has type ${output.type}; expected float32 or float16.`,
      );
    }
    const data = output.type === 'float16' ? halfBits(output.data as ArrayBufferView) : (output.data as Float32Array);

    const c = this.candidates;
    decodeOutput(
      data,
      this.layout,
      this.spec.width,
      this.spec.height,
      this.classMask ? { confidence: this.confidence, classMask: this.classMask } : { confidence: this.confidence },
      c,
    );
    // End-to-end models have done their own NMS: an IoU limit of 1 only sorts and caps.
    const iou = this.format === 'end2end' ? 1 : this.iou;
    const kept = nms(c, { iou, maxDetections: this.maxDetections, classAgnostic: this.classAgnostic }, this.nmsScratch);

    // input = source * scale + pad  →  source = (input - pad) / scale, then clip to the image.
    const { source, scaleX, scaleY, padX, padY } = placement;
    const detections: Detection[] = [];
    for (const i of kept) {
      const x1 = clamp((c.x1[i]! - padX) / scaleX + source.x, 0, width);
      const y1 = clamp((c.y1[i]! - padY) / scaleY + source.y, 0, height);
      const x2 = clamp((c.x2[i]! - padX) / scaleX + source.x, 0, width);
      const y2 = clamp((c.y2[i]! - padY) / scaleY + source.y, 0, height);
      if (!(x2 > x1 && y2 > y1)) continue; // entirely outside the image (in the padding)
      const classId = c.cls[i]!;
      const d: Detection = { box: { x: x1, y: y1, width: x2 - x1, height: y2 - y1 }, score: c.score[i]!, classId };
      const label = this.labels?.[classId];
      if (label !== undefined) d.label = label;
      detections.push(d);
    }
    return detections;
  }

  /** Release the ONNX session. */
  async dispose(): Promise<void> {
    await this.model.release();
  }
}

function clamp(v: number, lo: number, hi: number): number {
  return v < lo ? lo : v > hi ? hi : v;
}

function checkOptions(o: {
  requested: string;
  confidence: number;
  iou: number;
  maxDetections: number;
  classes: number[] | undefined;
  inputSize: DetectorOptions['inputSize'];
  tiles: TilesOption;
}): void {
  check(o.requested === 'auto' || is.oneOf(o.requested, DETECTOR_FORMATS), 'format', `auto, ${DETECTOR_FORMATS.join(', ')}`, o.requested);
  check(is.inRange(o.confidence, 0, 1), 'confidence', 'between 0 and 1', o.confidence);
  check(is.inRange(o.iou, 0, 1, 'lo'), 'iou', 'in (0, 1]', o.iou);
  check(is.positiveInt(o.maxDetections), 'maxDetections', 'a positive integer', o.maxDetections);
  check(
    o.classes === undefined || (Array.isArray(o.classes) && o.classes.every((c) => is.int(c, 0))),
    'classes',
    'non-negative integer class ids',
    o.classes,
  );
  const size = o.inputSize;
  check(
    size === undefined || is.positiveInt(size) || (Array.isArray(size) && size.length === 2 && size.every(is.positiveInt)),
    'inputSize',
    'a positive integer or [width, height]',
    size,
  );
  check(
    o.tiles === 'auto' || o.tiles === 'off' || is.int(o.tiles, 1, MAX_TILES),
    'tiles',
    `'auto', 'off' or a whole number of tiles from 1 to ${MAX_TILES}`,
    o.tiles,
  );
}

/** Class names from an Ultralytics export's metadata: names = "{0: 'person', 1: 'bicycle', ...}". */
export function ultralyticsNames(meta: Record<string, string>): string[] | undefined {
  const text = meta.names;
  if (!text) return undefined;
  const names: string[] = [];
  for (const m of text.matchAll(/(\d+)\s*:\s*(['"])(.*?)\2\s*(?=,|\})/g)) names[Number(m[1])] = m[3]!;
  return names.length ? Array.from(names, (n, i) => n ?? String(i)) : undefined;
}

/** [width, height] from an Ultralytics export's `imgsz` metadata ("[640, 640]" is [h, w]). */
function ultralyticsImgsz(meta: Record<string, string>): [number, number] | undefined {
  const m = /^\[\s*(\d+)\s*,\s*(\d+)\s*\]$/.exec(meta.imgsz ?? '');
  return m ? [Number(m[2]), Number(m[1])] : undefined;
}
