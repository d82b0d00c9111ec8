import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildOnnx } from '../fixtures/onnx-builder.js';
import { encodeOnnxMetadataEntry } from '../src/core/onnx-metadata.js';
import * as ort from 'onnxruntime-node';
import { EmbedError, Embedder, loadImage, PREPROCESS_METADATA_KEY, SkulensError } from '../src/index.js';
import { WorkerSession } from '../src/node/worker-session.js';
import { HAVE_SHARED, models, testPhotos as photos } from './helpers/shared.js';

const argmax = (v: Float32Array) => v.reduce((best, x, i) => (x > v[best]! ? i : best), 0);
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** Identity graph over an image-shaped input: the "embedding" is the preprocessed tensor itself. */
const identityModel = (type: 'float32' | 'float16' = 'float32', size: number | string = 'H') =>
  buildOnnx({
    inputs: [{ name: 'pixels', type, shape: ['N', 3, size, size] }],
    outputs: [{ name: 'features', shape: ['N', 3, size, size] }],
    nodes:
      type === 'float16'
        ? [{ op: 'Cast', inputs: ['pixels'], outputs: ['features'], attributes: { to: 1 } }]
        : [{ op: 'Identity', inputs: ['pixels'], outputs: ['features'] }],
  });

describe.skipIf(!HAVE_SHARED)('Embedder on real photos (MobileNetV2 int8)', () => {
  let logits: Embedder;
  let embed: Embedder;
  beforeAll(async () => {
    logits = await Embedder.create({ model: models.mobilenet, preset: 'imagenet' });
    embed = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet' });
  });

  it('gives the right ImageNet top-1 labels for grocery photos (features are computed as the model expects)', async () => {
    const labels = readFileSync(models.imagenetLabels, 'utf8').trim().split('\n');
    const top1 = async (files: string[]) => (await logits.embed(files)).map((v) => labels[argmax(v)]);
    const bananas = await top1(photos('Fruit/Banana', 16));
    const grannies = await top1(photos('Fruit/Apple/Granny-Smith', 16));
    const lemons = await top1(photos('Fruit/Lemon', 16));
    // 3/4 of each class; broken preprocessing (BGR, or no mean/std) gets 12 of 48 in all.
    // On AVX2-only CPUs this needs exact int8 arithmetic (x64quantprecision, which loadModel
    // picks there: src/core/int8-probe.ts): onnxruntime's fast kernels saturate and name 10 bananas.
    expect(bananas.filter((l) => l === 'banana').length).toBeGreaterThanOrEqual(12);
    expect(grannies.filter((l) => l === 'Granny Smith').length).toBeGreaterThanOrEqual(12);
    expect(lemons.filter((l) => l === 'lemon').length).toBeGreaterThanOrEqual(12);
  });

  it('picks the output named "embedding", returns unit vectors of its width', async () => {
    expect(embed.outputName).toBe('embedding');
    expect(embed.dim).toBe(1280);
    const [v] = await embed.embed(photos('Fruit/Kiwi', 1));
    expect(v).toHaveLength(1280);
    expect(cosine(v!, v!)).toBeCloseTo(1, 5);
  });

  it('a path, encoded bytes and raw pixels of the same image give identical vectors', async () => {
    const path = photos('Packages/Milk/Arla-Standard-Milk', 1)[0]!;
    const bytes = new Uint8Array(readFileSync(path));
    const raw = await loadImage(path);
    const [a, b, c] = await embed.embed([path, bytes, raw]);
    expect(Array.from(b!)).toEqual(Array.from(a!));
    expect(Array.from(c!)).toEqual(Array.from(a!));
  });

  it('batching does not change results (batch of 16 vs one at a time)', async () => {
    const files = photos('Fruit/Orange', 20);
    const batched = await embed.embed(files);
    for (const i of [0, 7, 19]) {
      const single = await embed.embedOne(files[i]!);
      expect(cosine(single, batched[i]!)).toBeGreaterThan(0.99999);
    }
  });

  it('a crop rectangle of a decoded image equals the cropped pixels', async () => {
    const path = photos('Fruit/Banana', 1)[0]!;
    const image = await loadImage(path);
    const crop = { x: 40, y: 30, width: 200, height: 150 };
    const cut = new Uint8Array(200 * 150 * 3);
    for (let y = 0; y < 150; y++)
      cut.set(image.data.subarray(((30 + y) * image.width + 40) * 3, ((30 + y) * image.width + 240) * 3), y * 200 * 3);
    const [a, b] = await embed.embed([
      { image, crop },
      { data: cut, width: 200, height: 150, channels: 3 },
    ]);
    expect(Array.from(a!)).toEqual(Array.from(b!));
  });

  it('a failing image does not lose the others: embed throws EmbedError with the rest, embedSettled lists it', async () => {
    const [good1, good2] = photos('Fruit/Banana', 2) as [string, string];
    const broken = new TextEncoder().encode('not a jpeg at all');
    const settled = await embed.embedSettled([good1, broken, good2]);
    expect(settled.failures).toHaveLength(1);
    expect(settled.failures[0]).toMatchObject({ index: 1, input: '<17 encoded bytes>' });
    expect(settled.failures[0]!.error.code).toBe('E_IMAGE_DECODE');
    expect(settled.vectors[1]).toBeNull();
    const err = (await embed.embed([good1, broken, good2]).catch((e: unknown) => e)) as EmbedError;
    expect(err).toBeInstanceOf(EmbedError);
    expect(err.code).toBe('E_IMAGE_DECODE');
    expect(err.message).toMatch(/1 of 3 inputs failed/);
    expect(Array.from(err.vectors[0]!)).toEqual(Array.from(settled.vectors[0]!));
    expect(err.vectors[2]).toBeInstanceOf(Float32Array);
  });

  it('several inference workers give the same vectors, in order, and report progress up to the total', async () => {
    const files = [...photos('Fruit/Banana', 9), ...photos('Fruit/Orange', 9)];
    const one = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', batchSize: 4, workers: 1 });
    const two = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', batchSize: 4, workers: 2 });
    try {
      const progress: number[] = [];
      const [a, b] = [await one.embed(files), await two.embed(files, { onProgress: (p) => progress.push(p.done) })];
      for (let i = 0; i < files.length; i++) expect(cosine(a[i]!, b[i]!)).toBeGreaterThan(0.99999);
      expect(progress.at(-1)).toBe(files.length);
      expect(progress).toEqual([...progress].sort((x, y) => x - y));
      // A job smaller than two batches is split so both workers get a share.
      expect((await two.embed(files.slice(0, 3))).map((v) => v.length)).toEqual([1280, 1280, 1280]);
      // Batch buffers come back from the workers and are refilled: nothing of an earlier
      // batch may leak into a later one.
      const again = await two.embed(files.slice(5, 12));
      for (let i = 0; i < 7; i++) expect(Array.from(again[i]!)).toEqual(Array.from(b[i + 5]!));
    } finally {
      await Promise.all([one.dispose(), two.dispose()]);
    }
  });

  it('a failing inference run is reported, never lost, whatever the number of workers', async () => {
    // Adding a [3,3,4,4] constant broadcasts for batches of 1 and 3 but fails for 2.
    const model = buildOnnx({
      inputs: [{ name: 'pixels', type: 'float32', shape: ['N', 3, 4, 4] }],
      outputs: [{ name: 'features', shape: ['M', 3, 4, 4] }],
      initializers: [{ name: 'bias', dims: [3, 3, 4, 4], values: new Float32Array(144) }],
      nodes: [{ op: 'Add', inputs: ['pixels', 'bias'], outputs: ['features'] }],
    });
    // Slow-to-decode inputs, so a failed run settles while the next batch is still decoding.
    const noise = await sharp({
      create: { width: 1200, height: 1200, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
    })
      .png()
      .toBuffer();
    const images = Array.from({ length: 5 }, () => new Uint8Array(noise)); // batches of 2, 2 and 1: only the last succeeds
    for (const workers of [1, 2]) {
      const e = await Embedder.create({ model, batchSize: 2, workers });
      try {
        await expect(e.embedSettled(images)).rejects.toMatchObject({ code: 'E_INFERENCE', message: /Running the embedder failed/ });
        expect(await e.embed(images.slice(0, 1))).toHaveLength(1); // batches of 1 work: still usable afterwards
      } finally {
        await e.dispose();
      }
    }
  });

  it('inference runs off the main thread: timers keep firing during a long embed', async () => {
    const images = Array.from({ length: 48 }, () => ({
      data: new Uint8Array(224 * 224 * 3).fill(128),
      width: 224,
      height: 224,
      channels: 3 as const,
    }));
    let ticks = 0;
    const timer = setInterval(() => ticks++, 2);
    const t0 = performance.now();
    await embed.embed(images);
    const elapsed = performance.now() - t0;
    clearInterval(timer);
    // A blocked event loop would tick about once per batch; a free one every few ms.
    expect(ticks).toBeGreaterThan(Math.min(20, elapsed / 20));
  });

  it('fingerprints identify model + preprocessing', async () => {
    const again = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet' });
    const other = await Embedder.create({ model: models.mobilenetEmbed, preset: 'nvidia-retail' });
    expect(again.fingerprint).toBe(embed.fingerprint);
    expect(other.fingerprint).not.toBe(embed.fingerprint);
    expect(logits.fingerprint).not.toBe(embed.fingerprint);
  });

  it('honours a preprocessing spec stored in the model metadata (skulens.preprocess)', async () => {
    const bytes = new Uint8Array(readFileSync(models.mobilenetEmbed));
    const spec = { resize: 'stretch', mean: [0.5, 0.5, 0.5], std: [0.25, 0.25, 0.25] };
    const withMeta = new Uint8Array([...bytes, ...encodeOnnxMetadataEntry(PREPROCESS_METADATA_KEY, JSON.stringify(spec))]);
    const e = await Embedder.create({ model: withMeta });
    expect(e.specSource).toBe('metadata');
    expect(e.spec).toMatchObject({ ...spec, width: 224, height: 224 });
    const overridden = await Embedder.create({ model: withMeta, preset: 'imagenet' });
    expect(overridden.spec.resize).toBe('center-crop');
  });

  it('rejects a size the model cannot take, and an unknown output name', async () => {
    await expect(Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', width: 256, height: 256 })).rejects.toThrow(
      /fixed size 224x224/,
    );
    const err = await Embedder.create({ model: models.mobilenetEmbed, output: 'feat' }).then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: SkulensError) => e,
    );
    expect(err.code).toBe('E_MODEL_SHAPE');
    expect(err.message).toMatch(/output [\s\S]*embedding \[batch_size,1280\]/);
  });
});

