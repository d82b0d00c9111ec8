/**
 * Flags more than one verb takes, their parsers, and what they open: the embedder, the
 * detector and a gallery with its own embedder. Verb files register their verb and use
 * these; they never import each other.
 */
import { basename, resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { readRegularFile } from '../node/read-file.js';
import { DEFAULT_DETECTOR, DEFAULT_EMBEDDER, isBuiltinModelId } from '../core/builtin-models.js';
import { MAX_TILES, type TilesOption } from '../core/detector/tiles.js';
import { messageOf } from '../core/errors.js';
import { is } from '../core/is.js';
import { DEFAULT_K, DEFAULT_MAX_PIXELS, DETECTOR_FORMATS, Detector, ReferenceGallery, SkulensError, isSkulensError } from '../index.js';
import type { DetectorFormat, DetectorOptions, Embedder, Metric } from '../index.js';

/** --threshold of the verbs that query a gallery: one scale with what they print (docs/gallery.md, "Scores and the threshold"). */
export const THRESHOLD_HELP =
  'answer "unknown" when the decision score is below this (default: the gallery\'s threshold); the decision score is what classify, eval and recognize print (unknownScore): the best similarity, or the calibrated score on a calibrated gallery';

export const EMBEDDER_HELP = `ONNX embedding model (default: the built-in ${DEFAULT_EMBEDDER}, see docs/models.md)`;

/** A commander argument parser: its errors print as commander's own one-line usage errors. */
export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!is.positiveInt(n)) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}".`);
    return n;
  };
}

/** `--max-pixels <n>`, on every verb that reads images: the decoder's pixel limit (the error for a larger photo names this flag). */
export const MAX_PIXELS_HELP = `refuse images with more pixels than this, before decoding (default ${DEFAULT_MAX_PIXELS.toLocaleString('en-US')}: a guard against decompression bombs); raise it for genuine larger photos`;
export const parseMaxPixels = parsePositiveInt('--max-pixels');

/** The --embedder value as a model source: the built-in model when absent, built-in ids as they are, files made absolute. */
export function embedderSource(path: string | undefined): string {
  if (path === undefined) return DEFAULT_EMBEDDER;
  return isBuiltinModelId(path) ? path : resolve(path);
}

/**
 * `--preset` with a built-in model is a mistake: the model declares the preprocessing it was
 * trained with, and a preset would silently replace it (worse vectors, and a gallery that
 * needs the same wrong preset forever). Presets are for models that declare none.
 */
export function checkPreset(embedder: string | undefined, preset: string | undefined): void {
  const model = embedderSource(embedder);
  if (preset === undefined || !isBuiltinModelId(model)) return;
  throw new SkulensError(
    'E_INPUT',
    `The built-in model ${model} declares its own preprocessing (the one it was trained with): drop --preset ${preset}, which would replace it. Presets are for your own models (--embedder model.onnx).`,
  );
}

/** Detector flags shared by `detect` and `recognize`. */
export function addDetectorOptions(cmd: Command): Command {
  const what = 'YOLO detector (YOLOv5, YOLOv8/11, end-to-end or YOLOX ONNX export) or a built-in id (skulens:shelf)';
  // DEFAULT_DETECTOR undefined makes the built-in shelf detector opt-in: then a detector must be named.
  if (DEFAULT_DETECTOR === undefined) cmd.requiredOption('--detector <model.onnx>', what);
  else cmd.option('--detector <model.onnx>', `${what}; default: the built-in ${DEFAULT_DETECTOR}`);
  return cmd
    .option(
      '--tiles <auto|off|n>',
      `tiled inference for high-resolution photos: n overlapping tiles along the longer side (2–${MAX_TILES}), auto (only when the boxes are small), off`,
      parseTiles,
      'off' as TilesOption,
    )
    .option(
      '--format <name>',
      `output layout: auto (tells YOLOv5, YOLOv8/11, end-to-end and YOLOX apart), ${DETECTOR_FORMATS.join(', ')}`,
      parseFormat,
      'auto',
    )
    .option('--confidence <p>', 'minimum box score, 0–1', parseUnit('--confidence'), 0.25)
    .option('--iou <p>', 'NMS overlap above which the weaker box is dropped, above 0, at most 1', parseUnit('--iou', true), 0.45)
    .option('--max-detections <n>', 'boxes kept per image (dense shelves: 1000)', parsePositiveInt('--max-detections'), 1000)
    .option('--class-agnostic', 'one NMS across classes (single-class shelf detectors)')
    .option('--classes <ids>', 'keep only these class ids, comma-separated (COCO: 46 banana, 47 apple, 49 orange)', parseIds)
    .option('--labels <file>', 'class names, one per line (e.g. coco.names); default: names recorded in an Ultralytics export')
    .option(
      '--input-size <n|WxH>',
      'model input size for models with a dynamic input (default: Ultralytics imgsz metadata, else 640; YOLOX 416)',
      parseSize,
    )
    .option('--max-pixels <n>', MAX_PIXELS_HELP, parseMaxPixels);
}

