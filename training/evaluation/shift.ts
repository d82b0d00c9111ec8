/**
 * Robustness to photo conditions, without test/: the held-out classes' photos under
 * conditions their galleries did not see, through skulens itself.
 *
 *   iconic   studio → store: the gallery is each held-out class's iconic image (one studio
 *            shot, never trained on), the queries are the class's train and val photos
 *            (758). Gallery top-1 only (one reference per class leaves nothing to adapt).
 *   clean    select.ts's 5-references-per-class split-half, both directions pooled (686
 *            queries); gallery / adapted top-1 at the model's defaults.
 *   <shift>  the same split with every query photo altered before embedding (the gallery
 *            stays clean): dark (pixel values × 0.6), warm (a colour cast: red × 1.15,
 *            blue × 0.75), blur (Gaussian, σ 2 px), jpeg (re-encoded at quality 15),
 *            low-res (a quarter of the width and height), zoom (the central 70 %).
 *
 * Compare each shift's drop from clean between models: the teacher loses little to a
 * colour cast or a zoom, the built-in model more (docs/models.md, Limitations).
 *
 * --shrinkage S adapts every model at covariance shrinkage S instead of its own default (a
 * candidate file given by path has no built-in defaults: give it the built-in's 0.4 to compare).
 *
 * --teacher adds the shared MobileNetV2 teacher, through its imagenet preset.
 *
 * Run: npx tsx training/evaluation/shift.ts [--model a.onnx --model b.onnx ...] [--teacher] [--shrinkage 0.4]   (default model: the built-in one)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type Sharp } from 'sharp';
import { Embedder, type EmbedInput } from '../../src/index.js';
import { GROCERY, fewShotTop1, readGroceryClasses, rowsAt, type LabelledVectors } from '../../tools/grocery.js';
import { heldOutRows, modelSources, splitHalves, type Row } from './protocols.js';

const { values } = parseArgs({
  options: { model: { type: 'string', multiple: true }, teacher: { type: 'boolean' }, shrinkage: { type: 'string' } },
});
const models = modelSources(values.model, values.teacher);
const shrinkage = values.shrinkage === undefined ? undefined : Number(values.shrinkage);
if (shrinkage !== undefined && !(shrinkage >= 0 && shrinkage <= 1)) throw new Error('--shrinkage takes a value in [0, 1]');

type Shift = (image: Sharp, width: number, height: number) => Sharp;
const SHIFTS: Record<string, Shift> = {
  dark: (im) => im.linear(0.6, 0),
  warm: (im) =>
    im.recomb([
      [1.15, 0, 0],
      [0, 1, 0],
      [0, 0, 0.75],
    ]),
  blur: (im) => im.blur(2),
  jpeg: (im) => im.jpeg({ quality: 15 }),
  'low-res': (im, w, h) => im.resize(Math.round(w / 4), Math.round(h / 4)),
  zoom: (im, w, h) =>
    im.extract({ left: Math.round(w * 0.15), top: Math.round(h * 0.15), width: Math.round(w * 0.7), height: Math.round(h * 0.7) }),
};

type Decoded = { data: Buffer; width: number; height: number };

/** A photo's upright RGB pixels. */
async function decode(path: string): Promise<Decoded> {
  const { data, info } = await sharp(path).rotate().toColourspace('srgb').removeAlpha().raw().toBuffer({ resolveWithObject: true });
  return { data, width: info.width, height: info.height };
}

/** The photo with `shift` applied, as encoded bytes (jpeg) or decoded pixels (the rest). */
async function shifted({ data, width, height }: Decoded, name: string): Promise<EmbedInput> {
  const altered = SHIFTS[name]!(sharp(data, { raw: { width, height, channels: 3 } }), width, height);
  if (name === 'jpeg') return new Uint8Array(await altered.toBuffer());
  const out = await altered.raw().toBuffer({ resolveWithObject: true });
  return { data: out.data, width: out.info.width, height: out.info.height, channels: 3 };
}

const classes = (await readGroceryClasses()).filter((c) => c.heldOut);
const train = await heldOutRows('train');
const photos = [...train, ...(await heldOutRows('val'))];
const splits = splitHalves(train, { refsPerClass: 5, mirrored: true }).filter((s) => s.refsPerClass !== undefined);
// Decoded once: every shift of every model starts from these pixels.
const decodedTrain = await Promise.all(train.map((r) => decode(r.path)));

async function vectors(embedder: Embedder, inputs: readonly EmbedInput[], labels: string[]): Promise<LabelledVectors> {
  const out = await embedder.embed(inputs);
  const flat = new Float32Array(out.length * embedder.dim);
  out.forEach((v, i) => flat.set(v, i * embedder.dim));
  return { dim: embedder.dim, labels, vectors: flat };
}
const labelsOf = (rows: readonly Row[]) => rows.map((r) => r.label);

/** Pooled top-1 over both split directions: clean gallery, `queries` as given. */
function pooled(model: string, clean: LabelledVectors, queries: LabelledVectors, method: 'gallery' | 'adapted'): number {
  let right = 0;
  let total = 0;
  for (const s of splits) {
    right +=
      fewShotTop1(rowsAt(clean, s.gallery), rowsAt(queries, s.queries), method, model, shrinkage === undefined ? {} : { shrinkage }) *
      s.queries.length;
    total += s.queries.length;
  }
  return right / total;
}

const columns = ['iconic: gallery', 'clean: gallery / adapted', ...Object.keys(SHIFTS).map((s) => `${s}: drop`)];
console.log(
  `held-out classes: ${classes.length}; iconic ${photos.length} queries; split-half 5/class, both directions, ${splits.reduce((n, s) => n + s.queries.length, 0)} queries`,
);
console.log(`| model | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---:').join('|')}|`);
for (const { name, model, preset } of models) {
  const embedder = await Embedder.create({ model, preset, batchSize: 32 });
  const iconic = await vectors(
    embedder,
    classes.map((c) => join(GROCERY, c.iconic)),
    classes.map((c) => c.name),
  );
  const asTaken = await vectors(
    embedder,
    photos.map((r) => r.path),
    labelsOf(photos),
  );
  const studio = fewShotTop1(iconic, asTaken, 'gallery', model);
  const clean = rowsAt(
    asTaken,
    train.map((_, i) => i),
  ); // photos begins with the train rows
  const base = [pooled(model, clean, clean, 'gallery'), pooled(model, clean, clean, 'adapted')] as const;
  const cells = [studio.toFixed(3), `${base[0].toFixed(3)} / ${base[1].toFixed(3)}`];
  for (const shift of Object.keys(SHIFTS)) {
    const altered = await vectors(embedder, await Promise.all(decodedTrain.map((photo) => shifted(photo, shift))), labelsOf(train));
    const drop = (method: 'gallery' | 'adapted', i: 0 | 1) => (100 * (pooled(model, clean, altered, method) - base[i])).toFixed(1);
    cells.push(`${drop('gallery', 0)} / ${drop('adapted', 1)}`);
  }
  await embedder.dispose();
  console.log(`| ${name} | ${cells.join(' | ')} |`);
}
