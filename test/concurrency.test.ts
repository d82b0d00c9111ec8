/**
 * One Embedder / Recognizer used by overlapping calls, as a server handling several
 * requests at once would: the worker pool, its recycled input buffers and the decode
 * pipeline are shared, so every call must still get exactly its own answers. And a
 * dispose() while calls are in flight must end them with an error, not a hang or a crash.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, Embedder, isSkulensError, Recognizer, ReferenceGallery, type Recognition } from '../src/index.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

const photos = (dir: string, n: number) =>
  readdirSync(join(grocery, dir))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => join(grocery, dir, f));

const maxAbsDiff = (a: Float32Array, b: Float32Array) => a.reduce((m, x, i) => Math.max(m, Math.abs(x - b[i]!)), 0);

describe.skipIf(!HAVE_SHARED)('overlapping calls on one instance', () => {
  let embedder: Embedder;
  // Three jobs of different lengths (so batches of different calls interleave), from different classes.
  const jobs = HAVE_SHARED
    ? [photos('test/Fruit/Banana', 9), photos('test/Packages/Milk/Arla-Standard-Milk', 5), photos('test/Vegetables/Carrots', 13)]
    : [];
  beforeAll(async () => {
    // batchSize 4: several batches per call, two worker threads (the default on 2 cores) sharing them.
    embedder = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', batchSize: 4, workers: 2 });
  });
  afterAll(async () => {
    await embedder?.dispose();
  });

  it('concurrent embed() calls give each call the vectors it gets alone', async () => {
    const alone: Float32Array[][] = [];
    for (const job of jobs) alone.push(await embedder.embed(job));
    const together = await Promise.all(jobs.map((job) => embedder.embed(job)));
    together.forEach((vectors, j) => {
      expect(vectors).toHaveLength(jobs[j]!.length);
      // Same batches through the same model: the same numbers (a mixed-up buffer would differ by ~0.1).
      vectors.forEach((v, i) => expect(maxAbsDiff(v, alone[j]![i]!)).toBeLessThan(1e-6));
    });
  });

  it('embed() and recognize() overlapping on one embedder: both answer as they do alone', async () => {
    const detector = await Detector.create({ model: models.yolov8, classes: [46, 47, 49], classAgnostic: true });
    const gallery = new ReferenceGallery();
    gallery.useEmbedder(embedder);
    gallery.add('Banana', await embedder.embed(photos('train/Fruit/Banana', 5)));
    gallery.add('Orange', await embedder.embed(photos('train/Fruit/Orange', 5)));
    const recognizer = new Recognizer({ detector, embedder, gallery });
    try {
      const shelves = [join(grocery, 'test/Fruit/Banana/Banana_013.jpg'), join(grocery, 'test/Fruit/Orange/Orange_027.jpg')];
      const aloneR: Recognition[] = [];
      for (const s of shelves) aloneR.push(await recognizer.recognize(s));
      const aloneE = await embedder.embed(jobs[2]!);
      const [r0, e, r1] = await Promise.all([
        recognizer.recognize(shelves[0]!),
        embedder.embed(jobs[2]!),
        recognizer.recognize(shelves[1]!),
      ]);
      for (const [got, want] of [
        [r0, aloneR[0]!],
        [r1, aloneR[1]!],
      ] as const) {
        expect(got.items.length).toBeGreaterThan(0);
        expect(got.items.map((i) => i.box)).toEqual(want.items.map((i) => i.box));
        expect(got.items.map((i) => i.guess)).toEqual(want.items.map((i) => i.guess));
        got.items.forEach((item, i) => expect(item.similarity).toBeCloseTo(want.items[i]!.similarity, 5));
        expect(got.counts).toEqual(want.counts);
      }
      e.forEach((v, i) => expect(maxAbsDiff(v, aloneE[i]!)).toBeLessThan(1e-6));
    } finally {
      await detector.dispose();
    }
  }, 300_000);

  it('dispose() while calls are running: they settle (vectors or a SkulensError), later calls fail with a SkulensError', async () => {
    const own = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', batchSize: 2, workers: 2 });
    // allSettled at once: a call that fails during dispose() below must already have a handler.
    const running = Promise.allSettled([own.embed(jobs[0]!), own.embed(jobs[2]!)]);
    // Let the first batches reach the workers, then pull the model away under them.
    await new Promise((r) => setTimeout(r, 50));
    await own.dispose();
    const settled = await Promise.race([running, new Promise<'hang'>((r) => setTimeout(() => r('hang'), 60_000))]);
    expect(settled).not.toBe('hang');
    for (const s of settled as PromiseSettledResult<Float32Array[]>[]) {
      if (s.status === 'rejected') expect(isSkulensError(s.reason), String(s.reason)).toBe(true);
      else expect(s.value.every((v) => v instanceof Float32Array && v.length === 1280)).toBe(true);
    }
    const after = await own.embed(jobs[1]!).catch((e: unknown) => e);
    expect(isSkulensError(after), String(after)).toBe(true);
    // …and says why, rather than "inference worker exited".
    expect(after).toMatchObject({ code: 'E_INPUT', message: expect.stringMatching(/Embedder was disposed.*Embedder\.create/) });
    await own.dispose(); // a second dispose() is harmless
  });
});
