/**
 * The code users copy: README's API sample and examples/node run as written, with the
 * sample's placeholder files mapped to real photos and models from ../shared.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { grocery, HAVE_SHARED, models, REPO_ROOT, shelves } from './helpers/shared.js';

const work = mkdtempSync(join(tmpdir(), 'skulens-examples-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

/** Run a .ts file as a user would (`npx tsx file`), without blocking vitest's worker while it runs. */
function tsx(file: string, args: string[], cwd: string): Promise<{ status: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', file, ...args], { cwd });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (status) => resolve({ status, stdout, stderr }));
  });
}

const train = (dir: string, name: string, i: number) => join(grocery, 'train', dir, `${name}_${String(i).padStart(3, '0')}.jpg`);

describe.skipIf(!HAVE_SHARED)('README and examples/node', () => {
  it("README's API sample runs and names the photo", async () => {
    const readme = readFileSync(join(REPO_ROOT, 'README.md'), 'utf8');
    const section = readme.slice(readme.indexOf('### API'));
    const sample = /```ts\n([\s\S]*?)```/.exec(section)?.[1];
    expect(sample, 'README has a ```ts block under ### API').toBeDefined();
    // Every placeholder file the sample names, and the real file standing in for it.
    const files: Record<string, string> = {
      'oatly-1.jpg': train('Packages/Oat-Milk/Oatly-Oat-Milk', 'Oatly-Oat-Milk', 1),
      'oatly-2.jpg': train('Packages/Oat-Milk/Oatly-Oat-Milk', 'Oatly-Oat-Milk', 2),
      'oatly-3.jpg': train('Packages/Oat-Milk/Oatly-Oat-Milk', 'Oatly-Oat-Milk', 3),
      'arla-1.jpg': train('Packages/Milk/Arla-Standard-Milk', 'Arla-Standard-Milk', 1),
      'arla-2.jpg': train('Packages/Milk/Arla-Standard-Milk', 'Arla-Standard-Milk', 2),
      'photo.jpg': join(grocery, 'test/Packages/Oat-Milk/Oatly-Oat-Milk/Oatly-Oat-Milk_001.jpg'),
      'shop.skg': join(work, 'shop.skg'),
      'sku110k-yolov8.onnx': models.yolov8, // a COCO YOLOv8 stands in for a shelf detector
      'x.onnx': models.mobilenetEmbed, // only named in a comment
      'shelf.jpg': join(shelves, 'train_2943.jpg'),
    };
    const named = [...sample!.matchAll(/'([\w.-]+\.(?:jpg|skg|onnx))'/g)].map((m) => m[1]!);
    for (const name of named) expect(files, `the test maps README's placeholder ${name}`).toHaveProperty(name);
    let code = sample!.replace("from 'skulens'", `from '${pathToFileURL(join(REPO_ROOT, 'src', 'index.ts')).href}'`);
    for (const name of named) code = code.replaceAll(`'${name}'`, JSON.stringify(files[name]));
    code += '\nconsole.log(JSON.stringify({ label, unknown, items: items.length, counts, unnamed, total: timings.total }));\n';
    const file = join(work, 'sample.mts');
    writeFileSync(file, code);
    const r = await tsx(file, [], REPO_ROOT); // from the repository, where `--import tsx` resolves
    expect(r.status, r.stderr).toBe(0);
    // adapt() on the sample's two labels cannot fit, and the sample says so.
    expect(r.stderr).toMatch(/not adapted: adaptation needs references of at least 3 classes \(got 2\)/);
    const result = JSON.parse(r.stdout.trim().split('\n').pop()!);
    expect(result).toMatchObject({ label: 'Oatly Oat Drink 1L', unknown: false });
    expect(existsSync(files['shop.skg']!)).toBe(true);
    expect(result.items).toBeGreaterThan(0);
    expect(Object.values(result.counts as Record<string, number>).reduce((a, b) => a + b, 0) + result.unnamed).toBe(result.items);
  }, 900_000);

  it('examples/node: build-gallery.ts then recognize-shelf.ts', async () => {
    const refs = join(work, 'refs');
    for (const [label, dir, name] of [
      ['oatly', 'Packages/Oat-Milk/Oatly-Oat-Milk', 'Oatly-Oat-Milk'],
      ['arla', 'Packages/Milk/Arla-Standard-Milk', 'Arla-Standard-Milk'],
    ] as const) {
      mkdirSync(join(refs, label), { recursive: true });
      for (let i = 1; i <= 4; i++) symlinkSync(train(dir, name, i), join(refs, label, `${i}.jpg`));
    }
    const gallery = join(work, 'ex.skg');
    const query = join(grocery, 'test/Packages/Milk/Arla-Standard-Milk/Arla-Standard-Milk_001.jpg');
    // From the repository root: tsconfig's paths resolve `skulens` to src/ for tsx.
    const built = await tsx(join(REPO_ROOT, 'examples/node/build-gallery.ts'), [refs, query, gallery], REPO_ROOT);
    expect(built.status, built.stderr).toBe(0);
    expect(built.stdout).toMatch(/arla/);
    expect(existsSync(gallery)).toBe(true);
    const out = join(work, 'annotated.jpg');
    const shelf = await tsx(
      join(REPO_ROOT, 'examples/node/recognize-shelf.ts'),
      [join(shelves, 'train_2943.jpg'), gallery, out, models.yolov8],
      REPO_ROOT,
    );
    expect(shelf.status, shelf.stderr).toBe(0);
    expect(existsSync(out)).toBe(true);
  }, 900_000);
});
