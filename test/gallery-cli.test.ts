/**
 * End to end on real photos (a 10-class subset of the Grocery Store dataset) and the
 * MobileNetV2 embedder: `skulens gallery build / info`, `classify`, `eval`, and the
 * ways a user can get it wrong (another model, empty class folders, bad images, odd
 * labels, damaged files).
 */
import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Embedder } from '../src/core/embedder.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import '../src/node/platform.js';
import { readManifest } from '../src/node/dataset.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { HAVE_SHARED, grocery, models } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-gallery-cli-'));

describe.skipIf(!HAVE_SHARED)('gallery CLI on real photos', () => {
  let classes: string[];
  let train: { path: string; label: string }[];
  let test: { path: string; label: string }[];
  const gallery = join(dir, 'subset.skg');

  beforeAll(async () => {
    const all = await readManifest(join(grocery, 'train.csv'));
    const names = [...new Set(all.map((r) => r.label))].sort();
    classes = names.filter((_, i) => i % 8 === 0).slice(0, 10);
    const pick = (rows: { path: string; label: string }[], per: number) =>
      classes.flatMap((c) => rows.filter((r) => r.label === c).slice(0, per));
    train = pick(all, 12);
    test = pick(await readManifest(join(grocery, 'test.csv')), 10);
    writeCsv(join(dir, 'train.csv'), train);
    writeCsv(join(dir, 'test.csv'), test);
    const r = await runCli([
      'gallery',
      'build',
      join(dir, 'train.csv'),
      '-o',
      gallery,
      '--embedder',
      models.mobilenetEmbed,
      '--preset',
      'imagenet',
    ]);
    if (r.code !== 0) throw new Error(`gallery build failed: ${r.stderr}`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('gallery info describes the gallery and remembers the embedder', async () => {
    const r = await runCli(['gallery', 'info', gallery, '--json']);
    expect(r.code).toBe(0);
    const info = JSON.parse(r.stdout);
    expect(info).toMatchObject({ labels: 10, references: 120, vectors: 30, dim: 1280, metric: 'cosine', clustersPerClass: 3 });
    expect(info.embedder).toMatchObject({ path: models.mobilenetEmbed, preset: 'imagenet', output: 'embedding' });
    expect(info.embedder.fingerprint).toMatch(/^[0-9a-f]{32}$/);
    expect(info.classes.map((c: { label: string }) => c.label)).toEqual(classes);
  });

  it('eval --json: real accuracy well above chance, with the contract fields', async () => {
    const r = await runCli(['eval', join(dir, 'test.csv'), '--gallery', gallery, '--json']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.stdout);
    expect(report.n).toBe(100);
    expect(Object.keys(report.perClass).sort()).toEqual([...classes].sort());
    expect(report.unknown).toBe(0);
    expect(report.top5).toBeGreaterThanOrEqual(report.top1);
    console.log(
      `10-class subset (12 refs/class): top-1 ${report.top1}, top-5 ${report.top5}, mean per class ${report.meanPerClass} (chance 0.1)`,
    );
    // Measured 0.97 on this fixed subset (deterministic); the guard allows 3 of its 100 queries.
    expect(report.top1).toBeGreaterThanOrEqual(0.94);
    expect(r.stderr).toBe(''); // no progress bar when stderr is not a TTY
  });

  it('classify --json --top 3 names photos', async () => {
    const paths = test.filter((_, i) => i % 10 === 0).map((t) => t.path);
    const r = await runCli(['classify', ...paths, '--gallery', gallery, '--json', '--top', '3']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l));
    expect(lines).toHaveLength(paths.length);
    for (const l of lines) {
      expect(l.labels).toHaveLength(3);
      expect(classes).toContain(l.label);
      expect(l.unknown).toBe(false);
    }
    expect(lines.filter((l, i) => l.label === test[i * 10]!.label).length).toBeGreaterThanOrEqual(6);
  });

  it('a gallery built with one model refuses another (E_FINGERPRINT), and a damaged file is reported in one line', async () => {
    const other = join(dir, 'logits.skg');
    // The plain classifier's 1000-d logits as "embeddings": a different model file.
    expect(
      (await runCli(['gallery', 'build', join(dir, 'train.csv'), '-o', other, '--embedder', models.mobilenet, '--preset', 'imagenet']))
        .code,
    ).toBe(0);
    const r = await runCli(['classify', test[0]!.path, '--gallery', other, '--embedder', models.mobilenetEmbed]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/E_FINGERPRINT/);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    // A model without the recorded output: not a shape error, the gallery's embedder named instead.
    const noOutput = await runCli(['classify', test[0]!.path, '--gallery', gallery, '--embedder', models.mobilenet]);
    expect(noOutput.code).toBe(1);
    expect(noOutput.stderr.trim()).toMatch(
      /mobilenetv2-12-int8\.onnx is not the embedder this gallery was built with \(.*mobilenetv2-12-int8-embed\.onnx, 224x224 input, output embedding, fingerprint [0-9a-f]{32}\): The model has no output "embedding".*\[E_FINGERPRINT\]$/,
    );
    const bytes = readFileSync(gallery);
    writeFileSync(join(dir, 'cut.skg'), bytes.subarray(0, bytes.length - 100));
    const cut = await runCli(['eval', join(dir, 'test.csv'), '--gallery', join(dir, 'cut.skg')]);
    expect(cut.code).toBe(1);
    expect(cut.stderr).toMatch(/truncated.*E_GALLERY_FORMAT/);
    expect(cut.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('class folders: empty folders and bad images are reported and skipped; odd labels survive', async () => {
    const refs = join(dir, 'refs');
    const label = 'Crème fraîche, 日本 (½ L)';
    for (const [name, rows] of [
      [label, train.filter((t) => t.label === classes[0])],
      ['other', train.filter((t) => t.label === classes[1])],
    ] as const) {
      mkdirSync(join(refs, name), { recursive: true });
      rows.slice(0, 4).forEach((row, i) => copyFileSync(row.path, join(refs, name, `${i}.jpg`)));
    }
    mkdirSync(join(refs, 'empty-class'));
    writeFileSync(join(refs, 'other', 'broken.jpg'), 'not a jpeg');
    // Images in a sub-folder of a class folder keep the class folder's label, with a note.
    mkdirSync(join(refs, 'other', 'side view'));
    train
      .filter((t) => t.label === classes[1])
      .slice(4, 6)
      .forEach((row, i) => copyFileSync(row.path, join(refs, 'other', 'side view', `${i}.jpg`)));
    const out = join(dir, 'folders.skg');
    const r = await runCli([
      'gallery',
      'build',
      refs,
      '-o',
      out,
      '--embedder',
      models.mobilenetEmbed,
      '--preset',
      'imagenet',
      '--clusters',
      'all',
    ]);
    expect(r.code).toBe(0);
    expect(r.stderr).toMatch(/class "empty-class" has no images: skipped/);
    expect(r.stderr).toMatch(/skipped .*broken\.jpg/);
    expect(r.stderr).toMatch(/note: class folders "other" \(1 sub-folder\) hold images in sub-folders; each class folder is one label/);
    expect(r.stderr).not.toMatch(/note: .*Crème/);
    const info = JSON.parse((await runCli(['gallery', 'info', out, '--json'])).stdout);
    expect(info.classes).toEqual([
      { label, references: 4, vectors: 4 },
      { label: 'other', references: 6, vectors: 6 },
    ]);
    const c = JSON.parse((await runCli(['classify', train.find((t) => t.label === classes[0])!.path, '--gallery', out, '--json'])).stdout);
    expect(c.label).toBe(label);
  });

  it('--embedding-output picks another model output, is recorded, and classify reuses it; an unknown name is refused', async () => {
    const refs = join(dir, 'two-classes.csv');
    writeCsv(refs, train.filter((t) => t.label === classes[0] || t.label === classes[1]).slice(0, 6));
    const out = join(dir, 'logits.skg');
    const r = await runCli([
      'gallery',
      'build',
      refs,
      '-o',
      out,
      '--embedder',
      models.mobilenetEmbed,
      '--preset',
      'imagenet',
      '--embedding-output',
      'output',
    ]);
    expect(r.code).toBe(0);
    const info = JSON.parse((await runCli(['gallery', 'info', out, '--json'])).stdout);
    expect(info.embedder).toMatchObject({ output: 'output' });
    expect(info.dim).toBe(1000);
    expect((await runCli(['classify', train[0]!.path, '--gallery', out, '--json'])).code).toBe(0);
    const bad = await runCli([
      'gallery',
      'build',
      refs,
      '-o',
      join(dir, 'nope.skg'),
      '--embedder',
      models.mobilenetEmbed,
      '--preset',
      'imagenet',
      '--embedding-output',
      'nope',
    ]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/no output "nope".*\[E_MODEL_SHAPE\]/);
  });

  it('CSV manifests: labels with commas, quotes and slashes; the same label on separate rows merges', async () => {
    const label = 'Milk, "organic" 1/2 L';
    const a = train.filter((t) => t.label === classes[2]).slice(0, 3);
    const b = train.filter((t) => t.label === classes[3]).slice(0, 3);
    const rows = [a[0]!, b[0]!, a[1]!, b[1]!, a[2]!, b[2]!].map((r) => ({
      path: r.path,
      label: r.label === classes[2] ? label : 'b/slash',
    }));
    writeCsv(join(dir, 'odd.csv'), rows);
    // -o into folders that do not exist yet: gallery build creates them.
    const out = join(dir, 'new', 'sub', 'odd.skg');
    expect(
      (await runCli(['gallery', 'build', join(dir, 'odd.csv'), '-o', out, '--embedder', models.mobilenetEmbed, '--preset', 'imagenet']))
        .code,
    ).toBe(0);
    const info = JSON.parse((await runCli(['gallery', 'info', out, '--json'])).stdout);
    expect(info.classes).toEqual([
      { label, references: 3, vectors: 3 },
      { label: 'b/slash', references: 3, vectors: 3 },
    ]);
  });

  it('addImages with an embedder of another preset is refused (E_FINGERPRINT); bad images are reported, not fatal', async () => {
    const g = await ReferenceGallery.load(gallery);
    const clip = await Embedder.create({ model: models.mobilenetEmbed, preset: 'clip' });
    try {
      await expect(g.addImages(clip, 'x', [train[0]!.path])).rejects.toMatchObject({ code: 'E_FINGERPRINT' });
    } finally {
      await clip.dispose();
    }
    const same = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet' });
    try {
      const r = await g.addImages(same, 'new', [train[0]!.path, join(dir, 'nope.jpg'), new Uint8Array([1, 2, 3])]);
      expect(r.added).toBe(1);
      expect(r.failures.map((f) => f.index)).toEqual([1, 2]);
      expect(g.labels).toContain('new');
      // The API records the embedder's preset as the CLI does.
      const fresh = new ReferenceGallery();
      await fresh.addImages(same, 'first', [train[0]!.path]);
      expect(fresh.embedder).toMatchObject({ preset: 'imagenet', fingerprint: same.fingerprint });
    } finally {
      await same.dispose();
    }
  });
});
