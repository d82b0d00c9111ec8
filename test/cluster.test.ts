import { mkdtempSync, readFileSync, readdirSync } from 'node:fs';
import { createHash, randomUUID } from 'node:crypto';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { AuditStore, ClusterClient, createService, type RecognitionService } from '../src/cluster.js';
import { runCli } from './helpers/cli.js';
import { FRUIT, MORE_FRUIT, photos, saveGallery } from './helpers/galleries.js';
import {
  DATABASE_URL,
  HAVE_SERVICES,
  OwnRedis,
  REDIS_URL,
  freePort,
  spawnWorker,
  waitUntil,
  type WorkerProcess,
} from './helpers/services.js';
import { HAVE_SHARED, SHARED, models, shelves } from './helpers/shared.js';

// Test use only: the SKU-110K reference detector is evaluation material, never shipped.
const DETECTOR = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const RUN = HAVE_SHARED && HAVE_SERVICES;
// A dead worker's photo is retried after about this long. Not much shorter: on a loaded
// machine a live worker could miss renewing its lock and lose a photo it is still working on.
const LOCK_MS = '10000';
const SLOW = 300_000;
const shelfPhotos = HAVE_SHARED
  ? readdirSync(shelves)
      .filter((f) => f.endsWith('.jpg'))
      .map((f) => join(shelves, f))
  : [];

interface Row {
  job_id: string;
  gallery_fingerprint: string;
  counts: Record<string, number>;
  store: string | null;
}

