/**
 * Vector search benchmark: exact flat index vs HNSW (hnswlib-node) on 1280-d unit
 * vectors at N = 1k, 10k, 100k, for synthetic clustered data and for the real Grocery
 * Store embeddings (MobileNetV2) tiled with noise to reach N. Reports build time,
 * bytes per vector, median query latency, HNSW recall@1 against exact, an ef sweep,
 * the exact/HNSW crossover and the gallery decode time; ends with ratios.
 *
 *   npm run bench:search [-- --quick] [--sizes 1000,10000] [--data synthetic|grocery] [--M 16 --efc 100] [--queries 200]
 */
import { statSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import '../src/node/platform.js';
import { normalizeInPlace } from '../src/core/vector.js';
import { ExactIndex } from '../src/core/gallery/exact-index.js';
import { DEFAULT_HNSW, ReferenceGallery } from '../src/core/gallery/gallery.js';
import { HnswIndex } from '../src/node/hnsw-index.js';
import { groceryVectors } from '../tools/grocery.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const quick = argv.includes('--quick');
const sizes = (flag('sizes') ?? (quick ? '1000,10000' : '1000,10000,100000')).split(',').map(Number);
const M = Number(flag('M') ?? DEFAULT_HNSW.M);
const efc = Number(flag('efc') ?? DEFAULT_HNSW.efConstruction);
const efs = [16, 32, 64, DEFAULT_HNSW.ef, 256].filter((v, i, a) => a.indexOf(v) === i).sort((a, b) => a - b);
const Q = Number(flag('queries') ?? (quick ? 100 : 200));
const DIM = 1280;
const K = 10;

// Seeded PRNG (mulberry32) + Box-Muller, so every run uses the same data.
function rng(seed: number) {
  let a = seed >>> 0;
  const uniform = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const gauss = () => Math.sqrt(-2 * Math.log(uniform() + 1e-12)) * Math.cos(2 * Math.PI * uniform());
  return { uniform, gauss };
}

interface Dataset {
  base: Float32Array;
  queries: Float32Array;
}

/** Clusters of 100 around random centres; noise so that within-cluster cosine is ≈ 0.75 (like same-product photos). */
function synthetic(n: number): Dataset {
  const r = rng(1);
  const clusters = Math.max(1, Math.round(n / 100));
  const centres = new Float32Array(clusters * DIM);
  for (let i = 0; i < centres.length; i++) centres[i] = r.gauss();
  for (let c = 0; c < clusters; c++) normalizeInPlace(centres.subarray(c * DIM, (c + 1) * DIM));
  const sigma = 0.6 / Math.sqrt(DIM);
  const draw = (out: Float32Array, count: number) => {
    for (let i = 0; i < count; i++) {
      const c = Math.floor(r.uniform() * clusters);
      const row = out.subarray(i * DIM, (i + 1) * DIM);
      for (let j = 0; j < DIM; j++) row[j] = centres[c * DIM + j]! + sigma * r.gauss();
      normalizeInPlace(row);
    }
    return out;
  };
  return { base: draw(new Float32Array(n * DIM), n), queries: draw(new Float32Array(Q * DIM), Q) };
}

/**
 * Real train embeddings, extended to n with new "views" of each product: a random blend
 * of two references of the same class plus a little noise. (Tiling each reference with
 * i.i.d. noisy copies instead makes clusters of ~38 near-duplicates at 100k, more than
 * HNSW's M: that disconnects the graph, a known HNSW failure, see docs/gallery.md.)
 * Queries are real test embeddings.
 */
async function grocery(n: number): Promise<Dataset> {
  const { train, test } = await groceryVectors(() => {});
  const r = rng(2);
  const m = train.labels.length;
  const byClass = new Map<string, number[]>();
  train.labels.forEach((l, i) => byClass.set(l, [...(byClass.get(l) ?? []), i]));
  const base = new Float32Array(n * DIM);
  const sigma = 0.15 / Math.sqrt(DIM);
  for (let i = 0; i < n; i++) {
    const row = base.subarray(i * DIM, (i + 1) * DIM);
    const a = i % m;
    if (i < m) row.set(train.vectors.subarray(a * DIM, (a + 1) * DIM));
    else {
      const same = byClass.get(train.labels[a]!)!;
      const b = same[Math.floor(r.uniform() * same.length)]!;
      const t = r.uniform();
      for (let j = 0; j < DIM; j++) row[j] = t * train.vectors[a * DIM + j]! + (1 - t) * train.vectors[b * DIM + j]! + sigma * r.gauss();
    }
    normalizeInPlace(row);
  }
  const queries = new Float32Array(Q * DIM);
  const step = Math.floor(test.labels.length / Q);
  for (let q = 0; q < Q; q++) queries.set(test.vectors.subarray(q * step * DIM, (q * step + 1) * DIM), q * DIM);
  return { base, queries };
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};
const ms = (x: number) => (x >= 100 ? x.toFixed(0) : x >= 1 ? x.toFixed(2) : x.toFixed(3));

interface Row {
  data: string;
  n: number;
  exactBuildMs: number;
  hnswBuildMs: number;
  exactBytes: number;
  hnswBytes: number;
  exactMs: number;
  hnsw: { ef: number; ms: number; recall1: number; recall10: number }[];
  decodeMs?: number;
}
const rows: Row[] = [];

console.log(
  `bench:search — ${DIM}-d unit vectors, cosine, ${Q} queries, k=${K}; HNSW M=${M} efConstruction=${efc}; ${quick ? 'quick' : 'full'} run\n`,
);
for (const [name, make] of [
  ['synthetic', async (n: number) => synthetic(n)],
  ['grocery', grocery],
] as const) {
  if (flag('data') && flag('data') !== name) continue;
  for (const n of sizes) {
    const { base, queries } = await make(n);
    const row = (i: number) => base.subarray(i * DIM, (i + 1) * DIM);
    const query = (i: number) => queries.subarray(i * DIM, (i + 1) * DIM);

    let t0 = performance.now();
    const exact = new ExactIndex(DIM, 'cosine', n);
    for (let i = 0; i < n; i++) exact.add(i, row(i));
    const exactBuildMs = performance.now() - t0;
    const truth: number[][] = [];
    const exactTimes: number[] = [];
    for (let q = 0; q < Q; q++) {
      t0 = performance.now();
      const hits = exact.search(query(q), K);
      exactTimes.push(performance.now() - t0);
      truth.push(hits.map((h) => h.id));
    }

    t0 = performance.now();
    const hnsw = new HnswIndex({ metric: 'cosine', dim: DIM, capacity: n, M, efConstruction: efc, ef: DEFAULT_HNSW.ef, seed: 42 });
    for (let i = 0; i < n; i++) hnsw.add(i, row(i));
    const hnswBuildMs = performance.now() - t0;
    // hnswlib's own serialisation ≈ its memory: vectors + graph links + labels.
    const file = join(tmpdir(), `skulens-bench-${process.pid}.hnsw`);
    (hnsw as unknown as { index: { writeIndexSync(f: string): void } }).index.writeIndexSync(file);
    const hnswBytes = statSync(file).size / n;
    unlinkSync(file);

    const sweep: Row['hnsw'] = [];
    for (const ef of efs) {
      hnsw.setEf(ef);
      const times: number[] = [];
      let r1 = 0;
      let r10 = 0;
      for (let q = 0; q < Q; q++) {
        t0 = performance.now();
        const hits = hnsw.search(query(q), K);
        times.push(performance.now() - t0);
        if (hits[0]?.id === truth[q]![0]) r1++;
        const want = new Set(truth[q]);
        r10 += hits.filter((h) => want.has(h.id)).length / K;
      }
      sweep.push({ ef, ms: median(times), recall1: r1 / Q, recall10: r10 / Q });
    }
    hnsw.dispose();

    const result: Row = {
      data: name,
      n,
      exactBuildMs,
      hnswBuildMs,
      exactBytes: DIM * 4 + 12,
      hnswBytes,
      exactMs: median(exactTimes),
      hnsw: sweep,
    };
    if (name === 'grocery' && n === Math.max(...sizes)) {
      // Loading a gallery = decode (checksum + copy) + index build (timed above as hnswBuildMs).
      const g = new ReferenceGallery({ dim: DIM, index: 'exact', clustersPerClass: 'all' });
      for (let i = 0; i < n; i += 1000) g.add(`c${i / 1000}`, base.subarray(i * DIM, Math.min(n, i + 1000) * DIM));
      const bytes = g.toBytes();
      t0 = performance.now();
      ReferenceGallery.fromBytes(bytes);
      result.decodeMs = performance.now() - t0;
    }
    rows.push(result);
    const d = sweep.find((s) => s.ef === DEFAULT_HNSW.ef)!;
    console.log(
      `${name.padEnd(9)} N=${String(n).padStart(6)}  build exact ${ms(exactBuildMs)} ms, HNSW ${ms(hnswBuildMs)} ms; query exact ${ms(result.exactMs)} ms, HNSW(ef=${d.ef}) ${ms(d.ms)} ms, recall@1 ${d.recall1.toFixed(3)}` +
        (result.decodeMs !== undefined ? `; gallery decode ${ms(result.decodeMs)} ms` : ''),
    );
  }
}

console.log(
  '\n| data | N | build exact | build HNSW | bytes/vec exact | bytes/vec HNSW | query exact (median) | query HNSW ef=' +
    DEFAULT_HNSW.ef +
    ' | recall@1 | recall@10 |',
);
console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
for (const r of rows) {
  const d = r.hnsw.find((s) => s.ef === DEFAULT_HNSW.ef)!;
  console.log(
    `| ${r.data} | ${r.n} | ${ms(r.exactBuildMs)} ms | ${(r.hnswBuildMs / 1000).toFixed(1)} s | ${r.exactBytes} | ${r.hnswBytes.toFixed(0)} | ${ms(r.exactMs)} ms | ${ms(d.ms)} ms | ${d.recall1.toFixed(3)} | ${d.recall10.toFixed(3)} |`,
  );
}
console.log('\nef sweep (HNSW query median ms / recall@1):');
console.log(`| data | N | ${efs.map((e) => `ef=${e}`).join(' | ')} |`);
console.log(`|---|---:|${efs.map(() => '---:').join('|')}|`);
for (const r of rows) console.log(`| ${r.data} | ${r.n} | ${r.hnsw.map((s) => `${ms(s.ms)} / ${s.recall1.toFixed(3)}`).join(' | ')} |`);

// Exact cost grows linearly with N; HNSW's barely. Crossover: where the exact line meets HNSW's latency.
console.log('\nRatios (same run):');
for (const r of rows) {
  const d = r.hnsw.find((s) => s.ef === DEFAULT_HNSW.ef)!;
  console.log(
    `  ${r.data} N=${r.n}: HNSW is ${(r.exactMs / d.ms).toFixed(1)}× faster per query than exact; HNSW build is ${(r.hnswBuildMs / r.exactBuildMs).toFixed(0)}× slower; HNSW uses ${(r.hnswBytes / r.exactBytes).toFixed(2)}× the bytes per vector`,
  );
}
for (const name of ['synthetic', 'grocery']) {
  const rs = rows.filter((r) => r.data === name);
  if (!rs.length) continue;
  const perVector = median(rs.map((r) => r.exactMs / r.n));
  const small = rs[0]!;
  const hnswSmall = small.hnsw.find((s) => s.ef === DEFAULT_HNSW.ef)!.ms;
  console.log(
    `  ${name}: exact costs ${(perVector * 1e6).toFixed(0)} ns per stored vector; HNSW ≈ ${ms(hnswSmall)} ms at N=${small.n} → crossover ≈ ${Math.round(hnswSmall / perVector)} vectors`,
  );
}
const big = rows.filter((r) => r.n === Math.max(...sizes));
for (const r of big) {
  if (r.decodeMs !== undefined)
    console.log(
      `  load of a ${r.n}-vector gallery: decode + checksum ${ms(r.decodeMs)} ms + HNSW rebuild ${(r.hnswBuildMs / 1000).toFixed(1)} s`,
    );
}
