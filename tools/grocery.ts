/**
 * The Grocery Store protocol shared by bench/ and training/: where the data and the
 * teacher model are, the class lists, few-shot top-1, and train/test embeddings computed
 * once per embedder (default: the MobileNetV2 teacher with the imagenet preset) and
 * cached in the OS temp folder keyed by the embedder's fingerprint, the onnxruntime
 * version, the session options and the CPU (./cache-key.ts), so re-runs skip the
 * embedding pass.
 */
import { existsSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import '../src/node/platform.js';
import { Embedder } from '../src/core/embedder.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { parseCsv, readLabelledSet } from '../src/node/dataset.js';
import { adaptDefaultsFor } from '../src/core/builtin-models.js';
import type { AdaptOptions } from '../src/core/adapt/lda.js';
import { vectorCacheKey } from './cache-key.js';

export const SHARED = resolve(process.env.SKULENS_SHARED ?? join(import.meta.dirname, '..', '..', 'shared'));
export const GROCERY = join(SHARED, 'data', 'grocery-store');
export const EMBED_MODEL = join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx');

export interface LabelledVectors {
  dim: number;
  labels: string[];
  /** n × dim, row-major. */
  vectors: Float32Array;
}

export interface GroceryVectors {
  fingerprint: string;
  train: LabelledVectors;
  test: LabelledVectors;
}

export async function groceryVectors(
  log: (msg: string) => void = (m) => process.stderr.write(m + '\n'),
  model: { model?: string; preset?: string } = { model: EMBED_MODEL, preset: 'imagenet' },
): Promise<GroceryVectors> {
  const embedder = await Embedder.create({ ...model, batchSize: 32 });
  const cache = join(tmpdir(), `skulens-grocery-${vectorCacheKey(embedder.fingerprint)}.json`);
  const bin = cache.replace(/\.json$/, '.bin');
  if (existsSync(cache) && existsSync(bin)) {
    const meta = JSON.parse(await readFile(cache, 'utf8')) as { dim: number; train: string[]; test: string[] };
    const buf = await readFile(bin);
    const all = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice();
    const cut = meta.train.length * meta.dim;
    await embedder.dispose();
    log(`grocery vectors: cached ${cache}`);
    return {
      fingerprint: embedder.fingerprint,
      train: { dim: meta.dim, labels: meta.train, vectors: all.subarray(0, cut) },
      test: { dim: meta.dim, labels: meta.test, vectors: all.subarray(cut) },
    };
  }
  const embedSet = async (name: string): Promise<LabelledVectors> => {
    const { items } = await readLabelledSet(join(GROCERY, `${name}.csv`));
    const t0 = performance.now();
    const { vectors, failures } = await embedder.embedSettled(
      items.map((i) => i.path),
      { onProgress: (p) => p.done % 320 === 0 && log(`  ${name}: ${p.done}/${p.total}`) },
    );
    if (failures.length) throw new Error(`${failures.length} ${name} images failed: ${failures[0]!.error.message}`);
    log(`embedded ${items.length} ${name} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const out = new Float32Array(items.length * embedder.dim);
    vectors.forEach((v, i) => out.set(v!, i * embedder.dim));
    return { dim: embedder.dim, labels: items.map((i) => i.label), vectors: out };
  };
  const train = await embedSet('train');
  const test = await embedSet('test');
  await embedder.dispose();
  const all = new Float32Array(train.vectors.length + test.vectors.length);
  all.set(train.vectors);
  all.set(test.vectors, train.vectors.length);
  await writeFile(bin, new Uint8Array(all.buffer));
  await writeFile(cache, JSON.stringify({ dim: train.dim, train: train.labels, test: test.labels }));
  return { fingerprint: embedder.fingerprint, train, test };
}

/**
 * One split (`train`, `val` or `test`) embedded by the MobileNetV2 teacher (imagenet
 * preset), cached in the OS temp folder under the same names bench/accuracy.ts uses, so
 * the two share one embedding pass.
 */
export async function splitVectors(
  split: string,
  log: (msg: string) => void = (m) => process.stderr.write(m + '\n'),
): Promise<LabelledVectors> {
  const embedder = await Embedder.create({ model: EMBED_MODEL, preset: 'imagenet', batchSize: 32 });
  try {
    const base = join(tmpdir(), `skulens-accuracy-${vectorCacheKey(embedder.fingerprint)}-${split}`);
    if (existsSync(base + '.json') && existsSync(base + '.bin')) {
      const meta = JSON.parse(await readFile(base + '.json', 'utf8')) as { dim: number; labels: string[] };
      const buf = await readFile(base + '.bin');
      return { dim: meta.dim, labels: meta.labels, vectors: new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4).slice() };
    }
    const { items } = await readLabelledSet(join(GROCERY, `${split}.csv`));
    const t0 = performance.now();
    const { vectors, failures } = await embedder.embedSettled(
      items.map((i) => i.path),
      { onProgress: (p) => p.done % 320 === 0 && log(`  ${split}: ${p.done}/${p.total}`) },
    );
    if (failures.length) throw new Error(`${failures.length} ${split} images failed: ${failures[0]!.error.message}`);
    log(`embedded ${items.length} ${split} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    const out = new Float32Array(items.length * embedder.dim);
    vectors.forEach((v, i) => out.set(v!, i * embedder.dim));
    await writeFile(base + '.bin', new Uint8Array(out.buffer));
    await writeFile(base + '.json', JSON.stringify({ dim: embedder.dim, labels: items.map((i) => i.label) }));
    return { dim: embedder.dim, labels: items.map((i) => i.label), vectors: out };
  } finally {
    await embedder.dispose();
  }
}

/** Vectors grouped by label, in order of appearance (views into `set.vectors`). */
export function byLabel(set: LabelledVectors): Map<string, Float32Array[]> {
  const m = new Map<string, Float32Array[]>();
  set.labels.forEach((l, i) => {
    if (!m.has(l)) m.set(l, []);
    m.get(l)!.push(set.vectors.subarray(i * set.dim, (i + 1) * set.dim));
  });
  return m;
}

/** The rows of `set` at `indices`, in that order (a copy). */
export function rowsAt(set: LabelledVectors, indices: readonly number[]): LabelledVectors {
  const vectors = new Float32Array(indices.length * set.dim);
  indices.forEach((i, j) => vectors.set(set.vectors.subarray(i * set.dim, (i + 1) * set.dim), j * set.dim));
  return { dim: set.dim, labels: indices.map((i) => set.labels[i]!), vectors };
}

export type FewShotMethod = 'gallery' | '1-NN' | 'adapted';

/**
 * Top-1 of `queries` against a gallery of `refs`, built as a user would: `gallery` is the
 * default gallery (one mean per class, k = 10 vote), `1-NN` keeps every reference and
 * takes the nearest, `adapted` is the default gallery after adapt(). `adapt` overrides the
 * model's adapt() defaults for the 'adapted' method (training/evaluation/select.ts sweeps them).
 */
export function fewShotTop1(
  refs: LabelledVectors,
  queries: LabelledVectors,
  method: FewShotMethod,
  model?: string,
  adapt: AdaptOptions = {},
): number {
  const g = new ReferenceGallery({ index: 'exact', ...(method === '1-NN' ? { clustersPerClass: 'all' as const } : {}) });
  for (const [label, vs] of [...byLabel(refs)].sort(([a], [b]) => (a < b ? -1 : 1))) g.add(label, vs);
  // These galleries hold bare vectors, so pass the model's adapt() defaults as a gallery built from images would apply them.
  if (method === 'adapted') g.adapt({ ...adaptDefaultsFor(model), ...adapt });
  const answers = g.classifyBatch(queries.vectors, { threshold: -Infinity, ...(method === '1-NN' ? { k: 1 } : {}) });
  return answers.filter((r, i) => r.label === queries.labels[i]).length / answers.length;
}

export interface GroceryClass {
  name: string;
  id: number;
  /** Path of the class's iconic image, relative to the dataset folder. */
  iconic: string;
  /** Held out of the built-in embedder's training (id ≡ 3 mod 4: 20 of 81 classes). */
  heldOut: boolean;
}

export async function readGroceryClasses(): Promise<GroceryClass[]> {
  const rows = parseCsv(await readFile(join(GROCERY, 'classes.csv'), 'utf8')).slice(1);
  return rows
    .filter((r) => r.length >= 5)
    .map((r) => ({ name: r[0]!, id: Number(r[1]), iconic: r[4]!.replace(/^\//, ''), heldOut: Number(r[1]) % 4 === 3 }));
}

// Run directly to warm the cache.
if (process.argv[1] && resolve(process.argv[1]) === resolve(import.meta.filename)) {
  const g = await groceryVectors();
  console.log(`train ${g.train.labels.length}, test ${g.test.labels.length}, dim ${g.train.dim}, fingerprint ${g.fingerprint}`);
}
