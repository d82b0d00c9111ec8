/**
 * Re-makes the gallery's default choices on the validation split, never on test:
 *  1. the plain gallery: clustersPerClass × metric × k (temperature 0.02), then the vote
 *     temperature at the chosen setting;
 *  2. adapt(): signed power × shrinkage for two candidates, the plain choice (one gallery
 *     option serves both spaces) and class means;
 *  3. between those two, the open set on val (20 % of the classes left out, adapted +
 *     calibrated): the higher AUROC unless its adapted top-1 is more than 1 point lower.
 * Gallery = train.csv, queries = val.csv (296 photos, 60 classes), MobileNetV2-int8
 * embeddings (imagenet preset). Each choice is val's best; exact ties go to the mean of
 * two train split-halves (odd/even references of every class as gallery, the rest as
 * queries, both ways). Only then is test.csv scored, once, for the chosen settings and
 * for the library's defaults and the earlier test-picked ones, and printed as it falls.
 *
 *   npx tsx bench/choose-defaults.ts [--write]   (--write puts the tables in docs/gallery.md between markers)
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import '../src/node/platform.js';
import { DEFAULT_POWER, DEFAULT_SHRINKAGE, LEGACY_ADAPT_DEFAULTS } from '../src/core/adapt/lda.js';
import {
  DEFAULT_CLUSTERS,
  DEFAULT_K,
  DEFAULT_TEMPERATURE,
  ReferenceGallery,
  voteNeighbors,
  type Neighbor,
} from '../src/core/gallery/gallery.js';
import type { Metric } from '../src/core/vector-index.js';
import { Rng } from '../src/core/adapt/rng.js';
import { byLabel, rowsAt, splitVectors, type LabelledVectors } from '../tools/grocery.js';
import { auroc } from '../tools/store-protocols.js';

const log = (m: string) => process.stderr.write(m + '\n');
const train = await splitVectors('train', log);
const val = await splitVectors('val', log);

interface Plain {
  clusters: number | 'all';
  metric: Metric;
  k: number;
  temperature: number;
}
interface Adapt {
  power: number;
  shrinkage: number;
}

function galleryOf(refs: LabelledVectors, plain: Pick<Plain, 'clusters' | 'metric'>, adapt?: Adapt): ReferenceGallery {
  const g = new ReferenceGallery({ index: 'exact', metric: plain.metric, clustersPerClass: plain.clusters, seed: 42 });
  for (const [label, vs] of [...byLabel(refs)].sort(([a], [b]) => (a < b ? -1 : 1))) g.add(label, vs);
  if (adapt) g.adapt(adapt);
  return g;
}

function top1(refs: LabelledVectors, queries: LabelledVectors, plain: Plain, adapt?: Adapt): number {
  const answers = galleryOf(refs, plain, adapt).classifyBatch(queries.vectors, {
    k: plain.k,
    temperature: plain.temperature,
    threshold: -Infinity,
  });
  return answers.filter((r, i) => r.label === queries.labels[i]).length / answers.length;
}

/** Top-1 for several votes (k, temperature) from one search per query: the gallery is built and searched once. */
function top1ByVote(
  refs: LabelledVectors,
  queries: LabelledVectors,
  plain: Pick<Plain, 'clusters' | 'metric'>,
  votes: Pick<Plain, 'k' | 'temperature'>[],
): number[] {
  const g = galleryOf(refs, plain);
  const nn: Neighbor[][] = queries.labels.map((_, i) => g.nearest(queries.vectors.subarray(i * queries.dim, (i + 1) * queries.dim), 60));
  return votes.map(
    ({ k, temperature }) =>
      nn.filter((n, i) => voteNeighbors(n, { k, temperature, threshold: -Infinity, top: 1 }).label === queries.labels[i]).length /
      queries.labels.length,
  );
}

/** Odd/even references of every class: gallery from one half, queries from the other, both ways; mean top-1. */
function splitHalves(plain: Plain, adapt?: Adapt): number {
  const seen = new Map<string, number>();
  const halves: number[][] = [[], []];
  train.labels.forEach((l, i) => {
    const n = seen.get(l) ?? 0;
    seen.set(l, n + 1);
    halves[n % 2]!.push(i);
  });
  const [a, b] = halves.map((h) => rowsAt(train, h)) as [LabelledVectors, LabelledVectors];
  return (top1(a, b, plain, adapt) + top1(b, a, plain, adapt)) / 2;
}

/** The best candidate on val; exact ties (same number of val photos right) broken by split-halves. */
function choose<T>(cands: T[], valOf: (c: T) => number, halvesOf: (c: T) => number): T {
  const best = Math.max(...cands.map(valOf));
  const tied = cands.filter((c) => valOf(c) === best);
  if (tied.length === 1) return tied[0]!;
  log(`  ${tied.length} settings tie on val: split-halves decide`);
  return tied.map((c) => [c, halvesOf(c)] as const).sort((x, y) => y[1] - x[1])[0]![0];
}

