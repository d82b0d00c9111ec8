/**
 * `skulens gallery build --adapt --calibrate` end to end on a 12-class Grocery Store
 * subset: the file records the adaptation and the calibration, `info` shows them, and
 * `eval` / `classify` use the calibrated threshold unless one is given.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder, ReferenceGallery } from '../src/index.js';
import { readManifest } from '../src/node/dataset.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { HAVE_SHARED, grocery, models } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-adapt-cli-'));

describe.skipIf(!HAVE_SHARED)('gallery build --adapt --calibrate', () => {
  const adapted = join(dir, 'adapted.skg');
  const plain = join(dir, 'plain.skg');
  let buildErr = '';
  let queries: { path: string; label: string }[] = [];

  beforeAll(async () => {
    const all = await readManifest(join(grocery, 'train.csv'));
    const names = [...new Set(all.map((r) => r.label))].sort();
    const classes = names.filter((_, i) => i % 6 === 1).slice(0, 12);
    const pick = (rows: { path: string; label: string }[], per: number) => classes.flatMap((c) => rows.filter((r) => r.label === c).slice(0, per));
    writeCsv(join(dir, 'train.csv'), pick(all, 10));
    queries = pick(await readManifest(join(grocery, 'test.csv')), 8);
    writeCsv(join(dir, 'test.csv'), queries);
    const a = await runCli(['gallery', 'build', join(dir, 'train.csv'), '-o', adapted, '--embedder', models.mobilenetEmbed, '--preset', 'imagenet', '--adapt', '--calibrate']);
    if (a.code !== 0) throw new Error(`gallery build --adapt failed: ${a.stderr}`);
    buildErr = a.stderr;
    const p = await runCli(['gallery', 'build', join(dir, 'train.csv'), '-o', plain, '--embedder', models.mobilenetEmbed, '--preset', 'imagenet']);
    if (p.code !== 0) throw new Error(`gallery build failed: ${p.stderr}`);
  }, 600_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('reports the adaptation and the calibration while building and in gallery info', async () => {
    expect(buildErr).toMatch(/adapted: 1280-d → 11-d from 120 references/);
    expect(buildErr).toMatch(/calibrated threshold -?\d\.\d{4} from 120 held-out references/);
    const r = await runCli(['gallery', 'info', adapted, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info.adaptation).toMatchObject({ method: 'lda', inDim: 1280, outDim: 11, references: 120 });
    expect(info.calibration).toMatchObject({ folds: 4, stale: false });
    expect(Number.isFinite(info.threshold)).toBe(true);
    const bytes = readFileSync(adapted);
    expect(bytes.readUInt16LE(8)).toBe(4); // calibrated with the cohort term and the raw-space guard of an adapted gallery
    expect(info.calibration.rawThreshold).toEqual(expect.any(Number));
    expect(readFileSync(plain).readUInt16LE(8)).toBe(1);
    const text = await runCli(['gallery', 'info', adapted]);
    expect(text.stdout).toMatch(/adaptation: LDA 1280-d → 11-d/);
  });

  it('eval: adapted top-1 (no threshold) is at least the plain gallery\'s; the calibrated threshold is the default', async () => {
    const evalJson = async (file: string, ...extra: string[]) => {
      const r = await runCli(['eval', join(dir, 'test.csv'), '--gallery', file, '--json', ...extra]);
      expect(r.code, r.stderr).toBe(0);
      return JSON.parse(r.stdout) as { n: number; top1: number; unknown: number; threshold: number };
    };
    const p = await evalJson(plain);
    const open = await evalJson(adapted);
    const closed = await evalJson(adapted, '--threshold', '-2');
    expect(closed.n).toBe(96);
    expect(closed.unknown).toBe(0);
    expect(closed.top1).toBeGreaterThanOrEqual(p.top1);
    expect(open.threshold).toBeGreaterThan(-1);
    expect(open.top1).toBeLessThanOrEqual(closed.top1);
    // docs/accuracy.md: known-class top-1 at the calibrated threshold stays within 5 points of
    // the closed set (2–3 points measured on test.csv); 96 queries here, so 3 more of them (3 points) of noise.
    console.log(`12-class subset: top-1 closed ${closed.top1}, at the calibrated threshold ${open.top1}, plain gallery ${p.top1}`);
    expect(open.top1).toBeGreaterThanOrEqual(closed.top1 - 0.08);
  });

  it('classify --json answers with the calibrated rule: the API\'s answers for the same file and photos', async () => {
    const some = queries.filter((_, i) => i % 4 === 0); // 24 photos, all 12 classes
    const r = await runCli(['classify', ...some.map((q) => q.path), '--gallery', adapted, '--json']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { path: string; label: string | null; guess: string; score: number; unknown: boolean });
    expect(lines.map((l) => l.path)).toEqual(some.map((q) => q.path));
    const gallery = await ReferenceGallery.load(adapted);
    const embedder = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet' });
    try {
      const answers = gallery.classifyBatch(await embedder.embed(some.map((q) => q.path)));
      answers.forEach((a, i) => {
        // The calibrated rule: unknown exactly when the calibrated score is below the stored threshold.
        expect(a.unknown).toBe(a.unknownScore < gallery.threshold);
        expect(a.unknownScore).not.toBeCloseTo(a.score, 3); // offsets and the cohort term apply
        expect(lines[i]).toMatchObject({ guess: a.label, unknown: a.unknown, label: a.unknown ? null : a.label });
        expect(lines[i]!.score).toBeCloseTo(a.score, 5);
      });
    } finally {
      await embedder.dispose();
    }
  });
});
