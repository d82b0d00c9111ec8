/**
 * bench:detect's `recognize` row: one dense 1920×2560 shelf photo through the whole chain
 * (detector, crops, embedder, gallery), with the share of each stage, next to the two
 * models' inference alone in plain onnxruntime-node (no skulens options, tensors built
 * before the clock starts).
 *
 * Detector: the SKU-110K reference detector from ../shared (evaluation only: it is timed
 * here, nothing is trained or tuned on it or on the photo). Embedder: the built-in one.
 * Gallery: 5 reference photos of each of the Grocery Store training classes.
 *
 * Target (issue 27): post-processing + cropping + gallery search ≤ 15 % of the two models'
 * inference.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import { Detector, Embedder, Recognizer, ReferenceGallery, loadImage } from '../src/index.js';
import { imageSize, writeImageToTensor } from '../src/core/preprocess.js';
import { modelLocation } from '../src/core/builtin-models.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { WorkerSession } from '../src/node/worker-session.js';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
const since = (t: number) => performance.now() - t;

export async function recognizeRow(shared: string, rounds: number): Promise<void> {
  const shelves = join(shared, 'data', 'sku110k-shelf');
  const photoPath = join(shelves, readdirSync(shelves).filter((f) => f.endsWith('.jpg')).sort()[0]!);
  const detectorPath = join(shared, 'models', 'sku110k_yolov5n_ref.onnx');
  const detector = await Detector.create({ model: detectorPath, classAgnostic: true });
  const embedder = await Embedder.create({ batchSize: 16 });

  const refs = (await readLabelledSet(join(shared, 'data', 'grocery-store', 'train.csv'))).items;
  const byLabel = new Map<string, string[]>();
  for (const r of refs) if ((byLabel.get(r.label) ?? byLabel.set(r.label, []).get(r.label)!).length < 5) byLabel.get(r.label)!.push(r.path);
  const gallery = new ReferenceGallery();
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
  writeImageToTensor(raw, detector.spec, detInput, 0);
  const detTensor = new ort.Tensor('float32', detInput, [1, 3, detector.spec.height, detector.spec.width]);
  const embBytes = await (await import('node:fs/promises')).readFile(modelLocation('skulens:retail-160'));
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

  const t = { total: [] as number[], decode: [] as number[], detPre: [] as number[], detInfer: [] as number[], detPost: [] as number[] };
  const s = { crops: [] as number[], embed: [] as number[], search: [] as number[], plainDet: [] as number[], plainEmb: [] as number[] };
  await recognizer.recognize(photoPath); // warm-up
  await plainDetector.run({ [detector.inputName]: detTensor });
  await plainEmbed(cropTensors());
  let found = 0;
  for (let r = 0; r < rounds; r++) {
    // The whole chain from the file, as a user calls it.
    const rec = await recognizer.recognize(photoPath);
    found = rec.items.length;
    t.total.push(rec.timings.total);
    t.decode.push(rec.timings.decode);
    s.search.push(rec.timings.search);
    s.embed.push(rec.timings.embed);
    // The detector's own stages, and the crops' preprocessing alone.
    const d = await detector.detectDetailed(raw);
    t.detPre.push(d.timings.preprocess);
    t.detInfer.push(d.timings.inference);
    t.detPost.push(d.timings.postprocess);
    const scratch = new Float32Array(per);
    const c0 = performance.now();
    for (const box of boxes) writeImageToTensor(raw, embedder.spec, scratch, 0, box);
    s.crops.push(since(c0));
    // Plain onnxruntime, the two models alone.
    const p0 = performance.now();
    await plainDetector.run({ [detector.inputName]: detTensor });
    s.plainDet.push(since(p0));
    const tensors = cropTensors();
    const p1 = performance.now();
    await plainEmbed(tensors);
    s.plainEmb.push(since(p1));
  }

  const m = (xs: number[]) => median(xs);
  const total = m(t.total);
  const embedInfer = m(s.plainEmb);
  const rows: [string, number][] = [
    ['decode (sharp, 1920×2560)', m(t.decode)],
    ['detector preprocessing (letterbox 640)', m(t.detPre)],
    ['detector inference', m(t.detInfer)],
    ['detector post-processing (decode + NMS)', m(t.detPost)],
    [`cropping ${boxes.length} boxes (resample + normalise)`, m(s.crops)],
    ['embedder: crops in, vectors out (wall)', m(s.embed)],
    ['gallery search', m(s.search)],
  ];
  console.log(`\nrecognize: ${photoPath.split('/').pop()} ${raw.width}×${raw.height}, ${found} boxes, gallery from ${[...byLabel.values()].reduce((n, p) => n + p.length, 0)} reference photos (${byLabel.size} classes, ${gallery.size} vectors); medians of ${rounds} rounds`);
  console.log('| stage | ms | share of recognize |\n|---|---:|---:|');
  for (const [name, v] of rows) console.log(`| ${name} | ${v.toFixed(1)} | ${((v / total) * 100).toFixed(1)}% |`);
  console.log(`| **recognize, whole chain from the file** | ${total.toFixed(1)} | 100% |`);
  const models = m(s.plainDet) + embedInfer;
  console.log(`| plain onnxruntime: detector alone | ${m(s.plainDet).toFixed(1)} | |`);
  console.log(`| plain onnxruntime: embedder on the ${boxes.length} crops alone (2 workers × 1 thread) | ${embedInfer.toFixed(1)} | |`);
  const overhead = m(t.detPost) + m(s.crops) + m(s.search);
  console.log(`recognize / (the two models alone in plain onnxruntime) = ${(total / models).toFixed(2)}`);
  console.log(
    `post-processing + cropping + gallery search = ${overhead.toFixed(1)} ms = ${((overhead / models) * 100).toFixed(1)}% of the two models' plain inference (target ≤ 15%: ${overhead / models <= 0.15 ? 'met' : 'MISSED'})`,
  );
  await recognizer.dispose();
  await plainDetector.release();
  await plainEmbedder.release();
}
