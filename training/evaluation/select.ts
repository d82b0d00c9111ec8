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
 * every reference, and the default gallery after adapt() at the model's defaults. test.csv
 * is never read. Options:
 *
 *   --shrinkage S       also adapt() at covariance shrinkage S (repeatable; a sweep)
 *   --power P           also adapt() at signed power P (repeatable; with --shrinkage, every
 *                       pair of the two sweeps)
 *   --refs-per-class K  a third protocol: the split-half with only the first K photos of
 *                       each class's gallery half (fewer references, more errors to compare)
 *   --mirrored          also every split-half protocol the other way round: gallery from
 *                       the second half of each class's photos, queries from the first
 *   --teacher           also the shared MobileNetV2 teacher, through its imagenet preset
 *
 * Run: npx tsx training/evaluation/select.ts [--model a.onnx --model b.onnx ...] [--shrinkage 0.02 ...] [--power 1 ...]
 *        [--refs-per-class 5] [--mirrored] [--teacher]   (default model: the built-in one)
 */
import { parseArgs } from 'node:util';
import type { AdaptOptions } from '../../src/core/adapt/lda.js';
import { Embedder } from '../../src/index.js';
import { fewShotTop1, rowsAt, type FewShotMethod, type LabelledVectors } from '../../tools/grocery.js';
import { heldOutRows, modelSources, splitHalves } from './protocols.js';

const { values } = parseArgs({
  options: {
    model: { type: 'string', multiple: true },
    shrinkage: { type: 'string', multiple: true },
    power: { type: 'string', multiple: true },
    'refs-per-class': { type: 'string' },
    mirrored: { type: 'boolean' },
    teacher: { type: 'boolean' },
  },
});
const models = modelSources(values.model, values.teacher);
const shrinkages = (values.shrinkage ?? []).map(Number);
const powers = (values.power ?? []).map(Number);
const refsPerClass = values['refs-per-class'] === undefined ? undefined : Number(values['refs-per-class']);
if (shrinkages.some((x) => !(x >= 0 && x <= 1))) throw new Error('--shrinkage takes values in [0, 1]');
if (powers.some((x) => !(x > 0 && x <= 4))) throw new Error('--power takes values in (0, 4]');
if (refsPerClass !== undefined && !(Number.isInteger(refsPerClass) && refsPerClass > 0))
  throw new Error('--refs-per-class takes a positive integer');
const train = await heldOutRows('train');
const val = await heldOutRows('val');
const splits = splitHalves(train, { refsPerClass, mirrored: values.mirrored });
const heldOutCount = new Set(train.map((r) => r.label)).size;

type Method = { name: string; method: FewShotMethod; adapt?: AdaptOptions };
// The sweeps: every (power, shrinkage) pair, a missing sweep leaving the model's default.
const sweep = (powers.length ? powers : [undefined]).flatMap((power) =>
  (shrinkages.length ? shrinkages : [undefined]).map((shrinkage) => ({ power, shrinkage })),
);
const methods: Method[] = [
  { name: 'gallery', method: 'gallery' },
  { name: '1-NN', method: '1-NN' },
  { name: 'adapted', method: 'adapted' },
  ...sweep
    .filter((o) => o.power !== undefined || o.shrinkage !== undefined)
    .map(({ power, shrinkage }) => ({
      name: ['adapted', power === undefined ? '' : `p${power}`, shrinkage ?? ''].filter((x) => x !== '').join(' '),
      method: 'adapted' as const,
      adapt: { ...(power === undefined ? {} : { power }), ...(shrinkage === undefined ? {} : { shrinkage }) },
    })),
];
const protocols = ['val', ...splits.map((s) => s.name)];

console.log(
  `held-out classes: ${heldOutCount}; val ${val.length} queries; ${splits.map((s) => `${s.name} ${s.queries.length} queries (gallery ${s.gallery.length})`).join('; ')}`,
);
const columns = protocols.flatMap((p) => methods.map((m) => `${p}: ${m.name}`));
console.log(`| model | ${columns.join(' | ')} |`);
console.log(`|---|${columns.map(() => '---:').join('|')}|`);
for (const { name, model, preset } of models) {
  const embedder = await Embedder.create({ model, preset });
  const embed = async (rows: typeof train): Promise<LabelledVectors> => {
    const vectors = await embedder.embed(rows.map((r) => r.path));
    const flat = new Float32Array(vectors.length * embedder.dim);
    vectors.forEach((v, i) => flat.set(v, i * embedder.dim));
    return { dim: embedder.dim, labels: rows.map((r) => r.label), vectors: flat };
  };
  const t = await embed(train);
  const v = await embed(val);
  await embedder.dispose();
  const setups = [[t, v], ...splits.map((s) => [rowsAt(t, s.gallery), rowsAt(t, s.queries)])] as const;
  const top1 = (refs: LabelledVectors, q: LabelledVectors, m: Method) => fewShotTop1(refs, q, m.method, model, m.adapt);
  const cells = setups.flatMap(([refs, q]) => methods.map((m) => top1(refs, q, m)));
  console.log(`| ${name} | ${cells.map((c) => c.toFixed(3)).join(' | ')} |`);
}
