/**
 * Detector post-processing benchmark. Decode + NMS on the dense-shelf fixture (a YOLOv5
 * single-class output [1,25200,6]: ~2,000 candidates above 0.25, 600 objects kept), as
 * a median over runs, next to the detector models' own inference time measured in the
 * same run (interleaved rounds, so machine load hits both alike). Also the all-pairs
 * NMS the grid replaces, and post-processing of the real models' outputs on a shelf.
 *
 *   npm run bench:detect [-- --rounds 20] [--spin] [--fruit] [--no-recognize] [--only-recognize]
 *
 * Then the `recognize` row (bench/recognize-row.ts): one shelf photo through detector,
 * crops, embedder and gallery, each stage's share, against plain onnxruntime for the two
 * models alone; --no-recognize skips it, --only-recognize runs nothing else (it then runs
 * --rounds rounds rather than a quarter of them).
 *
 * --fruit adds the grocery survey quoted in docs/detector.md: on every test photo of
 * bananas, oranges and Granny Smith apples, how often each model finds the fruit with
 * score ≥ 0.5 and how often the three strongest boxes agree (IoU ≥ 0.5).
 */
import { readdirSync } from 'node:fs';
import { join, resolve } from 'node:path';
import '../src/node/platform.js';
import { Candidates, decodeOutput } from '../src/core/detector/decode.js';
import { Detector, type Detection } from '../src/core/detector/detector.js';
import { NmsScratch, nms } from '../src/core/detector/nms.js';
import type { Rect } from '../src/core/image.js';
import type { Placement } from '../src/core/preprocess.js';
import { loadImage } from '../src/node/image-loader.js';
import { constantDetector, denseShelf } from '../fixtures/detector-graphs.js';
import { recognizeRow } from './recognize-row.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const ROUNDS = Number(flag('rounds') ?? 20);
const INNER = 10; // post-processing runs per round (it is ~100× cheaper than inference)
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
const MODELS = join(SHARED, 'models');
const SHELVES = join(SHARED, 'data', 'sku110k-shelf');
const TARGET_MS = 5;
const TARGET_SHARE = 0.05;

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;
const ms = (v: number) => (v < 10 ? v.toFixed(2) : v.toFixed(1));
const time = (fn: () => void) => {
  const t = performance.now();
  fn();
  return performance.now() - t;
};

/** The textbook all-pairs greedy NMS, for comparison with the grid-bucketed one. */
function allPairsNms(c: Candidates, iou: number): number {
  const order = Array.from({ length: c.count }, (_, i) => i).sort((a, b) => c.score[b]! - c.score[a]!);
  const dead = new Uint8Array(c.count);
  let kept = 0;
  for (let p = 0; p < order.length; p++) {
    if (dead[p]) continue;
    kept++;
    const i = order[p]!;
    const ai = (c.x2[i]! - c.x1[i]!) * (c.y2[i]! - c.y1[i]!);
    for (let q = p + 1; q < order.length; q++) {
      if (dead[q]) continue;
      const j = order[q]!;
      const w = Math.min(c.x2[i]!, c.x2[j]!) - Math.max(c.x1[i]!, c.x1[j]!);
      const h = Math.min(c.y2[i]!, c.y2[j]!) - Math.max(c.y1[i]!, c.y1[j]!);
      if (w <= 0 || h <= 0) continue;
      const inter = w * h;
      if (inter / (ai + (c.x2[j]! - c.x1[j]!) * (c.y2[j]! - c.y1[j]!) - inter) > iou) dead[q] = 1;
    }
  }
  return kept;
}

// The real detectors: timed in the post-processing table, surveyed by --fruit.
const real = [
  { name: 'yolov8n_int8 (640, f32 in)', model: 'yolov8n_int8.onnx', format: 'auto' as const },
  { name: 'yolov5n_fp16 (640, f16 in/out)', model: 'yolov5n_fp16.onnx', format: 'auto' as const },
  { name: 'yolox_nano (416, raw grid)', model: 'yolox_nano.onnx', format: 'yolox' as const },
];
const onlyRecognize = argv.includes('--only-recognize');
if (!onlyRecognize) await postprocessing();