describe('Embedder on tiny graphs with known outputs', () => {
  const solid = (r: number, g: number, b: number, w = 10, h = 6) => {
    const data = new Uint8Array(w * h * 3);
    for (let i = 0; i < w * h; i++) data.set([r, g, b], i * 3);
    return { data, width: w, height: h, channels: 3 as const };
  };

  it('a worker pool keeps serving runs when one of its workers dies, and says why when all have', async () => {
    const pool = await WorkerSession.create(identityModel('float32', 2), {}, 2);
    const feeds = () => ({ pixels: new ort.Tensor('float32', new Float32Array(12).fill(0.5), [1, 3, 2, 2]) as never });
    const threads = (pool as unknown as { threads: { worker: { terminate(): Promise<number> } }[] }).threads;
    await threads[0]!.worker.terminate(); // stands in for a crash
    for (let i = 0; i < 4; i++) expect((await pool.run(feeds())).features!.dims).toEqual([1, 3, 2, 2]);
    await threads[1]!.worker.terminate();
    await expect(pool.run(feeds())).rejects.toThrow(/inference worker exited/);
    await pool.release();
  });

  it('mean-pools an [N,C,H,W] output into a C-vector', async () => {
    const e = await Embedder.create({
      model: identityModel(),
      width: 8,
      height: 8,
      normalize: false,
      mean: [0.5, 0.5, 0.5],
      std: [0.5, 0.5, 0.5],
    });
    expect(e.dim).toBe(3);
    const [v] = await e.embed([solid(255, 0, 51)]);
    expect(Array.from(v!)).toEqual([1, -1, expect.closeTo(-0.6, 5)]);
  });

  it('feeds float16 inputs as half-precision bits', async () => {
    const e = await Embedder.create({ model: identityModel('float16', 4), normalize: false, scale: 1 });
    expect(e.spec).toMatchObject({ dtype: 'float16', width: 4, height: 4 });
    const [v] = await e.embed([solid(100, 20, 3)]);
    expect(Array.from(v!)).toEqual([100, 20, 3]);
  });

  it('refuses a model whose input is not image-shaped, saying what it expected', async () => {
    const model = buildOnnx({
      inputs: [{ name: 'tokens', shape: ['N', 10] }],
      outputs: [{ name: 'out', shape: ['N', 10] }],
      nodes: [{ op: 'Identity', inputs: ['tokens'], outputs: ['out'] }],
    });
    const err = await Embedder.create({ model }).then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: SkulensError) => e,
    );
    expect(err).toBeInstanceOf(SkulensError);
    expect(err.code).toBe('E_MODEL_SHAPE');
    expect(err.message).toMatch(/tokens float32 \[N,10\] is not image-shaped; expected .*\[N,3,H,W\]/);
  });

  it('refuses an output it cannot read as an embedding', async () => {
    const model = buildOnnx({
      inputs: [{ name: 'x', shape: ['N', 3, 4, 4] }],
      outputs: [{ name: 'y', shape: ['N', 3, 4] }],
      nodes: [{ op: 'ReduceMean', inputs: ['x'], outputs: ['y'], attributes: { axes: [3], keepdims: 0 } }],
    });
    await expect(Embedder.create({ model, output: 'y' })).rejects.toThrow(/expected \[N,D\]/);
  });

  it('a missing model file is E_MODEL_LOAD naming the path', async () => {
    const err = await Embedder.create({ model: '/nonexistent/model.onnx' }).then(
      () => {
        throw new Error('expected a rejection');
      },
      (e: SkulensError) => e,
    );
    expect(err.code).toBe('E_MODEL_LOAD');
    expect(err.message).toContain('/nonexistent/model.onnx');
  });
});
