/**
 * bench:detect's `recognize` row: one dense 1920×2560 shelf photo through the whole chain
 * (detector, crops, embedder, gallery), with the share of each stage, next to the two
 * models' inference alone in plain onnxruntime-node (no skulens options, tensors built
 * before the clock starts).
 *
 * Detector: the SKU-110K reference detector from ../shared (evaluation only: it is timed
 * here, nothing is trained or tuned on it or on the photo). Embedder: the built-in skulens:retail-160.
 * Gallery: 5 reference photos of each of the Grocery Store training classes.
 *
 * Every stage is timed on its own, calling what recognize() calls on the same inputs, so
 * a row holds that stage and nothing else (no awaiting of other work, no collection of an
 * earlier stage's garbage: a full GC and a pause come before each). Each gets its wall time and its
 * CPU time: CPU of the whole process (onnxruntime's and the worker threads' too), which a
 * loaded machine stretches far less than wall time. The chain's own timings (`recognize().timings`) are printed beside them.
 *
 * Target (issue 27): post-processing + cropping + gallery search ≤ 15 % of the two models'
 * inference.
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import { Detector, Embedder, Recognizer, ReferenceGallery, loadImage } from '../src/index.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { RETAIL160_EMBEDDER, modelLocation } from '../src/core/builtin-models.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { WorkerSession } from '../src/node/worker-session.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;

// Before each timed stage: a full garbage collection, so that no stage pays for an earlier
// one's garbage, then a pause for V8's sweeper threads and onnxruntime's pool to go idle
// (every thread of the process counts in its CPU time).
setFlagsFromString('--expose-gc');
const collectGarbage = runInNewContext('gc') as () => void;

/** A stage's samples: wall ms and CPU ms (all threads of the process) per round. */
class Stage {
  readonly wall: number[] = [];
  readonly cpu: number[] = [];
  async time<T>(fn: () => T | Promise<T>): Promise<T> {
    collectGarbage();
    await new Promise((done) => setTimeout(done, 100));
    const c = process.cpuUsage();
    const t = performance.now();
    const value = await fn();
    this.wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    this.cpu.push((d.user + d.system) / 1000);
    return value;
  }
}

