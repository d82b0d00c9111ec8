/**
 * The model-selection protocols' data, shared by select.ts and shift.ts: the 20 held-out
 * classes' train and val rows (never test/) and the split-half of their train rows.
 */
import { join } from 'node:path';
import { readLabelledSet } from '../../src/node/dataset.js';
import { EMBED_MODEL, GROCERY, readGroceryClasses } from '../../tools/grocery.js';
import { DEFAULT_EMBEDDER } from '../../src/index.js';

export type Row = { path: string; label: string };

/** The held-out classes (id ≡ 3 mod 4) and their rows of one split. */
export async function heldOutRows(split: 'train' | 'val'): Promise<Row[]> {
  const heldOut = new Set((await readGroceryClasses()).filter((c) => c.heldOut).map((c) => c.name));
  return (await readLabelledSet(join(GROCERY, `${split}.csv`))).items.filter((i) => heldOut.has(i.label));
}

/** Row indices of one split; `refsPerClass` is set when the gallery keeps only that many photos per class. */
export type Split = { name: string; gallery: number[]; queries: number[]; refsPerClass?: number };

/**
 * Split-half of `rows` by class, in file order (burst shots of one item stay together):
 * the first half of each class's photos is the gallery, the second half the queries.
 * `refsPerClass` adds the same split with only the first K photos of each gallery half;
 * `mirrored` adds every split the other way round (gallery from the second half).
 */
export function splitHalves(rows: readonly Row[], options: { refsPerClass?: number; mirrored?: boolean } = {}): Split[] {
  const byClass = new Map<string, number[]>();
  rows.forEach((row, i) => byClass.set(row.label, [...(byClass.get(row.label) ?? []), i]));
  const halves = [...byClass.values()].map((idx) => [idx.slice(0, idx.length >> 1), idx.slice(idx.length >> 1)] as const);
  const splits: Split[] = [];
  for (const mirrored of options.mirrored ? [false, true] : [false]) {
    const suffix = mirrored ? ', mirrored' : '';
    const gallery = halves.map((h) => h[mirrored ? 1 : 0]);
    const queries = halves.flatMap((h) => h[mirrored ? 0 : 1]);
    splits.push({ name: `split-half${suffix}`, gallery: gallery.flat(), queries });
    const k = options.refsPerClass;
    if (k)
      splits.push({ name: `split-half ${k}/class${suffix}`, gallery: gallery.flatMap((g) => g.slice(0, k)), queries, refsPerClass: k });
  }
  return splits;
}

/** An embedder to compare: its label in the tables and what Embedder.create() gets. */
export type ModelSource = { name: string; model: string; preset?: string };

/**
 * The scripts' --model files (default: the built-in model), after, with `teacher`, the shared
 * MobileNetV2 through its imagenet preset, as bench:models and teacher-views.ts run it.
 * The teacher file carries no preprocessing metadata: given as a bare --model it would be
 * fed stretched, unnormalised pixels and look far weaker than it is.
 */
export function modelSources(models: readonly string[] | undefined, teacher = false): ModelSource[] {
  const files = models?.length ? models : [DEFAULT_EMBEDDER];
  return [
    ...(teacher ? [{ name: 'MobileNetV2 teacher (imagenet preset)', model: EMBED_MODEL, preset: 'imagenet' }] : []),
    ...files.map((model) => ({ name: model, model })),
  ];
}
