/**
 * npm run bench:embed — Embedder throughput against plain onnxruntime on the same model.
 *
 *   (a) plain onnxruntime-node: InferenceSession.run on pre-built tensors with
 *       onnxruntime's own session defaults, three ways: on the main thread as created
 *       with no options (intra-op threads spinning), the same with spinning off, and two
 *       single-threaded sessions in two worker threads running batches side by side. The
 *       fastest of the three is the ceiling the ratios divide by. None uses skulens'
 *       session options, so whatever those cost shows in the ratios.
 *   (b) skulens from decoded pixels (preprocessing + inference)
 *   (c) skulens from JPEG files (decode + preprocessing + inference)
 *   (d) transformers.js' image-feature-extraction pipeline on the same model, the same
 *       preprocessing and the same files (tools/transformers-js.ts; offline)
 *
 * Rounds are interleaved a,b,c,d,a,b,c,d,... and each figure is the median over rounds,
 * so machine noise hits all alike; the ratios come from the same run. Then each stage's
 * CPU per image is measured alone, and the bench prints the ratio those stages allow each
 * path (its bound) next to the ratio it reached.
 *
 * By default it measures the two built-in embedders (skulens:mobilenetv2, the default, and
 * skulens:retail-160) in the same run, and prints the throughput ratio of the first to the second.
 *
 * Options: --n 512 --batch 16 --rounds 5 --model path.onnx [--model another.onnx]
 *          --preset imagenet (for models without skulens.preprocess metadata)
 *          --no-transformers (skip row d)
 */
import { availableParallelism } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-node';
import { readFile } from 'node:fs/promises';
import { DEFAULT_EMBEDDER, Embedder, PREPROCESS_METADATA_KEY, RETAIL160_EMBEDDER, loadImage, type RawImage } from '../src/index.js';
import { readOnnxMetadata } from '../src/core/onnx-metadata.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { modelLocation } from '../src/core/builtin-models.js';
import type { InferenceSession } from 'onnxruntime-common';
import type { SessionLike } from '../src/core/platform.js';
import { readManifest } from '../src/node/dataset.js';
import { WorkerSession } from '../src/node/worker-session.js';
import { transformersJsPipeline, type TransformersJsPipeline } from '../tools/transformers-js.js';

const SHARED = resolve(process.env.SKULENS_SHARED ?? join(dirname(new URL(import.meta.url).pathname), '..', '..', 'shared'));
const { values } = parseArgs({
  options: {
    n: { type: 'string', default: '512' },
    batch: { type: 'string', default: '16' },
    rounds: { type: 'string', default: '5' },
    model: { type: 'string', multiple: true },
    preset: { type: 'string', default: 'imagenet' },
    'no-transformers': { type: 'boolean', default: false },
  },
});
const N = Number(values.n);
const BATCH = Number(values.batch);
const ROUNDS = Number(values.rounds);
// Default: the two built-in embedders (the default MobileNetV2 and the fast retail-160), in the same run.
const models = values.model?.length ? values.model : [DEFAULT_EMBEDDER, RETAIL160_EMBEDDER];

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
  pool: InferenceSession;
  tjs: TransformersJsPipeline | undefined;
  tensors: ort.Tensor[];
  times: { aSpin: number[]; aNoSpin: number[]; aPool: number[]; b: number[]; c: number[]; d: number[] };
}
/** onnxruntime's own defaults except spinning off (skulens' options play no part in (a)). */
const NO_SPIN: ort.InferenceSession.SessionOptions = {
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};
const setups: Setup[] = [];
for (const model of models) {
  // A file path for the raw sessions (built-in ids resolve to the package's models/ folder).
  const file = modelLocation(model);
  const bytes = new Uint8Array(await readFile(file));
  // --preset applies to models that do not declare their preprocessing in their metadata.
  const hasSpec = readOnnxMetadata(bytes)[PREPROCESS_METADATA_KEY] !== undefined;
  const embedder = await Embedder.create({ model, ...(hasSpec ? {} : { preset: values.preset }), batchSize: BATCH });
  // (a) the ceiling: plain onnxruntime sessions fed tensors built before timing starts.
  const sessions = [await ort.InferenceSession.create(file), await ort.InferenceSession.create(file, NO_SPIN)];
  const pool = (await WorkerSession.create(bytes, { intraOpNumThreads: 1 }, 2)) as unknown as InferenceSession;
  const tjs = values['no-transformers']
    ? undefined
    : await transformersJsPipeline(bytes, embedder.inputName, embedder.outputName, embedder.spec);
  const per = imageSize(embedder.spec);
  const tensors: ort.Tensor[] = [];
  for (let s = 0; s < N; s += BATCH) {
    const n = Math.min(BATCH, N - s);
    const data = new Float32Array(per * n);
    for (let i = 0; i < n; i++) writeImageToTensor(decoded[s + i]!, embedder.spec, data, i);
    tensors.push(new ort.Tensor('float32', data, [n, 3, embedder.spec.height, embedder.spec.width]));
  }
  setups.push({
    model: model.split('/').pop()!,
    embedder,
    sessions,
    pool,
    tjs,
    tensors,
    times: { aSpin: [], aNoSpin: [], aPool: [], b: [], c: [], d: [] },
  });
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
  await s.tjs?.embed(files.slice(0, BATCH), BATCH);
}
// Models interleaved within each round too, so noise hits every model alike.
for (let r = 0; r < ROUNDS; r++) {
  for (const s of setups) {
    s.times.aSpin.push(await time(runRaw(s, s.sessions[0]!)));
    s.times.aNoSpin.push(await time(runRaw(s, s.sessions[1]!)));
    s.times.aPool.push(await time(poolRun(s)));
    s.times.b.push(await time(() => s.embedder.embed(decoded)));
    s.times.c.push(await time(() => s.embedder.embed(files)));
    if (s.tjs) s.times.d.push(await time(() => s.tjs!.embed(files, BATCH)));
  }
}

