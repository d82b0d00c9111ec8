/**
 * The page of `skulens serve` (GET /) in real Chromium: drop a shelf photo (through the
 * file input, with the service's token typed in), and the page shows the photo with its
 * boxes and a share-of-shelf table that matches the service's JSON answer.
 */
import { mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createService, type RecognitionService } from '../../src/cluster.js';
import { FRUIT, saveGallery } from '../helpers/galleries.js';
import { CHROMIUM, CHROMIUM_ARGS, HAVE_CHROMIUM, HAVE_SHARED, SHARED } from './helpers.js';

// Test use only: the SKU-110K reference detector is evaluation material, never shipped.
const DETECTOR = join(SHARED, 'models', 'sku110k_yolov5n_ref.onnx');
const TOKEN = 'page-token-5678';

describe.skipIf(!HAVE_SHARED || !HAVE_CHROMIUM)('skulens serve: the page in Chromium', () => {
  let service: RecognitionService;
  let base: string;
  let browser: Browser;

  beforeAll(async () => {
    const gallery = join(mkdtempSync(join(tmpdir(), 'skulens-page-')), 'fruit.skg');
    await saveGallery(gallery, FRUIT);
    service = await createService({ gallery, detector: DETECTOR, detectorOptions: { classAgnostic: true }, token: TOKEN });
    base = await service.app.listen({ host: '127.0.0.1', port: 0 });
    browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  }, 300_000);
  afterAll(async () => {
    await browser?.close();
    await service?.close();
  });

  it('shows the boxes, facings and share of shelf of a dropped shelf photo', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    await page.goto(base + '/');
    await page.fill('#token', TOKEN);
    await page.fill('#store', 'S-page');
    const shelf = join(
      SHARED,
      'data',
      'sku110k-shelf',
      readdirSync(join(SHARED, 'data', 'sku110k-shelf'))
        .filter((f) => f.endsWith('.jpg'))
        .sort()[0]!,
    );
    const answer = page.waitForResponse((r) => r.url().includes('/v1/recognize'));
    const t0 = performance.now();
    await page.setInputFiles('#file', shelf);
    expect((await answer).status()).toBe(200);
    await page.waitForSelector('body[data-done]', { timeout: 120_000 });
    // The JSON the page received (the page keeps it on window.lastResult).
    const body = (await page.evaluate(() => (window as unknown as { lastResult: unknown }).lastResult)) as {
      items: unknown[];
      width: number;
      height: number;
      shareOfShelf: Record<string, { facings: number }>;
    };
    console.log(`page: ${body.items.length} boxes on ${shelf.split('/').pop()} in ${Math.round(performance.now() - t0)} ms`);
    expect(errors).toEqual([]);
    expect(body.items.length).toBeGreaterThan(50); // a dense shelf
    expect(await page.textContent('#status')).toContain(`${body.items.length} products`);
    // The canvas has the photo's size, and boxes were drawn on it (pixels differ from a plain copy would need the photo; check it is not blank).
    const canvas = await page.$eval('#view', (c) => {
      const cv = c as HTMLCanvasElement;
      const d = cv.getContext('2d')!.getImageData(0, 0, cv.width, cv.height).data;
      let nonZero = 0;
      for (let i = 0; i < d.length; i += 4 * 97) if (d[i]! + d[i + 1]! + d[i + 2]! > 0) nonZero++;
      return { width: cv.width, height: cv.height, nonZero, visible: getComputedStyle(cv).display !== 'none' };
    });
    expect(canvas).toMatchObject({ width: body.width, height: body.height, visible: true });
    expect(canvas.nonZero).toBeGreaterThan(100);
    // One table row per label of the answer (and "unknown"), with its facings.
    const rows = await page.$$eval('#share tbody tr', (trs) =>
      trs.map((tr) => ({ label: tr.getAttribute('data-label'), facings: Number(tr.children[1]!.textContent) })),
    );
    expect(Object.fromEntries(rows.map((r) => [r.label, r.facings]))).toEqual(
      Object.fromEntries(Object.entries(body.shareOfShelf).map(([k, v]) => [k, v.facings])),
    );
    expect(rows.reduce((s, r) => s + r.facings, 0)).toBe(body.items.length);
  });

  it('says why when the token is wrong', async () => {
    const page = await browser.newPage();
    await page.goto(base + '/');
    await page.fill('#token', 'wrong');
    await page.setInputFiles('#file', join(SHARED, 'data', 'grocery-store', 'test', 'Fruit', 'Banana', 'Banana_013.jpg'));
    await page.waitForSelector('body[data-done]');
    expect(await page.textContent('#status')).toMatch(/bearer token.*\[E_AUTH\]/i);
  });
});
