/**
 * The package as users get it: `npm pack`, unpacked into a fresh app's node_modules
 * (dependencies linked from this checkout, nothing fetched), imported by name. The
 * built-in embedder and shelf detector must load from the installed copy — not from the
 * repository — and run with the network switched off. Needs `npm run build` first (CI does it).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_DETECTOR } from '../src/core/builtin-models.js';
import { HAVE_SHARED, REPO_ROOT, grocery, shelves } from './helpers/shared.js';

const MODEL_FILE = 'models/skulens-mobilenetv2.onnx'; // the default embedder
const RETAIL_FILE = 'models/skulens-retail-160.onnx';
const SHELF_FILE = 'models/skulens-shelf.onnx';
// The shelf detector is trained in training/detector/; in CI it must be in the package.
const HAVE_SHELF = existsSync(join(REPO_ROOT, SHELF_FILE));
if (!HAVE_SHELF) {
  if (process.env.CI) throw new Error(`${SHELF_FILE} is missing: the package would ship without its shelf detector`);
  console.warn(`\n*** skulens tests: ${SHELF_FILE} is missing: the installed-package detector test is SKIPPED. ***\n`);
}
const work = mkdtempSync(join(tmpdir(), 'skulens-installed-'));
const app = join(work, 'app');
const installed = join(app, 'node_modules', 'skulens');
/** What `npm pack --json` reports for the tarball. */
let packed: { filename: string; files: { path: string; size: number }[] };

// `unshare -n` (a network namespace with no interfaces) proves "offline" where it is allowed (root on Linux).
const OFFLINE = spawnSync('unshare', ['-n', 'true']).status === 0;
const run = (args: string[]) =>
  spawnSync(OFFLINE ? 'unshare' : process.execPath, OFFLINE ? ['-n', process.execPath, ...args] : args, {
    cwd: app,
    encoding: 'utf8',
    timeout: 120_000,
  });

beforeAll(() => {
  if (!existsSync(join(REPO_ROOT, 'dist', 'index.js'))) execFileSync('npm', ['run', 'build'], { cwd: REPO_ROOT, stdio: 'ignore' });
  // --ignore-scripts: pack the dist/ that is there (a prepack rebuild would race other test files).
  const out = execFileSync('npm', ['pack', '--json', '--ignore-scripts', '--pack-destination', work], { cwd: REPO_ROOT, encoding: 'utf8' });
  packed = JSON.parse(out.slice(out.indexOf('[')))[0];
  mkdirSync(join(app, 'node_modules'), { recursive: true });
  execFileSync('tar', ['-xzf', join(work, packed.filename), '-C', work]);
  renameSync(join(work, 'package'), installed);
  const deps = Object.keys(JSON.parse(readFileSync(join(REPO_ROOT, 'package.json'), 'utf8')).dependencies as object);
  for (const dep of deps) {
    mkdirSync(join(app, 'node_modules', dep, '..'), { recursive: true });
    symlinkSync(join(REPO_ROOT, 'node_modules', dep), join(app, 'node_modules', dep), 'dir');
  }
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'app', private: true, type: 'module' }));
  writeFileSync(
    join(app, 'main.js'),
    `import { Embedder } from 'skulens';
const embedder = await Embedder.create();
const [v] = await embedder.embed([process.argv[2]]);
if (process.argv[3]) {
  const other = await Embedder.create({ model: process.argv[3] });
  const [w] = await other.embed([process.argv[2]]);
  console.log(JSON.stringify({ model: other.modelPath, dim: other.dim, specSource: other.specSource, norm: Math.hypot(...w) }));
  await other.dispose();
}
console.log(JSON.stringify({ model: embedder.modelPath, dim: embedder.dim, norm: Math.hypot(...v) }));
await embedder.dispose();
`,
  );
  writeFileSync(
    join(app, 'detect.js'),
    `import { Detector } from 'skulens';
// No arguments when skulens:shelf is the default detector, else its id.
const detector = await Detector.create(process.argv[3] ? { model: process.argv[3] } : undefined);
const boxes = await detector.detect(process.argv[2]);
console.log(JSON.stringify({ model: detector.modelPath, format: detector.format, boxes: boxes.length }));
await detector.dispose();
`,
  );
}, 300_000);
afterAll(() => rmSync(work, { recursive: true, force: true }));