// Where the CPU goes: each stage alone, in CPU milliseconds per image (all threads of the
// process). Inference keeps every core busy, so the stages cannot hide behind it; the
// bounds below assume perfect sharing of the cores.
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
  const infer = await cpuPerImage(poolRun(s)); // the plain pool: pure inference, no spinning
  breakdown.push({ model: s.model, infer, prep });
}
const rate = (t: number[]) => (t.length ? N / median(t) : NaN);
const summary = setups.map((s) => {
  const [aSpin, aNoSpin, aPool] = [rate(s.times.aSpin), rate(s.times.aNoSpin), rate(s.times.aPool)];
  return {
    model: s.model,
    aSpin,
    aNoSpin,
    aPool,
    a: Math.max(aSpin, aNoSpin, aPool),
    b: rate(s.times.b),
    c: rate(s.times.c),
    d: rate(s.times.d),
  };
});
for (const s of setups) {
  for (const session of s.sessions) await session.release();
  await s.pool.release();
  await s.embedder.dispose();
  await s.tjs?.dispose();
}

const f1 = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(1));
const f2 = (x: number) => (Number.isNaN(x) ? '–' : x.toFixed(2));
console.log('\nimg/s, median of rounds:');
console.log(
  '| model | (a) plain ort, defaults (spinning) | (a) plain ort, no spin | (a) plain ort, 2 workers × 1 thread | (b) skulens pixels | (c) skulens JPEG files | (d) transformers.js files | b/a | c/a | c/d |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const s of summary) {
  console.log(
    `| ${s.model} | ${f1(s.aSpin)} | ${f1(s.aNoSpin)} | ${f1(s.aPool)} | ${f1(s.b)} | ${f1(s.c)} | ${f1(s.d)} | ${(s.b / s.a).toFixed(3)} | ${(s.c / s.a).toFixed(3)} | ${f2(s.c / s.d)} |`,
  );
}
console.log(
  '(a) in the ratios is the fastest of the three plain onnxruntime settings; c/d is skulens over transformers.js from the same files.',
);

const cores = availableParallelism();
console.log(`\nCPU per image, each stage alone (${cores} cores): JPEG decode (sharp) ${cpuDecode.toFixed(2)} ms`);
console.log(
  '| model | inference (plain ort, 2 workers × 1 thread) ms | preprocessing ms | b/a bound | b/a reached / bound | c/a bound | c/a reached / bound |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const [i, c] of breakdown.entries()) {
  // On cores that are busy all the time, an image costs the sum of its stages' CPU; the
  // Embedder runs the pool's setting, so a path can reach at most the pool's rate times
  // inference's share of that sum. Shares of CPU, not CPU per second, so the bound holds
  // whatever else the machine is running.
  const s = summary[i]!;
  const bound = (cpu: number) => (c.infer / cpu) * (s.aPool / s.a);
  const [bb, cb] = [bound(c.infer + c.prep), bound(c.infer + c.prep + cpuDecode)];
  console.log(
    `| ${c.model} | ${c.infer.toFixed(2)} | ${c.prep.toFixed(2)} | ${bb.toFixed(2)} | ${(s.b / s.a / bb).toFixed(2)} | ${cb.toFixed(2)} | ${(s.c / s.a / cb).toFixed(2)} |`,
  );
}
console.log(
  "bound: (a) 2 workers / (a) × inference CPU / (all stages' CPU) — the ratio reached with the cores busy all the time and no overhead beyond the stages measured alone.",
);
if (summary.length > 1) {
  const base = summary[0]!;
  for (const s of summary.slice(1)) {
    console.log(
      `throughput ${base.model} / ${s.model}: raw ${(base.a / s.a).toFixed(2)}x, from pixels ${(base.b / s.b).toFixed(2)}x, from JPEG files ${(base.c / s.c).toFixed(2)}x`,
    );
  }
}
console.log('\ntargets (issue 27): b/a >= 0.85, c/a >= 0.50, each path >= 0.90 of its bound, c/d >= 3');