export interface DetectorFlags {
  detector?: string;
  tiles: TilesOption;
  format: DetectorFormat | 'auto';
  confidence: number;
  iou: number;
  maxDetections: number;
  classAgnostic?: boolean;
  classes?: number[];
  labels?: string;
  inputSize?: number | [number, number];
  maxPixels?: number;
}

export async function createDetectorFromFlags(opts: DetectorFlags): Promise<Detector> {
  const model = opts.detector ?? DEFAULT_DETECTOR;
  const options: DetectorOptions = {
    ...(model !== undefined ? { model } : {}),
    tiles: opts.tiles,
    format: opts.format,
    confidence: opts.confidence,
    iou: opts.iou,
    maxDetections: opts.maxDetections,
    classAgnostic: !!opts.classAgnostic,
  };
  if (opts.classes) options.classes = opts.classes;
  if (opts.inputSize !== undefined) options.inputSize = opts.inputSize;
  if (opts.maxPixels !== undefined) options.maxPixels = opts.maxPixels;
  if (opts.labels) options.labels = await readLabels(opts.labels);
  const detector = await Detector.create(options);
  const source =
    detector.formatSource === 'option'
      ? 'as asked'
      : detector.formatSource === 'metadata'
        ? 'from model metadata'
        : detector.formatSource === 'values'
          ? `from output shape [${detector.outputShape.join(',')}] and its raw grid values`
          : `from output shape [${detector.outputShape.join(',')}]`;
  process.stderr.write(
    `skulens: detector ${model === undefined ? '?' : basename(model)}: format ${detector.format} (${source}), input ${detector.spec.width}x${detector.spec.height} ${detector.spec.dtype}\n`,
  );
  return detector;
}

/** A labels file: one class name per line (blank trailing lines ignored). */
export async function readLabels(file: string): Promise<string[]> {
  const text = new TextDecoder().decode(await readRegularFile(file, 16 << 20, 'labels file'));
  const lines = text
    .replace(/^\uFEFF/, '')
    .split(/\r?\n/)
    .map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new SkulensError('E_INPUT', `Labels file "${file}" is empty.`, { input: file });
  return lines;
}

export function parseFormat(value: string): DetectorFormat | 'auto' {
  if (value !== 'auto' && !is.oneOf(value, DETECTOR_FORMATS))
    throw new InvalidArgumentError(`expected auto, ${DETECTOR_FORMATS.join(', ')}.`);
  return value as DetectorFormat | 'auto';
}

/** A number in [0, 1], or in (0, 1] with `aboveZero` (an NMS overlap of 0 would drop every box that overlaps a better one at all). */
export function parseUnit(name: string, aboveZero = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !is.inRange(n, 0, 1, aboveZero ? 'lo' : undefined)) {
      throw new InvalidArgumentError(`${name} must be a number ${aboveZero ? 'above 0, at most 1' : 'from 0 to 1'}.`);
    }
    return n;
  };
}

