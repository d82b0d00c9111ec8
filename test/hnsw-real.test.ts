/**
 * The `auto` index on real embeddings: a gallery of > 1,000 real vectors starts exact and
 * switches to HNSW once enough queries come; HNSW then finds the exact nearest neighbour
 * for ≥ 99 % of real queries (docs/gallery.md: "recall@1 ≥ 0.99") and names them as the
 * exact index does. Built-in embedder (fast), Grocery Store photos and crops of them.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, loadImage, ReferenceGallery } from '../src/index.js';
import { readManifest } from '../src/node/dataset.js';
import { grocery, HAVE_SHARED } from './helpers/shared.js';

describe.skipIf(!HAVE_SHARED)('auto index on real embeddings', () => {
  let embedder: Embedder;
  const refs = new Map<string, Float32Array[]>();
  let queries: { vector: Float32Array; label: string }[] = [];
  let stored = 0;

  beforeAll(async () => {
    embedder = await Embedder.create({ batchSize: 32 });
    // Every 10th training photo (all 81 classes), as a whole and as 3 crops: 4 real vectors each.
    const train = (await readManifest(join(grocery, 'train.csv'))).filter((_, i) => i % 10 === 0);
    const inputs: { image: Awaited<ReturnType<typeof loadImage>>; crop?: { x: number; y: number; width: number; height: number } }[] = [];
    const labels: string[] = [];
    for (const row of train) {
      const image = await loadImage(row.path);
      const { width: w, height: h } = image;
      const crops = [
        [0.1, 0.1, 0.8],
        [0, 0, 0.7],
        [0.3, 0.3, 0.7],
      ].map(([x, y, size]) => ({
        x: Math.round(x! * w),
        y: Math.round(y! * h),
        width: Math.round(size! * w),
        height: Math.round(size! * h),
      }));
      inputs.push({ image }, ...crops.map((crop) => ({ image, crop })));
      labels.push(row.label, row.label, row.label, row.label);
    }
    const vs = await embedder.embed(inputs);
    vs.forEach((v, i) => refs.set(labels[i]!, [...(refs.get(labels[i]!) ?? []), v]));
    stored = vs.length;
    const test = (await readManifest(join(grocery, 'test.csv'))).filter((_, i) => i % 8 === 0);
    const qv = await embedder.embed(test.map((t) => t.path));
    queries = qv.map((vector, i) => ({ vector, label: test[i]!.label }));
  }, 600_000);
  afterAll(async () => {
    await embedder?.dispose();
  });

  it('starts exact, switches to HNSW for a long batch, and keeps recall@1 ≥ 0.99', () => {
    expect(stored).toBeGreaterThanOrEqual(1000); // AUTO_HNSW_MIN_SIZE
    expect(queries.length).toBeGreaterThanOrEqual(300); // AUTO_HNSW_AFTER_QUERIES
    const fill = (g: ReferenceGallery) => {
      for (const [label, vs] of refs) g.add(label, vs);
      return g;
    };
    const auto = fill(new ReferenceGallery({ clustersPerClass: 'all' }));
    const exact = fill(new ReferenceGallery({ clustersPerClass: 'all', index: 'exact' }));
    auto.classify(queries[0]!.vector);
    expect(auto.indexKind).toBe('exact');
    const vectors = queries.map((q) => q.vector);
    const got = auto.classifyBatch(vectors);
    expect(auto.indexKind).toBe('hnsw');
    const want = exact.classifyBatch(vectors);

    let sameNearest = 0;
    for (const v of vectors) {
      const [a] = auto.nearest(v, 1);
      const [b] = exact.nearest(v, 1);
      if (a!.label === b!.label && Math.abs(a!.score - b!.score) < 1e-5) sameNearest++;
    }
    const agree = got.filter((r, i) => r.label === want[i]!.label).length;
    const right = want.filter((r, i) => r.label === queries[i]!.label).length;
    console.log(
      `${stored} real vectors, ${queries.length} queries: HNSW recall@1 ${(sameNearest / queries.length).toFixed(3)}, labels as exact ${(agree / queries.length).toFixed(3)}, top-1 ${(right / queries.length).toFixed(3)}`,
    );
    expect(sameNearest / queries.length).toBeGreaterThanOrEqual(0.99);
    expect(agree / queries.length).toBeGreaterThanOrEqual(0.99);
    // Real embeddings, not noise: far above chance (1/81) even with 3 photos per class.
    expect(right / queries.length).toBeGreaterThan(0.3);
  });
});