const pct = (x: number) => (100 * x).toFixed(1);
const out: string[] = [];
const shipped: Plain = { clusters: DEFAULT_CLUSTERS, metric: 'cosine', k: DEFAULT_K, temperature: DEFAULT_TEMPERATURE };
const shippedAdapt: Adapt = { power: DEFAULT_POWER, shrinkage: DEFAULT_SHRINKAGE };
// The defaults before they were re-made here: picked from test.csv figures (class means, k = 10).
const earlier: Plain = { clusters: 1, metric: 'cosine', k: 10, temperature: 0.02 };
const earlierAdapt = LEGACY_ADAPT_DEFAULTS as Adapt;

// 1. plain gallery ---------------------------------------------------------------------
const clusterOptions: (number | 'all')[] = ['all', 1, 3, 5, 10];
const ks = [1, 5, 10, 20];
const plainVal = new Map<string, number>();
const key = (p: Plain) => `${p.clusters}/${p.metric}/${p.k}/${p.temperature}`;
const cands: Plain[] = [];
for (const clusters of clusterOptions)
  for (const metric of ['cosine', 'l2'] as Metric[]) {
    const votes = (clusters === 1 ? [1] : ks).map((k) => ({ k, temperature: DEFAULT_TEMPERATURE }));
    const scores = top1ByVote(train, val, { clusters, metric }, votes);
    votes.forEach((v, i) => {
      const p = { clusters, metric, ...v };
      cands.push(p);
      plainVal.set(key(p), scores[i]!);
    });
  }
log('plain gallery grid done');
let plain = choose(
  cands,
  (p) => plainVal.get(key(p))!,
  (p) => splitHalves(p),
);
const temps = [0.005, 0.01, 0.02, 0.05, 0.1];
const tempCands = temps.map((temperature) => ({ ...plain, temperature }));
top1ByVote(train, val, plain, tempCands).forEach((score, i) => plainVal.set(key(tempCands[i]!), score));
plain = choose(
  tempCands,
  (p) => plainVal.get(key(p))!,
  (p) => splitHalves(p),
);

out.push(
  `Top-1 % on val.csv (gallery = train.csv), temperature ${DEFAULT_TEMPERATURE}; class mean (\`clustersPerClass: 1\`) has one vector per class, so k does not matter there:`,
  '',
);
out.push(`| clustersPerClass | metric | ${ks.map((k) => `k=${k}`).join(' | ')} |`, `|---|---|${ks.map(() => '---:').join('|')}|`);
for (const clusters of clusterOptions)
  for (const metric of ['cosine', 'l2'] as Metric[]) {
    const cells = ks.map((k) => pct(plainVal.get(key({ clusters, metric, k: clusters === 1 ? 1 : k, temperature: DEFAULT_TEMPERATURE }))!));
    out.push(`| ${clusters} | ${metric} | ${cells.join(' | ')} |`);
  }
out.push(
  '',
  `Vote temperature at the chosen setting: ${tempCands.map((p) => `${p.temperature} → ${pct(plainVal.get(key(p))!)}`).join(', ')}.`,
  '',
);
out.push(
  `**Chosen on val: clustersPerClass ${plain.clusters}, ${plain.metric}, k = ${plain.k}, temperature ${plain.temperature}**` +
    ` (library defaults: ${shipped.clusters}, ${shipped.metric}, k = ${shipped.k}, temperature ${shipped.temperature}; earlier, picked on test: ${earlier.clusters}, k = ${earlier.k}).`,
  '',
);

// 2. adapt() ---------------------------------------------------------------------------
const powers = [0.5, 0.625, 0.75, 0.875, 1];
const shrinkages = [0.1, 0.15, 0.2, 0.3, 0.4];
const akey = (a: Adapt) => `${a.power}/${a.shrinkage}`;

/** power × shrinkage on val for one gallery setting (clustersPerClass and k serve both spaces); val's best, ties → split-halves. */
function sweepAdapt(setting: Plain, title: string): { adapt: Adapt; valTop1: number } {
  const scores = new Map<string, number>();
  const cands: Adapt[] = [];
  for (const power of powers)
    for (const shrinkage of shrinkages) {
      const a = { power, shrinkage };
      cands.push(a);
      scores.set(akey(a), top1(train, val, setting, a));
    }
  const adapt = choose(
    cands,
    (a) => scores.get(akey(a))!,
    (a) => splitHalves(setting, a),
  );
  out.push(`\`adapt()\`, ${title}: top-1 % on val.csv by signed power (rows) and shrinkage (columns):`, '');
  out.push(`| power | ${shrinkages.join(' | ')} |`, `|---|${shrinkages.map(() => '---:').join('|')}|`);
  for (const power of powers)
    out.push(`| ${power} | ${shrinkages.map((shrinkage) => pct(scores.get(akey({ power, shrinkage }))!)).join(' | ')} |`);
  out.push('', `Val's best: power ${adapt.power}, shrinkage ${adapt.shrinkage}.`, '');
  return { adapt, valTop1: scores.get(akey(adapt))! };
}