function parseTiles(value: string): TilesOption {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || v === 'off') return v;
  const n = Number(v);
  if (!is.int(n, 1, MAX_TILES)) throw new InvalidArgumentError(`expected auto, off or a number of tiles from 1 to ${MAX_TILES}.`);
  return n;
}

export function parseIds(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()));
  if (!ids.every((n) => is.int(n, 0))) throw new InvalidArgumentError('expected comma-separated class ids, e.g. 46,47,49.');
  return ids;
}

export function parseSize(value: string): number | [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a size like 640 or 1280x736.');
  return m[2] ? [Number(m[1]), Number(m[2])] : Number(m[1]);
}

/**
 * Load a gallery and re-create the embedder it was built with (from its stored path and
 * preprocessing, or from `override`). A different model or spec stops with E_FINGERPRINT.
 */
export async function openGallery(
  file: string,
  override?: string,
  batchSize = 16,
  maxPixels?: number,
): Promise<{ gallery: ReferenceGallery; embedder: Embedder }> {
  const gallery = await ReferenceGallery.load(file);
  const info = gallery.embedder;
  if (!info) {
    throw new SkulensError(
      'E_FINGERPRINT',
      `Gallery "${file}" does not record its embedder, so images cannot be compared with it safely. Rebuild it with "skulens gallery build".`,
    );
  }
  const model = override ?? info.path;
  if (!model) throw new SkulensError('E_INPUT', `Gallery "${file}" does not record its model path: pass --embedder <model.onnx>.`);
  try {
    return {
      gallery,
      embedder: await gallery.openEmbedder({ model: embedderSource(model), batchSize, ...(maxPixels !== undefined ? { maxPixels } : {}) }),
    };
  } catch (err) {
    if (isSkulensError(err, 'E_FINGERPRINT') || isSkulensError(err, 'E_DIM_MISMATCH')) throw err;
    if (isSkulensError(err, 'E_GALLERY_FORMAT'))
      throw new SkulensError('E_GALLERY_FORMAT', `"${file}" is not a usable gallery: ${err.message}`, { cause: err, input: file });
    const hint = override ? '' : ` (the path stored in the gallery; pass --embedder to use the model from elsewhere)`;
    if (err instanceof SkulensError) throw new SkulensError(err.code, `${err.message}${hint}`, { cause: err, input: model });
    throw new SkulensError('E_MODEL_LOAD', `Cannot open the gallery's embedder "${model}"${hint}: ${messageOf(err)}`, {
      cause: err,
      input: model,
    });
  }
}

export function parseClusters(value: string): number | 'all' {
  if (value === 'all') return 'all';
  const n = Number(value);
  if (!is.positiveInt(n)) throw new InvalidArgumentError('expected a positive integer or "all".');
  return n;
}

export function parseMetric(value: string): Metric {
  if (!is.oneOf(value, ['cosine', 'l2'] as const)) throw new InvalidArgumentError('expected cosine or l2.');
  return value;
}

/** The flags addGalleryQueryOptions declares, as commander hands them to the action. */
export interface GalleryQueryFlags {
  gallery: string;
  k?: number;
  threshold?: number;
  embedder?: string;
  batchSize: number;
  maxPixels?: number;
}

/** Options shared by the verbs that query a gallery with embedded images (classify, eval). */
export function addGalleryQueryOptions(command: Command): Command {
  return command
    .requiredOption('--gallery <file>', 'gallery file (from "skulens gallery build")')
    .option('--k <n>', `neighbours that vote (default ${DEFAULT_K})`, parsePositiveInt('--k'))
    .option('--threshold <s>', THRESHOLD_HELP, parseThreshold)
    .option(
      '--embedder <model.onnx>',
      'use this model file instead of the path stored in the gallery (must be the same model: fingerprint checked)',
    )
    .option('--batch-size <n>', 'images per inference run', parsePositiveInt('--batch-size'), 16)
    .option('--max-pixels <n>', MAX_PIXELS_HELP, parseMaxPixels);
}

export function parseThreshold(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !is.finite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}
