/**
 * Vectors for the store-domain protocols of bench:accuracy (docs/accuracy.md, "Studio →
 * store" and "Open set on shelves"), computed once per embedder and cached in the OS temp
 * folder:
 *  - Grocery Store train / val / test rows;
 *  - the 81 iconic packshots, as they are and with `augment` views (the views come from
 *    src/core/augment/augment.ts, so the cache key includes a hash of that file);
 *  - the boxes the reference shelf detector (`sku110k_yolov5n_ref.onnx`, evaluation only)
 *    finds on the 16 SKU-110K shelf photos, and their crops' vectors: products that are
 *    in no Grocery Store gallery.
 */
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/node/platform.js';
import { augmentImage, viewSeed } from '../src/core/augment/augment.js';
import { Detector } from '../src/core/detector/detector.js';
import { Embedder, type EmbedInput } from '../src/core/embedder.js';
import { decodeImage, type Rect } from '../src/core/image.js';
import { DEFAULT_KMEANS_SEED } from '../src/core/gallery/cluster.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { GROCERY, readGroceryClasses, SHARED, type LabelledVectors } from './grocery.js';

export const SHELVES = join(SHARED, 'data', 'sku110k-shelf');
export const REF_DETECTOR = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const log = (m: string) => process.stderr.write(m + '\n');

async function cached(key: string, make: () => Promise<LabelledVectors>): Promise<LabelledVectors> {
  const base = join(tmpdir(), `skulens-store-${key}`);
  if (existsSync(base + '.json') && existsSync(base + '.bin')) {
    const meta = JSON.parse(await readFile(base + '.json', 'utf8')) as { dim: number; labels: string[] };
    const buf = await readFile(base + '.bin');
    return {
      dim: meta.dim,
      labels: meta.labels,
      vectors: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)),
    };
  }
  const v = await make();
  await writeFile(base + '.bin', new Uint8Array(v.vectors.buffer, v.vectors.byteOffset, v.vectors.byteLength));
  await writeFile(base + '.json', JSON.stringify({ dim: v.dim, labels: v.labels }));
  return v;
}

async function embedAll(embedder: Embedder, inputs: EmbedInput[], labels: string[], what: string): Promise<LabelledVectors> {
  const t0 = performance.now();
  const { vectors, failures } = await embedder.embedSettled(inputs, {
    onProgress: (p) => p.done % 512 === 0 && log(`  ${what}: ${p.done}/${p.total}`),
  });
  if (failures.length) throw new Error(`${failures.length} ${what} inputs failed: ${failures[0]!.error.message}`);
  log(`embedded ${inputs.length} ${what} in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const out = new Float32Array(inputs.length * embedder.dim);
  vectors.forEach((v, i) => out.set(v!, i * embedder.dim));
  return { dim: embedder.dim, labels, vectors: out };
}

/** Grocery Store rows of one split (train, val or test). */
export async function groceryRows(embedder: Embedder, split: 'train' | 'val' | 'test'): Promise<LabelledVectors> {
  return cached(`${embedder.fingerprint}-${split}`, async () => {
    const { items } = await readLabelledSet(join(GROCERY, `${split}.csv`));
    return embedAll(
      embedder,
      items.map((i) => i.path),
      items.map((i) => i.label),
      `${split} rows`,
    );
  });
}

const augmentHash = async () =>
  createHash('sha256')
    .update(await readFile(join(import.meta.dirname, '..', 'src', 'core', 'augment', 'augment.ts')))
    .digest('hex')
    .slice(0, 12);

/**
 * The iconic packshot of every class (1 per class), then `views` augmented views of each
 * (seeded as `addImages` seeds them in a gallery with the default seed), labels repeated.
 */
export async function iconicRows(embedder: Embedder, views: number): Promise<LabelledVectors> {
  const key = `${embedder.fingerprint}-iconic-${views}-${views ? await augmentHash() : 'none'}`;
  return cached(key, async () => {
    const classes = await readGroceryClasses();
    const inputs: EmbedInput[] = [];
    const labels: string[] = [];
    for (const c of classes) {
      const image = await decodeImage(join(GROCERY, c.iconic));
      inputs.push(image);
      labels.push(c.name);
      for (const v of augmentImage(image, views, viewSeed(DEFAULT_KMEANS_SEED, c.name, 0))) {
        inputs.push(v);
        labels.push(c.name);
      }
    }
    return embedAll(embedder, inputs, labels, `iconic images (+${views} views each)`);
  });
}

export interface ShelfBox {
  photo: string;
  box: Rect;
}

/** The reference detector's boxes on the 16 shelf photos (class-agnostic, its default confidence 0.25). */
export async function shelfBoxes(): Promise<ShelfBox[]> {
  const hash = createHash('sha256')
    .update(await readFile(REF_DETECTOR))
    .digest('hex')
    .slice(0, 12);
  const file = join(tmpdir(), `skulens-store-shelf-boxes-${hash}.json`);
  if (existsSync(file)) return JSON.parse(await readFile(file, 'utf8')) as ShelfBox[];
  const photos = (await readdir(SHELVES)).filter((f) => /\.jpe?g$/i.test(f)).sort();
  const detector = await Detector.create({ model: REF_DETECTOR, classAgnostic: true, maxDetections: 1000 });
  const out: ShelfBox[] = [];
  for (const p of photos) {
    const detections = await detector.detect(join(SHELVES, p));
    for (const d of detections) out.push({ photo: p, box: d.box });
    log(`reference detector: ${p} ${detections.length} boxes`);
  }
  await detector.dispose();
  await writeFile(file, JSON.stringify(out));
  return out;
}

/** Vectors of the shelf crops; `labels` holds each crop's photo name (for splitting by photo). */
export async function shelfRows(embedder: Embedder): Promise<LabelledVectors> {
  const boxes = await shelfBoxes();
  return cached(`${embedder.fingerprint}-shelf-${boxes.length}`, async () => {
    const photos = [...new Set(boxes.map((b) => b.photo))];
    const decoded = new Map(await Promise.all(photos.map(async (p) => [p, await decodeImage(join(SHELVES, p))] as const)));
    return embedAll(
      embedder,
      boxes.map((b) => ({ image: decoded.get(b.photo)!, crop: b.box })),
      boxes.map((b) => b.photo),
      'shelf crops',
    );
  });
}

export async function builtinEmbedder(id: string): Promise<Embedder> {
  return Embedder.create({ model: id, batchSize: 32 });
}
