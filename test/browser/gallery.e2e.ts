/**
 * (b) A gallery built on the Node side from train.csv opens in the browser byte for byte
 * and names 50 test photos exactly as Node does; (c) the example page recognizes a photo
 * (with a detector, and whole-picture) and a fake camera stream, and screenshots go to a
 * temp folder.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, Embedder, Recognizer, ReferenceGallery, loadImage } from '../../src/index.js';
import {
  CHROMIUM,
  CHROMIUM_ARGS,
  HAVE_CHROMIUM,
  HAVE_SHARED,
  MODEL_PATH,
  MODEL_URL,
  REPO_ROOT,
  SHARED,
  grocery,
  groceryUrl,
  openHarness,
  readManifest,
  spread,
  startHarness,
  type Harness,
  runExampleCamera,
} from './helpers.js';
import { rgbToY4m } from './y4m.js';

const run = HAVE_SHARED && HAVE_CHROMIUM;
const QUERIES = run ? spread(readManifest('test.csv'), 50) : [];
const SHOTS = join(tmpdir(), `skulens-browser-shots-${new Date().toISOString().replace(/[:.]/g, '-')}`);
const YOLOX = join(SHARED, 'models', 'yolox_nano.onnx');

/** Build the train.csv gallery on the Node side, with the CLI. */
async function buildGallery(out: string): Promise<string> {
  const manifest = join(grocery, 'train.csv');
  const cli = join(REPO_ROOT, 'src', 'cli.ts');
  const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
  const r = spawnSync(tsx, [cli, 'gallery', 'build', manifest, '-o', out, '--embedder', MODEL_PATH, '--preset', 'imagenet'], {
    encoding: 'utf8',
    timeout: 900_000,
  });
  if (r.status !== 0) throw new Error(`skulens gallery build failed (${r.status}): ${r.stderr}`);
  return 'Node CLI: skulens gallery build train.csv --embedder mobilenetv2-12-int8-embed.onnx --preset imagenet';
}

