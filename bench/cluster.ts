/**
 * Shelf photos through `skulens serve`: in-process, then through Redis with 1 and with 2
 * `skulens worker` processes, in one run (same photos, same models, same machine load).
 * Per setup: photos per second and p50/p95 request latency, with as many requests in
 * flight as there are processors ×2 (so none idles); then the queue's overhead per photo
 * against the in-process path, the 2-worker speed-up, and a no-op BullMQ round trip of
 * the same photo bytes (what one Redis moves when recognition costs nothing: its ceiling).
 *
 *   npm run bench:cluster [-- --photos 50] [--write]
 *
 * Redis: SKULENS_TEST_REDIS, else a throw-away one from scripts/test-services.sh.
 * Detector: models/skulens-shelf.onnx when present, else ../shared's SKU-110K reference
 * detector (evaluation material, used here only to measure speed). --write puts the table
 * into docs/scaling.md between its bench:cluster markers.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Queue, Worker } from 'bullmq';
import '../src/node/platform.js';
import { Embedder } from '../src/core/embedder.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { createService, type RecognitionService } from '../src/cluster.js';

const argv = process.argv.slice(2);
const flag = (name: string) => {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 ? argv[i + 1] : undefined;
};
const PHOTOS = Number(flag('photos') ?? 50);
const WRITE = argv.includes('--write');
const ROOT = resolve(import.meta.dirname, '..');
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(ROOT, '..', 'shared'));
const SHELVES = join(SHARED, 'data', 'sku110k-shelf');
const BUILTIN_DETECTOR = join(ROOT, 'models', 'skulens-shelf.onnx');
const DETECTOR = existsSync(BUILTIN_DETECTOR) ? BUILTIN_DETECTOR : join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');

const pct = (xs: number[], p: number) => [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor(xs.length * p))]!;

let servicesDir: string | undefined;
let redisUrl = process.env.SKULENS_TEST_REDIS;
if (!redisUrl) {
  const env = execFileSync('bash', [join(ROOT, 'scripts', 'test-services.sh'), 'start'], { encoding: 'utf8' });
  servicesDir = /SKULENS_SERVICES_DIR=(\S+)/.exec(env)![1];
  redisUrl = /SKULENS_TEST_REDIS=(\S+)/.exec(env)![1]!;
}
const children: ChildProcess[] = [];
const cleanup = () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  if (servicesDir) execFileSync('bash', [join(ROOT, 'scripts', 'test-services.sh'), 'stop', servicesDir]);
};
process.on('exit', cleanup);

/** A gallery of 10 grocery classes × 5 references (labels on shelf crops are meaningless; the work is real). */
async function buildGallery(file: string): Promise<void> {
  const rows = readFileSync(join(SHARED, 'data', 'grocery-store', 'train.csv'), 'utf8')
    .trim()
    .split(/\r?\n/) // the CSV has CRLF line ends
    .slice(1)
    .map((l) => l.split(','));
  const byLabel = new Map<string, string[]>();
  for (const [path, label] of rows)
    if (path && label) byLabel.set(label, [...(byLabel.get(label) ?? []), join(SHARED, 'data', 'grocery-store', path)]);
  const embedder = await Embedder.create();
  const g = new ReferenceGallery();
  for (const [label, paths] of [...byLabel].slice(0, 10)) await g.addImages(embedder, label, paths.slice(0, 5));
  await g.save(file);
  await embedder.dispose();
}

function spawnWorker(queue: string): Promise<ChildProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'src', 'cli.ts'), 'worker', '--redis', redisUrl!, '--queue', queue], {
    cwd: ROOT,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  children.push(proc);
  return new Promise((ok, fail) => {
    let text = '';
    proc.stderr!.on('data', (d: Buffer) => {
      text += d.toString();
      if (/worker ready/.test(text)) ok(proc);
    });
    proc.once('exit', (code) => fail(new Error(`worker exited ${code}: ${text}`)));
  });
}

interface Run {
  setup: string;
  photos: number;
  seconds: number;
  latencies: number[];
}

/** POST every photo, keeping `inflight` requests open; wall time and per-request latency. */
async function drive(setup: string, url: string, bytes: Buffer[], inflight: number): Promise<Run> {
  const post = async (b: Buffer) => {
    const t = performance.now();
    const res = await fetch(url + '/v1/recognize', { method: 'POST', body: b as unknown as BodyInit });
    if (res.status !== 200) throw new Error(`${setup}: HTTP ${res.status} ${await res.text()}`);
    await res.json();
    return performance.now() - t;
  };
  await Promise.all(bytes.slice(0, inflight).map(post)); // warm-up: sessions, caches, worker start
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: inflight }, async () => {
      while (next < bytes.length) latencies.push(await post(bytes[next++]!));
    }),
  );
  return { setup, photos: bytes.length, seconds: (performance.now() - t0) / 1000, latencies };
}