/** Decode + NMS on the dense fixture and on the real models' outputs, next to their inference. */
async function postprocessing(): Promise<void> {
  const shelf = denseShelf();
  const fixture = await Detector.create({
    model: constantDetector({ output: shelf.output, outputShape: [1, 25200, 6] }),
    classAgnostic: true,
    worker: false,
  });
  const tensor = { type: 'float32' as const, data: shelf.output, dims: [1, 25200, 6] };
  const identity: Placement = { source: { x: 0, y: 0, width: 640, height: 640 }, scaleX: 1, scaleY: 1, padX: 0, padY: 0 };
  const layout = { format: 'yolov5' as const, candidates: 25200, classes: 1, dims: [1, 25200, 6] as [number, number, number] };
  const cand = new Candidates();

  // The models run on the main thread (worker: false): inference is the session's own time.
  // skulens turns onnxruntime's thread spinning off by default (spinning threads hold the
  // cores that post-processing needs right after inference); --spin turns it back on to compare.
  const sessionOptions = argv.includes('--spin') ? { extra: { session: { intra_op: { allow_spinning: '1' } } } } : undefined;
  const detectors = await Promise.all(
    real.map((r) =>
      Detector.create({
        model: join(MODELS, r.model),
        format: r.format,
        worker: false,
        classAgnostic: true,
        ...(sessionOptions ? { sessionOptions } : {}),
      }),
    ),
  );
  const photo = await loadImage(
    join(
      SHELVES,
      readdirSync(SHELVES)
        .filter((f) => f.endsWith('.jpg'))
        .sort()[0]!,
    ),
  );

  const post: number[] = [];
  const decodeOnly: number[] = [];
  const nmsOnly: number[] = [];
  const scratch = new NmsScratch(); // reused across runs, as a Detector does
  const allPairs: number[] = [];
  const inference = real.map(() => [] as number[]);
  const realPost = real.map(() => [] as number[]);
  const boxes = real.map(() => 0);
  let kept = 0;

  console.log(
    `bench:detect — dense fixture [1,25200,6]: ${shelf.aboveThreshold} candidates ≥ ${shelf.threshold}, ${shelf.truth.length} objects; ${ROUNDS} rounds × ${INNER} post-processing runs; models on ${photo.width}x${photo.height} shelf photo\n`,
  );
  for (let round = -1; round < ROUNDS; round++) {
    // Round -1 warms up (JIT, onnxruntime allocations) and is not recorded.
    for (const [m, d] of detectors.entries()) {
      const r = await d.detectDetailed(photo);
      if (round >= 0) {
        inference[m]!.push(r.timings.inference);
        realPost[m]!.push(r.timings.postprocess);
        boxes[m] = r.detections.length;
      }
    }
    for (let i = 0; i < INNER; i++) {
      const t = time(() => (kept = fixture.postprocess(tensor, identity, 640, 640).length));
      const td = time(() => decodeOutput(shelf.output, layout, 640, 640, { confidence: 0.25 }, cand));
      const tn = time(() => nms(cand, { iou: 0.45, maxDetections: 1000, classAgnostic: true }, scratch));
      if (round >= 0) {
        post.push(t);
        decodeOnly.push(td);
        nmsOnly.push(tn);
      }
    }
    if (round >= 0 && round < 5) allPairs.push(time(() => allPairsNms(cand, 0.45)));
  }
  if (kept !== shelf.truth.length) throw new Error(`dense fixture kept ${kept} boxes, expected ${shelf.truth.length}`);

  console.log('| stage | median ms | p10 | p90 | runs |');
  console.log('|---|---:|---:|---:|---:|');
  const row = (name: string, xs: number[]) =>
    console.log(`| ${name} | ${ms(median(xs))} | ${ms(pct(xs, 0.1))} | ${ms(pct(xs, 0.9))} | ${xs.length} |`);
  row(`dense decode + NMS + mapping (Detector.postprocess, ${kept} kept)`, post);
  row('  of which decode (25,200 rows → candidates)', decodeOnly);
  row('  of which NMS (grid-bucketed, class-agnostic)', nmsOnly);
  row('  all-pairs greedy NMS, same candidates (for comparison)', allPairs);
  for (const [m, r] of real.entries()) {
    row(`${r.name} inference`, inference[m]!);
    row(`${r.name} post-processing of its real output (${boxes[m]} boxes)`, realPost[m]!);
  }

  const dense = median(post);
  const v8 = median(inference[0]!);
  console.log('\nRatios (same run):');
  console.log(`  dense decode + NMS = ${ms(dense)} ms (target ≤ ${TARGET_MS} ms: ${dense <= TARGET_MS ? 'met' : 'MISSED'})`);
  console.log(
    `  dense decode + NMS / yolov8n_int8 inference = ${((dense / v8) * 100).toFixed(2)}% (target ≤ ${TARGET_SHARE * 100}%: ${dense / v8 <= TARGET_SHARE ? 'met' : 'MISSED'})`,
  );
  console.log(`  grid NMS is ${(median(allPairs) / median(nmsOnly)).toFixed(1)}× faster than all-pairs NMS on the dense output`);
  for (const [m, r] of real.entries())
    console.log(`  ${r.name}: post-processing is ${((median(realPost[m]!) / median(inference[m]!)) * 100).toFixed(2)}% of inference`);

  await Promise.all([fixture.dispose(), ...detectors.map((d) => d.dispose())]);
}

