/**
 * bench:accuracy — few-shot adaptation and open-set calibration on the Grocery Store
 * dataset (gallery = train.csv, queries = test.csv, MobileNetV2-int8 1280-d features).
 *
 *  1. Closed set: references per class ∈ {1, 5, 10, 20, 30, all} × {plain kNN over every
 *     reference, k-means centroids (3 per class), class mean, adapted}: top-1 mean ± sd
 *     over 3 random draws of references.
 *  2. Open set: 20% of the classes left out of the gallery (3 random draws): AUROC of the
 *     "unknown" score (raw best similarity, adapted best similarity, adapted + calibrated
 *     score) and known-class top-1 at the calibrated threshold vs closed set.
 *  3. Adaptation and calibration time for the full gallery.
 *
 * Writes docs/accuracy.md and docs/img/accuracy.png unless --no-write. Vectors are embedded
 * once and cached in the OS temp folder (keyed by the embedder's fingerprint, onnxruntime's
 * version, the session options and the CPU: tools/cache-key.ts).
 *
 *   npm run bench:accuracy [-- --queries val|test] [--draws N] [--no-write] [--sweep-reject] [--sweep-cohort]
 *                          [--open-set-only]   (skips the closed-set table and time; never writes)
 *                          [--no-store]        (skips the store-domain protocols of tools/store-protocols.ts)
 *                          [--store-only]      (only those; rewrites only their section of docs/accuracy.md)
 *                          [--store-parts studio,open,grocery,space]   (with --store-only: which of them)
 *
 * Hyper-parameters (adapt defaults, calibrate's reject rate) were chosen with
 * `--queries val --no-write`; the figures in docs come from test.csv.
 */
import { existsSync, mkdirSync } from 'node:fs';
import { readFile, writeFile } from 'node:fs/promises';
import { cpus, tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import sharp from 'sharp';
import '../src/node/platform.js';
import { Rng } from '../src/core/adapt/rng.js';
import { calibratedScore, DEFAULT_COHORT_SIZE, DEFAULT_COHORT_WEIGHT, DEFAULT_REJECT_RATE } from '../src/core/adapt/calibrate.js';
import { DEFAULT_POWER, DEFAULT_SHRINKAGE } from '../src/core/adapt/lda.js';
import { Embedder } from '../src/core/embedder.js';
import {
  bestScoreByLabel,
  DEFAULT_CLUSTERS,
  DEFAULT_K,
  DEFAULT_TEMPERATURE,
  otherLabelScores,
  ReferenceGallery,
  type ReferenceGalleryOptions,
} from '../src/core/gallery/gallery.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { byLabel } from '../tools/grocery.js';
import { auroc, STORE_BEGIN, STORE_END, storeMarkdown, storeProtocols, type StorePart } from '../tools/store-protocols.js';
import { vectorCacheKey } from '../tools/cache-key.js';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(ROOT, '..', 'shared'));
const GROCERY = join(SHARED, 'data', 'grocery-store');
const MODEL = join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx');

const args = process.argv.slice(2);
const flag = (name: string) => args.includes(name);
const opt = (name: string, dflt: string) => {
  const i = args.indexOf(name);
  return i >= 0 && args[i + 1] ? args[i + 1]! : dflt;
};
const QUERIES = opt('--queries', 'test');
const DRAWS = Number(opt('--draws', '3'));
const OPEN_ONLY = flag('--open-set-only');
const WRITE = !flag('--no-write') && QUERIES === 'test' && !OPEN_ONLY;
const SIZES: (number | 'all')[] = [1, 5, 10, 20, 30, 'all'];

// Store-domain protocols (issue 23): their own vectors and section of docs/accuracy.md.
if (flag('--store-only')) {
  const parts = opt('--store-parts', 'studio,open,grocery,space').split(',') as StorePart[];
  const section = storeMarkdown(await storeProtocols(new Set(parts)));
  console.log(section);
  if (!flag('--no-write')) await writeStoreSection(join(ROOT, 'docs', 'accuracy.md'), section);
  process.exit(0);
}
const STORE = flag('--no-store') || QUERIES !== 'test' || OPEN_ONLY ? undefined : storeMarkdown(await storeProtocols());
if (STORE) console.log(STORE);

/** The store section of a docs/accuracy.md text, markers included (undefined if it has none). */
function existingStoreSection(text: string): string | undefined {
  const a = text.indexOf(STORE_BEGIN);
  const b = text.indexOf(STORE_END);
  return a >= 0 && b > a ? text.slice(a, b + STORE_END.length) : undefined;
}

