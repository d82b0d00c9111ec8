/**
 * npm run bench:embed — Embedder throughput against the model's own limit.
 *
 *   (a) raw onnxruntime: InferenceSession.run on pre-built tensors, three ways: on the
 *       main thread with onnxruntime's thread spinning, the same with spinning off, and
 *       two single-threaded sessions in two worker threads running batches side by side
 *       (what the Embedder does by default on 2+ cores); the fastest of the
 *       three is the ceiling the ratios divide by. All use the Embedder's int8 arithmetic
 *       (x64quantprecision, see DEFAULT_SESSION_OPTIONS)
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
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { DEFAULT_EMBEDDER, Embedder, PREPROCESS_METADATA_KEY, loadImage, type RawImage } from '../src/index.js';
import { readOnnxMetadata } from '../src/core/onnx-metadata.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { modelLocation } from '../src/core/builtin-models.js';
import { DEFAULT_SESSION_OPTIONS, loadModel, withSessionDefaults } from '../src/core/model.js';
import type { SessionLike } from '../src/core/platform.js';
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
  pool: SessionLike;
  tensors: ort.Tensor[];
  times: { aSpin: number[]; aNoSpin: number[]; aPool: number[]; b: number[]; c: number[] };
}
const setups: Setup[] = [];
for (const model of models) {
  // A file path for the raw sessions (built-in ids resolve to the package's models/ folder).
  const file = modelLocation(model);
  // --preset applies to models that do not declare their preprocessing in their metadata.
  const hasSpec = readOnnxMetadata(await readFile(file))[PREPROCESS_METADATA_KEY] !== undefined;
  const embedder = await Embedder.create({ model, ...(hasSpec ? {} : { preset: values.preset }), batchSize: BATCH });
  // (a) the ceiling: the same session type fed tensors built before timing starts.
  // The same int8 arithmetic as the Embedder's (x64quantprecision), with and without spinning.
  const spinning = withSessionDefaults({ extra: { session: { intra_op: { allow_spinning: '1' }, inter_op: { allow_spinning: '1' } } } });
  const sessions = [await ort.InferenceSession.create(file, spinning), await ort.InferenceSession.create(file, DEFAULT_SESSION_OPTIONS)];
  const { session: pool } = await loadModel(file, undefined, { workers: 2 });
  const per = imageSize(embedder.spec);
  const tensors: ort.Tensor[] = [];
  for (let s = 0; s < N; s += BATCH) {
    const n = Math.min(BATCH, N - s);
    const data = new Float32Array(per * n);
    for (let i = 0; i < n; i++) writeImageToTensor(decoded[s + i]!, embedder.spec, data, i);
    tensors.push(new ort.Tensor('float32', data, [n, 3, embedder.spec.height, embedder.spec.width]));
  }
  setups.push({ model: model.split('/').pop()!, embedder, sessions, pool, tensors, times: { aSpin: [], aNoSpin: [], aPool: [], b: [], c: [] } });
}
const runRaw = (s: Setup, session: SessionLike) => async () => {
  for (const t of s.tensors) await session.run({ [s.embedder.inputName]: t }, [s.embedder.outputName]);
};
/** Two batches in flight on the worker pool. Runs transfer their buffers away, so each
 * round gets fresh copies, made before the clock starts. */
const poolRun = (s: Setup) => {
  const copies = s.tensors.map((t) => new ort.Tensor('float32', (t.data as Float32Array).slice(), t.dims));
  return async () => {
    const inflight: Promise<unknown>[] = [];
    for (const t of copies) {
      if (inflight.length >= 2) await inflight.shift();
      inflight.push(s.pool.run({ [s.embedder.inputName]: t as never }, [s.embedder.outputName]));
    }
    await Promise.all(inflight);
  };
};
for (const s of setups) {
  for (const session of s.sessions) await runRaw(s, session)(); // warm-up
  await poolRun(s)();
  await s.embedder.embed(decoded.slice(0, BATCH));
}
// Models interleaved within each round too, so noise hits every model alike.
for (let r = 0; r < ROUNDS; r++) {
  for (const s of setups) {
    s.times.aSpin.push(await time(runRaw(s, s.sessions[0]!)));
    s.times.aNoSpin.push(await time(runRaw(s, s.sessions[1]!)));
    s.times.aPool.push(await time(poolRun(s)));
    s.times.b.push(await time(() => s.embedder.embed(decoded)));
    s.times.c.push(await time(() => s.embedder.embed(files)));
  }
}