// One shelf photo through detector, crops, embedder and gallery (bench/recognize-row.ts).
if (onlyRecognize) await recognizeRow(SHARED, ROUNDS);
else if (!argv.includes('--no-recognize')) await recognizeRow(SHARED, Math.max(3, Math.round(ROUNDS / 4)));

if (argv.includes('--fruit')) await fruitSurvey();

async function fruitSurvey(): Promise<void> {
  const grocery = join(SHARED, 'data', 'grocery-store', 'test', 'Fruit');
  const sets = [
    ['banana', 'Banana', 46],
    ['orange', 'Orange', 49],
    ['Granny Smith', 'Apple/Granny-Smith', 47],
  ] as const;
  const models = await Promise.all(real.map((r) => Detector.create({ model: join(MODELS, r.model), format: r.format })));
  const iou = (a: Rect, b: Rect) => {
    const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
    const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
    return w > 0 && h > 0 ? (w * h) / (a.width * a.height + b.width * b.height - w * h) : 0;
  };
  console.log('\nGrocery survey (test photos; strongest box of the COCO class per model):');
  console.log(
    `| fruit | photos | ${real.map((r) => `${r.model.replace('.onnx', '')} ≥ 0.5`).join(' | ')} | all three ≥ 0.5 and strongest boxes agree (IoU ≥ 0.5) | each strongest box matches some box ≥ 0.5 of the other two |`,
  );
  console.log('|---|---:|---:|---:|---:|---:|---:|');
  for (const [name, dir, cls] of sets) {
    const files = readdirSync(join(grocery, dir))
      .filter((f) => f.endsWith('.jpg'))
      .sort();
    const found = [0, 0, 0];
    let agree = 0;
    let matched = 0;
    for (const f of files) {
      const all: Detection[][] = [];
      for (const d of models) all.push((await d.detect(join(grocery, dir, f))).filter((x) => x.classId === cls));
      const tops = all.map((a) => a[0]);
      tops.forEach((t, i) => t && t.score >= 0.5 && found[i]!++);
      const strong = tops.every((t) => t && t.score >= 0.5);
      if (strong && [0, 1, 2].every((i) => [0, 1, 2].every((j) => i === j || iou(tops[i]!.box, tops[j]!.box) >= 0.5))) agree++;
      const strongBoxes = all.map((a) => a.filter((x) => x.score >= 0.5));
      if (strong && [0, 1, 2].every((i) => [0, 1, 2].every((j) => i === j || strongBoxes[j]!.some((b) => iou(tops[i]!.box, b.box) >= 0.5))))
        matched++;
    }
    const share = (n: number) => `${n} (${Math.round((n / files.length) * 100)}%)`;
    console.log(
      `| ${name} | ${files.length} | ${share(found[0]!)} | ${share(found[1]!)} | ${share(found[2]!)} | ${share(agree)} | ${share(matched)} |`,
    );
  }
  await Promise.all(models.map((d) => d.dispose()));
}
