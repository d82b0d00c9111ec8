/**
 * Model selection without test/: ONNX embedders side by side on the 20 held-out classes,
 * through skulens itself (the same galleries users get), on two protocols:
 *
 *   val          gallery = the held-out classes' train rows, queries = their val rows (72)
 *   split-half   the held-out classes' train rows only: per class, the first half of its
 *                photos in file order (burst shots of one item stay together) is the
 *                gallery, the second half the queries (347)
 *
 * Methods as in bench:models: the default gallery (class means, k = 10 vote), 1-NN over
 * every reference, and the default gallery after adapt(). test.csv is never read.
 *
 * Run: npx tsx training/select.ts [--model a.onnx --model b.onnx ...] (default: the built-in model)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EMBEDDER, Embedder } from '../src/index.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { GROCERY, fewShotTop1, readGroceryClasses, rowsAt, type LabelledVectors } from '../bench/lib/grocery-vectors.js';

const { values } = parseArgs({ options: { model: { type: 'string', multiple: true } } });
const models = values.model?.length ? values.model : [DEFAULT_EMBEDDER];
const heldOut = new Set((await readGroceryClasses()).filter((c) => c.heldOut).map((c) => c.name));
const rowsOf = async (split: string) => (await readLabelledSet(join(GROCERY, `${split}.csv`))).items.filter((i) => heldOut.has(i.label));
const train = await rowsOf('train');
const val = await rowsOf('val');

// Split-half of the train rows, by class, in file order.
const byClass = new Map<string, number[]>();
train.forEach((row, i) => byClass.set(row.label, [...(byClass.get(row.label) ?? []), i]));
const firstHalf = [...byClass.values()].flatMap((idx) => idx.slice(0, idx.length >> 1));
const secondHalf = [...byClass.values()].flatMap((idx) => idx.slice(idx.length >> 1));
const methods = ['gallery', '1-NN', 'adapted'] as const;

console.log(`held-out classes: ${heldOut.size}; val ${val.length} queries; split-half ${secondHalf.length} queries (gallery ${firstHalf.length})`);
console.log('| model | val: gallery | val: 1-NN | val: adapted | split-half: gallery | split-half: 1-NN | split-half: adapted |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const model of models) {
  const embedder = await Embedder.create({ model });
  const embed = async (rows: typeof train): Promise<LabelledVectors> => {
    const vectors = await embedder.embed(rows.map((r) => r.path));
    const flat = new Float32Array(vectors.length * embedder.dim);
    vectors.forEach((v, i) => flat.set(v, i * embedder.dim));
    return { dim: embedder.dim, labels: rows.map((r) => r.label), vectors: flat };
  };
  const t = await embed(train);
  const v = await embed(val);
  await embedder.dispose();
  const [gallery, queries] = [rowsAt(t, firstHalf), rowsAt(t, secondHalf)];
  const cells = [...methods.map((m) => fewShotTop1(t, v, m, model)), ...methods.map((m) => fewShotTop1(gallery, queries, m, model))];
  console.log(`| ${model} | ${cells.map((c) => c.toFixed(3)).join(' | ')} |`);
}
