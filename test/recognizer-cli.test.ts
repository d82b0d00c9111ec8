/**
 * `skulens recognize` over every SKU-110K shelf photo (the dense path) with a small
 * grocery gallery, plus a corrupt photo in the batch: reported, the others processed.
 */
import { mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { grocery, HAVE_SHARED, models, shelves } from './helpers/shared.js';

describe.skipIf(!HAVE_SHARED)('skulens recognize', () => {
  const root = mkdtempSync(join(tmpdir(), 'skulens-recognize-'));
  const galleryFile = join(root, 'g.skg');
  beforeAll(async () => {
    const rows = ['path,label'];
    const classes: [string, string][] = [
      ['milk', 'train/Packages/Milk/Arla-Standard-Milk'],
      ['juice', 'train/Packages/Juice/Tropicana-Apple-Juice'],
      ['yoghurt', 'train/Packages/Yoghurt/Arla-Natural-Yoghurt'],
    ];
    for (const [label, dir] of classes) {
      for (const f of readdirSync(join(grocery, dir)).sort().slice(0, 5)) rows.push(`${join(grocery, dir, f)},${label}`);
    }
    writeFileSync(join(root, 'refs.csv'), rows.join('\n') + '\n');
    const r = await runCli([
      'gallery',
      'build',
      join(root, 'refs.csv'),
      '-o',
      galleryFile,
      '--embedder',
      models.mobilenetEmbed,
      '--preset',
      'imagenet',
    ]);
    expect(r.code, r.stderr).toBe(0);
  });

  it('processes every shelf photo, reports the corrupt one, prints per-stage timings', { timeout: 600_000 }, async () => {
    const photos = readdirSync(shelves)
      .filter((f) => f.endsWith('.jpg'))
      .sort()
      .map((f) => join(shelves, f));
    expect(photos.length).toBeGreaterThanOrEqual(16);
    const corrupt = join(root, 'torn.jpg');
    writeFileSync(corrupt, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 16, 0x4a, 0x46]));
    const args = [
      'recognize',
      ...photos.slice(0, 3),
      corrupt,
      ...photos.slice(3),
      '--detector',
      models.yolov8,
      '--gallery',
      galleryFile,
      '--class-agnostic',
      '--confidence',
      '0.1',
    ];
    const r = await runCli([...args, '--annotate', join(root, 'annotated') + '/']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped .*torn\.jpg: /);
    const timingLines = r.stdout
      .split('\n')
      .filter((l) => /^ {2}timings ms: decode [\d.]+, detect [\d.]+, embed [\d.]+, search [\d.]+, total [\d.]+$/.test(l));
    expect(timingLines).toHaveLength(photos.length);
    expect(r.stdout).toMatch(
      new RegExp(
        `^${photos.length} images, \\d+ boxes; median ms per image: decode [\\d.]+, detect [\\d.]+, embed [\\d.]+, search [\\d.]+, total [\\d.]+$`,
        'm',
      ),
    );
    expect(readdirSync(join(root, 'annotated')).sort()).toEqual(photos.map((p) => p.split('/').pop()).sort());
    console.log(r.stdout.split('\n').slice(-2).join('\n'));
  });

  it('--json gives items, counts, unknown and timings per image', async () => {
    const photo = join(
      shelves,
      readdirSync(shelves)
        .filter((f) => f.endsWith('.jpg'))
        .sort()[0]!,
    );
    const r = await runCli([
      'recognize',
      photo,
      '--detector',
      models.yolov8,
      '--gallery',
      galleryFile,
      '--class-agnostic',
      '--confidence',
      '0.1',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [result] = JSON.parse(r.stdout) as {
      image: string;
      width: number;
      height: number;
      items: { label: string | null; unknownScore: number; unknown: boolean }[];
      counts: Record<string, number>;
      unknown: number;
      timings: Record<string, number>;
    }[];
    expect(result).toMatchObject({ image: photo, width: 1920, height: 2560 });
    expect(result!.items.length).toBeGreaterThan(0);
    expect(Object.values(result!.counts).reduce((a, b) => a + b, 0) + result!.unknown).toBe(result!.items.length);
    expect(Object.keys(result!.timings).sort()).toEqual(['decode', 'detect', 'embed', 'search', 'total']);
    // Each item's unknownScore is the number compared with the gallery's threshold (the generic 0.5 here: a plain ../shared model).
    const { threshold } = JSON.parse((await runCli(['gallery', 'info', galleryFile, '--json'])).stdout) as { threshold: number };
    expect(threshold).toBe(0.5);
    for (const it of result!.items.filter((i) => Math.abs(i.unknownScore - threshold) > 1e-4))
      expect(it.unknown).toBe(it.unknownScore < threshold);
  });
});