/** Jobs of these bytes through one Redis with a no-op processor: the queue alone. */
async function queueCeiling(bytes: Buffer[], n: number): Promise<number> {
  const name = `bench-noop-${Date.now()}`;
  const connection = { url: redisUrl, maxRetriesPerRequest: null } as never;
  const queue = new Queue(name, { connection });
  let done = 0;
  let finish!: () => void;
  const all = new Promise<void>((r) => (finish = r));
  const worker = new Worker(name, async (job) => (job.data as { image: string }).image.length, { connection, concurrency: 8 });
  worker.on('completed', () => ++done === n && finish());
  await worker.waitUntilReady();
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: n }, (_, i) =>
      queue.add('noop', { image: bytes[i % bytes.length]!.toString('base64') }, { removeOnComplete: true }),
    ),
  );
  await all;
  const s = (performance.now() - t0) / 1000;
  await worker.close();
  await queue.obliterate({ force: true });
  await queue.close();
  return n / s;
}

const dir = mkdtempSync(join(tmpdir(), 'skulens-bench-cluster-'));
const gallery = join(dir, 'gallery.skg');
await buildGallery(gallery);
const files = readdirSync(SHELVES)
  .filter((f) => f.endsWith('.jpg'))
  .sort();
const bytes = Array.from({ length: PHOTOS }, (_, i) => readFileSync(join(SHELVES, files[i % files.length]!)));
const models = { gallery, detector: DETECTOR, detectorOptions: { classAgnostic: true } };
process.stderr.write(
  `bench:cluster: ${PHOTOS} shelf photos (${files.length} distinct, ${(bytes.reduce((s, b) => s + b.length, 0) / PHOTOS / 1e6).toFixed(2)} MB each on average), detector ${DETECTOR.split('/').pop()}, ${cpus().length} CPUs\n`,
);

const runs: Run[] = [];
const serve = async (setup: string, options: Parameters<typeof createService>[0], inflight: number, workers = 0) => {
  const queue = `bench-${Date.now()}`;
  const service: RecognitionService = await createService({ ...options, ...(options.redis ? { queue } : {}), maxQueue: 1000 });
  const url = await service.app.listen({ host: '127.0.0.1', port: 0 });
  const procs = await Promise.all(Array.from({ length: workers }, () => spawnWorker(queue)));
  process.stderr.write(`bench:cluster: ${setup}...\n`);
  runs.push(await drive(setup, url, bytes, inflight));
  for (const p of procs) p.kill('SIGTERM');
  await service.close();
};
await serve('in-process', models, 2);
await serve('Redis + 1 worker', { ...models, redis: redisUrl }, 2, 1);
await serve('Redis + 2 workers', { ...models, redis: redisUrl }, 4, 2);
const ceiling = await queueCeiling(bytes, 200);

const rate = (r: Run) => r.photos / r.seconds;
const [local, one, two] = runs as [Run, Run, Run];
const rows = runs.map(
  (r) =>
    `| ${r.setup} | ${r.photos} | ${rate(r).toFixed(2)} | ${(pct(r.latencies, 0.5) / 1000).toFixed(2)} | ${(pct(r.latencies, 0.95) / 1000).toFixed(2)} |`,
);
const overhead = rate(local) / rate(one) - 1;
const table = [
  `| setup | photos | photos/s | p50 latency s | p95 latency s |`,
  `|---|---:|---:|---:|---:|`,
  ...rows,
  '',
  `- queue overhead per photo, 1 worker against in-process: **${(overhead * 100).toFixed(1)} %** (target ≤ 5 %)`,
  `- 2 workers against 1: **${(rate(two) / rate(one)).toFixed(2)}×** on ${cpus().length} CPUs`,
  `- one Redis moving these photos with a no-op worker (200 jobs, ${(bytes[0]!.length / 1e6).toFixed(1)} MB photos as base64): **${ceiling.toFixed(0)} jobs/s**`,
  `- measured ${new Date().toISOString().slice(0, 10)}, ${PHOTOS} photos, detector \`${DETECTOR.split('/').pop()}\`, built-in embedder, machine load average at the end ${(await import('node:os')).loadavg()[0]!.toFixed(1)}`,
].join('\n');
console.log(table);

if (WRITE) {
  const doc = join(ROOT, 'docs', 'scaling.md');
  const text = readFileSync(doc, 'utf8');
  const start = '<!-- bench:cluster:start -->';
  const end = '<!-- bench:cluster:end -->';
  const a = text.indexOf(start);
  const b = text.indexOf(end);
  if (a < 0 || b < a) throw new Error(`docs/scaling.md has no ${start} … ${end} markers`);
  writeFileSync(doc, text.slice(0, a + start.length) + '\n' + table + '\n' + text.slice(b));
  process.stderr.write('bench:cluster: wrote docs/scaling.md\n');
}
process.exit(0);
