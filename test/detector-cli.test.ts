/** `skulens detect`: JSON contract, annotated copies, a corrupt and a truncated image in the batch. */
import { copyFileSync, existsSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { describe, expect, it } from 'vitest';
import { runCli } from './helpers/cli.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

describe.skipIf(!HAVE_SHARED)('skulens detect', () => {
  it('prints the JSON contract, annotates one file per image, and skips a corrupt and a truncated image', async () => {
    const root = mkdtempSync(join(tmpdir(), 'skulens-detect-'));
    copyFileSync(join(grocery, 'test/Fruit/Banana/Banana_013.jpg'), join(root, 'banana.jpg'));
    copyFileSync(join(grocery, 'test/Fruit/Orange/Orange_027.jpg'), join(root, 'orange.jpg'));
    writeFileSync(join(root, 'broken.jpg'), 'not an image');
    writeFileSync(join(root, 'cut.jpg'), readFileSync(join(grocery, 'test/Fruit/Kiwi/Kiwi_002.jpg')).subarray(0, 6000));
    const out = join(root, 'out.png');
    const r = await runCli([
      'detect',
      join(root, 'banana.jpg'),
      join(root, 'broken.jpg'),
      join(root, 'cut.jpg'),
      join(root, 'orange.jpg'),
      '--detector',
      models.yolov8,
      '--json',
      '--annotate',
      out,
    ]);
    expect(r.code, r.stderr).toBe(0);
    const results = JSON.parse(r.stdout) as {
      image: string;
      width: number;
      height: number;
      detections: { box: Record<string, number>; score: number; classId: number; label: string }[];
    }[];
    expect(results.map((x) => x.image)).toEqual([join(root, 'banana.jpg'), join(root, 'orange.jpg')]);
    expect(results[1]).toMatchObject({ width: 348, height: 464 });
    const top = results[0]!.detections[0]!;
    expect(Object.keys(top).sort()).toEqual(['box', 'classId', 'label', 'score']);
    expect(Object.keys(top.box).sort()).toEqual(['height', 'width', 'x', 'y']);
    expect(top).toMatchObject({ classId: 46, label: 'banana' });
    expect(r.stderr).toMatch(/skipped .*broken\.jpg: .*not a supported image format/);
    expect(r.stderr).toMatch(/skipped .*cut\.jpg: .*truncated JPEG data/);
    expect(r.stderr).toMatch(/format yolov8 \(from output shape \[1,84,8400\]\)/);
    // Several images and --annotate out.png: out-<image name>.png each, same size as the photo.
    for (const name of ['banana', 'orange']) {
      const file = join(root, `out-${name}.png`);
      expect(existsSync(file)).toBe(true);
      const meta = await sharp(file).metadata();
      expect(meta.format).toBe('png');
    }
    expect((await sharp(join(root, 'out-orange.png')).metadata()).height).toBe(464);
  });

  it('takes --format, --classes and --labels, and fails in one line on an unreadable model output', async () => {
    const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
    const r = await runCli([
      'detect',
      banana,
      '--detector',
      models.yolox,
      '--format',
      'yolox',
      '--classes',
      '46',
      '--labels',
      models.cocoNames,
      '--confidence',
      '0.5',
      '--json',
    ]);
    expect(r.code, r.stderr).toBe(0);
    const [result] = JSON.parse(r.stdout) as { detections: { classId: number; label: string; score: number }[] }[];
    expect(result!.detections.length).toBeGreaterThan(0);
    for (const d of result!.detections) expect(d).toMatchObject({ classId: 46, label: 'banana', score: expect.any(Number) });

    const bad = await runCli(['detect', banana, '--detector', models.mobilenet]);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n')).toHaveLength(1);
    expect(bad.stderr).toMatch(/output is shaped \[1,1000\].*\[E_MODEL_SHAPE\]/);
  });

  it('--format auto finds the same YOLOX boxes as --format yolox, and says why it read the output as YOLOX', async () => {
    const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
    const args = ['detect', banana, '--detector', models.yolox, '--labels', models.cocoNames, '--json'];
    const [auto, yolox] = await Promise.all([runCli(args), runCli([...args, '--format', 'yolox'])]);
    expect(auto.code, auto.stderr).toBe(0);
    expect(auto.stderr).toMatch(/format yolox \(from output shape \[1,3549,85\] and its raw grid values\), input 416x416/);
    const boxes = JSON.parse(auto.stdout)[0].detections;
    expect(boxes.length).toBeGreaterThan(0);
    expect(boxes.some((d: { label: string }) => d.label === 'banana')).toBe(true);
    expect(boxes).toEqual(JSON.parse(yolox.stdout)[0].detections);
  }, 300_000); // two CLI runs

  it('--max-pixels: a photo over the limit fails with E_IMAGE_DECODE naming the flag; a raised limit reads it', async () => {
    const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg'); // 348×348 = 121,104 pixels
    const small = await runCli(['detect', banana, '--detector', models.yolov8, '--max-pixels', '100000', '--json']);
    expect(small.code).toBe(1);
    expect(small.stdout).toBe('');
    expect(small.stderr).toMatch(/121,104 pixels, more than the limit of 100,000 pixels .*--max-pixels/);
    expect(small.stderr).toMatch(/\[E_IMAGE_DECODE\]\s*$/);
    const root = mkdtempSync(join(tmpdir(), 'skulens-maxpx-'));
    const raised = await runCli([
      'detect',
      banana,
      '--detector',
      models.yolov8,
      '--max-pixels',
      '200000',
      '--json',
      '--annotate',
      join(root, 'out.jpg'),
    ]);
    expect(raised.code, raised.stderr).toBe(0);
    expect(JSON.parse(raised.stdout)[0].detections[0]).toMatchObject({ classId: 46 });
    expect(existsSync(join(root, 'out.jpg'))).toBe(true); // annotate decodes under the same limit
  }, 300_000); // two CLI runs

  it('refuses --iou 0 as a flag error, before loading anything', async () => {
    const r = await runCli(['detect', join(grocery, 'test/Fruit/Banana/Banana_013.jpg'), '--detector', models.yolov8, '--iou', '0']);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toMatch(/--iou must be a number above 0, at most 1/);
    const ok = await runCli([
      'detect',
      join(grocery, 'test/Fruit/Banana/Banana_013.jpg'),
      '--detector',
      models.yolov8,
      '--iou',
      '1',
      '--json',
    ]);
    expect(ok.code, ok.stderr).toBe(0);
  });
});
