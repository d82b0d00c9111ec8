/**
 * Gallery accuracy on the Grocery Store dataset (gallery = train.csv, queries =
 * test.csv) with MobileNetV2 embeddings: clustersPerClass × metric × k, and an
 * open-set threshold sweep. Vectors are embedded once and cached (tools/grocery.ts).
 *
 *   npx tsx bench/gallery-accuracy.ts [--json]
 */
import '../src/node/platform.js';
import { DEFAULT_K, DEFAULT_TEMPERATURE, ReferenceGallery, voteNeighbors, type Neighbor } from '../src/core/gallery/gallery.js';
import type { Metric } from '../src/core/vector-index.js';
import { byLabel, groceryVectors } from '../tools/grocery.js';

const json = process.argv.includes('--json');
const { train, test } = await groceryVectors();
const dim = train.dim;

function build(clusters: number | 'all', metric: Metric, skip?: (label: string) => boolean): ReferenceGallery {
  const g = new ReferenceGallery({ metric, clustersPerClass: clusters, index: 'exact' });
  for (const [label, vs] of byLabel(train)) if (!skip?.(label)) g.add(label, vs);
  return g;
}

const pct = (x: number) => (100 * x).toFixed(1).padStart(5);

interface Score {
  top1: number;
  top5: number;
  perClassMean: number;
}

/** Neighbours of every test query, searched once per gallery and re-voted for each k / temperature. */
function neighbours(g: ReferenceGallery): Neighbor[][] {
  return test.labels.map((_, i) => g.nearest(test.vectors.subarray(i * dim, (i + 1) * dim), 60));
}

function evaluate(nn: Neighbor[][], k: number, temperature = DEFAULT_TEMPERATURE): Score {
  let top1 = 0;
  let top5 = 0;
  const per = new Map<string, [number, number]>();
  test.labels.forEach((truth, i) => {
    const r = voteNeighbors(nn[i]!, { k, threshold: -Infinity, top: 5, temperature });
    const ok = r.label === truth;
    top1 += ok ? 1 : 0;
    top5 += r.labels.some((l) => l.label === truth) ? 1 : 0;
    const c = per.get(truth) ?? [0, 0];
    c[0] += ok ? 1 : 0;
    c[1]++;
    per.set(truth, c);
  });
  const n = test.labels.length;
  const accs = [...per.values()].map(([a, b]) => a / b);
  return { top1: top1 / n, top5: top5 / n, perClassMean: accs.reduce((a, b) => a + b, 0) / accs.length };
}

const results: Record<string, unknown>[] = [];

// 1. clustersPerClass × metric × k (temperature fixed), then temperature at the default k.
const ks = [1, 3, 5, 10, 20];
const temps = [0.005, 0.01, 0.02, 0.05, 0.1];
const clusterOptions: (number | 'all')[] = ['all', 1, 3, 5, 10];
if (!json) {
  console.log(
    `Grocery Store: ${train.labels.length} references, ${test.labels.length} queries, ${new Set(train.labels).size} classes, ${dim}-d\n`,
  );
  console.log(`top-1 % (top-5 %) [mean per class %] by clustersPerClass × metric × k, temperature ${DEFAULT_TEMPERATURE}`);
  console.log(`clusters  metric  stored  build ms | ${ks.map((k) => `k=${k}`.padEnd(20)).join(' ')}`);
}
const tempRows: string[] = [];
for (const clusters of clusterOptions) {
  for (const metric of ['cosine', 'l2'] as Metric[]) {
    const t0 = performance.now();
    const g = build(clusters, metric);
    const buildMs = performance.now() - t0;
    const nn = neighbours(g);
    const row = ks.map((k) => ({ k, ...evaluate(nn, k) }));
    const byTemp = temps.map((t) => ({ temperature: t, ...evaluate(nn, DEFAULT_K, t) }));
    results.push({ clusters, metric, stored: g.size, buildMs, byK: row, byTemperature: byTemp });
    tempRows.push(`${String(clusters).padEnd(8)}  ${metric.padEnd(6)} | ${byTemp.map((r) => pct(r.top1)).join('     ')}`);
    if (!json) {
      console.log(
        `${String(clusters).padEnd(8)}  ${metric.padEnd(6)}  ${String(g.size).padStart(6)}  ${buildMs.toFixed(0).padStart(8)} | ${row.map((r) => `${pct(r.top1)} (${pct(r.top5)}) [${pct(r.perClassMean)}]`).join(' ')}`,
      );
    }
  }
}
if (!json) {
  console.log(`\ntop-1 % by temperature at k=${DEFAULT_K}`);
  console.log(`clusters  metric | ${temps.map((t) => `t=${t}`.padEnd(9)).join(' ')}`);
  for (const r of tempRows) console.log(r);
}

// 2. Open-set threshold sweep: hold out every 5th class; its queries should come back "unknown".
const allLabels = [...new Set(train.labels)].sort();
const heldOut = new Set(allLabels.filter((_, i) => i % 5 === 4));
const sweepRows: Record<string, number>[] = [];
for (const clusters of ['all', 1, 3] as (number | 'all')[]) {
  const g = build(clusters, 'cosine', (l) => heldOut.has(l));
  const known: { score: number; ok: boolean }[] = [];
  const unknownScores: number[] = [];
  test.labels.forEach((truth, i) => {
    const r = g.classify(test.vectors.subarray(i * dim, (i + 1) * dim));
    const best = r.neighbors[0]!.score;
    if (heldOut.has(truth)) unknownScores.push(best);
    else known.push({ score: best, ok: r.label === truth });
  });
  for (const t of [0, 0.5, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9]) {
    const accepted = known.filter((q) => q.score >= t);
    sweepRows.push({
      clusters: clusters === 'all' ? 0 : clusters,
      threshold: t,
      knownAccepted: accepted.length / known.length,
      knownTop1: accepted.filter((q) => q.ok).length / known.length,
      acceptedPrecision: accepted.length ? accepted.filter((q) => q.ok).length / accepted.length : 1,
      foreignRejected: unknownScores.filter((s) => s < t).length / unknownScores.length,
    });
  }
}
if (json) {
  console.log(JSON.stringify({ configs: results, thresholdSweep: sweepRows, heldOut: [...heldOut] }));
} else {
  console.log(
    `\nOpen-set sweep (cosine, default k and temperature): ${heldOut.size} of ${allLabels.length} classes held out of the gallery; their queries should be "unknown".`,
  );
  console.log('clusters  threshold  known accepted  known top-1  precision of accepted  held-out rejected');
  for (const r of sweepRows) {
    console.log(
      `${String(r.clusters === 0 ? 'all' : r.clusters).padEnd(8)}  ${r.threshold!.toFixed(2).padStart(9)}  ${pct(r.knownAccepted!).padStart(14)}  ${pct(r.knownTop1!).padStart(11)}  ${pct(r.acceptedPrecision!).padStart(21)}  ${pct(r.foreignRejected!).padStart(17)}`,
    );
  }
}
