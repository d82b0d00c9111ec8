/**
 * (a) The browser embeds like Node: 20 grocery-store photos through dist/browser.js in
 * Debian's chromium vs the Node entry, identical vectors (cosine 1.000000) each; decoding and runtime
 * differences measured separately; every browser image input kind; throughput at batch 8.
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, loadImage } from '../../src/index.js';
import {
  HAVE_CHROMIUM,
  HAVE_SHARED,
  MODEL_PATH,
  MODEL_URL,
  cosine,
  grocery,
  groceryUrl,
  median,
  openHarness,
  readManifest,
  spread,
  startHarness,
  type Harness,
} from './helpers.js';

const run = HAVE_SHARED && HAVE_CHROMIUM;
const PHOTOS = run ? spread(readManifest('test.csv'), 20) : [];
const BATCH = 8;
const REPS = 3;

type Raw = { url: string; width: number; height: number; channels: number };
type Vec = number[];

describe.skipIf(!run)('browser embedding (a): same vectors as Node', () => {
  let h: Harness;
  let page: Page;
  let nodeVectors: Float32Array[];
  let rawDescriptors: Raw[];
  const report: string[] = [];

  beforeAll(async () => {
    h = await startHarness();
    // Node's vectors and Node's decoded pixels (served to the page as raw RGB files).
    const node = await Embedder.create({ model: MODEL_PATH, preset: 'imagenet', batchSize: BATCH });
    nodeVectors = await node.embed(PHOTOS.map((p) => join(grocery, p.path)));
    await node.dispose();
    rawDescriptors = [];
    for (const [i, p] of PHOTOS.entries()) {
      const img = await loadImage(join(grocery, p.path));
      writeFileSync(join(h.tmp, `${i}.rgb`), img.data);
      rawDescriptors.push({ url: `/tmpdata/${i}.rgb`, width: img.width, height: img.height, channels: img.channels });
    }
    page = await openHarness(h);
  });

  afterAll(async () => {
    if (report.length) console.log(`\n${report.join('\n')}\n`);
    await h?.close();
  });

  it('gives the same fingerprint and vectors (cosine 1.000000 for each of 20 photos)', async () => {
    const created = await page.evaluate((o) => (window as any).harness.createEmbedder(o), {
      model: MODEL_URL,
      preset: 'imagenet',
      batchSize: BATCH,
    });
    const node = await Embedder.create({ model: MODEL_PATH, preset: 'imagenet' });
    expect(created.fingerprint).toBe(node.fingerprint);
    expect(created.dim).toBe(1280);
    await node.dispose();

    const urls = PHOTOS.map((p) => groceryUrl(p.path));
    const own = await page.evaluate((u) => (window as any).harness.embed(u), urls);
    const fromNodePixels = await page.evaluate((r) => (window as any).harness.embed(r, { raw: true }), rawDescriptors);
    const diffs: { meanAbs: number; max: number; differingShare: number }[] = [];
    for (const [i, url] of urls.entries())
      diffs.push(await page.evaluate(([u, r]) => (window as any).harness.pixelDiff(u, r), [url, rawDescriptors[i]] as const));

    const total = own.vectors.map((v: Vec, i: number) => cosine(v, nodeVectors[i]!));
    const runtimeOnly = fromNodePixels.vectors.map((v: Vec, i: number) => cosine(v, nodeVectors[i]!));
    const decodeOnly = own.vectors.map((v: Vec, i: number) => cosine(v, fromNodePixels.vectors[i]));

    report.push('(a) browser vs Node embeddings, mobilenetv2-12-int8-embed, preset imagenet, 20 grocery-store test photos');
    report.push(
      '    #  cos(browser decode)  cos(Node pixels in browser)  cos(browser vs Node decode, both in browser)  pixel |diff| mean/max  share differing  photo',
    );
    for (const [i, p] of PHOTOS.entries()) {
      const d = diffs[i]!;
      report.push(
        `   ${String(i).padStart(2)}  ${total[i]!.toFixed(6)}             ${runtimeOnly[i]!.toFixed(6)}                     ${decodeOnly[i]!.toFixed(6)}                                  ${d.meanAbs.toFixed(3)}/${d.max}            ${(100 * d.differingShare).toFixed(1)}%  ${p.path}`,
      );
    }
    const min = (xs: number[]) => Math.min(...xs);
    const maxAbs = Math.max(...own.vectors.map((v: Vec, i: number) => Math.max(...v.map((x, j) => Math.abs(x - nodeVectors[i]![j]!)))));
    report.push(`    largest element-wise |browser - Node| over all 20 x 1280 values: ${maxAbs.toExponential(2)}`);
    report.push(
      `    min cosine: total ${min(total).toFixed(6)}, runtime+preprocessing only ${min(runtimeOnly).toFixed(6)}, decoding only ${min(decodeOnly).toFixed(6)}`,
    );
    // README and docs/browser.md say "identical (cosine 1.000000)": hold them to what they print.
    for (const c of total) expect(c).toBeGreaterThanOrEqual(0.9999995);
    expect(maxAbs).toBeLessThan(1e-6);
  });

  it('accepts every browser image input kind with the same result', async () => {
    const url = groceryUrl(PHOTOS[3]!.path);
    const kinds: Record<string, Vec> = await page.evaluate((u) => (window as any).harness.inputKinds(u), url);
    const ref = kinds.url!;
    // ndarray views of the decoded pixels give exactly the raw pixels' vector
    for (const k of ['ndarray', 'ndarrayTransposed', 'ndarrayFloat']) expect(kinds[k], k).toEqual(kinds.rawImage);
    const lines: string[] = [];
    for (const [kind, v] of Object.entries(kinds)) {
      const c = cosine(v, ref);
      lines.push(`${kind} ${c.toFixed(6)}`);
      expect(c, kind).toBeGreaterThan(0.9999);
    }
    report.push(`    input kinds vs URL (cosine): ${lines.join(', ')}`);
  });

  it('applies EXIF orientation like Node (imageOrientation: from-image)', async () => {
    // A landscape crop of a photo, stored rotated with EXIF orientation 6 (display = 90° clockwise).
    const src = join(grocery, PHOTOS[5]!.path);
    const rotated = await sharp(src)
      .extract({ left: 0, top: 60, width: 348, height: 200 })
      .rotate(-90)
      .withMetadata({ orientation: 6 })
      .jpeg({ quality: 95 })
      .toBuffer();
    writeFileSync(join(h.tmp, 'exif6.jpg'), rotated);
    const nodeImg = await loadImage(rotated);
    const size = await page.evaluate((u) => (window as any).harness.decodedSize(u), '/tmpdata/exif6.jpg');
    expect(size).toMatchObject({ width: nodeImg.width, height: nodeImg.height });
    expect(nodeImg.width).toBe(348); // upright again
    const node = await Embedder.create({ model: MODEL_PATH, preset: 'imagenet' });
    const [nv] = await node.embed([rotated]);
    await node.dispose();
    const { vectors } = await page.evaluate((u) => (window as any).harness.embed(u), ['/tmpdata/exif6.jpg']);
    const c = cosine(vectors[0], nv!);
    report.push(
      `    EXIF orientation 6: decoded ${size.width}x${size.height} (Node ${nodeImg.width}x${nodeImg.height}), cosine to Node ${c.toFixed(6)}`,
    );
    expect(c).toBeGreaterThanOrEqual(0.999);
  });

  it('explains bad inputs: missing image, HTML instead of a model, missing model', async () => {
    const missing = await page.evaluate(() => (window as any).harness.loadImageError('/shared/no-such-photo.jpg'));
    expect(missing).toMatchObject({ code: 'E_IMAGE_DECODE' });
    expect(missing.message).toMatch(/HTTP 404/);
    const notImage = await page.evaluate(() => (window as any).harness.loadImageError(new Uint8Array([1, 2, 3, 4])));
    expect(notImage).toMatchObject({ code: 'E_IMAGE_DECODE' });
    const html = await page.evaluate(() => (window as any).harness.modelError('/test/harness.html'));
    expect(html).toMatchObject({ code: 'E_MODEL_LOAD' });
    expect(html.message).toMatch(/HTML page/);
    const noModel = await page.evaluate(() => (window as any).harness.modelError('/shared/models/nope.onnx'));
    expect(noModel.message).toMatch(/404/);
  });

  it('explains the HTML-instead-of-.wasm mistake ("expected magic word 00 61 73 6d")', async () => {
    const p = await openHarness(h);
    // Point onnxruntime at an HTML page where its .wasm should be, as a misconfigured server does.
    await p.evaluate(() => (window as any).skulens.configure({ wasmPaths: { wasm: '/test/harness.html' } }));
    const err = await p.evaluate((m) => (window as any).harness.modelError(m), MODEL_URL);
    report.push(`    HTML served as .wasm → ${err?.code}: ${String(err?.message).slice(0, 220)}…`);
    expect(err).toMatchObject({ code: 'E_MODEL_LOAD' });
    expect(err.message).toMatch(/magic word/);
    expect(err.message).toMatch(/HTML page/);
    await p.close();
  });

  it('falls back to wasm (or runs webgpu) when webgpu is asked for, with the same vectors', async () => {
    const p = await openHarness(h);
    await p.evaluate(() => (window as any).skulens.configure({ executionProviders: ['webgpu', 'wasm'] }));
    const created = await p.evaluate((o) => (window as any).harness.createEmbedder(o), {
      model: MODEL_URL,
      preset: 'imagenet',
      batchSize: BATCH,
    });
    const { vectors } = await p.evaluate(
      (u) => (window as any).harness.embed(u),
      PHOTOS.slice(0, 4).map((x) => groceryUrl(x.path)),
    );
    const cos = vectors.map((v: Vec, i: number) => cosine(v, nodeVectors[i]!));
    report.push(
      `    webgpu requested: ran ${created.runtime.build} with EPs ${created.runtime.executionProviders.join(',')} (navigator.gpu ${created.runtime.webgpuAvailable ? 'present' : 'absent'}); min cosine to Node ${Math.min(...cos).toFixed(6)}`,
    );
    for (const c of cos) expect(c).toBeGreaterThanOrEqual(0.999);
    await p.close();
  });

  it('reports embedding throughput at batch 8 in the page and in Node on the same images', async () => {
    const urls = PHOTOS.map((p) => groceryUrl(p.path));
    const rows: string[] = [];
    const rate = (times: number[]) => (PHOTOS.length / median(times)) * 1000;
    const results: Record<string, number> = {};

    for (const threads of [1, 2]) {
      const p = await openHarness(h);
      await p.evaluate((t) => (window as any).skulens.configure({ numThreads: t }), threads);
      await p.evaluate((o) => (window as any).harness.createEmbedder(o), { model: MODEL_URL, preset: 'imagenet', batchSize: BATCH });
      const fromFiles = await p.evaluate(([u, reps]) => (window as any).harness.embed(u, { reps }), [urls, REPS] as const);
      const fromPixels = await p.evaluate(([r, reps]) => (window as any).harness.embed(r, { raw: true, reps }), [
        rawDescriptors,
        REPS,
      ] as const);
      results[`browser-files-${threads}`] = rate(fromFiles.times);
      results[`browser-pixels-${threads}`] = rate(fromPixels.times);
      await p.close();

      const node = await Embedder.create({
        model: MODEL_PATH,
        preset: 'imagenet',
        batchSize: BATCH,
        sessionOptions: { intraOpNumThreads: threads, interOpNumThreads: 1 },
      });
      const paths = PHOTOS.map((x) => join(grocery, x.path));
      const pixels = await Promise.all(paths.map((x) => loadImage(x)));
      await node.embed(paths); // warm-up
      const tf: number[] = [],
        tp: number[] = [];
      for (let r = 0; r < REPS; r++) {
        let t0 = performance.now();
        await node.embed(paths);
        tf.push(performance.now() - t0);
        t0 = performance.now();
        await node.embed(pixels);
        tp.push(performance.now() - t0);
      }
      await node.dispose();
      results[`node-files-${threads}`] = rate(tf);
      results[`node-pixels-${threads}`] = rate(tp);
      rows.push(
        `    ${threads} thread${threads > 1 ? 's' : ' '}  from JPEG files: page ${results[`browser-files-${threads}`]!.toFixed(1).padStart(6)}  Node ${results[`node-files-${threads}`]!.toFixed(1).padStart(6)}  page/Node ${(results[`browser-files-${threads}`]! / results[`node-files-${threads}`]!).toFixed(2)}` +
          `   from decoded pixels: page ${results[`browser-pixels-${threads}`]!.toFixed(1).padStart(6)}  Node ${results[`node-pixels-${threads}`]!.toFixed(1).padStart(6)}  page/Node ${(results[`browser-pixels-${threads}`]! / results[`node-pixels-${threads}`]!).toFixed(2)}`,
      );
    }
    report.push(
      `    throughput, images/s at batch ${BATCH} (20 photos, median of ${REPS}; wasm in chromium vs onnxruntime-node CPU; noisy shared 2-core machine):`,
    );
    report.push(...rows);
    for (const v of Object.values(results)) expect(v).toBeGreaterThan(0);
  });
});

describe.skipIf(!run)('browser: the built-in embedders', () => {
  let h: Harness;
  afterAll(async () => h?.close());

  // No model argument: the default (skulens:mobilenetv2); by id: the fast skulens:retail-160.
  for (const [name, options, dim] of [
    ['the default (skulens:mobilenetv2)', {}, 1280],
    ['skulens:retail-160', { model: 'skulens:retail-160' }, 512],
  ] as const) {
    it(`${name} loads from the package (models/ beside dist/) and embeds like Node`, async () => {
      h ??= await startHarness();
      const page = await openHarness(h);
      const created = await page.evaluate((o) => (window as any).harness.createEmbedder(o), options);
      const node = await Embedder.create(options);
      expect(created.fingerprint).toBe(node.fingerprint);
      expect(created.dim).toBe(dim);
      const photos = PHOTOS.slice(0, 5);
      const nodeVectors = await node.embed(photos.map((p) => join(grocery, p.path)));
      await node.dispose();
      const { vectors } = await page.evaluate(
        (u) => (window as any).harness.embed(u),
        photos.map((p) => groceryUrl(p.path)),
      );
      vectors.forEach((v: Vec, i: number) => expect(cosine(v, nodeVectors[i]!)).toBeGreaterThanOrEqual(0.999));
      await page.close();
    });
  }
});
