/**
 * Issue 23 features on real photos: reference augmentation, negative references, the
 * second built-in embedder and the measured default threshold.
 */
import { mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, ReferenceGallery, loadImage } from '../src/index.js';
import { augmentImage } from '../src/core/augment/augment.js';
import { DEFAULT_EMBEDDER, defaultThresholdFor, MOBILENETV2_EMBEDDER } from '../src/core/builtin-models.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { HAVE_SHARED, grocery, models } from './helpers/shared.js';

const work = mkdtempSync(join(tmpdir(), 'skulens-store-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const photos = (folder: string, n: number, from = 0) =>
  readdirSync(join(grocery, 'train', folder))
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(from, from + n)
    .map((f) => join(grocery, 'train', folder, f));
const ICONIC = join(grocery, 'iconic-images-and-descriptions', 'Packages', 'Milk', 'Arla-Standard-Milk', 'Arla-Standard-Milk_Iconic.jpg');

describe.skipIf(!HAVE_SHARED)('reference augmentation', () => {
  it('is deterministic for a seed, differs between seeds, and keeps the view count', async () => {
    const image = await loadImage(ICONIC);
    const a = augmentImage(image, 3, 42);
    const b = augmentImage(image, 3, 42);
    const c = augmentImage(image, 3, 43);
    expect(a).toHaveLength(3);
    a.forEach((v, i) => {
      expect(v.channels).toBe(3);
      expect(v.data.length).toBe(v.width * v.height * 3);
      expect(Buffer.from(v.data).equals(Buffer.from(b[i]!.data))).toBe(true);
    });
    expect(Buffer.from(a[0]!.data).equals(Buffer.from(c[0]!.data))).toBe(false);
    // A view is not the original: some pixels moved, changed colour or were replaced.
    expect(
      a.some((v) => v.width !== image.width || v.height !== image.height || !Buffer.from(v.data).equals(Buffer.from(image.data))),
    ).toBe(true);
  });

  it('addImages({ augment }) stores images × (1 + views) references, the same vectors every time, and works with k-means and adapt()', async () => {
    const embedder = await Embedder.create({ workers: 1 });
    try {
      const build = async (views: number, clusters: number | 'all') => {
        const g = new ReferenceGallery({ clustersPerClass: clusters, index: 'exact' });
        const r = await g.addImages(embedder, 'banana', [...photos('Fruit/Banana', 2), join(work, 'missing.jpg')], { augment: views });
        await g.addImages(embedder, 'milk', [ICONIC], { augment: views });
        await g.addImages(embedder, 'oatghurt', photos('Packages/Oatghurt/Oatly-Natural-Oatghurt', 1), { augment: views });
        return { g, r };
      };
      const { g, r } = await build(4, 'all');
      expect(r).toMatchObject({ added: 2, vectors: 10 });
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]!.error.code).toBe('E_IMAGE_DECODE');
      expect(g.classInfo().map((c) => [c.label, c.references])).toEqual([
        ['banana', 10],
        ['milk', 5],
        ['oatghurt', 5],
      ]);
      const again = (await build(4, 'all')).g;
      expect(Buffer.from(again.toBytes()).equals(Buffer.from(g.toBytes()))).toBe(true);

      const clustered = (await build(4, 2)).g;
      expect(clustered.classInfo().map((c) => c.vectors)).toEqual([2, 2, 2]);
      // One packshot per class still has within-class scatter to learn from once it has views.
      const info = clustered.adapt();
      expect(info.method).toBe('lda');
      expect(info.references).toBe(20);
      const [q] = await embedder.embed(photos('Packages/Milk/Arla-Standard-Milk', 1));
      expect(clustered.classify(q!).label).toBe('milk');
    } finally {
      await embedder.dispose();
    }
  }, 120_000);
});