/** Replace the store section between its markers (or append it before "## Reproduce"). */
async function writeStoreSection(path: string, section: string): Promise<void> {
  const text = await readFile(path, 'utf8');
  const a = text.indexOf(STORE_BEGIN);
  const b = text.indexOf(STORE_END);
  const next =
    a >= 0 && b > a
      ? text.slice(0, a) + section + text.slice(b + STORE_END.length)
      : text.replace('## Reproduce', `${section}\n\n## Reproduce`);
  await writeFile(path, next);
  log(`wrote the store-protocols section of ${path}`);
}
const log = (m: string) => process.stderr.write(m + '\n');

interface Split {
  dim: number;
  labels: string[];
  vectors: Float32Array;
}

async function vectorsOf(split: string, embedder: Embedder): Promise<Split> {
  const base = join(tmpdir(), `skulens-accuracy-${vectorCacheKey(embedder.fingerprint)}-${split}`);
  if (existsSync(base + '.json') && existsSync(base + '.bin')) {
    const meta = JSON.parse(await readFile(base + '.json', 'utf8')) as { dim: number; labels: string[] };
    const buf = await readFile(base + '.bin');
    return {
      dim: meta.dim,
      labels: meta.labels,
      vectors: new Float32Array(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.byteLength)),
    };
  }
  const { items } = await readLabelledSet(join(GROCERY, `${split}.csv`));
  const t0 = performance.now();
  const vs = await embedder.embed(
    items.map((i) => i.path),
    { onProgress: (p) => p.done % 512 === 0 && log(`  ${split}: ${p.done}/${p.total}`) },
  );
  log(`embedded ${items.length} ${split} images in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
  const out = new Float32Array(items.length * embedder.dim);
  vs.forEach((v, i) => out.set(v, i * embedder.dim));
  await writeFile(base + '.bin', new Uint8Array(out.buffer));
  await writeFile(base + '.json', JSON.stringify({ dim: embedder.dim, labels: items.map((i) => i.label) }));
  return { dim: embedder.dim, labels: items.map((i) => i.label), vectors: out };
}

function gallery(refs: Map<string, Float32Array[]>, options: ReferenceGalleryOptions): ReferenceGallery {
  const g = new ReferenceGallery({ index: 'exact', ...options });
  for (const [label, vs] of [...refs.entries()].sort(([a], [b]) => (a < b ? -1 : 1))) g.add(label, vs);
  return g;
}

/** Classify every query once; returns per query: right label?, unknown?, unknown score, known label? */
function answer(g: ReferenceGallery, q: Split, threshold?: number) {
  const known = new Set(g.labels);
  const rs = g.classifyBatch(q.vectors, threshold !== undefined ? { threshold } : {});
  return rs.map((r, i) => ({ ok: r.label === q.labels[i], unknown: r.unknown, score: r.unknownScore, known: known.has(q.labels[i]!) }));
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const sd = (xs: number[]) => (xs.length < 2 ? 0 : Math.sqrt(xs.reduce((a, b) => a + (b - mean(xs)) ** 2, 0) / (xs.length - 1)));
const pct = (x: number) => (100 * x).toFixed(1);
const pm = (xs: number[]) => `${pct(mean(xs))} ± ${pct(sd(xs))}`;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

// ---------------------------------------------------------------------------------------

const embedder = await Embedder.create({ model: MODEL, preset: 'imagenet', batchSize: 32 });
const train = await vectorsOf('train', embedder);
const queries = await vectorsOf(QUERIES, embedder);
await embedder.dispose();
const refsAll = byLabel(train);
const classes = [...refsAll.keys()].sort();
log(`gallery: ${train.labels.length} references, ${classes.length} classes; queries: ${queries.labels.length} (${QUERIES}.csv)`);

// 1. closed set ------------------------------------------------------------------------
type Method = 'plain kNN' | 'k-means (3)' | 'class mean' | 'adapted';
const METHODS: Method[] = ['plain kNN', 'k-means (3)', 'class mean', 'adapted'];
const closed = new Map<string, Map<Method, number[]>>();
for (const size of OPEN_ONLY ? [] : SIZES) {
  const row = new Map<Method, number[]>(METHODS.map((m) => [m, []]));
  const draws = size === 'all' ? 1 : DRAWS;
  for (let d = 0; d < draws; d++) {
    const rng = new Rng(1000 * d + (size === 'all' ? 0 : size));
    const refs = new Map<string, Float32Array[]>();
    for (const l of classes) {
      const vs = refsAll.get(l)!;
      refs.set(l, size === 'all' ? vs : rng.shuffle([...vs]).slice(0, size));
    }
    for (const m of METHODS) {
      const t0 = performance.now();
      // 'adapted' is the default gallery (DEFAULT_CLUSTERS) adapted, as `gallery build --adapt` makes it.
      const clusters = { 'plain kNN': 'all', 'k-means (3)': 3, 'class mean': 1, adapted: DEFAULT_CLUSTERS } as const;
      const g = gallery(refs, { clustersPerClass: clusters[m] });
      if (m === 'adapted') g.adapt();
      const a = answer(g, queries, -Infinity);
      const top1 = a.filter((x) => x.ok).length / a.length;
      row.get(m)!.push(top1);
      log(
        `refs/class ${String(size).padStart(3)} draw ${d} ${m.padEnd(12)} top-1 ${pct(top1)}%  (${((performance.now() - t0) / 1000).toFixed(1)} s)`,
      );
      g.dispose();
    }
  }
  closed.set(String(size), row);
}

// 2. open set ----------------------------------------------------------------------------
interface OpenDraw {
  unknownClasses: number;
  aurocRaw: number;
  aurocAdapted: number;
  aurocCalibrated: number;
  /** The calibrated score without issue 23's raw-space guard (`calibrate({ rawSpace: false })`). */
  aurocCalibratedNoGuard: number;
  closedKnownTop1: number;
  knownTop1AtThreshold: number;
  unknownRejected: number;
  threshold: number;
  sweep?: { rejectRate: number; knownTop1: number; unknownRejected: number }[];
  /** --sweep-cohort: AUROC per cohort setting "size/weight". */
  cohort?: Map<string, number>;
}
const COHORT_SIZES = [1, 3, 5, 10];
const COHORT_WEIGHTS = [0, 0.25, 0.5, 0.75];

/**
 * AUROC of the calibrated score for several cohort settings, from one calibration: the
 * offsets do not depend on the cohort, so each query is searched once and re-scored.
 */
function cohortSweep(g: ReferenceGallery, q: Split, known: (label: string) => boolean): Map<string, number> {
  const offsets = g.calibrationInfo!.offsets;
  const rows = q.labels.map((label, i) => {
    const v = q.vectors.subarray(i * q.dim, (i + 1) * q.dim);
    const r = g.classify(v, { threshold: -Infinity });
    const others = otherLabelScores(bestScoreByLabel(g.nearest(v, Math.max(...COHORT_SIZES) + 1)), r.label);
    return { known: known(label), score: r.score, offset: offsets[r.label]!, others };
  });
  const out = new Map<string, number>();
  for (const size of COHORT_SIZES) {
    for (const weight of COHORT_WEIGHTS) {
      const score = (x: (typeof rows)[number]) => calibratedScore(x.score, x.offset, x.others, weight, size);
      out.set(`${size}/${weight}`, auroc(rows.filter((x) => x.known).map(score), rows.filter((x) => !x.known).map(score)));
    }
  }
  return out;
}
const open: OpenDraw[] = [];
for (let d = 0; d < DRAWS; d++) {
  const rng = new Rng(77 + d);
  const shuffled = rng.shuffle([...classes]);
  const out = new Set(shuffled.slice(0, Math.round(classes.length * 0.2)));
  const refs = new Map([...refsAll.entries()].filter(([l]) => !out.has(l)));
  const split = (a: ReturnType<typeof answer>) =>
    [a.filter((x) => x.known).map((x) => x.score), a.filter((x) => !x.known).map((x) => x.score)] as const;

  const raw = gallery(refs, {});
  const rawA = answer(raw, queries, -Infinity);
  const g = gallery(refs, {});
  g.adapt();
  const closedA = answer(g, queries, -Infinity);
  const closedKnown = closedA.filter((x) => x.known);
  const t0 = performance.now();
  const cal = g.calibrate();
  log(
    `open-set draw ${d}: calibrate ${((performance.now() - t0) / 1000).toFixed(1)} s, threshold ${cal.threshold.toFixed(4)}, held-out top-1 ${pct(cal.heldOutTop1)}%`,
  );
  const calA = answer(g, queries);
  // The same calibration without the raw-space guard, to show what the guard costs here.
  const noGuard = gallery(refs, {});
  noGuard.adapt();
  noGuard.calibrate({ rawSpace: false });
  const noGuardA = answer(noGuard, queries);
  noGuard.dispose();
  const known = calA.filter((x) => x.known);
  const unknown = calA.filter((x) => !x.known);
  const r: OpenDraw = {
    unknownClasses: out.size,
    aurocRaw: auroc(...split(rawA)),
    aurocAdapted: auroc(...split(closedA)),
    aurocCalibrated: auroc(...split(calA)),
    aurocCalibratedNoGuard: auroc(...split(noGuardA)),
    closedKnownTop1: closedKnown.filter((x) => x.ok).length / closedKnown.length,
    knownTop1AtThreshold: known.filter((x) => x.ok && !x.unknown).length / known.length,
    unknownRejected: unknown.filter((x) => x.unknown).length / unknown.length,
    threshold: cal.threshold,
  };
  if (flag('--sweep-cohort')) {
    r.cohort = cohortSweep(g, queries, (label) => !out.has(label));
    log(`  cohort size/weight → AUROC: ${[...r.cohort].map(([k, v]) => `${k} ${v.toFixed(3)}`).join(', ')}`);
  }
  if (flag('--sweep-reject')) {
    r.sweep = [];
    for (const rejectRate of [0, 0.005, 0.01, 0.02, 0.05]) {
      g.calibrate({ rejectRate });
      const a = answer(g, queries);
      const k = a.filter((x) => x.known);
      const u = a.filter((x) => !x.known);
      r.sweep.push({
        rejectRate,
        knownTop1: k.filter((x) => x.ok && !x.unknown).length / k.length,
        unknownRejected: u.filter((x) => x.unknown).length / u.length,
      });
      log(
        `  reject rate ${rejectRate}: known top-1 ${pct(r.sweep.at(-1)!.knownTop1)}% (closed ${pct(r.closedKnownTop1)}%), unknown rejected ${pct(r.sweep.at(-1)!.unknownRejected)}%`,
      );
    }
  }
  log(
    `open-set draw ${d}: AUROC raw ${r.aurocRaw.toFixed(3)}, adapted ${r.aurocAdapted.toFixed(3)}, calibrated ${r.aurocCalibrated.toFixed(3)}; known top-1 ${pct(r.knownTop1AtThreshold)}% at threshold vs ${pct(r.closedKnownTop1)}% closed; unknown rejected ${pct(r.unknownRejected)}%`,
  );
  open.push(r);
  raw.dispose();
  g.dispose();
}

// 3. time ----------------------------------------------------------------------------------
const fitTimes: number[] = [];
let outDim = 0;
for (let i = 0; i < 3; i++) {
  const g = gallery(refsAll, {});
  const info = g.adapt();
  fitTimes.push(info.fitMs);
  outDim = info.outDim;
}
const gCal = gallery(refsAll, {});
gCal.adapt();
const calT0 = performance.now();
const calFull = gCal.calibrate();
const calMs = performance.now() - calT0;
// The same with the adapted gallery's search, for the per-query cost.
const q0 = performance.now();
gCal.classifyBatch(queries.vectors.subarray(0, 500 * queries.dim));
const perQueryMs = (performance.now() - q0) / 500;
const plainG = gallery(refsAll, {});
const p0 = performance.now();
plainG.classifyBatch(queries.vectors.subarray(0, 500 * queries.dim), { threshold: -Infinity });
const plainPerQueryMs = (performance.now() - p0) / 500;

// ---------------------------------------------------------------------------------------
const header = `| refs / class | ${METHODS.join(' | ')} |\n|---|${METHODS.map(() => '---:').join('|')}|`;
const rows = (OPEN_ONLY ? [] : SIZES).map((s) => {
  const r = closed.get(String(s))!;
  const n = s === 'all' ? `all (${Math.round(train.labels.length / classes.length)} avg)` : String(s);
  return `| ${n} | ${METHODS.map((m) => (s === 'all' ? pct(r.get(m)![0]!) : pm(r.get(m)!))).join(' | ')} |`;
});
const table = [header, ...rows].join('\n');
const avg = (f: (o: OpenDraw) => number) => open.map(f);
const openTable = [
  `| unknown score | AUROC (mean ± sd, ${DRAWS} draws) |`,
  '|---|---:|',
  `| best similarity, raw embeddings (default gallery) | ${avg((o) => o.aurocRaw)
    .map((x) => x.toFixed(3))
    .join(', ')} → **${mean(avg((o) => o.aurocRaw)).toFixed(3)}** ± ${sd(avg((o) => o.aurocRaw)).toFixed(3)} |`,
  `| best similarity, adapted | ${avg((o) => o.aurocAdapted)
    .map((x) => x.toFixed(3))
    .join(', ')} → **${mean(avg((o) => o.aurocAdapted)).toFixed(3)}** ± ${sd(avg((o) => o.aurocAdapted)).toFixed(3)} |`,
  `| adapted + calibrated (similarity − label offset − ${DEFAULT_COHORT_WEIGHT} × cohort of ${DEFAULT_COHORT_SIZE}) | ${avg(
    (o) => o.aurocCalibrated,
  )
    .map((x) => x.toFixed(3))
    .join(', ')} → **${mean(avg((o) => o.aurocCalibrated)).toFixed(3)}** ± ${sd(avg((o) => o.aurocCalibrated)).toFixed(3)} |`,
  `| … the same without the raw-space guard (\`calibrate({ rawSpace: false })\`, skulens before issue 23) | ${avg(
    (o) => o.aurocCalibratedNoGuard,
  )
    .map((x) => x.toFixed(3))
    .join(', ')} → **${mean(avg((o) => o.aurocCalibratedNoGuard)).toFixed(3)}** ± ${sd(avg((o) => o.aurocCalibratedNoGuard)).toFixed(3)} |`,
].join('\n');
const knownLine = `Known-class top-1 (an "unknown" answer counts as wrong): closed set ${pm(avg((o) => o.closedKnownTop1))}%, at the calibrated threshold ${pm(avg((o) => o.knownTop1AtThreshold))}% (drop ${pct(mean(avg((o) => o.closedKnownTop1 - o.knownTop1AtThreshold)))} points); queries of the left-out classes answered "unknown": ${pm(avg((o) => o.unknownRejected))}%.`;
const timeLine = `Adaptation of the full gallery (${train.labels.length} references × ${train.dim}-d, ${classes.length} classes → ${outDim}-d): median ${(median(fitTimes) / 1000).toFixed(2)} s over 3 fits (${fitTimes.map((t) => (t / 1000).toFixed(2)).join(', ')} s); calibration (${calFull.folds} folds, each a re-fit): ${(calMs / 1000).toFixed(1)} s. Query cost after adaptation: ${perQueryMs.toFixed(2)} ms vs ${plainPerQueryMs.toFixed(2)} ms plain (default gallery, exact index) on this machine (${cpus().length} cores shared with other jobs).`;

if (!OPEN_ONLY) {
  console.log(`\nClosed set, top-1 % on ${QUERIES}.csv (${queries.labels.length} queries), mean ± sd over ${DRAWS} draws of references:\n`);
  console.log(table);
}
console.log(`\nOpen set (20% of classes left out, ${DRAWS} draws):\n`);
console.log(openTable);
console.log('\n' + knownLine);
if (open[0]?.cohort) {
  console.log(
    `\nCohort term (--sweep-cohort): calibrated AUROC, mean over ${open.length} draws, by cohort size (rows) and weight (columns):\n`,
  );
  console.log(`| size | ${COHORT_WEIGHTS.map((w) => `w = ${w}`).join(' | ')} |\n|---|${COHORT_WEIGHTS.map(() => '---:').join('|')}|`);
  for (const size of COHORT_SIZES)
    console.log(`| ${size} | ${COHORT_WEIGHTS.map((w) => mean(open.map((o) => o.cohort!.get(`${size}/${w}`)!)).toFixed(4)).join(' | ')} |`);
}
if (OPEN_ONLY) process.exit(0);
console.log('\n' + timeLine);
const full = closed.get('all')!;
console.log(
  `\nratios (same run): adapted / class mean top-1 = ${(full.get('adapted')![0]! / full.get('class mean')![0]!).toFixed(3)}, adapted / plain kNN = ${(full.get('adapted')![0]! / full.get('plain kNN')![0]!).toFixed(3)}; calibrated / raw AUROC = ${(mean(avg((o) => o.aurocCalibrated)) / mean(avg((o) => o.aurocRaw))).toFixed(3)}`,
);

if (WRITE) {
  await writePlot(join(ROOT, 'docs', 'img', 'accuracy.png'));
  const path = join(ROOT, 'docs', 'accuracy.md');
  // With --no-store the store section already in the file is kept as it was.
  const kept = STORE ?? existingStoreSection(await readFile(path, 'utf8'));
  await writeFile(path, doc());
  if (kept) await writeStoreSection(path, kept);
  log('wrote docs/accuracy.md and docs/img/accuracy.png');
}

// ---------------------------------------------------------------------------------------

function cohortDocTable(): string {
  if (!open[0]?.cohort) return '(run with --sweep-cohort to print it)';
  const head = `| size | ${COHORT_WEIGHTS.map((w) => `w = ${w}`).join(' | ')} |\n|---|${COHORT_WEIGHTS.map(() => '---:').join('|')}|`;
  return [
    head,
    ...COHORT_SIZES.map(
      (size) => `| ${size} | ${COHORT_WEIGHTS.map((w) => mean(open.map((o) => o.cohort!.get(`${size}/${w}`)!)).toFixed(3)).join(' | ')} |`,
    ),
  ].join('\n');
}

function doc(): string {
  return `# Accuracy: few-shot adaptation and open-set calibration

Everything below is printed by \`npm run bench:accuracy\` (bench/accuracy.ts), which also
writes this file and \`img/accuracy.png\`. Protocol: the Grocery Store dataset (Klasson et
al., WACV 2019), gallery = \`train.csv\` (${train.labels.length} references, ${classes.length} fine classes), queries =
\`test.csv\` (${queries.labels.length} images), MobileNetV2-int8 embeddings (\`mobilenetv2-12-int8-embed.onnx\`,
preset \`imagenet\`, ${train.dim}-d, L2-normalised), cosine similarity, exact index, gallery
defaults otherwise (k = ${DEFAULT_K} softmax-weighted votes, temperature ${DEFAULT_TEMPERATURE}). The calibration's settings were chosen
on \`val.csv\` with \`npm run bench:accuracy -- --queries val\` (below). adapt()'s power and
shrinkage were first picked from a table that included test figures; \`npx tsx
bench/choose-defaults.ts\` re-makes that choice on val ([gallery.md](gallery.md#defaults-chosen-on-val)).
Figures that come from another command name it.

## Closed set: top-1 vs references per class

Top-1 % (mean ± sd over ${DRAWS} random draws of the references; "all" is one draw).

${table}

![top-1 vs references per class](img/accuracy.png)

- **plain kNN**: every reference stored, k-nearest voting.
- **k-means (3)**: \`clustersPerClass: 3\` centroids per class${DEFAULT_CLUSTERS === 3 ? ' (the gallery default)' : ''}.
- **class mean**: \`clustersPerClass: 1\`${DEFAULT_CLUSTERS === 1 ? ' (the gallery default)' : ''}.
- **adapted**: the default gallery (\`clustersPerClass: ${DEFAULT_CLUSTERS}\`) after \`gallery.adapt()\` (CLI
  \`gallery build --adapt\`), its centroids taken in the adapted space. With one reference per
  class there is no within-class scatter to learn from: adapt() keeps the embeddings as they
  are (identity), so that row equals the others.

## Method

\`adapt()\` fits a regularised linear discriminant analysis on the references
(src/core/adapt/lda.ts) — no model retraining:

1. signed power \`x ↦ sign(x)·|x|^${DEFAULT_POWER}\`, L2-normalise (the features are averages of
   ReLU outputs: skewed, non-negative; a root evens out the few large activations);
2. subtract the mean reference, L2-normalise again;
3. whiten the within-class covariance Σ_w, shrunk toward (tr Σ_w / d)·I by ${DEFAULT_SHRINKAGE}
   (~${Math.round(train.labels.length / classes.length)} references per class in ${train.dim} dimensions make Σ_w singular without it), by its
   Cholesky factor L;
4. keep the C−1 directions along which the whitened class means spread (eigenvectors of
   the C×C Gram matrix of the means — no d×d eigendecomposition is needed);
5. L2-normalise; search by cosine against the gallery's centroids in that space.

The fit is one d×d scatter (n·d²/2 multiply-adds), one Cholesky (d³/6) and triangular
solves, in plain TypeScript (Float64Array), deterministic (no randomness at all). The
projection (C−1 × d floats) and the references are stored in the gallery file (format
version 2, see gallery-format.md); adding or removing a class re-fits it before the next
search or save.

${timeLine}

### Alternatives

While choosing the method, other variants were tried on the same protocol: 1-NN and kNN
votes in the adapted space, shrinkage toward diag(Σ_w), discriminant axes weighted by
their eigenvalues or cut to fewer axes, full within-class whitening, sub-class LDA, sums
of LDA scores, and trained softmax heads on the adapted or whitened features. None was
better than LDA with shrinkage on val, and the trained heads over-fit the references
(the adapted space already separates held-out references almost perfectly: ${pct(calFull.heldOutTop1)}% top-1
in this run's calibration). Their scripts were not kept, so no figures are given for them
here; the power/shrinkage choice is re-made by \`npx tsx bench/choose-defaults.ts\`.

## Open set: 20% of the classes left out

Per draw, ${open[0]?.unknownClasses ?? 16} random classes are removed from the gallery; all ${queries.labels.length} test images
are queries, those of removed classes should be answered "unknown". AUROC: probability
that a query of a known class scores higher than a query of a left-out one.

${openTable}

${knownLine}

\`calibrate()\` (CLI \`gallery build --calibrate\`, src/core/adapt/calibrate.ts) uses the
references only: in ${calFull.folds} folds, a gallery built and adapted without one fold of every
class's references answers that fold. From those answers come

- a **per-label offset**: the mean similarity of a label's held-out references to their own
  label. Compact classes (one package, one view) score higher than diffuse ones (loose
  fruit and vegetables); "similarity minus the winner's offset" ranks unknown queries below
  known ones better than the raw similarity (exploratory runs, scripts not kept, compared
  it with the margin top-1 − top-2, energy, distance to the nearest mean, Mahalanobis
  distance, the best single reference and learned combinations of these);
- a **cohort term**: ${DEFAULT_COHORT_WEIGHT} × the mean similarity of the next ${DEFAULT_COHORT_SIZE} best labels after the
  winner, subtracted too (\`cohortWeight\`, \`cohortSize\`). A query of a product the gallery
  lacks tends to resemble several labels about equally; one of a known product stands out
  from its runners-up (cohort normalisation, as in speaker verification). Chosen on val
  over 10 draws (below);
- the **threshold** on that score: the ${(100 * DEFAULT_REJECT_RATE).toFixed(1)}% quantile of the correctly answered held-out
  references (\`rejectRate\`). Chosen on val: \`npm run bench:accuracy -- --queries val
  --draws 10 --open-set-only --sweep-reject\` prints the known-class top-1 drop and the
  share of unknowns rejected for reject rates 0–0.05. Queries sit much further from the
  references than held-out references do (held-out references: ${pct(calFull.heldOutTop1)}% top-1), so far
  more known queries than \`rejectRate\` fall below the threshold, and a strict threshold
  costs known-class accuracy fast.

The threshold is stored in the gallery and used by \`classify\` / \`eval\` when no
\`--threshold\` is given; on a calibrated gallery an explicit threshold applies to the
same calibrated score (\`Classification.unknownScore\`).

## Status against issue 6

| target | measured (test.csv) | |
|---|---|---|
| \`gallery build --adapt\` + \`eval --json\`: top-1 ≥ 0.80 | ${pct(closed.get('all')!.get('adapted')![0]!)}% (table above; the CLI path: the commands below) | ${closed.get('all')!.get('adapted')![0]! >= 0.8 ? `met, by ${pct(closed.get('all')!.get('adapted')![0]! - 0.8)} points` : `**not met** (short by ${pct(0.8 - closed.get('all')!.get('adapted')![0]!)} points)`} |
| adaptation ≤ 10 s for the full gallery | median ${(median(fitTimes) / 1000).toFixed(2)} s | ${median(fitTimes) <= 10_000 ? 'met' : '**not met**'} |
| open set: AUROC ≥ 0.80 (${DRAWS} draws) | ${mean(avg((o) => o.aurocCalibrated)).toFixed(3)} (${avg((o) => o.aurocCalibrated)
    .map((x) => x.toFixed(3))
    .join(
      ', ',
    )}) | ${mean(avg((o) => o.aurocCalibrated)) >= 0.8 ? `met, by ${(mean(avg((o) => o.aurocCalibrated)) - 0.8).toFixed(3)}` : '**not met** (short by ' + (0.8 - mean(avg((o) => o.aurocCalibrated))).toFixed(3) + ')'} |
| known-class top-1 at the calibrated threshold within 5 points of closed set | drop ${pct(mean(avg((o) => o.closedKnownTop1 - o.knownTop1AtThreshold)))} points | ${mean(avg((o) => o.closedKnownTop1 - o.knownTop1AtThreshold)) <= 0.05 ? 'met' : '**not met**'} |

What likely limits the open-set score (not measured separately): many left-out classes
have a sibling in the gallery (another apple variety, another carton of the same brand)
that their photos resemble closely; the adapted space was fitted to separate the known
classes only. Calibration (label offsets and the cohort term) adds
${(mean(avg((o) => o.aurocCalibratedNoGuard)) - mean(avg((o) => o.aurocAdapted))).toFixed(3)} AUROC over the adapted similarity on these draws; the raw-space guard that
\`calibrate()\` has added since issue 23 then moves it by ${(mean(avg((o) => o.aurocCalibrated)) - mean(avg((o) => o.aurocCalibratedNoGuard))).toFixed(3)}. The guard is
what keeps shelf products of other kinds from being named (false names on shelf boxes in
[Open set on shelves](#open-set-on-shelves)); a left-out Grocery class is a sibling of a known
one, close in the raw space too, so there it scores like a known query and the minimum of
the two scores ranks it less well${mean(avg((o) => o.aurocCalibratedNoGuard)) >= 0.8 ? '. Without the guard the 0.80 target is met: the shortfall is a trade made for real shelves' : ''}.

### Other unknown scores tried

A follow-up search for a better unknown score was run on val.csv (10 draws of left-out
classes) with an exploratory numpy re-implementation of the fit and calibration whose
script was not kept, so its figures are not given here. It compared, against "adapted
similarity − label offset": the un-truncated whitened space, a ViM-like residual, the
best single reference, energy and max-over-labels scores, pair and impostor offsets,
scaled offsets, other shrinkage and power, and a margin term (top-1 − top-2). Only the
margin helped on val; the cohort term below generalises it.

**The cohort term** (adopted) generalises the margin: it subtracts the mean similarity of
several runners-up instead of the first one only. It was chosen on val: \`npm run
bench:accuracy -- --queries val --draws 10 --open-set-only --sweep-cohort\` prints the mean
AUROC by cohort size (${COHORT_SIZES.join(', ')}) and weight (${COHORT_WEIGHTS[0]}–${COHORT_WEIGHTS.at(-1)}); its best there, size ${DEFAULT_COHORT_SIZE}
and weight ${DEFAULT_COHORT_WEIGHT}, became the defaults (it also prints each draw's AUROC, which varies
between draws by more than the top settings differ: their order is within noise). Test
was checked once with them (table above). The same sweep on this run's test draws (\`--sweep-cohort\`):

${cohortDocTable()}

## Reproduce

\`\`\`sh
npm run bench:accuracy                       # test.csv figures, rewrites this file and the plot
npm run bench:accuracy -- --queries val      # what the defaults were chosen on (no write)
npm run bench:accuracy -- --sweep-reject     # known top-1 / rejection for several reject rates
npm run bench:accuracy -- --sweep-cohort     # AUROC for several cohort sizes and weights
npm run bench:accuracy -- --queries val --draws 10 --open-set-only --sweep-cohort --sweep-reject   # the val choices
# end to end through the CLI:
npx tsup && node dist/cli.js gallery build ../shared/data/grocery-store/train.csv -o /tmp/gs.skg \\
  --embedder ../shared/models/mobilenetv2-12-int8-embed.onnx --preset imagenet --adapt
node dist/cli.js eval ../shared/data/grocery-store/test.csv --gallery /tmp/gs.skg --json
\`\`\`
`;
}

async function writePlot(path: string): Promise<void> {
  const W = 760;
  const H = 460;
  const m = { l: 64, r: 170, t: 40, b: 56 };
  const xs = SIZES.map((s) => (s === 'all' ? train.labels.length / classes.length : s));
  const xMax = 36;
  const x = (v: number) => m.l + (v / xMax) * (W - m.l - m.r);
  const yMin = 0.2;
  const yMax = 0.9;
  const y = (v: number) => m.t + ((yMax - v) / (yMax - yMin)) * (H - m.t - m.b);
  const colors: Record<Method, string> = { 'plain kNN': '#7f7f7f', 'k-means (3)': '#1f77b4', 'class mean': '#2ca02c', adapted: '#d62728' };
  const parts: string[] = [];
  parts.push(`<rect width="${W}" height="${H}" fill="white"/>`);
  for (let v = 0.2; v <= 0.9001; v += 0.1) {
    parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(v)}" y2="${y(v)}" stroke="#e5e5e5"/>`);
    parts.push(`<text x="${m.l - 8}" y="${y(v) + 4}" font-size="12" text-anchor="end" fill="#333">${Math.round(v * 100)}%</text>`);
  }
  xs.forEach((v, i) => {
    parts.push(`<line x1="${x(v)}" x2="${x(v)}" y1="${H - m.b}" y2="${H - m.b + 5}" stroke="#333"/>`);
    parts.push(
      `<text x="${x(v)}" y="${H - m.b + 20}" font-size="12" text-anchor="middle" fill="#333">${SIZES[i] === 'all' ? 'all' : SIZES[i]}</text>`,
    );
  });
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${H - m.b}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<line x1="${m.l}" x2="${m.l}" y1="${m.t}" y2="${H - m.b}" stroke="#333"/>`);
  parts.push(`<text x="${(m.l + W - m.r) / 2}" y="${H - 14}" font-size="13" text-anchor="middle" fill="#111">references per class</text>`);
  parts.push(
    `<text x="18" y="${(m.t + H - m.b) / 2}" font-size="13" text-anchor="middle" fill="#111" transform="rotate(-90 18 ${(m.t + H - m.b) / 2})">top-1 (test.csv)</text>`,
  );
  parts.push(
    `<text x="${m.l}" y="24" font-size="15" font-weight="bold" fill="#111">Grocery Store, MobileNetV2-int8: top-1 vs references per class</text>`,
  );
  METHODS.forEach((meth, k) => {
    const pts = SIZES.map((s, i) => {
      const v = closed.get(String(s))!.get(meth)!;
      return { x: x(xs[i]!), y: y(mean(v)), lo: y(mean(v) - sd(v)), hi: y(mean(v) + sd(v)) };
    });
    const c = colors[meth];
    parts.push(
      `<polyline fill="none" stroke="${c}" stroke-width="2.5" points="${pts.map((p) => `${p.x.toFixed(1)},${p.y.toFixed(1)}`).join(' ')}"/>`,
    );
    for (const p of pts) {
      parts.push(`<line x1="${p.x}" x2="${p.x}" y1="${p.lo}" y2="${p.hi}" stroke="${c}" stroke-width="1.5"/>`);
      parts.push(`<circle cx="${p.x}" cy="${p.y}" r="4" fill="${c}"/>`);
    }
    const ly = m.t + 20 + k * 24;
    parts.push(`<line x1="${W - m.r + 16}" x2="${W - m.r + 40}" y1="${ly}" y2="${ly}" stroke="${c}" stroke-width="2.5"/>`);
    parts.push(`<text x="${W - m.r + 46}" y="${ly + 4}" font-size="13" fill="#111">${meth}</text>`);
  });
  parts.push(`<line x1="${m.l}" x2="${W - m.r}" y1="${y(0.86)}" y2="${y(0.86)}" stroke="#9467bd" stroke-dasharray="5,4"/>`);
  parts.push(
    `<text x="${W - m.r - 4}" y="${y(0.86) - 6}" font-size="11" text-anchor="end" fill="#9467bd">fine-tuned CNN 86.0% (Antioquia 2021)</text>`,
  );
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="DejaVu Sans, Arial, sans-serif">${parts.join('')}</svg>`;
  mkdirSync(dirname(path), { recursive: true });
  await sharp(Buffer.from(svg)).png().toFile(path);
}
