/** `skulens detect <image...> [--detector <model.onnx|skulens:shelf>] [--tiles auto|off|N] [--json] [--annotate <out.jpg>]` */
import { readFile, stat } from 'node:fs/promises';
import { basename, dirname, extname, join } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { DETECTOR_FORMATS, type DetectorFormat } from '../core/detector/decode.js';
import { Detector, type DetectorOptions } from '../core/detector/detector.js';
import { MAX_TILES, type TilesOption } from '../core/detector/tiles.js';
import { SkulensError, messageOf } from '../core/errors.js';
import { DEFAULT_DETECTOR } from '../core/model.js';
import { expandImageArgs } from '../node/dataset.js';
import { annotate } from '../node/annotate.js';
import { action, forEachImage, out, parsePositiveInt } from './common.js';

/** Detector flags shared by `detect` and `recognize`. */
export function addDetectorOptions(cmd: Command): Command {
  const what = 'YOLO detector (YOLOv5, YOLOv8/11, end-to-end or YOLOX ONNX export) or a built-in id (skulens:shelf)';
  // DEFAULT_DETECTOR undefined makes the built-in shelf detector opt-in: then a detector must be named.
  if (DEFAULT_DETECTOR === undefined) cmd.requiredOption('--detector <model.onnx>', what);
  else cmd.option('--detector <model.onnx>', `${what}; default: the built-in ${DEFAULT_DETECTOR}`);
  return cmd
    .option('--tiles <auto|off|n>', `tiled inference for high-resolution photos: n overlapping tiles along the longer side (2–${MAX_TILES}), auto (only when the boxes are small), off`, parseTiles, 'off' as TilesOption)
    .option('--format <name>', `output layout: auto, ${DETECTOR_FORMATS.join(', ')} (YOLOX needs yolox)`, parseFormat, 'auto')
    .option('--confidence <p>', 'minimum box score, 0–1', parseUnit('--confidence'), 0.25)
    .option('--iou <p>', 'NMS overlap above which the weaker box is dropped, above 0, at most 1', parseUnit('--iou', true), 0.45)
    .option('--max-detections <n>', 'boxes kept per image (dense shelves: 1000)', parsePositiveInt('--max-detections'), 1000)
    .option('--class-agnostic', 'one NMS across classes (single-class shelf detectors)')
    .option('--classes <ids>', 'keep only these class ids, comma-separated (COCO: 46 banana, 47 apple, 49 orange)', parseIds)
    .option('--labels <file>', 'class names, one per line (e.g. coco.names); default: names recorded in an Ultralytics export')
    .option('--input-size <n|WxH>', 'model input size for models with a dynamic input (default: Ultralytics imgsz metadata, else 640; YOLOX 416)', parseSize);
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
  if (opts.labels) options.labels = await readLabels(opts.labels);
  const detector = await Detector.create(options);
  const source = detector.formatSource === 'option' ? 'as asked' : detector.formatSource === 'metadata' ? 'from model metadata' : `from output shape [${detector.outputShape.join(',')}]`;
  process.stderr.write(`skulens: detector ${model === undefined ? '?' : basename(model)}: format ${detector.format} (${source}), input ${detector.spec.width}x${detector.spec.height} ${detector.spec.dtype}\n`);
  return detector;
}

/** A labels file: one class name per line (blank trailing lines ignored). */
export async function readLabels(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (err) {
    throw new SkulensError('E_IO', `Cannot read labels file "${file}": ${messageOf(err)}`, { cause: err, input: file });
  }
  const lines = text.replace(/^\uFEFF/, '').split(/\r?\n/).map((l) => l.trim());
  while (lines.length && lines[lines.length - 1] === '') lines.pop();
  if (lines.length === 0) throw new SkulensError('E_INPUT', `Labels file "${file}" is empty.`, { input: file });
  return lines;
}

/**
 * Where the annotated copy of image `index` of `count` goes:
 * - `--annotate <folder>` (existing, or ending in /): <folder>/<image name>.jpg;
 * - one image: exactly the path given;
 * - several images: <out name>-<image name><out ext> beside the path given
 *   (out.jpg → out-IMG_1.jpg, out-IMG_2.jpg), with -<n> added if two images share a name.
 */