describe.skipIf(!HAVE_SHARED)('negative references', () => {
  let embedder: Embedder;
  let gallery: ReferenceGallery;
  let lookAlike: Float32Array[];
  beforeAll(async () => {
    embedder = await Embedder.create({ workers: 1 });
    gallery = new ReferenceGallery({ index: 'exact' });
    await gallery.addImages(embedder, 'Arla Standard Milk', photos('Packages/Milk/Arla-Standard-Milk', 8));
    await gallery.addImages(embedder, 'Banana', photos('Fruit/Banana', 8));
    await gallery.addImages(embedder, 'Oatly Natural Oatghurt', photos('Packages/Oatghurt/Oatly-Natural-Oatghurt', 8));
    // Queries of a product the gallery lacks that resembles one of its labels: another Arla milk carton.
    lookAlike = await embedder.embed(photos('Packages/Milk/Arla-Medium-Fat-Milk', 6, 6));
  }, 120_000);
  afterAll(() => embedder?.dispose());

  it('lower a look-alike’s score, are never returned as a label, and survive a save and load', async () => {
    const before = lookAlike.map((v) => gallery.classify(v));
    const negatives = await gallery.addNegativeImages(embedder, [
      ...photos('Packages/Milk/Arla-Medium-Fat-Milk', 6),
      join(work, 'missing.jpg'),
    ]);
    expect(negatives).toMatchObject({ added: 6 });
    expect(negatives.failures).toHaveLength(1);
    expect(gallery.negativeCount).toBe(6);
    const after = lookAlike.map((v) => gallery.classify(v));
    after.forEach((r, i) => {
      expect(r.unknownScore).toBeLessThan(before[i]!.unknownScore);
      expect(gallery.labels).toContain(r.label);
      expect(r.labels.every((l) => gallery.labels.includes(l.label))).toBe(true);
    });
    expect(before.filter((r) => !r.unknown).length).toBeGreaterThan(after.filter((r) => !r.unknown).length);
    // The targets themselves are still named.
    const [milk] = await embedder.embed(photos('Packages/Milk/Arla-Standard-Milk', 1, 10));
    expect(gallery.classify(milk!)).toMatchObject({ label: 'Arla Standard Milk', unknown: false });

    const file = join(work, 'negatives.skg');
    await gallery.save(file);
    const loaded = await ReferenceGallery.load(file);
    expect(loaded.negativeCount).toBe(6);
    expect(loaded.labels).toEqual(gallery.labels);
    // A plain gallery's raw means come from its stored centroids, which the file keeps: equal to rounding.
    lookAlike.forEach((v, i) => expect(loaded.classify(v).unknownScore).toBeCloseTo(after[i]!.unknownScore, 6));
  });

  it('calibrate() reports false names on held-out negatives and keeps them within its target', () => {
    // In the session that built it, the gallery still holds its references (a loaded class-mean gallery would not).
    const g = gallery;
    const c = g.calibrate({ folds: 3, falseNameRate: 0 });
    expect(c.negatives).toBeDefined();
    expect(c.negatives!.heldOut).toBe(6);
    expect(c.negatives!.falseNameRate).toBe(0);
    expect(g.calibrationInfo!.guards!.negatives!.threshold).toBe(c.negatives!.threshold);
  });
});

describe.skipIf(!HAVE_SHARED)('the default threshold', () => {
  it('comes from the built-in embedder unless calibrated or set, and gallery info says which', async () => {
    const refs = join(work, 'refs.csv');
    writeCsv(refs, [
      ...photos('Fruit/Banana', 4).map((path) => ({ path, label: 'banana' })),
      ...photos('Packages/Milk/Arla-Standard-Milk', 4).map((path) => ({ path, label: 'milk' })),
      ...photos('Packages/Oatghurt/Oatly-Natural-Oatghurt', 4).map((path) => ({ path, label: 'oatghurt' })),
    ]);
    const file = join(work, 'default.skg');
    const built = await runCli(['gallery', 'build', refs, '-o', file]);
    expect(built.code, built.stderr).toBe(0);
    const info = JSON.parse((await runCli(['gallery', 'info', file, '--json'])).stdout);
    expect(info).toMatchObject({ threshold: defaultThresholdFor(DEFAULT_EMBEDDER), thresholdSource: 'embedder' });
    expect((await runCli(['gallery', 'info', file])).stdout).toMatch(/threshold 0\.\d+ \(measured for the built-in skulens:mobilenetv2/);

    const set = join(work, 'set.skg');
    expect((await runCli(['gallery', 'build', refs, '-o', set, '--threshold', '0.4'])).code).toBe(0);
    expect(JSON.parse((await runCli(['gallery', 'info', set, '--json'])).stdout)).toMatchObject({
      threshold: 0.4,
      thresholdSource: 'explicit',
    });

    const cal = join(work, 'cal.skg');
    expect((await runCli(['gallery', 'build', refs, '-o', cal, '--calibrate'])).code).toBe(0);
    expect(JSON.parse((await runCli(['gallery', 'info', cal, '--json'])).stdout)).toMatchObject({ thresholdSource: 'calibrated' });
  }, 240_000);

  it('is measured for each built-in embedder, and a model given by path keeps the generic one', async () => {
    expect(defaultThresholdFor('skulens:retail-160')).toBeGreaterThan(0);
    expect(defaultThresholdFor(MOBILENETV2_EMBEDDER)).toBeGreaterThan(0);
    const byPath = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', workers: 1 });
    try {
      const g = new ReferenceGallery();
      g.useEmbedder(byPath);
      expect(g.thresholdSource).toBe('default');
      expect(g.threshold).toBe(0.5);
    } finally {
      await byPath.dispose();
    }
  });
});

describe.skipIf(!HAVE_SHARED)('skulens:mobilenetv2', () => {
  it('loads with the imagenet preprocessing from its own metadata and embeds like the shared model with --preset imagenet', async () => {
    const builtin = await Embedder.create({ model: MOBILENETV2_EMBEDDER, workers: 1 });
    const shared = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', workers: 1 });
    try {
      expect(builtin.specSource).toBe('metadata');
      expect(builtin.dim).toBe(1280);
      expect(builtin.spec).toEqual(shared.spec);
      const img = photos('Fruit/Banana', 1);
      const [a] = await builtin.embed(img);
      const [b] = await shared.embed(img);
      expect(Array.from(a!)).toEqual(Array.from(b!));
    } finally {
      await builtin.dispose();
      await shared.dispose();
    }
  });
});
