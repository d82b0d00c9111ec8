/**
 * Step 1 of the training pipeline: the teacher's signal, computed once and cached.
 *
 * For every training image (grocery-store train + val rows and iconic images of the
 * training classes only; classes whose id ≡ 3 mod 4 are held out), draw VIEWS random
 * crop rectangles (random-resized-crop geometry, half of them mirrored; view 0 is always
 * the whole image), and embed each with the MobileNetV2 teacher through skulens itself.
 * train.py shows the student the same rectangles, stretched whole to its input. The teacher
 * sees each rectangle through the imagenet preset, i.e. its central 87.5 % (short side to
 * 256, centre 224): that is how the shipped model was trained (`--teacher-resize
 * center-crop`, the default). `--teacher-resize stretch` shows the teacher the whole
 * rectangle stretched, exactly the pixels the student sees.
 *
 * Writes to training/cache/views-<VIEWS>/ (or --out):
 *   images.tsv      index, path (relative to the dataset), class name, class id, width, height
 *   views.f32       per image × view: x, y, w, h (fractions of the image), mirrored (0/1)
 *   teacher.f16     per image × view: the teacher's L2-normalised 1280-d vector, float16
 *   meta.json       counts, seed, teacher fingerprint
 *
 * Run: npx tsx training/pipeline/teacher-views.ts [--views 16] [--seed 1] [--teacher-resize center-crop|stretch] [--out folder]
 */
import { mkdir, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { parseArgs } from 'node:util';
import { Embedder, loadImage, type RawImage } from '../../src/index.js';
import { readManifest } from '../../src/node/dataset.js';
import { float32ToHalfArray } from '../../src/core/float16.js';
import { Rng } from '../../src/core/adapt/rng.js';
import { EMBED_MODEL as TEACHER, GROCERY as DATA, readGroceryClasses } from '../../tools/grocery.js';

const HERE = dirname(new URL(import.meta.url).pathname);

const { values } = parseArgs({
  options: {
    views: { type: 'string', default: '16' },
    seed: { type: 'string', default: '1' },
    'teacher-resize': { type: 'string', default: 'center-crop' },
    out: { type: 'string' },
  },
});
const TEACHER_RESIZE = values['teacher-resize'];
if (TEACHER_RESIZE !== 'center-crop' && TEACHER_RESIZE !== 'stretch') {
  throw new Error(`--teacher-resize must be center-crop or stretch, not ${TEACHER_RESIZE}`);
}
const VIEWS = Number(values.views);
const SEED = Number(values.seed);
const CACHE = values.out ?? join(HERE, '..', 'cache', `views-${VIEWS}`);

function mirror(image: RawImage): RawImage {
  const { width, height, channels, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    const row = y * width * channels;
    for (let x = 0; x < width; x++) {
      const src = row + x * channels;
      const dst = row + (width - 1 - x) * channels;
      for (let c = 0; c < channels; c++) out[dst + c] = data[src + c]!;
    }
  }
  return { width, height, channels, data: out };
}

/** Random-resized-crop geometry: 30–100 % of the area, aspect 3:4 to 4:3. */
function sampleView(rand: () => number, view: number): [number, number, number, number, number] {
  if (view === 0) return [0, 0, 1, 1, 0];
  const mirrored = view % 2 === 1 ? 1 : 0;
  for (;;) {
    const area = 0.3 + 0.7 * rand();
    const aspect = Math.exp(Math.log(3 / 4) + rand() * Math.log(16 / 9));
    const w = Math.sqrt(area * aspect);
    const h = Math.sqrt(area / aspect);
    if (w > 1 || h > 1) continue;
    return [rand() * (1 - w), rand() * (1 - h), w, h, mirrored];
  }
}

// Training classes: every class whose id is not ≡ 3 (mod 4).
const classes = await readGroceryClasses();
const byName = new Map(classes.map((c) => [c.name, c]));
const training = classes.filter((c) => !c.heldOut);
const rows = [...(await readManifest(join(DATA, 'train.csv'))), ...(await readManifest(join(DATA, 'val.csv')))];
const items = rows
  .filter((r) => !byName.get(r.label)!.heldOut)
  .map((r) => ({ path: r.path, label: r.label }))
  .concat(training.map((c) => ({ path: join(DATA, c.iconic), label: c.name })));
console.log(
  `${items.length} images of ${training.length} training classes (${classes.length - training.length} held out), ${VIEWS} views each`,
);

const teacher = await Embedder.create({ model: TEACHER, preset: 'imagenet', resize: TEACHER_RESIZE, batchSize: 32 });
const rng = new Rng(SEED);
const rand = () => rng.next();
const views = new Float32Array(items.length * VIEWS * 5);
const vectors = new Uint16Array(items.length * VIEWS * teacher.dim);

const sizes: string[] = [];
const t0 = performance.now();
const CHUNK = 32;
for (let start = 0; start < items.length; start += CHUNK) {
  const chunk = items.slice(start, start + CHUNK);
  const inputs: { image: RawImage; crop: { x: number; y: number; width: number; height: number } }[] = [];
  for (const [j, item] of chunk.entries()) {
    const image = await loadImage(item.path);
    const flipped = mirror(image);
    sizes[start + j] = `${image.width}\t${image.height}`;
    for (let v = 0; v < VIEWS; v++) {
      const view = sampleView(rand, v);
      // Whole pixels, and store what was actually cropped.
      const x = Math.floor(view[0] * image.width);
      const y = Math.floor(view[1] * image.height);
      const width = Math.max(1, Math.min(image.width - x, Math.round(view[2] * image.width)));
      const height = Math.max(1, Math.min(image.height - y, Math.round(view[3] * image.height)));
      views.set([x / image.width, y / image.height, width / image.width, height / image.height, view[4]], ((start + j) * VIEWS + v) * 5);
      inputs.push({ image: view[4] ? flipped : image, crop: { x, y, width, height } });
    }
  }
  const out = await teacher.embed(inputs);
  out.forEach((vec, k) => {
    const base = (start * VIEWS + k) * teacher.dim;
    float32ToHalfArray(vec, vectors.subarray(base, base + teacher.dim));
  });
  if ((start / CHUNK) % 10 === 0) {
    const done = Math.min(items.length, start + CHUNK);
    console.log(`  ${done}/${items.length} images, ${((performance.now() - t0) / 1000).toFixed(0)} s`);
  }
}
await teacher.dispose();

await mkdir(CACHE, { recursive: true });
const rel = (p: string) => (p.startsWith(DATA) ? p.slice(DATA.length + 1) : p);
await writeFile(
  join(CACHE, 'images.tsv'),
  items.map((it, i) => `${i}\t${rel(it.path)}\t${it.label}\t${byName.get(it.label)!.id}\t${sizes[i]}`).join('\n') + '\n',
);
await writeFile(join(CACHE, 'views.f32'), Buffer.from(views.buffer));
await writeFile(join(CACHE, 'teacher.f16'), Buffer.from(vectors.buffer));
await writeFile(
  join(CACHE, 'meta.json'),
  JSON.stringify(
    { images: items.length, views: VIEWS, dim: teacher.dim, seed: SEED, teacherResize: TEACHER_RESIZE, teacher: teacher.fingerprint },
    null,
    2,
  ),
);
console.log(`done in ${((performance.now() - t0) / 1000).toFixed(0)} s → ${CACHE}`);