describe.skipIf(!RUN)('cluster: serve --redis + workers + PostgreSQL', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulens-cluster-'));
  const fruit = join(dir, 'fruit.skg');
  const more = join(dir, 'more.skg');
  const queue = `t-${randomUUID().slice(0, 8)}`;
  let db: pg.Pool;
  let service: RecognitionService;
  let base: string;
  const workers: WorkerProcess[] = [];
  const rows = async (ids: string[]) =>
    (await db.query<Row>('SELECT job_id, gallery_fingerprint, counts, store FROM skulens_audits WHERE job_id = ANY($1)', [ids])).rows;
  const post = (path: string, bytes: Uint8Array, url = base) =>
    fetch(url + path, { method: 'POST', body: bytes as BodyInit, headers: { 'Content-Type': 'image/jpeg' } });
  const completed = async (s: RecognitionService, ids: string[]) => {
    const states = await Promise.all(
      ids.map((id) =>
        s.jobStatus(id).then(
          (j) => j?.state,
          () => 'unreachable',
        ),
      ),
    );
    expect(states).not.toContain('failed');
    return states.every((st) => st === 'completed');
  };

  beforeAll(async () => {
    const migrate = await runCli(['db', 'migrate', '--database', DATABASE_URL!]);
    expect(migrate.code, migrate.stderr).toBe(0);
    db = new pg.Pool({ connectionString: DATABASE_URL });
    await saveGallery(fruit, FRUIT);
    await saveGallery(more, MORE_FRUIT);
    service = await createService({
      gallery: fruit,
      detector: DETECTOR,
      detectorOptions: { classAgnostic: true },
      redis: REDIS_URL!,
      queue,
    });
    base = await service.app.listen({ host: '127.0.0.1', port: 0 });
    const args = ['--redis', REDIS_URL!, '--database', DATABASE_URL!, '--queue', queue, '--lock-ms', LOCK_MS];
    workers.push(...(await Promise.all([spawnWorker(args), spawnWorker(args)])));
  }, 300_000);
  afterAll(async () => {
    for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
    await service?.close();
    await db?.end();
  });

  it('db migrate is idempotent', async () => {
    const again = await runCli(['db', 'migrate', '--database', DATABASE_URL!]);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).toMatch(/schema up to date/);
  });

  it('a photo goes through a worker and its audit is stored with the gallery fingerprint and the store given', async () => {
    const res = await post('/v1/recognize?store=S7&photo=banana.jpg', readFileSync(photos.banana));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.gallery).toBe(createHash('sha256').update(readFileSync(fruit)).digest('hex').slice(0, 16));
    const [row, ...rest] = await rows([body.id]);
    expect(rest).toHaveLength(0);
    expect(row).toMatchObject({ gallery_fingerprint: body.gallery, counts: body.counts, store: 'S7' });
    const health = await (await fetch(base + '/healthz')).json();
    expect(health).toMatchObject({ ok: true, mode: 'queue', workers: 2 });
  });

  it('a corrupt photo fails once with E_IMAGE_DECODE: 422, not retried', async () => {
    const res = await post('/v1/recognize', readFileSync(photos.banana).subarray(0, 1500));
    expect(res.status).toBe(422);
    const body = await res.json();
    expect(body.error.code).toBe('E_IMAGE_DECODE');
    const async = await (await post('/v1/recognize?async=1', new TextEncoder().encode('not a photo'))).json();
    const job = await waitUntil(
      async () => {
        const s = await service.jobStatus(async.id);
        return s?.state === 'failed' ? s : undefined;
      },
      30_000,
      'the corrupt job to fail',
    );
    expect(job).toMatchObject({ attempts: 1, error: { code: 'E_IMAGE_DECODE' } });
  });

  it('a gallery of another embedder fails with E_FINGERPRINT (422), once; publishing the right one again recovers', async () => {
    // Built on the plain classifier's logits, then served with the embedding model: incomparable vectors.
    const logits = join(dir, 'logits.skg');
    await saveGallery(logits, { Banana: FRUIT.Banana!, Orange: FRUIT.Orange! }, 3, { model: models.mobilenet, preset: 'imagenet' });
    const client = new ClusterClient({ redis: REDIS_URL!, queue });
    const good = (await client.published())!;
    try {
      await client.publish({ ...good, gallery: logits, embedder: models.mobilenetEmbed });
      const res = await post('/v1/recognize', readFileSync(photos.orange));
      expect(res.status).toBe(422);
      const body = await res.json();
      expect(body.error.code).toBe('E_FINGERPRINT');
    } finally {
      await client.publish(good);
      await client.close();
    }
    expect((await post('/v1/recognize', readFileSync(photos.orange))).status).toBe(200);
  });

  it(
    'kill -9 of a worker mid-photo: another worker redoes it and each result is stored exactly once',
    async () => {
      // A dense shelf photo first (seconds of work: time to kill its worker), then small ones.
      const bytes = [shelfPhotos[0]!, photos.banana, photos.orange, photos.kiwi].map((p) => readFileSync(p));
      const ids: string[] = [];
      for (const b of bytes) {
        const r = await post('/v1/recognize?async=1', b);
        expect(r.status).toBe(202);
        ids.push((await r.json()).id);
      }
      // Whichever worker starts the first photo dies while on it.
      const started = new RegExp(`job ${ids[0]} started`);
      const victim = await Promise.race(workers.map((w) => w.waitFor(started, SLOW).then(() => w)));
      victim.proc.kill('SIGKILL');
      await victim.exited;
      expect(victim.log()).not.toMatch(new RegExp(`job ${ids[0]} done`));
      const survivor = workers.find((w) => w !== victim)!;
      await waitUntil(() => completed(service, ids), SLOW, 'all photos to complete').catch((err) => {
        throw new Error(`${(err as Error).message}\nsurvivor's log:\n${survivor.log()}`);
      });
      expect(survivor.log()).toMatch(new RegExp(`job ${ids[0]} done`));
      const stored = await rows(ids);
      expect(stored.map((r) => r.job_id).sort()).toEqual([...ids].sort());
      workers.splice(workers.indexOf(victim), 1);
    },
    SLOW,
  );

  it(
    'gallery publish: workers switch between jobs and results record the new gallery',
    async () => {
      const pub = await runCli(['gallery', 'publish', more, '--redis', REDIS_URL!, '--queue', queue]);
      expect(pub.code, pub.stderr).toBe(0);
      const fp = createHash('sha256').update(readFileSync(more)).digest('hex').slice(0, 16);
      expect(pub.stderr).toContain(fp);
      const res = await post('/v1/classify', readFileSync(photos.kiwi));
      const body = await res.json();
      expect(body).toMatchObject({ gallery: fp, guess: 'Kiwi' }); // Kiwi is only in the new gallery
      expect((await rows([body.id]))[0]?.gallery_fingerprint).toBe(fp);
    },
    SLOW,
  );

  it('429 with Retry-After when the queue is full; the accepted photos stay queued', async () => {
    const q2 = `${queue}-full`;
    const s = await createService({ gallery: fruit, detector: DETECTOR, redis: REDIS_URL!, queue: q2, maxQueue: 2 });
    try {
      const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
      const bytes = readFileSync(photos.banana);
      const codes: number[] = [];
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const r = await post('/v1/recognize?async=1', bytes, url);
        codes.push(r.status);
        const body = await r.json();
        if (r.status === 202) ids.push(body.id);
        else {
          expect(body.error.code).toBe('E_BUSY');
          expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
        }
      }
      expect(codes).toEqual([202, 202, 429]);
      for (const id of ids) expect((await s.jobStatus(id))?.state).toBe('waiting');
    } finally {
      await s.close();
    }
  });

  it(
    'SIGTERM lets a worker finish its photo before it exits',
    async () => {
      const w = workers[0]!;
      const r = await post('/v1/recognize?async=1', readFileSync(shelfPhotos[5]!));
      const { id } = await r.json();
      await w.waitFor(new RegExp(`job ${id} started`), SLOW);
      w.proc.kill('SIGTERM');
      expect(await w.exited).toBe(0);
      expect(w.log()).toMatch(new RegExp(`job ${id} done`));
      expect((await service.jobStatus(id))?.state).toBe('completed');
      expect(await rows([id])).toHaveLength(1);
    },
    SLOW,
  );

  it('the audit store ignores a second write of the same job', async () => {
    const store = new AuditStore(DATABASE_URL!);
    try {
      const result = {
        kind: 'classify' as const,
        label: 'Kiwi',
        guess: 'Kiwi',
        score: 0.9,
        unknownScore: 0.9,
        unknown: false,
        labels: [],
        gallery: 'x',
      };
      const jobId = randomUUID();
      expect(await store.save({ jobId, submittedAt: new Date(), meta: {}, result })).toBe(true);
      expect(await store.save({ jobId, submittedAt: new Date(), meta: {}, result: { ...result, label: 'Other' } })).toBe(false);
      expect(await store.get(jobId)).toMatchObject({ label: 'Kiwi' });
    } finally {
      await store.close();
    }
  });
});

