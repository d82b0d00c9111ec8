/**
 * Browser test plumbing: build dist/browser.js, serve it (plus onnxruntime-web's files,
 * ../shared and a temp folder) with COOP/COEP, and drive Debian's chromium through
 * playwright-core. Never downloads a browser: CHROMIUM_PATH or /usr/bin/chromium.
 */
import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import type { Detection, Rect } from '../../src/index.js';
import { build } from 'tsup';
import { browserBuild } from '../../tsup.config.js';
// @ts-expect-error plain ESM script without types
import { defaultMounts, startServer } from '../../scripts/serve.mjs';
import { HAVE_SHARED, REPO_ROOT, SHARED, grocery } from '../helpers/shared.js';

export { HAVE_SHARED, REPO_ROOT, SHARED, grocery };

export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
export const HAVE_CHROMIUM = existsSync(CHROMIUM);
if (!HAVE_CHROMIUM) {
  console.warn(
    `\n*** skulens browser tests: no chromium at ${CHROMIUM} (apt-get install -y chromium, or set CHROMIUM_PATH) — SKIPPED. ***\n`,
  );
}
// In CI a skipped browser suite would pass silently: there, a missing browser or data set fails.
if (process.env.CI && (!HAVE_CHROMIUM || !HAVE_SHARED)) {
  throw new Error(
    `browser tests cannot run in CI: ${!HAVE_CHROMIUM ? `no chromium at ${CHROMIUM}` : `no shared models/photos at ${SHARED}`}`,
  );
}

export const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
];

/**
 * Build dist/browser.js (JS only; the .d.ts comes from `npx tsup`). `config: false`: else
 * tsup also loads tsup.config.ts, whose callback empties dist and so deletes the Node build.
 */
export async function buildBrowserBundle(): Promise<void> {
  await build({ ...browserBuild, config: false, dts: false, silent: true });
}

export interface Harness {
  browser: Browser;
  url: string;
  /** Served at /tmpdata/: files the test writes for the page (galleries, raw pixels). */
  tmp: string;
  close(): Promise<void>;
}

export async function startHarness(options: { isolate?: boolean } = {}): Promise<Harness> {
  await buildBrowserBundle();
  const tmp = mkdtempSync(join(tmpdir(), 'skulens-browser-'));
  const server = await startServer({ mounts: { ...defaultMounts(), '/tmpdata/': tmp }, isolate: options.isolate ?? true });
  const browser = await chromium.launch({ executablePath: CHROMIUM, args: CHROMIUM_ARGS });
  return {
    browser,
    url: server.url,
    tmp,
    async close() {
      await browser.close();
      await server.close();
    },
  };
}

/** Open the test harness page (dist/browser.js on window.skulens) and wait for it. */
export async function openHarness(h: Harness): Promise<Page> {
  const page = await h.browser.newPage();
  const errors: string[] = [];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !/favicon/.test(m.text())) console.error(`[page] ${m.text()}`);
  });
  await page.goto(`${h.url}/test/harness.html`);
  await page
    .waitForFunction(() => (window as unknown as { skulensReady?: boolean }).skulensReady === true, null, { timeout: 60_000 })
    .catch((err) => {
      throw new Error(`harness page did not load: ${errors.join('; ') || (err as Error).message}`);
    });
  return page;
}

/** `path,label` rows of a grocery-store manifest. */
export function readManifest(name: 'train.csv' | 'test.csv' | 'val.csv'): { path: string; label: string }[] {
  const lines = readFileSync(join(grocery, name), 'utf8').trim().split(/\r?\n/).slice(1);
  return lines.map((line) => {
    const [path, label] = line.split(',') as [string, string];
    return { path, label };
  });
}

/** `count` rows spread evenly over the manifest (deterministic, many classes). */
export function spread<T>(rows: T[], count: number): T[] {
  const step = rows.length / count;
  return Array.from({ length: count }, (_, i) => rows[Math.floor(i * step)]!);
}

export function cosine(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let dot = 0,
    na = 0,
    nb = 0;
  for (let i = 0; i < a.length; i++) {
    dot += a[i]! * b[i]!;
    na += a[i]! * a[i]!;
    nb += b[i]! * b[i]!;
  }
  return dot / Math.sqrt(na * nb);
}

export function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** URL of a grocery-store photo on the test server. */
export const groceryUrl = (path: string) => `/shared/data/grocery-store/${path}`;
export const MODEL_URL = '/shared/models/mobilenetv2-12-int8-embed.onnx';
export const MODEL_PATH = join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx');

export function iou(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

/**
 * How many of `a`'s boxes have a box of the same class in `b` with IoU ≥ `min`, the
 * largest coordinate and score differences among those pairs, and the lowest best IoU
 * of any of `a`'s boxes (0 when one has no same-class box in `b` at all).
 */
export function agreement(
  a: Detection[],
  b: Detection[],
  min: number,
): { matched: number; maxDiff: number; maxScoreDiff: number; minIou: number } {
  let matched = 0;
  let maxDiff = 0;
  let maxScoreDiff = 0;
  let minIou = 1;
  for (const d of a) {
    let best: Detection | undefined;
    let bestIou = 0;
    for (const e of b) {
      if (e.classId !== d.classId) continue;
      const o = iou(d.box, e.box);
      if (o > bestIou) [best, bestIou] = [e, o];
    }
    minIou = Math.min(minIou, bestIou);
    if (!best || bestIou < min) continue;
    matched++;
    for (const k of ['x', 'y', 'width', 'height'] as const) maxDiff = Math.max(maxDiff, Math.abs(d.box[k] - best.box[k]));
    maxScoreDiff = Math.max(maxScoreDiff, Math.abs(d.score - best.score));
  }
  return { matched, maxDiff, maxScoreDiff, minIou };
}

/** What the example page's camera loop reports (window.example). */
export interface ExampleCameraState {
  frames: number;
  fps: number;
  error?: string;
  /** The last frame, as the example page writes it. */
  last: any;
}

/** Start the example page's camera (a fake one in these tests), wait for 3 frames or an error, and read its state; the camera keeps running. */
export async function runExampleCamera(page: Page, timeout: number): Promise<ExampleCameraState> {
  await page.click('#camera');
  await page.waitForFunction(() => ((window as any).example.frames ?? 0) >= 3 || (window as any).example.error, null, { timeout });
  return page.evaluate(() => ({
    frames: (window as any).example.frames,
    fps: (window as any).example.fps,
    error: (window as any).example.error,
    last: (window as any).example.last,
  }));
}
