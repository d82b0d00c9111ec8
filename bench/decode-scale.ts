/**
 * Would decoding JPEGs at reduced scale (libjpeg's DCT scaling through sharp's
 * shrink-on-load) speed up embedding without moving the vectors? (docs/embedder.md, Speed)
 *
 * For each photo set, decodes every photo in full the way loadImage() does, and at reduced
 * scale: sharp resizes to a target with `fastShrinkOnLoad` (libjpeg then scales by 1/2,
 * 1/4 or 1/8 inside the DCT whenever the shrink is at least 3; below that sharp decodes in
 * full first), the Embedder resamples the rest. Prints decode CPU per photo and the cosine
 * between the vectors from full and from reduced decoding: the browser decodes in full, so
 * vectors must stay within the Node-vs-browser tolerance (cosine >= 0.999, docs/browser.md).
 *
 * Photo sets: 16 SKU-110K shelf photos (1920×2560; speed and agreement only, nothing is
 * tuned on them) and 64 Grocery Store test photos (348×348).
 * Run: npx tsx bench/decode-scale.ts   (built-in embedder, 160×160 stretch)
 */
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Embedder, type RawImage } from '../src/index.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { sharpToRgb } from '../src/node/image-loader.js';
import { GROCERY } from '../tools/grocery.js';

const SHELVES = join(GROCERY, '..', 'sku110k-shelf');
const shelfFiles = readdirSync(SHELVES)
  .filter((f) => f.endsWith('.jpg'))
  .sort()
  .map((f) => join(SHELVES, f));
const groceryFiles = (await readLabelledSet(join(GROCERY, 'test.csv'))).items
  .filter((_, i) => i % 38 === 0)
  .slice(0, 64)
  .map((i) => i.path);

const embedder = await Embedder.create({ batchSize: 16 });
const cosine = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);

/** Decode every file (4 in flight), optionally resized by sharp; CPU ms per photo and the pixels. */
async function decodeAll(files: string[], size?: (w: number, h: number) => [number, number]): Promise<{ cpu: number; images: RawImage[] }> {
  const jpegs = await Promise.all(files.map((f) => readFile(f)));
  const images: RawImage[] = new Array(files.length);
  const before = process.cpuUsage();
  let next = 0;
  await Promise.all(
    Array.from({ length: 4 }, async () => {
      while (next < jpegs.length) {
        const i = next++;
        let pipeline = sharpToRgb(jpegs[i]!);
        if (size) {
          const meta = await sharpToRgb(jpegs[i]!).metadata();
          const [w, h] = size(meta.width!, meta.height!);
          pipeline = pipeline.resize(w, h, { fit: 'fill', fastShrinkOnLoad: true });
        }
        const { data, info } = await pipeline.toBuffer({ resolveWithObject: true });
        images[i] = {
          data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength),
          width: info.width,
          height: info.height,
          channels: 3,
        };
      }
    }),
  );
  const used = process.cpuUsage(before);
  return { cpu: (used.user + used.system) / 1000 / files.length, images };
}

console.log(
  `decode at reduced scale vs in full, built-in embedder (${embedder.spec.width}×${embedder.spec.height} ${embedder.spec.resize}), node ${process.version}`,
);
console.log('| photos | decoded at | decode CPU ms / photo | cosine to full decode: min | mean |');
console.log('|---|---|---:|---:|---:|');
for (const [name, files] of [
  ['16 shelf photos 1920×2560', shelfFiles],
  ['64 grocery photos 348×348', groceryFiles],
] as const) {
  await decodeAll(files.slice(0, 2)); // warm-up
  const full = await decodeAll(files);
  const reference = await embedder.embed(full.images);
  console.log(`| ${name} | full size | ${full.cpu.toFixed(2)} | 1 | 1 |`);
  // Targets: the model's size (largest shrink), then 2× and 4× its size along the short side.
  for (const headroom of [1, 2, 4]) {
    const target = (w: number, h: number): [number, number] => {
      const k = Math.min(1, (headroom * Math.max(embedder.spec.width, embedder.spec.height)) / Math.min(w, h));
      return [Math.max(1, Math.round(w * k)), Math.max(1, Math.round(h * k))];
    };
    const reduced = await decodeAll(files, target);
    const vectors = await embedder.embed(reduced.images);
    const cos = vectors.map((v, i) => cosine(v, reference[i]!));
    const [w, h] = target(full.images[0]!.width, full.images[0]!.height);
    console.log(
      `| ${name} | ${w}×${h} (${headroom}× the model's side) | ${reduced.cpu.toFixed(2)} | ${Math.min(...cos).toFixed(5)} | ${(cos.reduce((s, c) => s + c, 0) / cos.length).toFixed(5)} |`,
    );
  }
}
await embedder.dispose();