export async function recognizeRow(shared: string, rounds: number): Promise<void> {
  const shelves = join(shared, 'data', 'sku110k-shelf');
  const photoPath = join(
    shelves,
    readdirSync(shelves)
      .filter((f) => f.endsWith('.jpg'))
      .sort()[0]!,
  );
  const detectorPath = join(shared, 'models', 'sku110k_yolov5n_ref.onnx');
  const detector = await Detector.create({ model: detectorPath, classAgnostic: true });
  // Named, not the default: the plain-onnxruntime yardstick below runs the same file.
  const embedder = await Embedder.create({ model: RETAIL160_EMBEDDER, batchSize: 16 });

  const refs = (await readLabelledSet(join(shared, 'data', 'grocery-store', 'train.csv'))).items;
  const byLabel = new Map<string, string[]>();
  for (const r of refs) if ((byLabel.get(r.label) ?? byLabel.set(r.label, []).get(r.label)!).length < 5) byLabel.get(r.label)!.push(r.path);
  // Class means (81 vectors), as docs/detector.md's figures were measured; the default keeps 3 per class.
  const gallery = new ReferenceGallery({ clustersPerClass: 1 });
  for (const [label, paths] of byLabel) await gallery.addImages(embedder, label, paths);
  const recognizer = new Recognizer({ detector, embedder, gallery });

  // Plain onnxruntime for the two models alone: the detector as onnxruntime creates it by
  // default, the embedder as two single-threaded sessions in worker threads (its fastest
  // plain setting in bench:embed on 2 cores), two batches in flight.
  const raw = await loadImage(photoPath);
  const { detections } = await detector.detectDetailed(raw);
  const boxes = detections.map((d) => d.box);
  const plainDetector = await ort.InferenceSession.create(detectorPath);
  const detInput = new Float32Array(imageSize(detector.spec));
  const placement = writeImageToTensor(raw, detector.spec, detInput, 0);
  const detTensor = new ort.Tensor('float32', detInput, [1, 3, detector.spec.height, detector.spec.width]);
  const embBytes = await readFile(modelLocation(RETAIL160_EMBEDDER));
  const plainEmbedder = (await WorkerSession.create(new Uint8Array(embBytes), { intraOpNumThreads: 1 }, 2)) as unknown as InferenceSession;
  const per = imageSize(embedder.spec);
  const cropTensors = () => {
    const out: ort.Tensor[] = [];
    for (let s = 0; s < boxes.length; s += 16) {
      const n = Math.min(16, boxes.length - s);
      const data = new Float32Array(per * n);
      for (let i = 0; i < n; i++) writeImageToTensor(raw, embedder.spec, data, i, boxes[s + i]);
      out.push(new ort.Tensor('float32', data, [n, 3, embedder.spec.height, embedder.spec.width]));
    }
    return out;
  };
  const plainEmbed = async (tensors: ort.Tensor[]) => {
    const inflight: Promise<unknown>[] = [];
    for (const t of tensors) {
      if (inflight.length >= 2) await inflight.shift();
      inflight.push(plainEmbedder.run({ [embedder.inputName]: t as never }, [embedder.outputName]));
    }
    await Promise.all(inflight);
  };

  // What the chain's later stages take as input: the detector's raw output and the crops' vectors.
  const detOutput = (await plainDetector.run({ [detector.inputName]: detTensor }))[detector.outputName]!;
  const vectors = await embedder.embed(boxes.map((box) => ({ image: raw, crop: box })));
  await recognizer.recognize(photoPath); // warm-up
  await plainEmbed(cropTensors());

  const chain = { decode: [] as number[], detect: [] as number[], embed: [] as number[], search: [] as number[], total: [] as number[] };
  const detPre: number[] = [];
  const detInfer: number[] = [];
  const [whole, decode, post, crops, search, plainDet, plainEmb] = [
    new Stage(),
    new Stage(),
    new Stage(),
    new Stage(),
    new Stage(),
    new Stage(),
    new Stage(),
  ];
  const scratch = new Float32Array(per);
  let found = 0;
  let same = true;
  for (let r = 0; r < rounds; r++) {
    // The whole chain from the file, as a user calls it.
    const rec = await whole.time(() => recognizer.recognize(photoPath));
    found = rec.items.length;
    for (const k of Object.keys(chain) as (keyof typeof chain)[]) chain[k].push(rec.timings[k]);
    // Each stage alone, on the same inputs the chain gives it.
    await decode.time(() => loadImage(photoPath));
    const d = await detector.detectDetailed(raw);
    detPre.push(d.timings.preprocess);
    detInfer.push(d.timings.inference);
    const kept = await post.time(() => detector.postprocess(detOutput, placement, raw.width, raw.height));
    same &&= kept.length === boxes.length && kept.every((k, i) => k.box.x === boxes[i]!.x && k.box.y === boxes[i]!.y);
    await crops.time(() => {
      for (const box of boxes) writeImageToTensor(raw, embedder.spec, scratch, 0, box);
    });
    await search.time(() => gallery.classifyBatch(vectors));
    // Plain onnxruntime, the two models alone (last: nothing timed follows an onnxruntime run directly).
    const tensors = cropTensors();
    await plainDet.time(() => plainDetector.run({ [detector.inputName]: detTensor }));
    await plainEmb.time(() => plainEmbed(tensors));
  }
  if (!same) throw new Error('post-processing the plain detector output did not give the chain’s boxes');

  const m = median;
  const total = m(chain.total);
  const f = (v: number | undefined) => (v === undefined ? '' : v.toFixed(1));
  const share = (v: number) => `${((v / total) * 100).toFixed(1)}%`;
  const rows: [string, number, number | undefined][] = [
    ['decode (sharp, 1920×2560)', m(decode.wall), m(decode.cpu)],
    ['detector preprocessing (letterbox 640; from detectDetailed)', m(detPre), undefined],
    ['detector inference (worker thread; from detectDetailed)', m(detInfer), undefined],
    ['detector post-processing (decode + NMS of 25,200 rows)', m(post.wall), m(post.cpu)],
    [`cropping ${boxes.length} boxes (resample + normalise into 160², part of the embed stage below)`, m(crops.wall), m(crops.cpu)],
    [`gallery search (classifyBatch: ${boxes.length} queries, ${gallery.size} vectors)`, m(search.wall), m(search.cpu)],
  ];
  console.log(
    `\nrecognize: ${photoPath.split('/').pop()} ${raw.width}×${raw.height}, ${found} boxes, gallery from ${[...byLabel.values()].reduce((n, p) => n + p.length, 0)} reference photos (${byLabel.size} classes, ${gallery.size} vectors); medians of ${rounds} rounds; CPU = all threads of the process`,
  );
  console.log('| stage, timed alone | wall ms | CPU ms | wall share of recognize |\n|---|---:|---:|---:|');
  for (const [name, wall, cpu] of rows) console.log(`| ${name} | ${f(wall)} | ${f(cpu)} | ${share(wall)} |`);
  console.log(`| plain onnxruntime: detector alone | ${f(m(plainDet.wall))} | ${f(m(plainDet.cpu))} | |`);
  console.log(
    `| plain onnxruntime: embedder on the ${boxes.length} crops alone (2 workers × 1 thread) | ${f(m(plainEmb.wall))} | ${f(m(plainEmb.cpu))} | |`,
  );
  console.log("| **recognize(), the chain's own timings:** | | | |");
  console.log(
    `| decode · detect · embed (crops + inference) · search | ${[chain.decode, chain.detect, chain.embed, chain.search].map((x) => f(m(x))).join(' · ')} | | |`,
  );
  console.log(`| **recognize, whole chain from the file** | ${f(total)} | ${f(m(whole.cpu))} | 100% |`);

  const models = { wall: m(plainDet.wall) + m(plainEmb.wall), cpu: m(plainDet.cpu) + m(plainEmb.cpu) };
  const over = { wall: m(post.wall) + m(crops.wall) + m(search.wall), cpu: m(post.cpu) + m(crops.cpu) + m(search.cpu) };
  console.log(`recognize / (the two models alone in plain onnxruntime) = ${(total / models.wall).toFixed(2)} (wall)`);
  for (const k of ['wall', 'cpu'] as const) {
    const ratio = over[k] / models[k];
    console.log(
      `post-processing + cropping + gallery search = ${over[k].toFixed(1)} ms ${k === 'cpu' ? 'CPU' : 'wall'} = ${(ratio * 100).toFixed(1)}% of the two models' plain inference (target ≤ 15%: ${ratio <= 0.15 ? 'met' : 'MISSED'})`,
    );
  }
  await recognizer.dispose();
  await plainDetector.release();
  await plainEmbedder.release();
}