describe.skipIf(!RUN)('cluster: Redis killed and restarted (append-only file)', () => {
  let redis: OwnRedis;
  let service: RecognitionService;
  let worker: WorkerProcess | undefined;
  let db: pg.Pool;

  beforeAll(async () => {
    redis = new OwnRedis(await freePort());
    await redis.start();
    const dir = mkdtempSync(join(tmpdir(), 'skulens-restart-'));
    const fruit = join(dir, 'fruit.skg');
    await saveGallery(fruit, FRUIT);
    service = await createService({ gallery: fruit, detector: DETECTOR, detectorOptions: { classAgnostic: true }, redis: redis.url });
    db = new pg.Pool({ connectionString: DATABASE_URL });
  }, 300_000);
  afterAll(async () => {
    if (worker?.proc.exitCode === null) worker.proc.kill('SIGKILL');
    await service?.close();
    await redis?.kill();
    await db?.end();
  });

  it(
    'no accepted photo is lost',
    async () => {
      const url = await service.app.listen({ host: '127.0.0.1', port: 0 });
      const files = [photos.banana, photos.orange, photos.kiwi, photos.banana, photos.orange, photos.kiwi];
      const ids: string[] = [];
      for (const f of files) {
        const r = await fetch(url + '/v1/recognize?async=1', { method: 'POST', body: readFileSync(f) as BodyInit });
        expect(r.status).toBe(202);
        ids.push((await r.json()).id);
      }
      // Redis dies (SIGKILL: only the append-only file survives) before any worker took a photo.
      await redis.kill();
      const down = await fetch(url + '/v1/recognize?async=1', { method: 'POST', body: readFileSync(photos.banana) as BodyInit });
      expect(down.status).toBe(503);
      expect((await down.json()).error.code).toBe('E_BUSY');
      expect(down.headers.get('retry-after')).toBeTruthy();
      await redis.start();
      worker = await spawnWorker(['--redis', redis.url, '--database', DATABASE_URL!, '--lock-ms', LOCK_MS]);
      await waitUntil(
        async () => {
          const states = await Promise.all(
            ids.map((id) =>
              service.jobStatus(id).then(
                (j) => j?.state,
                () => 'unreachable',
              ),
            ),
          );
          expect(states).not.toContain('failed');
          return states.every((s) => s === 'completed');
        },
        SLOW,
        'every accepted photo to complete after the restart',
      );
      const { rows } = await db.query<{ job_id: string }>('SELECT job_id FROM skulens_audits WHERE job_id = ANY($1)', [ids]);
      expect(rows.map((r) => r.job_id).sort()).toEqual([...ids].sort());
    },
    SLOW,
  );
});

describe.skipIf(!RUN)('cluster: --max-pixels', () => {
  it(
    "serve's limit travels to the workers with the models; a worker's own --max-pixels replaces it",
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'skulens-cluster-px-'));
      const gallery = join(dir, 'fruit.skg');
      await saveGallery(gallery, FRUIT);
      const queue = `px-${randomUUID().slice(0, 8)}`;
      const service = await createService({
        gallery,
        detector: DETECTOR,
        detectorOptions: { classAgnostic: true },
        redis: REDIS_URL!,
        queue,
        maxPixels: 100_000,
      });
      const workers: WorkerProcess[] = [];
      try {
        const base = await service.app.listen({ host: '127.0.0.1', port: 0 });
        const post = () => fetch(`${base}/v1/recognize`, { method: 'POST', body: readFileSync(photos.banana) });
        // Banana_013.jpg is 348×348 = 121,104 pixels: over the published 100,000.
        workers.push(await spawnWorker(['--redis', REDIS_URL!, '--queue', queue]));
        const refused = await post();
        expect(refused.status).toBe(422);
        const { error } = await refused.json();
        expect(error.code).toBe('E_IMAGE_DECODE');
        expect(error.message).toMatch(/121,104 pixels, more than the limit of 100,000 pixels .*--max-pixels/);
        workers[0]!.proc.kill('SIGTERM');
        await workers[0]!.exited;
        workers.push(await spawnWorker(['--redis', REDIS_URL!, '--queue', queue, '--max-pixels', '200000']));
        const ok = await post();
        expect(ok.status, await ok.clone().text()).toBe(200);
        expect((await ok.json()).items.length).toBeGreaterThan(0);
      } finally {
        for (const w of workers) if (w.proc.exitCode === null) w.proc.kill('SIGKILL');
        await service.close();
      }
    },
    SLOW,
  );
});
