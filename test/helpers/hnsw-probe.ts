/**
 * Run in a child process by cli-usage.test.ts, with or without the no-hnswlib preload:
 * imports the package entry, then prints (one JSON line) what an `auto` gallery big
 * enough for HNSW chose and what an explicit `index: "hnsw"` gallery did.
 */
import { ReferenceGallery, isSkulensError } from '../../src/index.js';

const dim = 16;
const vec = (c: number, i: number) => Float32Array.from({ length: dim }, (_, d) => (d === c ? 1 : 0) + Math.sin(c * 31 + i * 7 + d) * 0.05);
const vectors = (c: number) => Array.from({ length: 100 }, (_, i) => vec(c, i));

const auto = new ReferenceGallery({ dim, clustersPerClass: 'all' });
for (let c = 0; c < 12; c++) auto.add(`c${c}`, vectors(c));
const queries = Array.from({ length: 400 }, (_, i) => vec(i % 12, 1000 + i));
const labels = auto.classifyBatch(queries).map((r) => r.label);
const correct = labels.filter((l, i) => l === `c${i % 12}`).length;

let explicit: { kind?: string; code?: string; message?: string };
try {
  const g = new ReferenceGallery({ dim, index: 'hnsw' });
  g.add('a', vectors(0)).add('b', vectors(1));
  g.classify(vec(0, 999));
  explicit = { kind: g.indexKind };
} catch (err) {
  explicit = isSkulensError(err) ? { code: err.code, message: err.message } : { message: String(err) };
}
process.stdout.write(JSON.stringify({ autoKind: auto.indexKind, correct, total: queries.length, explicit }) + '\n');