describe.skipIf(!run)('browser gallery (b) and example page (c)', () => {
  let h: Harness;
  let galleryFile: string;
  let nodeLabels: string[];
  let nodeScores: number[];
  const report: string[] = [];

  beforeAll(async () => {
    h = await startHarness();
    galleryFile = join(h.tmp, 'train.skg');
    const t0 = performance.now();
    const how = await buildGallery(galleryFile);
    report.push(`(b) gallery: ${how} — ${((performance.now() - t0) / 1000).toFixed(0)} s, ${readFileSync(galleryFile).length} bytes`);
    const gallery = ReferenceGallery.fromBytes(new Uint8Array(readFileSync(galleryFile)));
    const embedder = await Embedder.create({ model: MODEL_PATH, preset: 'imagenet' });
    gallery.useEmbedder(embedder);
    const vectors = await embedder.embed(QUERIES.map((q) => join(grocery, q.path)));
    await embedder.dispose();
    const classes = gallery.classifyBatch(vectors);
    nodeLabels = classes.map((c) => c.label);
    nodeScores = classes.map((c) => c.score);
    mkdirSync(SHOTS, { recursive: true });
  });

  afterAll(async () => {
    if (report.length) console.log(`\n${report.join('\n')}\n`);
    await h?.close();
  });

  it("(b) reads the Node-built gallery byte for byte and gives Node's labels for 50 test photos", async () => {
    const page = await openHarness(h);
    await page.evaluate((o) => (window as any).harness.createEmbedder(o), { model: MODEL_URL, preset: 'imagenet', batchSize: 8 });
    const r = await page.evaluate(([g, u]) => (window as any).harness.classifyWithGallery(g, u), [
      '/tmpdata/train.skg',
      QUERIES.map((q) => groceryUrl(q.path)),
    ] as const);
    const fileSha = createHash('sha256').update(readFileSync(galleryFile)).digest('hex');
    expect(r.fileSha).toBe(fileSha); // the page got the file as written
    expect(r.reencodedSha).toBe(fileSha); // and its decoded gallery re-encodes to the same bytes
    const agree = r.labels.filter((l: string, i: number) => l === nodeLabels[i]).length;
    const maxScoreDiff = Math.max(...r.scores.map((s: number, i: number) => Math.abs(s - nodeScores[i]!)));
    const correct = r.labels.filter((l: string, i: number) => l === QUERIES[i]!.label).length;
    report.push(
      `    browser: ${r.classes} labels, ${r.size} x ${r.dim} vectors, index ${r.indexKind}; load ${r.loadMs.toFixed(0)} ms; exact search ${r.searchMs.toFixed(2)} ms/query`,
      `    label agreement browser vs Node: ${agree}/${QUERIES.length}; largest |score difference| ${maxScoreDiff.toExponential(2)}; top-1 vs ground truth ${correct}/${QUERIES.length} (both sides)`,
      `    re-encoded gallery bytes == Node's file: ${r.reencodedSha === fileSha} (sha256 ${fileSha.slice(0, 16)}…)`,
    );
    expect(agree).toBe(QUERIES.length);
    expect(maxScoreDiff).toBeLessThan(1e-5);
    expect(r.indexKind).toBe('exact');

    const mismatch = await page.evaluate(([g, m]) => (window as any).harness.galleryMismatch(g, m), [
      '/tmpdata/train.skg',
      MODEL_URL,
    ] as const);
    expect(mismatch).toMatchObject({ code: 'E_FINGERPRINT' });
    const truncated = await page.evaluate((g) => (window as any).harness.truncatedGallery(g), '/tmpdata/train.skg');
    expect(truncated).toMatchObject({ code: 'E_GALLERY_FORMAT' });
    await page.close();
  });

  async function openExample(query: Record<string, string>, browser = h.browser): Promise<Page> {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1000 } });
    page.on('pageerror', (e) => console.error(`[example] ${e.message}`));
    await page.goto(`${h.url}/?${new URLSearchParams(query)}`);
    await page.waitForFunction(() => (window as any).example?.ready || (window as any).example?.error, null, { timeout: 180_000 });
    const error = await page.evaluate(() => (window as any).example.error);
    if (error) throw new Error(`example page: ${error}`);
    return page;
  }

  it('(c) example page: photo with detector + gallery, overlay screenshot; threads reported', async () => {
    const page = await openExample({
      model: MODEL_URL,
      gallery: '/tmpdata/train.skg',
      detector: '/shared/models/yolox_nano.onnx',
      format: 'yolox',
      confidence: '0.25',
    });
    const env = await page.locator('#env').innerText();
    expect(env).toMatch(/threads: on/);
    const photo = join(grocery, 'test/Fruit/Apple/Pink-Lady/Pink-Lady_022.jpg');
    await page.setInputFiles('#photo', photo);
    await page.waitForFunction(() => (window as any).example.last?.file === 'Pink-Lady_022.jpg', null, { timeout: 120_000 });
    const last = await page.evaluate(() => (window as any).example.last);
    const shot = join(SHOTS, 'example-photo-detector.png');
    await page.screenshot({ path: shot, fullPage: true });
    await page.locator('#view').screenshot({ path: join(SHOTS, 'example-photo-detector-canvas.png') });
    report.push(
      `(c) example page, yolox_nano + gallery on Pink-Lady_022.jpg: ${last.items.length} boxes: ${last.items.map((i: any) => `${i.label} ${i.similarity.toFixed(2)}`).join(', ')}; ${Object.entries(
        last.times,
      )
        .map(([k, v]) => `${k} ${(v as number).toFixed(0)} ms`)
        .join(', ')}`,
      `    page header: ${env.replace(/\n/g, ' | ')}`,
      `    screenshots: ${SHOTS}`,
    );
    expect(last.items.length).toBeGreaterThan(0);
    await page.close();

    // The same photo through Node's Recognizer with the same settings: same boxes and labels.
    const recognizer = new Recognizer({
      detector: await Detector.create({ model: YOLOX, format: 'yolox', confidence: 0.25, classAgnostic: true, maxDetections: 300 }),
      embedder: await Embedder.create({ model: MODEL_PATH, preset: 'imagenet' }),
      gallery: ReferenceGallery.fromBytes(new Uint8Array(readFileSync(galleryFile))),
      threshold: 0,
    });
    const node = await recognizer.recognize(photo);
    await recognizer.dispose();
    const nodeItems = node.items.map(
      (i) => `${i.guess}@${Math.round(i.box.x)},${Math.round(i.box.y)},${Math.round(i.box.width)},${Math.round(i.box.height)}`,
    );
    const pageItems = last.items.map(
      (i: any) => `${i.label}@${Math.round(i.box.x)},${Math.round(i.box.y)},${Math.round(i.box.width)},${Math.round(i.box.height)}`,
    );
    report.push(`    Node Recognizer on the same photo: ${nodeItems.join(' ')}; page: ${pageItems.join(' ')}`);
    expect(pageItems).toEqual(nodeItems);
  });

  it('(c) example page without a detector names the whole photo as Node does', async () => {
    const page = await openExample({ model: MODEL_URL, gallery: '/tmpdata/train.skg', detector: 'none' });
    const q = QUERIES[7]!;
    await page.setInputFiles('#photo', join(grocery, q.path));
    const name = q.path.split('/').at(-1)!;
    await page.waitForFunction((n) => (window as any).example.last?.file === n, name, { timeout: 120_000 });
    const last = await page.evaluate(() => (window as any).example.last);
    await page.screenshot({ path: join(SHOTS, 'example-photo-whole.png'), fullPage: true });
    expect(last.items).toHaveLength(1);
    expect(last.items[0].label).toBe(nodeLabels[7]);
    report.push(`    whole-picture mode on ${name}: ${last.items[0].label} (Node: ${nodeLabels[7]}, truth: ${q.label})`);
    await page.close();
  });

  it('(c) example page: live camera (Chromium fake camera fed a grocery photo) with overlay and FPS', async () => {
    const detectorParams = { detector: '/shared/models/yolox_nano.onnx', format: 'yolox', confidence: '0.25' };
    const img = await loadImage(join(grocery, 'test/Fruit/Apple/Pink-Lady/Pink-Lady_022.jpg'));
    const y4m = join(h.tmp, 'camera.y4m');
    writeFileSync(y4m, rgbToY4m(img.data as Uint8Array, img.width - (img.width % 2), img.height - (img.height % 2)));
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
      const page = await openExample({ model: MODEL_URL, gallery: '/tmpdata/train.skg', ...detectorParams }, browser);
      const state = await runExampleCamera(page, 180_000);
      await page.screenshot({ path: join(SHOTS, 'example-camera.png'), fullPage: true });
      await page.click('#camera'); // stop
      expect(state.error).toBeFalsy();
      report.push(
        `    camera: ${state.frames} frames, ${state.fps.toFixed(1)} FPS (Recognizer: yolox_nano + embedder + gallery, wasm), last frame: ${state.last.items.map((i: any) => i.label).join(', ')}`,
      );
      expect(state.fps).toBeGreaterThan(0);
    } finally {
      await browser.close();
    }
  });
});
