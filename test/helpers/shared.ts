/**
 * Where the test models and photos live: `SKULENS_SHARED`, else `../shared` beside the
 * repository. Tests that need them skip loudly when the folder is absent, and fail under
 * CI=true (a skipped fixture must not turn a CI run green).
 */
import { existsSync, readdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
export const REPO_ROOT = repoRoot;
export const SHARED = resolve(process.env.SKULENS_SHARED ?? join(repoRoot, '..', 'shared'));
export const HAVE_SHARED = existsSync(join(SHARED, 'models')) && existsSync(join(SHARED, 'data'));

if (!HAVE_SHARED) {
  // In CI a skip would let a run without its fixtures pass: there, every file that needs them fails to load.
  if (process.env.CI) throw new Error(`skulens tests cannot run in CI: no shared models/photos at ${SHARED} (set SKULENS_SHARED)`);
  console.warn(
    `\n*** skulens tests: shared models/photos not found at ${SHARED} — tests that need them are SKIPPED. Set SKULENS_SHARED. ***\n`,
  );
}

export const models = {
  mobilenet: join(SHARED, 'models', 'mobilenetv2-12-int8.onnx'),
  mobilenetEmbed: join(SHARED, 'models', 'mobilenetv2-12-int8-embed.onnx'),
  yolox: join(SHARED, 'models', 'yolox_nano.onnx'),
  yolov8: join(SHARED, 'models', 'yolov8n_int8.onnx'),
  yolov5fp16: join(SHARED, 'models', 'yolov5n_fp16.onnx'),
  cocoNames: join(SHARED, 'models', 'coco.names'),
  imagenetLabels: join(SHARED, 'models', 'imagenet_labels.txt'),
};

export const grocery = join(SHARED, 'data', 'grocery-store');

/** The first `n` test-split photos of a Grocery Store class folder (e.g. 'Fruit/Banana'), in name order. */
export const testPhotos = (cls: string, n: number): string[] => {
  const dir = join(grocery, 'test', cls);
  return readdirSync(dir)
    .filter((f) => f.endsWith('.jpg'))
    .sort()
    .slice(0, n)
    .map((f) => join(dir, f));
};
export const shelves = join(SHARED, 'data', 'sku110k-shelf');
