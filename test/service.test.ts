/**
 * `skulens serve` in-process (no Redis): the HTTP contract on real models and photos —
 * results equal the Recognizer's, coded errors (422, 400), 401 without the token, 413 for
 * oversized bodies, 429 + Retry-After when the queue is full, jobs, metrics, graceful close;
 * `skulens serve --max-pixels` and `--tiles` through the CLI.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type RecognitionService } from '../src/cluster.js';
import { Detector } from '../src/core/detector/detector.js';
import { Embedder } from '../src/core/embedder.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { Recognizer } from '../src/core/recognizer.js';
import { spawnSkulens } from './helpers/cli.js';
import { FRUIT, photos, saveGallery } from './helpers/galleries.js';
import { HAVE_SHARED, SHARED } from './helpers/shared.js';

// Test use only: the SKU-110K reference detector is evaluation material, never shipped.
const DETECTOR = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const TOKEN = 'test-token-1234';

describe.skipIf(!HAVE_SHARED)('skulens serve (in-process)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulens-serve-'));
  const galleryFile = join(dir, 'fruit.skg');
  let service: RecognitionService;
  let base: string;
  const auth = { Authorization: `Bearer ${TOKEN}` };
  const post = (path: string, body: Uint8Array | string, headers: Record<string, string> = auth) =>
    fetch(base + path, { method: 'POST', body: body as BodyInit, headers: { 'Content-Type': 'image/jpeg', ...headers } });

  beforeAll(async () => {
    await saveGallery(galleryFile, FRUIT);
    service = await createService({
      gallery: galleryFile,
      detector: DETECTOR,
      detectorOptions: { classAgnostic: true },
      token: TOKEN,
      maxBytes: 4 << 20,
      maxQueue: 2,
    });
    base = await service.app.listen({ host: '127.0.0.1', port: 0 });
  }, 300_000);
  afterAll(async () => {
    await service?.close();
  });

  it('answers /v1/recognize with the Recognizer’s own result, counts and a share of shelf that sums to 1', async () => {
    const res = await post('/v1/recognize?store=S42&photo=banana.jpg', readFileSync(photos.banana));
    expect(res.status).toBe(200);
    const body = await res.json();
    // The same models through the library directly.
    const embedder = await Embedder.create();
    const detector = await Detector.create({ model: DETECTOR, classAgnostic: true });
    const gallery = await ReferenceGallery.load(galleryFile);
    const direct = await new Recognizer({ detector, embedder, gallery }).recognize(photos.banana);
    await Promise.all([embedder.dispose(), detector.dispose()]);
    expect(body.items.length).toBe(direct.items.length);
    expect(body.items.length).toBeGreaterThan(0);
    expect(body.counts).toEqual(direct.counts);
    body.items.forEach((it: { box: { x: number }; guess: string; similarity: number }, i: number) => {
      expect(it.box.x).toBeCloseTo(direct.items[i]!.box.x, 1);
      expect(it.guess).toBe(direct.items[i]!.guess);
      expect(it.similarity).toBeCloseTo(direct.items[i]!.similarity, 3);
    });
    const shares = Object.values(body.shareOfShelf) as { facings: number; share: number; areaShare: number }[];
    expect(shares.reduce((s, v) => s + v.facings, 0)).toBe(body.items.length);
    expect(shares.reduce((s, v) => s + v.share, 0)).toBeCloseTo(1, 3);
    expect(shares.reduce((s, v) => s + v.areaShare, 0)).toBeCloseTo(1, 3);
    expect(body.gallery).toMatch(/^[0-9a-f]{16}$/);
    // Kept for GET /v1/jobs/:id.
    const job = await (await fetch(`${base}/v1/jobs/${body.id}`, { headers: auth })).json();
    expect(job).toMatchObject({ id: body.id, state: 'completed', result: { counts: body.counts } });
  });

  it('classifies a single-product photo', async () => {
    const res = await post('/v1/classify?top=2', readFileSync(photos.orange));
    expect(res.status).toBe(200);
    const body = await res.json();
    expect(body.guess).toBe('Orange');
    expect(body.labels).toHaveLength(2);
  });

  it('a corrupt photo is 422 with E_IMAGE_DECODE; a bad option is 400; no body is 400', async () => {
    const bytes = readFileSync(photos.banana).subarray(0, 2000); // a truncated JPEG
    const res = await post('/v1/recognize', bytes);
    expect(res.status).toBe(422);
    expect((await res.json()).error.code).toBe('E_IMAGE_DECODE');
    const bad = await post('/v1/recognize?k=0', readFileSync(photos.banana));
    expect(bad.status).toBe(400);
    expect((await bad.json()).error).toMatchObject({ code: 'E_INPUT', message: expect.stringContaining('?k=') });
    const empty = await fetch(base + '/v1/recognize', { method: 'POST', headers: auth });
    expect(empty.status).toBe(400);
  });

  it('401 without the token or with a wrong one; the page and /healthz stay open', async () => {
    for (const headers of [{}, { Authorization: 'Bearer nope' }, { Authorization: `Bearer ${TOKEN}x` }] as Record<string, string>[]) {
      const res = await post('/v1/recognize', readFileSync(photos.banana), headers);
      expect(res.status).toBe(401);
      expect((await res.json()).error.code).toBe('E_AUTH');
    }
    expect((await fetch(base + '/metrics')).status).toBe(401);
    expect((await fetch(base + '/healthz')).status).toBe(200);
    const page = await fetch(base + '/');
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/v1/recognize');
  });

  it('413 for a body over --max-bytes, before reading it', async () => {
    const res = await post('/v1/recognize', new Uint8Array((4 << 20) + 1));
    expect(res.status).toBe(413);
    expect((await res.json()).error.message).toMatch(/larger than the 4194304 bytes/);
  });

  it('429 with Retry-After when maxQueue photos wait; the accepted ones all finish (async jobs)', async () => {
    const bytes = readFileSync(photos.kiwi);
    const answers = await Promise.all(Array.from({ length: 5 }, () => post('/v1/recognize?async=1', bytes)));
    const codes = answers.map((r) => r.status);
    const accepted = answers.filter((r) => r.status === 202);
    const refused = answers.filter((r) => r.status === 429);
    expect(accepted.length + refused.length).toBe(5);
    expect(refused.length).toBeGreaterThan(0);
    expect(accepted.length, `status codes ${codes}`).toBeGreaterThanOrEqual(2);
    for (const r of refused) {
      expect(Number(r.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
      expect((await r.json()).error.code).toBe('E_BUSY');
    }
    const ids = await Promise.all(accepted.map(async (r) => (await r.json()).id as string));
    for (const id of ids) {
      for (let i = 0; ; i++) {
        const s = await (await fetch(`${base}/v1/jobs/${id}`, { headers: auth })).json();
        if (s.state === 'completed') break;
        expect(s.state).not.toBe('failed');
        expect(i).toBeLessThan(600);
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    const metrics = await (await fetch(base + '/metrics', { headers: auth })).text();
    expect(metrics).toMatch(new RegExp(`skulens_jobs_total\\{kind="recognize",outcome="rejected"\\} ${refused.length}\\b`));
    expect(metrics).toMatch(/skulens_queue_depth 0\b/);
    expect(metrics).toMatch(/skulens_request_duration_seconds_count\{kind="recognize"\} [1-9]/);
  });

  it('graceful close finishes the photos already accepted', async () => {
    const s = await createService({ gallery: galleryFile, detector: DETECTOR, detectorOptions: { classAgnostic: true } });
    const url = await s.app.listen({ host: '127.0.0.1', port: 0 });
    const bytes = readFileSync(photos.orange);
    const ids: string[] = [];
    for (let i = 0; i < 3; i++) ids.push((await (await fetch(url + '/v1/recognize?async=1', { method: 'POST', body: bytes })).json()).id);
    expect(['waiting', 'active']).toContain((await s.jobStatus(ids[2]!))?.state);
    await s.close();
    // Closed: no new connections, but every accepted photo was processed.
    await expect(fetch(url + '/healthz')).rejects.toThrow();
    for (const id of ids) expect((await s.jobStatus(id))?.state).toBe('completed');
  });
});

describe.skipIf(!HAVE_SHARED)('skulens serve --max-pixels (the CLI, in-process)', () => {
  it('refuses a photo over the limit with 422 naming the flag, on /v1/recognize and /v1/classify; a bad limit is a usage error', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skulens-serve-px-'));
    const galleryFile = join(dir, 'fruit.skg');
    await saveGallery(galleryFile, FRUIT);
    // Banana_013.jpg is 348×348 = 121,104 pixels.
    const serve = await spawnSkulens(
      ['serve', '--gallery', galleryFile, '--detector', DETECTOR, '--class-agnostic', '--port', '0', '--max-pixels', '100000'],
      /serving on http:/,
    );
    try {
      const base = /serving on (http:\S+)/.exec(serve.log())![1]!;
      for (const path of ['/v1/recognize', '/v1/classify']) {
        const res = await fetch(base + path, { method: 'POST', body: readFileSync(photos.banana) });
        expect(res.status, path).toBe(422);
        const { error } = await res.json();
        expect(error.code).toBe('E_IMAGE_DECODE');
        expect(error.message).toMatch(/121,104 pixels, more than the limit of 100,000 pixels .*--max-pixels/);
      }
    } finally {
      serve.proc.kill('SIGTERM');
      await serve.exited;
    }
    await expect(createService({ gallery: galleryFile, detector: DETECTOR, maxPixels: 0 })).rejects.toMatchObject({ code: 'E_INPUT' });
  }, 300_000);

  it('serve --tiles reaches the detector (it was accepted and ignored)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skulens-serve-tiles-'));
    const galleryFile = join(dir, 'fruit.skg');
    await saveGallery(galleryFile, FRUIT);
    const tilesOf = async (extra: string[]) => {
      const serve = await spawnSkulens(
        ['serve', '--gallery', galleryFile, '--detector', DETECTOR, '--class-agnostic', '--port', '0', ...extra],
        /serving on http:/,
      );
      try {
        const base = /serving on (http:\S+)/.exec(serve.log())![1]!;
        const res = await fetch(base + '/v1/recognize', { method: 'POST', body: readFileSync(photos.banana) });
        expect(res.status).toBe(200);
        return ((await res.json()) as { tiles: number }).tiles;
      } finally {
        serve.proc.kill('SIGTERM');
        await serve.exited;
      }
    };
    expect(await tilesOf([])).toBe(0);
    expect(await tilesOf(['--tiles', '2'])).toBeGreaterThan(0);
  }, 300_000);
});
