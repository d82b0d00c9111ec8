/**
 * Quick check of a finished detector candidate against the reference shelf detector, for the
 * training pipeline's report (the library's full benchmark is `npm run bench:shelf`). On the 16
 * SKU-110K photos: AP at IoU 0.5 and best F1 of the candidate's boxes (score ≥ 0.05) against the
 * reference's boxes (score ≥ 0.35), boxes per photo and mean count error at confidence 0.25, and
 * ms per photo for each model in the same run (models interleaved photo by photo).
 *
 * Evaluation only: training/detector/README.md says which figures decide what. Nothing here may
 * feed back into training or thresholds.
 *
 *   npx tsx training/detector/eval-shelf.ts --model models/skulens-shelf.onnx [--model other.onnx] [--photos 16] [--json out.json] [--doc]
 *
 * --doc writes the table into docs/detector.md between the shelf-model markers (the model card).
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { basename, join, resolve } from 'node:path';
import '../../src/node/platform.js';
import { Detector, type Detection } from '../../src/core/detector/detector.js';
import { loadImage } from '../../src/node/image-loader.js';

const argv = process.argv.slice(2);
const all = (name: string) => argv.flatMap((a, i) => (a === `--${name}` && argv[i + 1] ? [argv[i + 1]!] : []));
const one = (name: string) => all(name)[0];
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(import.meta.dirname, '..', '..', '..', 'shared'));
const SHELVES = join(SHARED, 'data', 'sku110k-shelf');
const REFERENCE = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const REFERENCE_SCORE = 0.35;
const CURVE_SCORE = 0.05;
const COUNT_SCORE = 0.25;

function iou(a: Detection['box'], b: Detection['box']): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  const inter = w * h;
  return inter / (a.width * a.height + b.width * b.height - inter);
}

/** Greedy matching per photo by descending score, then AP (all-point) and best F1 over all photos. */
function apAndF1(dets: Detection[][], truth: Detection[][]): { ap: number; f1: number } {
  const scored: { score: number; hit: boolean }[] = [];
  let total = 0;
  dets.forEach((d, p) => {
    const gt = truth[p]!;
    total += gt.length;
    const used = new Uint8Array(gt.length);
    for (const det of [...d].sort((a, b) => b.score - a.score)) {
      let best = -1;
      let bestIou = 0.5;
      gt.forEach((g, j) => {
        if (used[j]) return;
        const v = iou(det.box, g.box);
        if (v >= bestIou) [best, bestIou] = [j, v];
      });
      if (best >= 0) used[best] = 1;
      scored.push({ score: det.score, hit: best >= 0 });
    }
  });
  scored.sort((a, b) => b.score - a.score);
  let tp = 0;
  let f1 = 0;
  const recall: number[] = [];
  const precision: number[] = [];
  scored.forEach((s, i) => {
    if (s.hit) tp++;
    recall.push(tp / total);
    precision.push(tp / (i + 1));
    f1 = Math.max(f1, (2 * tp) / (i + 1 + total));
  });
  // Area under the precision envelope.
  let ap = 0;
  let prevRecall = 0;
  for (let i = 0; i < recall.length; i++) {
    if (recall[i] === prevRecall) continue;
    let envelope = 0;
    for (let j = i; j < precision.length; j++) envelope = Math.max(envelope, precision[j]!);
    ap += (recall[i]! - prevRecall) * envelope;
    prevRecall = recall[i]!;
  }
  return { ap, f1 };
}

const models = all('model').map((m) => resolve(m));
if (!models.length) throw new Error('give at least one --model');
const photos = readdirSync(SHELVES)
  .filter((f) => /\.(jpe?g|png)$/i.test(f))
  .sort()
  .slice(0, Number(one('photos') ?? 16));
const reference = await Detector.create({ model: REFERENCE, confidence: REFERENCE_SCORE, worker: false });
const candidates = await Promise.all(
  models.map((model) => Detector.create({ model, confidence: CURVE_SCORE, maxDetections: 1000, worker: false })),
);
const truth: Detection[][] = [];
const found: Detection[][][] = models.map(() => []);
const ms = new Array(models.length + 1).fill(0);
for (const photo of photos) {
  const image = await loadImage(join(SHELVES, photo));
  let t = performance.now();
  truth.push(await reference.detect(image));
  ms[0] += performance.now() - t;
  for (const [i, det] of candidates.entries()) {
    t = performance.now();
    found[i]!.push(await det.detect(image));
    ms[i + 1] += performance.now() - t;
  }
}
const rows = models.map((model, i) => {
  const { ap, f1 } = apAndF1(found[i]!, truth);
  const counts = found[i]!.map((d) => d.filter((x) => x.score >= COUNT_SCORE).length);
  const countError = counts.reduce((s, c, p) => s + Math.abs(c - truth[p]!.length), 0) / photos.length;
  return {
    model,
    ap50: +ap.toFixed(4),
    bestF1: +f1.toFixed(4),
    boxesPerPhoto: +(counts.reduce((a, b) => a + b, 0) / photos.length).toFixed(1),
    countError: +countError.toFixed(1),
    msPerPhoto: Math.round(ms[i + 1] / photos.length),
  };
});
const result = {
  photos: photos.length,
  referenceBoxesPerPhoto: +(truth.reduce((s, t) => s + t.length, 0) / photos.length).toFixed(1),
  referenceMsPerPhoto: Math.round(ms[0] / photos.length),
  rows,
};
console.log(JSON.stringify(result, null, 1));
const out = one('json');
if (out) writeFileSync(out, JSON.stringify(result, null, 1) + '\n');

if (argv.includes('--doc')) {
  const doc = join(import.meta.dirname, '..', '..', 'docs', 'detector.md');
  const table = [
    '| model | AP50 vs reference | best F1 | boxes per photo (conf 0.25) | mean count error | ms per photo |',
    '|---|---|---|---|---|---|',
    ...rows.map(
      (r) =>
        `| \`${basename(r.model)}\` | ${r.ap50.toFixed(3)} | ${r.bestF1.toFixed(3)} | ${r.boxesPerPhoto} | ${r.countError} | ${r.msPerPhoto} |`,
    ),
    `| reference \`sku110k_yolov5n_ref.onnx\` (score ≥ ${REFERENCE_SCORE}) | 1 (by definition) | 1 | ${result.referenceBoxesPerPhoto} | 0 | ${result.referenceMsPerPhoto} |`,
    '',
    `${photos.length} photos 1920×2560, whole photo at 640 px (no tiles), default session options, models interleaved photo by photo; written by \`npx tsx training/detector/eval-shelf.ts --doc\`.`,
  ].join('\n');
  const text = readFileSync(doc, 'utf8');
  const start = '<!-- shelf-model:start -->';
  const end = '<!-- shelf-model:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`${doc} has no ${start} ... ${end} markers`);
  writeFileSync(doc, text.slice(0, a + start.length) + '\n' + table + '\n' + text.slice(b));
}
