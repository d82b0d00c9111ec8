/**
 * What `gallery build`'s flags do when they cannot do what they say (issue 26, items 9–11
 * and 15), on real photos with the small built-in embedder (skulens:retail-160): too few references for --adapt and
 * --calibrate degrade with notes and still write the gallery; --adapt alone and
 * --calibrate with --threshold say what they leave; --preset on a built-in model is
 * refused; a gallery queried with another embedder names its own; eval keeps queries of
 * classes the gallery lacks apart.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_EMBEDDER, RETAIL160_EMBEDDER } from '../src/core/builtin-models.js';
import { readManifest } from '../src/node/dataset.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { HAVE_SHARED, grocery } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-cli-flags-'));
// The small built-in keeps these builds quick; the default one is named where the default matters.
const SMALL = ['--embedder', RETAIL160_EMBEDDER];
const info = async (file: string) => JSON.parse((await runCli(['gallery', 'info', file, '--json'])).stdout);

describe.skipIf(!HAVE_SHARED)('gallery build flags that cannot do what they say', { timeout: 300_000 }, () => {
  let known: string[];
  let foreign: string[];
  let queries: { path: string; label: string }[];
  const one = join(dir, 'one.skg');
  let oneBuild: { code: number; stderr: string };

  beforeAll(async () => {
    const train = await readManifest(join(grocery, 'train.csv'));
    const names = [...new Set(train.map((r) => r.label))].sort();
    known = names.filter((_, i) => i % 10 === 3).slice(0, 4);
    foreign = names.filter((_, i) => i % 10 === 7).slice(0, 2);
    const pick = (rows: { path: string; label: string }[], classes: string[], per: number) =>
      classes.flatMap((c) => rows.filter((r) => r.label === c).slice(0, per));
    writeCsv(join(dir, 'one.csv'), pick(train, known, 1));
    writeCsv(join(dir, 'two.csv'), pick(train, known, 2));
    queries = pick(await readManifest(join(grocery, 'test.csv')), [...known, ...foreign], 3);
    writeCsv(join(dir, 'queries.csv'), queries);
    // The later tests query this gallery too.
    oneBuild = await runCli(['gallery', 'build', join(dir, 'one.csv'), '-o', one, '--adapt', '--calibrate', ...SMALL]);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('--adapt --calibrate with one photo per class: notes say what was skipped and why, and the gallery is written with the raw threshold', async () => {
    const r = oneBuild;
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/note: not adapted: adaptation needs at least one class with two or more references/);
    expect(r.stderr).toMatch(/note: not calibrated: .*needs a class with at least 2 \(each class has 1\); the threshold stays 0\.26 /);
    expect(r.stderr).not.toMatch(/calibrate\(\)/);
    // Neither fitted: the built-in embedder's measured threshold still applies (adapt() no longer resets it to -1).
    expect(await info(one)).toMatchObject({
      labels: 4,
      threshold: 0.26,
      thresholdSource: 'embedder',
      calibration: null,
      adaptation: { method: 'identity' },
    });
  });

  it('--adapt --calibrate --threshold with two per class: a note on the few references, and the explicit threshold applies to the calibrated score', async () => {
    const out = join(dir, 'two-t.skg');
    const r = await runCli([
      'gallery',
      'build',
      join(dir, 'two.csv'),
      '-o',
      out,
      '--adapt',
      '--calibrate',
      '--threshold',
      '0.05',
      ...SMALL,
    ]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/adapted: 512-d → 3-d from 8 references/);
    expect(r.stderr).toMatch(/note: adapted from 2 references per class \(median\): docs\/accuracy\.md measures adapt\(\) from 5 up/);
    expect(r.stderr).toMatch(/calibrated threshold -?\d\.\d{4} from 8 held-out references/);
    expect(r.stderr).toMatch(/note: --threshold 0\.05 replaces the calibrated threshold -?\d\.\d{4}: it applies to the calibrated score/);
    const i = await info(out);
    expect(i).toMatchObject({ threshold: 0.05, thresholdSource: 'explicit', adaptation: { method: 'lda', outDim: 3 } });
    expect(i.calibration).not.toBeNull(); // --calibrate is no longer dropped
  });

  it('--adapt alone says the gallery never answers "unknown"', async () => {
    const r = await runCli(['gallery', 'build', join(dir, 'two.csv'), '-o', join(dir, 'two-a.skg'), '--adapt', ...SMALL]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(
      /note: --adapt without --calibrate: this gallery never answers "unknown" \(its threshold is -1\); add --calibrate/,
    );
  });

  it('--preset with a built-in model is refused before any work (E_INPUT), for gallery build and embed', async () => {
    const out = join(dir, 'preset.skg');
    const r = await runCli(['gallery', 'build', join(dir, 'one.csv'), '-o', out, '--preset', 'imagenet']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim()).toBe(
      `skulens: The built-in model ${DEFAULT_EMBEDDER} declares its own preprocessing (the one it was trained with): drop --preset imagenet, which would replace it. Presets are for your own models (--embedder model.onnx). [E_INPUT]`,
    );
    expect(existsSync(out)).toBe(false);
    const e = await runCli(['embed', queries[0]!.path, ...SMALL, '--preset', 'imagenet']);
    expect(e.code).toBe(1);
    expect(e.stderr.trim()).toMatch(
      /built-in model skulens:retail-160 declares its own preprocessing .*drop --preset imagenet.*\[E_INPUT\]$/,
    );
  });

  it("a gallery of the built-in embedder queried with another one: E_FINGERPRINT naming the gallery's embedder", async () => {
    const r = await runCli(['classify', queries[0]!.path, '--gallery', one, '--embedder', 'skulens:mobilenetv2']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr.trim()).toMatch(
      /skulens:mobilenetv2 is not the embedder this gallery was built with \(skulens:retail-160, 160x160 input, output embedding, fingerprint [0-9a-f]{32}\): .*\[E_FINGERPRINT\]$/,
    );
  });

  it('eval reports queries of classes the gallery lacks apart: top-1 over the known classes, the share of the others answered unknown', async () => {
    const gallery = one;
    const [json, text, answers] = await Promise.all([
      runCli(['eval', join(dir, 'queries.csv'), '--gallery', gallery, '--json']),
      runCli(['eval', join(dir, 'queries.csv'), '--gallery', gallery]),
      runCli(['classify', ...queries.map((q) => q.path), '--gallery', gallery, '--json']),
    ]);
    for (const r of [json, text, answers]) expect(r.code, r.stderr).toBe(0);
    const report = JSON.parse(json.stdout);
    // The expected figures, from the answers classify gives for the same photos.
    const lines = answers.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { label: string | null; unknown: boolean });
    const ofKnown = queries.flatMap((q, i) => (known.includes(q.label) ? [{ q, a: lines[i]! }] : []));
    const ofForeign = queries.flatMap((q, i) => (foreign.includes(q.label) ? [{ q, a: lines[i]! }] : []));
    const share = (xs: unknown[], of: unknown[]) => Math.round((xs.length / of.length) * 1e4) / 1e4;
    expect(report).toMatchObject({ n: 18, notInGallery: 6 });
    expect(Object.keys(report.perClass).sort()).toEqual([...known].sort());
    expect(Object.keys(report.notInGalleryPerClass).sort()).toEqual([...foreign].sort());
    expect(report.top1).toBe(
      share(
        ofKnown.filter(({ q, a }) => a.label === q.label),
        ofKnown,
      ),
    );
    expect(report.notInGalleryUnknown).toBe(
      share(
        ofForeign.filter(({ a }) => a.unknown),
        ofForeign,
      ),
    );
    // A foreign query answered "unknown" is no error; named, it is one.
    const foreignErrors = report.confusions.filter((c: { truth: string }) => foreign.includes(c.truth));
    expect(foreignErrors.every((c: { answer: string }) => c.answer !== '(unknown)')).toBe(true);
    expect(text.stdout).toMatch(/^12 queries of the gallery's 4 classes: top-1 \d+\.\d%/m);
    expect(text.stdout).toContain(
      `6 queries of 2 classes not in the gallery: ${(100 * report.notInGalleryUnknown).toFixed(1)}% answered unknown (their right answer)`,
    );
    console.log(`eval with foreign classes: top-1 over known ${report.top1}, foreign answered unknown ${report.notInGalleryUnknown}`);
  });
});