describe('installed package', () => {
  it('ships the built-in models (≤ 4 MB each) and no training data, tests or caches', () => {
    const paths = packed.files.map((f) => f.path);
    const shipped = HAVE_SHELF ? [MODEL_FILE, SHELF_FILE] : [MODEL_FILE];
    for (const file of shipped) {
      const model = packed.files.find((f) => f.path === file);
      expect(model, `${file} is in the tarball`).toBeDefined();
      expect(model!.size).toBeLessThanOrEqual(4 * 1024 * 1024);
    }
    expect(
      paths.filter(
        (p) => /^(training|test|fixtures|bench|scratch)\//.test(p) || (/\.(jpe?g|png|pt|f16|f32)$/.test(p) && !p.startsWith('docs/img/')),
      ),
    ).toEqual([]);
    expect(paths.filter((p) => p.endsWith('.onnx')).sort()).toEqual([RETAIL_FILE, ...shipped].sort());
    expect(packed.files.find((f) => f.path === RETAIL_FILE)!.size).toBeLessThanOrEqual(4 * 1024 * 1024);
    // The Apache-2.0 model ships with its licence and a NOTICE naming its origin.
    expect(paths).toEqual(expect.arrayContaining(['models/LICENSE-APACHE-2.0', 'models/NOTICE']));
  });

  it.skipIf(!HAVE_SHARED || !HAVE_SHELF)(
    `detects shelf products with the built-in detector from node_modules${OFFLINE ? ', network off' : ''}`,
    () => {
      const photo = join(shelves, 'train_2943.jpg');
      const choose = DEFAULT_DETECTOR === undefined ? ['skulens:shelf'] : [];
      const r = run(['detect.js', photo, ...choose]);
      expect(r.stderr).not.toMatch(/Error/);
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({ model: 'skulens:shelf', format: 'yolov5' });
      expect(result.boxes).toBeGreaterThan(50);

      const cli = run([
        join(installed, 'dist', 'cli.js'),
        'detect',
        photo,
        '--json',
        ...(choose.length ? ['--detector', 'skulens:shelf'] : []),
      ]);
      expect(cli.status, cli.stderr).toBe(0);
      expect(JSON.parse(cli.stdout)[0].detections).toHaveLength(result.boxes);
    },
    120_000,
  );

  it.skipIf(!HAVE_SHARED)(
    `embeds with the built-in models from node_modules${OFFLINE ? ', network off' : ''}`,
    () => {
      const r = run(['main.js', join(grocery, 'test/Fruit/Banana/Banana_001.jpg')]);
      expect(r.stderr).not.toMatch(/Error/);
      const result = JSON.parse(r.stdout);
      expect(result).toMatchObject({ model: 'skulens:mobilenetv2', dim: 1280 });
      expect(result.norm).toBeCloseTo(1, 5);

      const both = run(['main.js', join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), 'skulens:retail-160']);
      const second = JSON.parse(both.stdout.trim().split('\n')[0]!); // main.js prints the second model's line first
      expect(second).toMatchObject({ model: 'skulens:retail-160', dim: 512, specSource: 'metadata' });
      expect(second.norm).toBeCloseTo(1, 5);

      const cli = run([join(installed, 'dist', 'cli.js'), 'embed', join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), '--json']);
      expect(cli.status).toBe(0);
      expect(JSON.parse(cli.stdout).vector).toHaveLength(1280);
    },
    120_000,
  );

  it.skipIf(!HAVE_SHARED)(
    'reads the model from the installed copy, not from the repository',
    () => {
      rmSync(join(installed, 'models'), { recursive: true });
      const r = run(['main.js', join(grocery, 'test/Fruit/Banana/Banana_001.jpg')]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/built-in model skulens-mobilenetv2\.onnx is missing from the skulens package/);
    },
    120_000,
  );
});