export async function annotationPaths(target: string, images: readonly string[]): Promise<string[]> {
  const isDir = target.endsWith('/') || (await stat(target).then((s) => s.isDirectory(), () => false));
  const stem = (p: string) => basename(p, extname(p));
  const used = new Set<string>();
  return images.map((image, i) => {
    let path: string;
    if (isDir) path = join(target, `${stem(image)}.jpg`);
    else if (images.length === 1) path = target;
    else path = join(dirname(target), `${stem(target)}-${stem(image)}${extname(target) || '.jpg'}`);
    if (used.has(path)) path = path.replace(/(\.[^.]+)$/, `-${i + 1}$1`);
    used.add(path);
    return path;
  });
}

export function registerDetect(program: Command): void {
  addDetectorOptions(
    program
      .command('detect')
      .description('find products (built-in skulens:shelf) or objects (any YOLO ONNX detector); boxes in original image pixels')
      .argument('<images...>', 'image files, folders or path,label CSV manifests'),
  )
    .option('--json', 'print [{ image, width, height, tiles, detections: [{ box: {x,y,width,height}, score, classId, label }] }]')
    .option('--annotate <out.jpg>', 'draw the boxes: one image → that file; several → <out>-<image name>.jpg each; a folder → <folder>/<image name>.jpg')
    .action(
      action(async (inputs: string[], opts: DetectorFlags & { json?: boolean; annotate?: string }) => {
        const items = await expandImageArgs(inputs);
        if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
        const paths = items.map((i) => i.path);
        const targets = opts.annotate ? await annotationPaths(opts.annotate, paths) : [];
        const detector = await createDetectorFromFlags(opts);
        const results: unknown[] = [];
        let ok = 0;
        try {
          ok = await forEachImage(paths, 'detecting', (path) => detector.detectDetailed(path), async (r, path, i) => {
            const detections = r.detections.map((d) => ({ box: roundBox(d.box), score: round(d.score, 4), classId: d.classId, label: d.label ?? null }));
            if (opts.json) results.push({ image: path, width: r.width, height: r.height, tiles: r.tiles, detections });
            else {
              const tiles = r.tiles ? ` (whole photo + ${r.tiles} tiles)` : '';
              const lines = [`${path}\t${r.width}x${r.height}\t${detections.length} detections\t${r.timings.inference.toFixed(0)} ms inference${tiles}`];
              for (const d of detections) lines.push(`  ${d.label ?? `class ${d.classId}`}\t${d.score.toFixed(3)}\t${d.box.x},${d.box.y},${d.box.width},${d.box.height}`);
              await out(lines.join('\n') + '\n');
            }
            if (opts.annotate) {
              await annotate(path, r.detections, { file: targets[i]! });
              process.stderr.write(`skulens: wrote ${targets[i]}\n`);
            }
          });
        } finally {
          await detector.dispose();
        }
        if (opts.json) await out(JSON.stringify(results, null, 1) + '\n');
        if (ok === 0) throw new SkulensError('E_IMAGE_DECODE', `None of the ${paths.length} images could be read.`);
      }),
    );
}

export function round(v: number, digits = 1): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

export function roundBox(b: { x: number; y: number; width: number; height: number }) {
  return { x: round(b.x), y: round(b.y), width: round(b.width), height: round(b.height) };
}

function parseFormat(value: string): DetectorFormat | 'auto' {
  if (value !== 'auto' && !DETECTOR_FORMATS.includes(value as DetectorFormat)) throw new InvalidArgumentError(`expected auto, ${DETECTOR_FORMATS.join(', ')}.`);
  return value as DetectorFormat | 'auto';
}

/** A number in [0, 1], or in (0, 1] with `aboveZero` (an NMS overlap of 0 would drop every box that overlaps a better one at all). */
function parseUnit(name: string, aboveZero = false) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !((aboveZero ? n > 0 : n >= 0) && n <= 1)) {
      throw new InvalidArgumentError(`${name} must be a number ${aboveZero ? 'above 0, at most 1' : 'from 0 to 1'}.`);
    }
    return n;
  };
}

function parseTiles(value: string): TilesOption {
  const v = value.trim().toLowerCase();
  if (v === 'auto' || v === 'off') return v;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1 || n > MAX_TILES) throw new InvalidArgumentError(`expected auto, off or a number of tiles from 1 to ${MAX_TILES}.`);
  return n;
}

function parseIds(value: string): number[] {
  const ids = value.split(',').map((s) => Number(s.trim()));
  if (ids.some((n) => !Number.isInteger(n) || n < 0)) throw new InvalidArgumentError('expected comma-separated class ids, e.g. 46,47,49.');
  return ids;
}

function parseSize(value: string): number | [number, number] {
  const m = /^(\d+)(?:x(\d+))?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError('expected a size like 640 or 1280x736.');
  return m[2] ? [Number(m[1]), Number(m[2])] : Number(m[1]);
}