// Where the CPU goes: each stage alone, in CPU milliseconds per image (all threads of the
// process). Inference keeps every core busy, so the stages cannot hide behind it; the
// bounds below assume perfect sharing of the cores and nothing else running.
const cpuPerImage = async (fn: () => Promise<unknown> | unknown) => {
  const before = process.cpuUsage();
  await fn();
  const used = process.cpuUsage(before);
  return (used.user + used.system) / 1000 / N;
};
// Decoded a batch at a time, as the Embedder does.
const cpuDecode = await cpuPerImage(async () => {
  for (let i = 0; i < N; i += BATCH) await Promise.all(files.slice(i, i + BATCH).map((f) => loadImage(f)));
});
const breakdown = [];
for (const s of setups) {
  const scratch = new Float32Array(imageSize(s.embedder.spec));
  const prep = await cpuPerImage(() => decoded.forEach((image) => writeImageToTensor(image, s.embedder.spec, scratch, 0)));
  const infer = await cpuPerImage(poolRun(s));
  breakdown.push({ model: s.model, infer, prep });
}
const rate = (t: number[]) => N / median(t);
const summary = setups.map((s) => {
  const [aSpin, aNoSpin, aPool] = [rate(s.times.aSpin), rate(s.times.aNoSpin), rate(s.times.aPool)];
  return { model: s.model, aSpin, aNoSpin, aPool, a: Math.max(aSpin, aNoSpin, aPool), b: rate(s.times.b), c: rate(s.times.c) };
});
for (const s of setups) {
  for (const session of s.sessions) await session.release();
  await s.pool.release();
  await s.embedder.dispose();
}

console.log('\n| model | (a) raw, default spin img/s | (a) raw, no spin img/s | (a) raw, 2 workers × 1 thread img/s | (b) skulens pixels img/s | (c) skulens JPEG files img/s | b/a | c/a |');
console.log('|---|---:|---:|---:|---:|---:|---:|---:|');
for (const s of summary) {
  console.log(
    `| ${s.model} | ${s.aSpin.toFixed(1)} | ${s.aNoSpin.toFixed(1)} | ${s.aPool.toFixed(1)} | ${s.b.toFixed(1)} | ${s.c.toFixed(1)} | ${(s.b / s.a).toFixed(3)} | ${(s.c / s.a).toFixed(3)} |`,
  );
}
console.log('(a) in the ratios is the fastest of the three raw settings.');
// The Embedder's own setting is the worker pool: how close skulens gets to that same setting.
console.log(summary.map((s) => `${s.model}: (b) / raw 2 workers = ${(s.b / s.aPool).toFixed(3)}, (c) / raw 2 workers = ${(s.c / s.aPool).toFixed(3)}`).join('\n'));

const cores = availableParallelism();
console.log(`\nCPU per image, each stage alone (${cores} cores): JPEG decode (sharp) ${cpuDecode.toFixed(2)} ms`);
console.log('| model | inference (2 workers) ms | preprocessing ms | b/a bound | c/a bound |');
console.log('|---|---:|---:|---:|---:|');
for (const [i, c] of breakdown.entries()) {
  // With every core busy all the time, an image costs (sum of its stages' CPU) / cores.
  const a = summary[i]!.a;
  const bound = (cpu: number) => 1000 / (cpu / cores) / a;
  console.log(`| ${c.model} | ${c.infer.toFixed(2)} | ${c.prep.toFixed(2)} | ${bound(c.infer + c.prep).toFixed(2)} | ${bound(c.infer + c.prep + cpuDecode).toFixed(2)} |`);
}
console.log('bounds: the ratio reached if all cores were busy all the time with no overhead beyond the stages measured alone.');
if (summary.length > 1) {
  const base = summary[0]!;
  for (const s of summary.slice(1)) {
    console.log(
      `throughput ${base.model} / ${s.model}: raw ${(base.a / s.a).toFixed(2)}x, from pixels ${(base.b / s.b).toFixed(2)}x, from JPEG files ${(base.c / s.c).toFixed(2)}x`,
    );
  }
}
console.log('\ntargets: b/a >= 0.90, c/a >= 0.75');
