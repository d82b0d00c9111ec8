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
 * By default it measures the built-in embedder and the MobileNetV2 teacher in the same
 * run, and prints how many times faster the first is.
 *
 * Options: --n 512 --batch 16 --rounds 5 --model path.onnx [--model another.onnx]
 *          --preset imagenet (for models without skulens.preprocess metadata)
 */
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { DEFAULT_EMBEDDER, Embedder, PREPROCESS_METADATA_KEY, loadImage, type RawImage } from '../src/index.js';
import { readOnnxMetadata } from '../src/core/onnx-metadata.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { DEFAULT_SESSION_OPTIONS, modelLocation } from '../src/core/model.js';
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
// Default: the built-in embedder and its MobileNetV2 teacher, in the same run.
const models = values.model?.length ? values.model : [DEFAULT_EMBEDDER, join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx')];

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

interface Setup {
  model: string;
  embedder: Embedder;
  sessions: ort.InferenceSession[];
  tensors: ort.Tensor[];
  times: { aSpin: number[]; aNoSpin: number[]; b: number[]; c: number[] };
}
const setups: Setup[] = [];
for (const model of models) {
  // A file path for the raw sessions (built-in ids resolve to the package's models/ folder).
  const file = modelLocation(model);
  // --preset applies to models that do not declare their preprocessing in their metadata.
  const hasSpec = readOnnxMetadata(await readFile(file))[PREPROCESS_METADATA_KEY] !== undefined;
  const embedder = await Embedder.create({ model, ...(hasSpec ? {} : { preset: values.preset }), batchSize: BATCH });
  // (a) the ceiling: the same session type fed tensors built before timing starts.
  const sessions = [await ort.InferenceSession.create(file), await ort.InferenceSession.create(file, DEFAULT_SESSION_OPTIONS)];
  const per = imageSize(embedder.spec);
  const tensors: ort.Tensor[] = [];
  for (let s = 0; s < N; s += BATCH) {
    const n = Math.min(BATCH, N - s);
    const data = new Float32Array(per * n);
    for (let i = 0; i < n; i++) writeImageToTensor(decoded[s + i]!, embedder.spec, data, i);
    tensors.push(new ort.Tensor('float32', data, [n, 3, embedder.spec.height, embedder.spec.width]));
  }
  setups.push({ model: model.split('/').pop()!, embedder, sessions, tensors, times: { aSpin: [], aNoSpin: [], b: [], c: [] } });
}
const runRaw = (s: Setup, session: ort.InferenceSession) => async () => {
  for (const t of s.tensors) await session.run({ [s.embedder.inputName]: t }, [s.embedder.outputName]);
};
for (const s of setups) {
  for (const session of s.sessions) await runRaw(s, session)(); // warm-up
  await s.embedder.embed(decoded.slice(0, BATCH));
}
// Models interleaved within each round too, so noise hits every model alike.
for (let r = 0; r < ROUNDS; r++) {
  for (const s of setups) {
    s.times.aSpin.push(await time(runRaw(s, s.sessions[0]!)));
    s.times.aNoSpin.push(await time(runRaw(s, s.sessions[1]!)));
    s.times.b.push(await time(() => s.embedder.embed(decoded)));
    s.times.c.push(await time(() => s.embedder.embed(files)));
  }
}
const rate = (t: number[]) => N / median(t);
const summary = setups.map((s) => {
  const [aSpin, aNoSpin] = [rate(s.times.aSpin), rate(s.times.aNoSpin)];
  return { model: s.model, aSpin, aNoSpin, a: Math.max(aSpin, aNoSpin), b: rate(s.times.b), c: rate(s.times.c) };
});
for (const s of setups) {
  for (const session of s.sessions) await session.release();
  await s.embedder.dispose();
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
  for (const s of summary.slice(1)) {
    console.log(
      `throughput ${base.model} / ${s.model}: raw ${(base.a / s.a).toFixed(2)}x, from pixels ${(base.b / s.b).toFixed(2)}x, from JPEG files ${(base.c / s.c).toFixed(2)}x`,
    );
  }
}
console.log('\ntargets: b/a >= 0.90, c/a >= 0.75');
