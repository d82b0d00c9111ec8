/**
 * Model selection without test/: ONNX embedders side by side on the 20 held-out classes,
 * through skulens itself (the same galleries users get), on two protocols:
 *
 *   val          gallery = the held-out classes' train rows, queries = their val rows (72)
 *   split-half   the held-out classes' train rows only: per class, the first half of its
 *                photos in file order (burst shots of one item stay together) is the
 *                gallery, the second half the queries (~350)
 *
 * Methods as in bench:models: the default gallery (class means, k = 10 vote), 1-NN over
 * every reference, and the default gallery after adapt(). test.csv is never read.
 *
 * Run: npx tsx training/select.ts [--model a.onnx --model b.onnx ...] (default: the built-in model)
 */
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { DEFAULT_EMBEDDER, Embedder, ReferenceGallery } from '../src/index.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { GROCERY, readGroceryClasses } from '../bench/lib/grocery-vectors.js';

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

type Method = 'gallery' | '1-NN' | 'adapted';
function top1(refs: { label: string; vector: Float32Array }[], queries: { label: string; vector: Float32Array }[], method: Method): number {
  const gallery = new ReferenceGallery({ index: 'exact', ...(method === '1-NN' ? { clustersPerClass: 'all' as const } : {}) });
  const grouped = new Map<string, Float32Array[]>();
  for (const r of refs) grouped.set(r.label, [...(grouped.get(r.label) ?? []), r.vector]);
  for (const [label, vectors] of [...grouped].sort(([a], [b]) => (a < b ? -1 : 1))) gallery.add(label, vectors);
  if (method === 'adapted') gallery.adapt();
  const dim = queries[0]!.vector.length;
  const flat = new Float32Array(queries.length * dim);
  queries.forEach((q, i) => flat.set(q.vector, i * dim));
  const answers = gallery.classifyBatch(flat, { threshold: -Infinity, ...(method === '1-NN' ? { k: 1 } : {}) });
  return answers.filter((a, i) => a.label === queries[i]!.label).length / queries.length;
}

console.log(`held-out classes: ${heldOut.size}; val ${val.length} queries; split-half ${secondHalf.length} queries (gallery ${firstHalf.length})`);
console.log('| model | val: gallery | val: 1-NN | val: adapted | split-half: gallery | split-half: 1-NN | split-half: adapted |');
console.log('|---|---:|---:|---:|---:|---:|---:|');
for (const model of models) {
  const embedder = await Embedder.create({ model });
  const embed = async (rows: typeof train) => (await embedder.embed(rows.map((r) => r.path))).map((vector, i) => ({ label: rows[i]!.label, vector }));
  const t = await embed(train);
  const v = await embed(val);
  await embedder.dispose();
  const cells: string[] = [];
  for (const method of ['gallery', '1-NN', 'adapted'] as const) cells.push(top1(t, v, method).toFixed(3));
  for (const method of ['gallery', '1-NN', 'adapted'] as const) cells.push(top1(firstHalf.map((i) => t[i]!), secondHalf.map((i) => t[i]!), method).toFixed(3));
  console.log(`| ${model} | ${cells.join(' | ')} |`);
}
