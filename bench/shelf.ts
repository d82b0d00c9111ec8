/**
 * Shelf detection benchmark: on the 16 SKU-110K shelf photos in ../shared, how well each
 * detector's boxes agree with the reference detector's (sku110k_yolov5n_ref.onnx, boxes
 * with score ≥ 0.35) — AP at IoU 0.5 and the best F1 over thresholds — plus boxes per
 * photo and the count error at the detector's default confidence, and milliseconds per
 * photo, all in the same run (detectors interleaved photo by photo, so machine load hits
 * them alike).
 *
 *   npm run bench:shelf [-- --int8 models/skulens-shelf.onnx] [--fp32 <file>] [--photos N] [--no-write]
 *
 * --fp32 (or SKULENS_SHELF_FP32) names the fp32 export of the built-in detector (default:
 * training/detector/cache/skulens-shelf-fp32.onnx); rows whose model file is absent are
 * skipped with a note. The table is written into docs/detector.md between the
 * bench:shelf markers, and an annotated example into docs/img/ (unless --no-write).
 *
 * Evaluation only: these photos and the reference model are never used to train or tune
 * anything the package ships; the reference is a strong detector, not human labels.
 */
import { existsSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { cpus } from 'node:os';
import { join, relative, resolve } from 'node:path';
import '../src/node/platform.js';
import { Detector, type DetectorOptions } from '../src/core/detector/detector.js';
import type { TilesOption } from '../src/core/detector/tiles.js';
import type { RawImage, Rect } from '../src/core/image.js';
import { annotate } from '../src/node/annotate.js';
import { loadImage } from '../src/node/image-loader.js';
import { averagePrecision, type Scored } from '../tools/ap.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ROOT = resolve(import.meta.dirname, '..');
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(ROOT, '..', 'shared'));
const SHELVES = join(SHARED, 'data', 'sku110k-shelf');
const REFERENCE = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const INT8 = resolve(flag('int8') ?? join(ROOT, 'models', 'skulens-shelf.onnx'));
const FP32 = resolve(
  flag('fp32') ?? process.env.SKULENS_SHELF_FP32 ?? join(ROOT, 'training', 'detector', 'cache', 'skulens-shelf-fp32.onnx'),
);
const WRITE = !argv.includes('--no-write');
const DOC = join(ROOT, 'docs', 'detector.md');
const EXAMPLE = join(ROOT, 'docs', 'img', 'shelf-example.jpg');
/** An MIT-licensed Grocery Store photo for the committed example (SKU-110K photos may not be redistributed). */
const EXAMPLE_PHOTO = join(
  SHARED,
  'data',
  'grocery-store',
  flag('example') ?? 'test/Packages/Juice/Bravo-Apple-Juice/Bravo-Apple-Juice_010.jpg',
);

/** The yardstick: the reference detector's boxes at this score and above. */
const REFERENCE_SCORE = 0.35;
/** Detections down to this score make the precision/recall curve for AP and best F1. */
const CURVE_SCORE = 0.05;
/** Boxes per photo and count error are taken at each detector's default confidence. */
const DEFAULT_CONFIDENCE = 0.25;

interface Row {
  name: string;
  model: string;
  tiles: TilesOption;
  options?: Partial<DetectorOptions>;
}

const candidates: Row[] = [
  { name: 'skulens:shelf int8', model: INT8, tiles: 'off' },
  { name: 'skulens:shelf int8, tiles auto', model: INT8, tiles: 'auto' },
  { name: 'skulens:shelf int8, tiles 2', model: INT8, tiles: 2 },
  { name: 'skulens:shelf fp32', model: FP32, tiles: 'off' },
  { name: 'skulens:shelf fp32, tiles 2', model: FP32, tiles: 2 },
  { name: 'yolov8n COCO, class-agnostic (floor)', model: join(SHARED, 'models', 'yolov8n_int8.onnx'), tiles: 'off' },
  { name: 'reference (sku110k_yolov5n_ref)', model: REFERENCE, tiles: 'off' },
];
const notes: string[] = [];
const rows = candidates.filter((r) => {
  if (existsSync(r.model)) return true;
  notes.push(`${r.name}: skipped, ${relative(ROOT, r.model)} is absent`);
  return false;
});
if (!existsSync(REFERENCE) || !existsSync(SHELVES)) throw new Error(`bench:shelf needs ${REFERENCE} and ${SHELVES} (set SKULENS_SHARED)`);

const files = readdirSync(SHELVES)
  .filter((f) => /\.jpe?g$/i.test(f))
  .sort()
  .slice(0, Number(flag('photos') ?? Infinity));
const photos: RawImage[] = [];
for (const f of files) photos.push(await loadImage(join(SHELVES, f)));
console.log(
  `bench:shelf — ${photos.length} SKU-110K photos (${photos[0]!.width}x${photos[0]!.height}); yardstick: reference boxes with score ≥ ${REFERENCE_SCORE}; ${cpus().length} × ${cpus()[0]?.model ?? '?'}`,
);
for (const n of notes) console.log(`  note: ${n}`);

// The yardstick, once.
const refDetector = await Detector.create({ model: REFERENCE, classAgnostic: true, confidence: REFERENCE_SCORE, worker: false });
const references: Rect[][] = [];
for (const p of photos) references.push((await refDetector.detect(p)).map((d) => d.box));
await refDetector.dispose();

