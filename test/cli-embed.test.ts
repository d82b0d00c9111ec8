import { copyFileSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

describe.skipIf(!HAVE_SHARED)('skulens embed', () => {
  it('embeds a class-folder tree as JSON lines with labels, reporting and skipping a bad image', async () => {
    const root = mkdtempSync(join(tmpdir(), 'skulens-cli-'));
    mkdirSync(join(root, 'banana'));
    mkdirSync(join(root, 'kiwi'));
    copyFileSync(join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), join(root, 'banana', 'a.jpg'));
    copyFileSync(join(grocery, 'test/Fruit/Kiwi/Kiwi_001.jpg'), join(root, 'kiwi', 'b.jpg'));
    writeFileSync(join(root, 'kiwi', 'broken.jpg'), 'not an image');
    const r = await runCli(['embed', root, '--embedder', models.mobilenetEmbed, '--preset', 'imagenet', '--json']);
    expect(r.code).toBe(0);
    const lines = r.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { path: string; label: string; vector: number[] });
    expect(lines.map((l) => l.label).sort()).toEqual(['banana', 'kiwi']);
    expect(lines[0]!.vector).toHaveLength(1280);
    expect(r.stderr).toMatch(/skipped .*broken\.jpg: .*not a supported image format/);
    expect(r.stderr).not.toMatch(/warning/);
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
