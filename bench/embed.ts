/**
 * npm run bench:embed — Embedder throughput against the model's own limit.
 *
 *   (a) raw onnxruntime: InferenceSession.run on pre-built tensors, on the main thread,
 *       with onnxruntime's default thread spinning and with spinning off; the faster
 *       of the two is the ceiling the ratios divide by
 *   (b) skulens from decoded pixels (preprocessing + inference)
 *   (c) skulens from JPEG files (decode + preprocessing + inference)
 *
 * Rounds are interleaved a,b,c,a,b,c,... and each figure is the median over rounds,
 * so machine noise hits all three alike; ratios b/a and c/a come from the same run.
 *
 * Options: --n 512 --batch 16 --rounds 5 --model path.onnx [--model another.onnx] --preset imagenet
 */
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { Embedder, loadImage, type RawImage } from '../src/index.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { DEFAULT_SESSION_OPTIONS } from '../src/core/model.js';
import { readManifest } from '../src/node/dataset.js';

const SHARED = resolve(process.env.SKULENS_SHARED ?? join(dirname(new URL(import.meta.url).pathname), '..', '..', 'shared'));
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '512' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    model: { type: 'string', multiple: true },
    preset: { type: 'string', default: 'imagenet' },
  },
});
const N = Number(values.n);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
const modelPaths = values.model?.length ? values.model : [join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx')];

// An even spread over the test split (every k-th row), so every class is represented.
const rows = await readManifest(join(SHARED, 'data', 'grocery-store', 'test.csv'));
const step = rows.length / N;
const files = Array.from({ length: N }, (_, i) => rows[Math.floor(i * step)]!.path);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const time = async (fn: () => Promise<unknown>) => {
  const t0 = performance.now();
  await fn();
  return (performance.now() - t0) / 1000;
};

console.log(`bench:embed — ${N} grocery-store test photos, batch ${BATCH}, ${ROUNDS} rounds (median), node ${process.version}`);
const decoded: RawImage[] = await Promise.all(files.map((f) => loadImage(f)));

const summary: { model: string; aSpin: number; aNoSpin: number; a: number; b: number; c: number }[] = [];
for (const modelPath of modelPaths) {
  const embedder = await Embedder.create({ model: modelPath, preset: values.preset, batchSize: BATCH });
  // (a) the ceiling: the same session type fed tensors built before timing starts.
  const sessions = [await ort.InferenceSession.create(modelPath), await ort.InferenceSession.create(modelPath, DEFAULT_SESSION_OPTIONS)];
  const per = imageSize(embedder.spec);
  const tensors: ort.Tensor[] = [];
  for (let s = 0; s < N; s += BATCH) {
    const n = Math.min(BATCH, N - s);
    const data = new Float32Array(per * n);
    for (let i = 0; i < n; i++) writeImageToTensor(decoded[s + i]!, embedder.spec, data, i);
    tensors.push(new ort.Tensor('float32', data, [n, 3, embedder.spec.height, embedder.spec.width]));
  }
  const runRaw = (session: ort.InferenceSession) => async () => {
    for (const t of tensors) await session.run({ [embedder.inputName]: t }, [embedder.outputName]);
  };
  for (const s of sessions) await runRaw(s)(); // warm-up
  await embedder.embed(decoded.slice(0, BATCH));

  const ta: number[] = [];
  const ta2: number[] = [];
  const tb: number[] = [];
  const tc: number[] = [];
  for (let r = 0; r < ROUNDS; r++) {
    ta.push(await time(runRaw(sessions[0]!)));
    ta2.push(await time(runRaw(sessions[1]!)));
    tb.push(await time(() => embedder.embed(decoded)));
    tc.push(await time(() => embedder.embed(files)));
  }
  const rate = (t: number[]) => N / median(t);
  summary.push({ model: modelPath.split('/').pop()!, aSpin: rate(ta), aNoSpin: rate(ta2), a: Math.max(rate(ta), rate(ta2)), b: rate(tb), c: rate(tc) });
  for (const s of sessions) await s.release();
  await embedder.dispose();
}

console.log('\n| model | (a) raw ort, default spin img/s | (a) raw ort, no spin img/s | (b) skulens pixels img/s | (c) skulens JPEG files img/s | b/a | c/a |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const s of summary) {
  console.log(
    `| ${s.model} | ${s.aSpin.toFixed(1)} | ${s.aNoSpin.toFixed(1)} | ${s.b.toFixed(1)} | ${s.c.toFixed(1)} | ${(s.b / s.a).toFixed(3)} | ${(s.c / s.a).toFixed(3)} |`,
  );
}
console.log('(a) in the ratios is the faster of the two raw settings.');
if (summary.length > 1) {
  const base = summary[0]!;
  for (const s of summary.slice(1)) console.log(`throughput ratio ${s.model} / ${base.model} (from JPEG files): ${(s.c / base.c).toFixed(2)}x`);
}
console.log('\ntargets: b/a >= 0.90, c/a >= 0.75');