// Each row: one detector at the curve threshold (AP, F1) and one at the default confidence (counts, time).
// Inference runs on the main thread (worker: false) so the time is the detector's own.
const make = (r: Row, confidence: number) =>
  Detector.create({ model: r.model, classAgnostic: true, confidence, tiles: r.tiles, worker: false, ...r.options });
const curve = await Promise.all(rows.map((r) => make(r, CURVE_SCORE)));
const operating = await Promise.all(rows.map((r) => make(r, DEFAULT_CONFIDENCE)));
const found = rows.map(() => [] as Scored[][]);
const counts = rows.map(() => [] as number[]);
const times = rows.map(() => [] as number[]);
const tileRuns = rows.map(() => [] as number[]);
for (const d of operating) await d.detect(photos[0]!); // warm-up, not timed

for (const [p, photo] of photos.entries()) {
  for (const [i] of rows.entries()) {
    found[i]!.push(await curve[i]!.detect(photo));
    const t = performance.now();
    const r = await operating[i]!.detectDetailed(photo);
    times[i]!.push(performance.now() - t);
    counts[i]!.push(r.detections.length);
    tileRuns[i]!.push(r.tiles);
  }
  process.stderr.write(`\r  photo ${p + 1}/${photos.length}`);
}
process.stderr.write('\n');
await Promise.all([...curve, ...operating].map((d) => d.dispose()));

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const refCounts = references.map((r) => r.length);
const results = rows.map((r, i) => {
  const ap = averagePrecision(found[i]!, references);
  const countError = mean(counts[i]!.map((c, p) => Math.abs(c - refCounts[p]!)));
  return { name: r.name, ...ap, boxes: mean(counts[i]!), countError, ms: median(times[i]!), tiles: mean(tileRuns[i]!) };
});

const lines = [
  `${photos.length} SKU-110K photos, ${photos[0]!.width}×${photos[0]!.height}; reference boxes (score ≥ ${REFERENCE_SCORE}): ${mean(refCounts).toFixed(1)} per photo. ` +
    `AP50 and best F1 from detections down to score ${CURVE_SCORE}; boxes and count error at confidence ${DEFAULT_CONFIDENCE}; ms = median per photo of \`detectDetailed\` (decode, tiles, inference, merge) on the main thread.`,
  '',
  '| detector | AP50 | best F1 (at score) | boxes/photo | mean count error/photo | tiles run/photo | ms/photo |',
  '|---|---:|---:|---:|---:|---:|---:|',
  ...results.map(
    (r) =>
      `| ${r.name} | ${r.ap.toFixed(3)} | ${r.bestF1.toFixed(3)} (${r.bestF1Threshold.toFixed(2)}) | ${r.boxes.toFixed(1)} | ${r.countError.toFixed(1)} | ${r.tiles.toFixed(1)} | ${r.ms.toFixed(0)} |`,
  ),
];
const refRow = results.find((r) => r.name.startsWith('reference'))!;
const ratios = results.filter((r) => r !== refRow).map((r) => `${r.name} ${(r.ms / refRow.ms).toFixed(2)}×`);
lines.push('', `Time per photo relative to the reference, same run: ${ratios.join('; ')}.`);
for (const n of notes) lines.push('', `Note: ${n}.`);
console.log(`\n${lines.join('\n')}\n`);

if (WRITE) {
  const stamp = `<!-- written by \`npm run bench:shelf\` on ${new Date().toISOString().slice(0, 10)}, ${cpus().length} × ${cpus()[0]?.model.trim() ?? '?'}; do not edit by hand -->`;
  const doc = readFileSync(DOC, 'utf8');
  const start = '<!-- bench:shelf:start -->';
  const end = '<!-- bench:shelf:end -->';
  const a = doc.indexOf(start);
  const b = doc.indexOf(end);
  if (a < 0 || b < a) throw new Error(`docs/detector.md has no ${start} … ${end} markers`);
  writeFileSync(DOC, `${doc.slice(0, a + start.length)}\n${stamp}\n\n${lines.join('\n')}\n\n${doc.slice(b)}`);
  console.log(`wrote the table into ${relative(ROOT, DOC)}`);
  if (existsSync(INT8) && existsSync(EXAMPLE_PHOTO)) {
    const d = await Detector.create({ model: INT8, classAgnostic: true, confidence: DEFAULT_CONFIDENCE });
    const boxes = await d.detect(EXAMPLE_PHOTO);
    await d.dispose();
    await annotate(EXAMPLE_PHOTO, boxes, { file: EXAMPLE, showScore: false });
    console.log(`wrote ${relative(ROOT, EXAMPLE)}: ${boxes.length} boxes on ${relative(SHARED, EXAMPLE_PHOTO)}`);
  }
}
if (existsSync(INT8)) {
  // The same on a SKU-110K photo, for looking at, into scratch/ (git-ignored): those photos may not be redistributed.
  const d = await Detector.create({ model: INT8, classAgnostic: true, confidence: DEFAULT_CONFIDENCE });
  const boxes = await d.detect(photos[0]!);
  await d.dispose();
  const file = join(ROOT, 'scratch', `bench-shelf-${files[0]!.replace(/\.[^.]+$/, '')}.jpg`);
  await annotate(photos[0]!, boxes, { file });
  console.log(`wrote ${relative(ROOT, file)} (not for the repository): ${boxes.length} boxes on ${files[0]}`);
}
