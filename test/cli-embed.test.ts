import { copyFileSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

describe.skipIf(!HAVE_SHARED)('skulens embed', () => {
  it('embeds a class-folder tree as JSON lines with labels, reporting and skipping a bad and a truncated image', async () => {
    const root = mkdtempSync(join(tmpdir(), 'skulens-cli-'));
    mkdirSync(join(root, 'banana'));
    mkdirSync(join(root, 'kiwi'));
    copyFileSync(join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), join(root, 'banana', 'a.jpg'));
    copyFileSync(join(grocery, 'test/Fruit/Kiwi/Kiwi_001.jpg'), join(root, 'kiwi', 'b.jpg'));
    writeFileSync(join(root, 'kiwi', 'broken.jpg'), 'not an image');
    // A download cut short: the first 6,000 bytes of a real photo.
    writeFileSync(join(root, 'kiwi', 'cut.jpg'), readFileSync(join(grocery, 'test/Fruit/Kiwi/Kiwi_002.jpg')).subarray(0, 6000));
    const r = await runCli(['embed', root, '--embedder', models.mobilenetEmbed, '--preset', 'imagenet', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; label: string; vector: number[] });
    expect(lines.map((l) => l.label).sort()).toEqual(['banana', 'kiwi']);
    expect(lines[0]!.vector).toHaveLength(1280);
    expect(r.stderr).toMatch(/skipped .*broken\.jpg: .*not a supported image format/);
    expect(r.stderr).toMatch(
      /skipped .*cut\.jpg: Cannot decode image .*cut\.jpg: truncated JPEG data: the file ends before the image does \(6,000 bytes/,
    );
    expect(r.stderr).not.toMatch(/warning|Unknown error/);
  });

  it('warns when neither the model nor the options say how to preprocess', async () => {
    const image = join(grocery, 'test/Fruit/Kiwi/Kiwi_001.jpg');
    const bare = await runCli(['embed', image, '--embedder', models.mobilenetEmbed]);
    expect(bare.code).toBe(0);
    expect(bare.stderr).toMatch(
      /warning: .*mobilenetv2-12-int8-embed\.onnx declares no preprocessing .*stretch to 224x224, pixels \/255, no mean\/std\. An ImageNet backbone needs --preset imagenet/,
    );
    const builtin = await runCli(['embed', image]);
    expect(builtin.code).toBe(0);
    expect(builtin.stderr).not.toMatch(/warning/);
  });

  it('fails with one line and a non-zero exit for a model that is not there', async () => {
    const r = await runCli(['embed', join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), '--embedder', '/nope.onnx']);
    expect(r.code).toBe(1);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
    expect(r.stderr).toMatch(/Cannot read model "\/nope.onnx".*\[E_MODEL_LOAD\]/);
  });

  it('an http(s) URL, as an argument or a manifest row, is one E_INPUT line saying it is not fetched', async () => {
    const arg = await runCli(['embed', 'https://example.com/shelf.jpg']);
    expect(arg.code).toBe(1);
    expect(arg.stderr).toBe(
      'skulens: Cannot read "https://example.com/shelf.jpg": skulens reads files here, not URLs: download it and pass its path. [E_INPUT]\n',
    );
    const root = mkdtempSync(join(tmpdir(), 'skulens-cli-'));
    writeFileSync(
      join(root, 'm.csv'),
      `path,label\n${join(grocery, 'test/Fruit/Lime/Lime_001.jpg')},Lime\nhttp://example.com/a.jpg,Lime\n`,
    );
    const row = await runCli(['embed', join(root, 'm.csv')]);
    expect(row.code).toBe(1);
    expect(row.stderr).toMatch(/^skulens: Manifest "m\.csv" line 3: "http:\/\/example\.com\/a\.jpg" is a URL, .*\[E_INPUT\]\n$/);
    const gallery = await runCli(['classify', join(grocery, 'test/Fruit/Lime/Lime_001.jpg'), '--gallery', 'https://example.com/g.skg']);
    expect(gallery.code).toBe(1);
    expect(gallery.stderr).toMatch(
      /^skulens: Cannot read gallery "https:\/\/example\.com\/g\.skg": .* does not fetch URLs in Node: download it and pass its path.*\[E_INPUT\]\n$/,
    );
  });

  it('reads a path,label manifest and an unknown preset is a clear error', async () => {
    const root = mkdtempSync(join(tmpdir(), 'skulens-cli-'));
    writeFileSync(join(root, 'm.csv'), `path,label\n"${join(grocery, 'test/Fruit/Lime/Lime_001.jpg')}","Lime, organic"\n`);
    const ok = await runCli(['embed', join(root, 'm.csv'), '--embedder', models.mobilenetEmbed, '--preset', 'imagenet', '--json']);
    expect(ok.code).toBe(0);
    expect(JSON.parse(ok.stdout).label).toBe('Lime, organic');
    const bad = await runCli(['embed', join(root, 'm.csv'), '--embedder', models.mobilenetEmbed, '--preset', 'imagenette']);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toMatch(/Unknown preset "imagenette"/);
  });
});
