/**
 * npm run bench:thresholds — the default "unknown" threshold of each built-in embedder
 * (model.ts, BUILTIN_THRESHOLDS), measured on Grocery Store train → val only (never test,
 * never the shelf photos). Rule, fixed before the first run (docs/accuracy.md):
 *
 *   for the gallery `gallery build` makes without flags (the gallery defaults) from
 *   (a) every train.csv reference and (b) one random train reference per class (3 draws),
 *   take the best similarity of every val.csv query whose nearest label is right; the
 *   threshold is the smallest of those settings' 1 % quantiles, rounded down to 0.01.
 *
 * So an uncalibrated gallery rejects about 1 % (fewer in the easier setting) of the answers
 * its nearest label gets right, in the many-reference and in the one-packshot regime.
 */
import { Rng } from '../src/core/adapt/rng.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { byLabel, rowsAt, type LabelledVectors } from '../tools/grocery.js';
import { builtinEmbedder, groceryRows } from '../tools/store-data.js';
import { STORE_EMBEDDERS } from '../tools/store-protocols.js';

const QUANTILE = 0.01;

function correctScores(refs: LabelledVectors, val: LabelledVectors): number[] {
  const g = new ReferenceGallery({ index: 'exact' });
  for (const [label, vs] of [...byLabel(refs)].sort(([a], [b]) => (a < b ? -1 : 1))) g.add(label, vs);
  return g
    .classifyBatch(val.vectors, { threshold: -Infinity })
    .filter((r, i) => r.label === val.labels[i])
    .map((r) => r.score);
}

const quantile = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.floor(p * xs.length)]!;

console.log('| embedder | setting | val queries right | 1 % quantile of their best similarity |\n|---|---|---:|---:|');
const chosen: string[] = [];
for (const model of STORE_EMBEDDERS) {
  const embedder = await builtinEmbedder(model);
  const train = await groceryRows(embedder, 'train');
  const val = await groceryRows(embedder, 'val');
  await embedder.dispose();
  const settings: [string, LabelledVectors][] = [['all train references', train]];
  const groups = new Map<string, number[]>();
  train.labels.forEach((l, i) => groups.set(l, [...(groups.get(l) ?? []), i]));
  for (let d = 0; d < 3; d++) {
    const rng = new Rng(500 + d);
    settings.push([
      `1 reference per class, draw ${d + 1}`,
      rowsAt(
        train,
        [...groups.values()].map((ix) => ix[rng.int(ix.length)]!),
      ),
    ]);
  }
  let t = Infinity;
  for (const [name, refs] of settings) {
    const s = correctScores(refs, val);
    const q = quantile(s, QUANTILE);
    t = Math.min(t, q);
    console.log(`| ${model} | ${name} | ${s.length} / ${val.labels.length} | ${q.toFixed(4)} |`);
  }
  chosen.push(`${model}: ${(Math.floor(t * 100) / 100).toFixed(2)}`);
}
console.log(`\nthresholds (rounded down to 0.01): ${chosen.join(', ')}`);
