/**
 * The example page on its default path (issue 26 item 4): a gallery built by the CLI with
 * the built-in embedder and `--adapt --calibrate`, given by URL alone — no model file, no
 * detector. The page re-opens the gallery's recorded embedder, answers with the gallery's
 * own (calibrated) threshold, as Node does, and takes a typed threshold, negative ones too.
 * Its tags show the score compared with that threshold (unknownScore), as the CLI's
 * --annotate does, not the raw similarity, and no number on an unknown answer.
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ReferenceGallery } from '../../src/index.js';
import { writeCsv } from '../helpers/cli.js';
import { HAVE_CHROMIUM, HAVE_SHARED, REPO_ROOT, grocery, readManifest, startHarness, type Harness } from './helpers.js';

const run = HAVE_SHARED && HAVE_CHROMIUM;
const CLASSES = ['Granny-Smith', 'Pink-Lady', 'Banana', 'Orange', 'Lemon', 'Kiwi'];

/** Up to `n` rows per class (by label), in manifest order. */
function pick(rows: { path: string; label: string }[], n: number) {
  return CLASSES.flatMap((c) => rows.filter((r) => r.label === c).slice(0, n));
}

describe.skipIf(!run)('example page, default path: gallery URL only', () => {
  let h: Harness;
  let page: Page;
  let galleryFile: string;
  const queries = run ? pick(readManifest('test.csv'), 2) : [];
  const report: string[] = [];

  beforeAll(async () => {
    h = await startHarness();
    const manifest = join(h.tmp, 'refs.csv');
    writeCsv(
      manifest,
      pick(readManifest('train.csv'), 12).map((r) => ({ path: join(grocery, r.path), label: r.label })),
    );
    galleryFile = join(h.tmp, 'default.skg');
    const tsx = join(REPO_ROOT, 'node_modules', '.bin', 'tsx');
    // No --embedder: the built-in model, recorded in the gallery by its id.
    const r = spawnSync(
      tsx,
      [join(REPO_ROOT, 'src', 'cli.ts'), 'gallery', 'build', manifest, '-o', galleryFile, '--adapt', '--calibrate'],
      { encoding: 'utf8', timeout: 900_000 },
    );
    if (r.status !== 0) throw new Error(`skulens gallery build failed (${r.status}): ${r.stderr}`);
    page = await h.browser.newPage({ viewport: { width: 1200, height: 1000 } });
    page.on('pageerror', (e) => console.error(`[example] ${e.message}`));
    await page.goto(`${h.url}/?${new URLSearchParams({ gallery: '/tmpdata/default.skg', detector: 'none' })}`);
    await page.waitForFunction(() => (window as any).example?.ready || (window as any).example?.error, null, { timeout: 180_000 });
  });

  afterAll(async () => {
    if (report.length) console.log(`\n${report.join('\n')}\n`);
    await h?.close();
  });

  /** Put one photo through the page; its answer. */
  async function answer(
    path: string,
  ): Promise<{ label: string; similarity: number; unknownScore: number; unknown: boolean; tag: string | null }> {
    const name = path.split('/').at(-1)!;
    await page.evaluate(() => ((window as any).example.last = null));
    await page.setInputFiles('#photo', []); // picking the same file again fires no "change"
    await page.setInputFiles('#photo', join(grocery, path));
    await page.waitForFunction((n) => (window as any).example.last?.file === n || (window as any).example.error, name, {
      timeout: 120_000,
    });
    const { last, error } = await page.evaluate(() => ({ last: (window as any).example.last, error: (window as any).example.error }));
    if (error) throw new Error(`example page: ${error}`);
    return last.items[0];
  }

  it("loads with no model file: the gallery's built-in embedder, and the gallery's own threshold", async () => {
    const { error, modelPath, threshold } = await page.evaluate(() => {
      const e = (window as any).example;
      return { error: e.error, modelPath: e.embedder?.modelPath, threshold: e.gallery?.threshold };
    });
    expect(error).toBeFalsy();
    const gallery = await ReferenceGallery.load(galleryFile);
    expect(modelPath).toBe(gallery.embedder?.path);
    expect(modelPath).toMatch(/^skulens:/);
    expect(threshold).toBe(gallery.threshold);
    expect(await page.locator('#threshold').inputValue()).toBe(''); // empty field = the gallery's threshold
    report.push(
      `example default path: embedder ${modelPath}, gallery threshold ${gallery.threshold.toFixed(4)} (${gallery.thresholdSource})`,
    );
  });

  it("names photos as Node does with the gallery's threshold, and honours a typed (negative) threshold", async () => {
    const gallery = await ReferenceGallery.load(galleryFile);
    const embedder = await gallery.openEmbedder();
    try {
      const vectors = await embedder.embed(queries.map((q) => join(grocery, q.path)));
      const lines: string[] = [];
      let maxDiff = 0;
      let tagsUnlikeSimilarity = 0;
      for (const [i, q] of queries.entries()) {
        const node = gallery.classify(vectors[i]!);
        const got = await answer(q.path);
        lines.push(
          `${q.path.split('/').at(-1)}: page ${got.unknown ? 'unknown' : got.label}, Node ${node.unknown ? 'unknown' : node.label}`,
        );
        expect(got.label).toBe(node.label);
        expect(got.unknown).toBe(node.unknown);
        // Chromium's JPEG decoder and the wasm int8 kernels are not bit-for-bit sharp and native: scores agree to ~1e-3.
        expect(Math.abs(got.similarity - node.score)).toBeLessThan(0.01);
        maxDiff = Math.max(maxDiff, Math.abs(got.similarity - node.score));
        // The tag: the score compared with the threshold, as --annotate draws it; "unknown" alone otherwise.
        expect(Math.abs(got.unknownScore - node.unknownScore)).toBeLessThan(0.01);
        expect(got.tag).toBe(node.unknown ? 'unknown' : `${got.label} ${got.unknownScore.toFixed(2)}`);
        if (!got.unknown && got.unknownScore.toFixed(2) !== got.similarity.toFixed(2)) tagsUnlikeSimilarity++;
      }
      // A calibrated gallery's scores are not its similarities: the tag check above tells the two apart.
      expect(tagsUnlikeSimilarity).toBeGreaterThan(0);
      report.push(
        `  ${lines.join('; ')}; largest |score difference| page vs Node ${maxDiff.toExponential(2)}; ${tagsUnlikeSimilarity} tags whose score is not the similarity`,
      );

      // A threshold typed in the field wins over the gallery's, whatever its sign: above every score, all unknown;
      // far below (negative), none.
      const q = queries[0]!;
      for (const t of [1e6, -1e6]) {
        await page.fill('#threshold', String(t));
        await page.dispatchEvent('#threshold', 'change');
        const got = await answer(q.path);
        expect(got.unknown, `threshold ${t}`).toBe(gallery.classify(vectors[0]!, { threshold: t }).unknown);
        expect(got.unknown).toBe(t > 0);
        if (got.unknown) expect(got.tag).toBe('unknown');
      }
    } finally {
      await embedder.dispose();
    }
  });
});