// Candidate A: the plain choice, adapted. Candidate B: class means (where the open-set
// calibration was designed), adapted. The same defaults drive the unknown score, so step 3
// decides between them on val's open set.
const a = { plain, ...sweepAdapt(plain, `with the plain choice (clustersPerClass ${plain.clusters}, k = ${plain.k})`) };
const meansPlain: Plain = { clusters: 1, metric: 'cosine', k: 10, temperature: DEFAULT_TEMPERATURE };
const b = { plain: meansPlain, ...sweepAdapt(meansPlain, 'with class means (clustersPerClass 1, k = 10)') };
log('adapt grids done');

// 3. open set on val ---------------------------------------------------------------------
/**
 * As bench:accuracy's open set, on `queries`: per draw 20 % of the classes are left out of
 * the gallery, which is adapted and calibrated with the defaults; AUROC of the unknown
 * score, known-class queries against left-out ones. Mean over 3 draws.
 */
function openSetAuroc(queries: LabelledVectors, setting: Plain, adapt: Adapt): number {
  const classes = [...new Set(train.labels)].sort();
  const aurocs: number[] = [];
  for (let d = 0; d < 3; d++) {
    const out = new Set(new Rng(77 + d).shuffle([...classes]).slice(0, Math.round(classes.length * 0.2)));
    const keep = rowsAt(
      train,
      train.labels.flatMap((l, i) => (out.has(l) ? [] : [i])),
    );
    const g = galleryOf(keep, setting, adapt);
    g.calibrate();
    const scores = g.classifyBatch(queries.vectors, { k: setting.k, temperature: setting.temperature }).map((r) => r.unknownScore);
    aurocs.push(
      auroc(
        scores.filter((_, i) => !out.has(queries.labels[i]!)),
        scores.filter((_, i) => out.has(queries.labels[i]!)),
      ),
    );
    g.dispose();
  }
  return aurocs.reduce((x, y) => x + y, 0) / aurocs.length;
}
const openA = openSetAuroc(val, a.plain, a.adapt);
const openB = openSetAuroc(val, b.plain, b.adapt);
log('open set done');
// The rule (fixed before its first run): the higher val open-set AUROC, unless its val
// adapted top-1 is more than 1 point below the other's.
const [hi, lo] = openA >= openB ? [a, b] : [b, a];
const final = hi.valTop1 < lo.valTop1 - 0.01 ? lo : hi;
const describe = (c: typeof a) =>
  `clustersPerClass ${c.plain.clusters}, k = ${c.plain.k}, power ${c.adapt.power}, shrinkage ${c.adapt.shrinkage}`;
out.push(
  'Open set on val (3 draws, 20 % of the classes left out of the gallery, adapted + calibrated with the defaults; AUROC of the unknown score) and adapted top-1 on val:',
  '',
  '| candidate | open-set AUROC | adapted top-1 % |',
  '|---|---:|---:|',
  `| A: ${describe(a)} | ${openA.toFixed(3)} | ${pct(a.valTop1)} |`,
  `| B: ${describe(b)} | ${openB.toFixed(3)} | ${pct(b.valTop1)} |`,
  '',
  `**Chosen on val: ${describe(final)}, cosine, temperature ${final.plain.temperature}** (the higher open-set AUROC unless its adapted top-1 is more than 1 point lower; ` +
    `library defaults: clustersPerClass ${shipped.clusters}, k = ${shipped.k}, power ${DEFAULT_POWER}, shrinkage ${DEFAULT_SHRINKAGE}; ` +
    `earlier, picked on test: clustersPerClass ${earlier.clusters}, k = ${earlier.k}, power ${earlierAdapt.power}, shrinkage ${earlierAdapt.shrinkage}).`,
  '',
);

// 4. test, once, as it falls -------------------------------------------------------------
const test = await splitVectors('test', log);
const row = (name: string, p: Plain, ad: Adapt) =>
  `| ${name} | ${pct(top1(train, test, p))} | ${pct(top1(train, test, p, ad))} | ${openSetAuroc(test, p, ad).toFixed(3)} |`;
out.push(
  `Test (test.csv, ${test.labels.length} photos), scored after the choice:`,
  '',
  '| setting | plain top-1 % | adapted top-1 % | open-set AUROC |',
  '|---|---:|---:|---:|',
  row('chosen', final.plain, final.adapt),
  row('library defaults', shipped, shippedAdapt),
  row('earlier (picked on test)', earlier, earlierAdapt),
  '',
  `Val has ${val.labels.length} photos: one photo is ${pct(1 / val.labels.length)} points, so neighbouring cells differ within noise.`,
);

const text = out.join('\n');
console.log(text);
if (process.argv.includes('--write')) {
  const doc = join(import.meta.dirname, '..', 'docs', 'gallery.md');
  const [begin, end] = ['<!-- choose-defaults:begin -->', '<!-- choose-defaults:end -->'];
  const md = readFileSync(doc, 'utf8');
  const i = md.indexOf(begin);
  const j = md.indexOf(end);
  if (i < 0 || j < i) throw new Error(`docs/gallery.md has no ${begin} … ${end} block`);
  writeFileSync(doc, md.slice(0, i + begin.length) + '\n' + text + '\n' + md.slice(j));
  log('wrote docs/gallery.md');
}
