/**
 * (d) The built-in shelf detector in the browser: `Detector.create()` with no arguments
 * loads skulens:shelf from models/ beside dist/browser.js, finds the same boxes as Node on
 * a SKU-110K shelf photo (from Node's decoded pixels: identical up to float noise; from the
 * browser's own JPEG decoding: nearly all the same boxes), and the example page finds and
 * draws them live from a (fake) camera. Prints frames per second.
 */
import { existsSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETECTOR, Detector, loadImage, type Detection } from '../../src/index.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  HAVE_CHROMIUM,
  HAVE_SHARED,
  REPO_ROOT,
  SHARED,
  agreement,
  median,
  openHarness,
  startHarness,
  type Harness,
  runExampleCamera,
} from './helpers.js';
import { rgbToY4m } from './y4m.js';

const HAVE_MODEL = existsSync(join(REPO_ROOT, 'models', 'skulens-shelf.onnx'));
if (!HAVE_MODEL) {
  if (process.env.CI) throw new Error('models/skulens-shelf.onnx is missing: the browser shelf test cannot run in CI');
  console.warn('\n*** skulens browser tests: models/skulens-shelf.onnx is missing — the shelf detector test is SKIPPED. ***\n');
}
const run = HAVE_SHARED && HAVE_CHROMIUM && HAVE_MODEL;
const PHOTO = 'data/sku110k-shelf/train_2943.jpg';
const REPS = 3;

describe.skipIf(!run)('browser shelf detector (d): skulens:shelf, same boxes as Node', () => {
  let h: Harness;
  let page: Page;
  let node: Detection[];
  const report: string[] = [];

  beforeAll(async () => {
    h = await startHarness();
    const detector = await Detector.create({ model: 'skulens:shelf' });
    const pixels = await loadImage(join(SHARED, PHOTO));
    node = await detector.detect(pixels);
    await detector.dispose();
    writeFileSync(join(h.tmp, 'shelf.rgb'), pixels.data);
    page = await openHarness(h);
  });

  afterAll(async () => {
    if (report.length) console.log(`\n${report.join('\n')}\n`);
    await h?.close();
  });

  it('loads with no arguments and finds the same boxes as Node; prints frames per second', async () => {
    // No arguments when skulens:shelf is the default detector, else its id.
    const created = await page.evaluate(
      (o) => (window as any).harness.createDetector(o),
      DEFAULT_DETECTOR === undefined ? { model: 'skulens:shelf' } : undefined,
    );
    expect(created).toMatchObject({ modelPath: 'skulens:shelf', format: 'yolov5' });
    expect(node.length).toBeGreaterThan(50);

    // Node's decoded pixels: only the runtime differs (wasm vs native), so the boxes must agree to float noise.
    const raw = await page.evaluate(([r, reps]) => (window as any).harness.detect(r, { raw: true, reps }), [
      { url: '/tmpdata/shelf.rgb', width: 1920, height: 2560, channels: 3 },
      REPS,
    ] as const);
    const same = agreement(node, raw.detections, 0.99);
    expect(raw.detections.length).toBe(node.length);
    expect(same.matched).toBe(node.length);
    expect(same.maxDiff).toBeLessThan(0.5);

    // The browser's own JPEG decoding (a different decoder): nearly every box the same.
    const own = await page.evaluate((u) => (window as any).harness.detect(u), `/shared/${PHOTO}`);
    const close = agreement(node, own.detections, 0.8);
    expect(close.matched).toBeGreaterThan(0.9 * node.length);
    expect(Math.abs(own.detections.length - node.length)).toBeLessThan(0.1 * node.length);

    const ms = median(raw.times);
    report.push(
      `(d) skulens:shelf in Chromium (wasm) on ${PHOTO} (1920x2560): Node ${node.length} boxes; ` +
        `browser from Node's pixels ${raw.detections.length} boxes, ${same.matched} identical (max coordinate difference ${same.maxDiff.toFixed(3)} px); ` +
        `browser decoding the JPEG itself ${own.detections.length} boxes, ${close.matched} of Node's matched at IoU ≥ 0.8. ` +
        `Detect from pixels: median ${ms.toFixed(0)} ms = ${(1000 / ms).toFixed(1)} photos/s (${REPS} runs; load ${created.ms.toFixed(0)} ms).`,
    );
  });

  it('the example page finds and draws shelf products live from the camera, with no gallery', async () => {
    const img = await loadImage(join(SHARED, PHOTO));
    // The fake camera streams raw YUV frames of the photo at half size (Chromium scales them to the size the page asks for).
    const half = await sharp(img.data, { raw: { width: img.width, height: img.height, channels: 3 } })
      .resize(960, 1280)
      .raw()
      .toBuffer();
    const y4m = join(h.tmp, 'shelf.y4m');
    writeFileSync(y4m, rgbToY4m(new Uint8Array(half), 960, 1280));
    const browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: [
        ...CHROMIUM_ARGS,
        '--use-fake-ui-for-media-stream',
        '--use-fake-device-for-media-stream',
        `--use-file-for-fake-video-capture=${y4m}`,
      ],
    });
    try {
      const example = await browser.newPage({ viewport: { width: 1200, height: 1400 } });
      example.on('pageerror', (e) => console.error(`[example] ${e.message}`));
      await example.goto(`${h.url}/?load=1`);
      await example.waitForFunction(() => (window as any).example?.ready || (window as any).example?.error, null, { timeout: 180_000 });
      expect(await example.evaluate(() => (window as any).example.error)).toBeFalsy();
      const state = await runExampleCamera(example, 300_000);
      const shot = join(tmpdir(), `skulens-shelf-camera-${Date.now()}.png`);
      await example.screenshot({ path: shot, fullPage: true });
      await example.click('#camera');
      expect(state.error).toBeFalsy();
      expect(state.last.items.length).toBeGreaterThan(30);
      expect(state.fps).toBeGreaterThan(0);
      report.push(
        `    example page, fake camera fed the shelf photo, skulens:shelf alone: ${state.frames} frames, ${state.fps.toFixed(2)} FPS, ${state.last.items.length} boxes in the last frame (${Object.entries(
          state.last.times,
        )
          .map(([k, v]) => `${k} ${(v as number).toFixed(0)} ms`)
          .join(', ')}); screenshot ${shot}`,
      );
    } finally {
      await browser.close();
    }
  });
});
