/**
 * npm run bench:models — the built-in skulens:retail-160 next to its MobileNetV2 teacher on the
 * Grocery Store protocol (gallery = train.csv rows, queries = test.csv rows):
 *
 *   unseen 20   the 20 classes whose id ≡ 3 (mod 4), held out of the built-in model's
 *               training entirely: gallery = their train rows, queries = their test rows
 *   all 81      every class (61 of them were seen when the built-in model was trained)
 *
 * Methods: the default gallery (`skulens gallery build`: its default centroids and k
 * softmax vote), plain 1-NN over every reference, and the default gallery after
 * `adapt()` (`gallery build --adapt`). Prints a markdown table for docs/models.md.
 *
 * Options: --model path.onnx (instead of the built-in one) --teacher path.onnx
 */
import { basename } from 'node:path';
import { parseArgs } from 'node:util';
import { RETAIL160_EMBEDDER } from '../src/index.js';
import { EMBED_MODEL, fewShotTop1, groceryVectors, readGroceryClasses, rowsAt, type LabelledVectors } from '../tools/grocery.js';

const { values } = parseArgs({ options: { model: { type: 'string' }, teacher: { type: 'string', default: EMBED_MODEL } } });

const heldOut = new Set((await readGroceryClasses()).filter((c) => c.heldOut).map((c) => c.name));

function subset(s: LabelledVectors, keep: (label: string) => boolean): LabelledVectors {
  return rowsAt(
    s,
    s.labels.flatMap((l, i) => (keep(l) ? [i] : [])),
  );
}

const models = [
  {
    name: values.model ? basename(values.model) : `built-in (${RETAIL160_EMBEDDER})`,
    source: { model: values.model ?? RETAIL160_EMBEDDER },
  },
  { name: 'MobileNetV2 teacher (imagenet preset)', source: { model: values.teacher!, preset: 'imagenet' } },
];
const rows: string[] = [];
for (const m of models) {
  const { train, test } = await groceryVectors(undefined, m.source);
  const cells: string[] = [];
  for (const keep of [(l: string) => heldOut.has(l), () => true]) {
    const refs = subset(train, keep);
    const queries = subset(test, keep);
    for (const method of ['gallery', '1-NN', 'adapted'] as const) cells.push(fewShotTop1(refs, queries, method, m.source.model).toFixed(3));
  }
  rows.push(`| ${m.name} | ${train.dim} | ${cells.join(' | ')} |`);
  console.error(`${m.name}: done`);
}
console.log(`Grocery Store, top-1 on test.csv queries; gallery = train.csv rows of the same classes.
"unseen 20": the classes with id ≡ 3 (mod 4), never shown to the built-in model in training.
"all 81": 61 of these classes were in the built-in model's training data.

| model | dim | unseen 20: gallery | unseen 20: 1-NN | unseen 20: adapted | all 81: gallery | all 81: 1-NN | all 81: adapted |
|---|---:|---:|---:|---:|---:|---:|---:|
${rows.join('\n')}`);
