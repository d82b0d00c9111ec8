/** Shared CLI plumbing: one-line errors with their code and exit codes, progress over many images, output helpers. */
import { realpath, stat } from 'node:fs/promises';
import { basename, dirname, extname, join, resolve } from 'node:path';
import { SkulensError, messageOf } from '../core/errors.js';
import type { Embedder } from '../index.js';
import { readLabelledSet, type DatasetItem } from '../node/dataset.js';
import { createProgress } from './progress.js';
import { labelProblem, printable } from '../core/gallery/label.js';
import { plural } from '../core/plural.js';

/** Wrap a command action: any error becomes one line on stderr and exit code 1. */
export function action<A extends unknown[]>(fn: (...args: A) => Promise<void>): (...args: A) => Promise<void> {
  return async (...args: A) => {
    try {
      await fn(...args);
    } catch (err) {
      const code = err instanceof SkulensError ? err.code : 'E_INTERNAL';
      process.stderr.write(`skulens: ${messageOf(err)} [${code}]\n`);
      if (process.env.SKULENS_DEBUG && err instanceof Error) process.stderr.write(`${err.stack}\n`);
      process.exitCode = 1;
    }
  };
}

/** Report a skipped input on stderr (kept to one line each). */
export function warnSkipped(input: string, reason: string): void {
  // File names can hold terminal escapes too.
  process.stderr.write(`skulens: skipped ${printable(input)}: ${printable(reason)}\n`);
}

/**
 * A command's labelled images (class folders or a path,label CSV), after reporting what
 * reading a class-folder tree noticed: empty class folders (skipped) and class folders whose
 * images sit in sub-folders — a category/product tree given one level too high gets one
 * label per category, which the user should hear about. No images at all is E_EMPTY.
 */
export async function readLabelledImages(source: string, kind: 'reference' | 'query'): Promise<Required<DatasetItem>[]> {
  const set = await readLabelledSet(source);
  const { emptyClasses, nestedClasses } = set;
  // Refuse unusable labels now, not after every image was embedded; the other classes go on.
  const badLabels = new Map<string, string>();
  for (const item of set.items) if (!badLabels.has(item.label)) badLabels.set(item.label, labelProblem(item.label) ?? '');
  const items = set.items.filter((item) => badLabels.get(item.label) === '');
  for (const [label, problem] of badLabels)
    if (problem) process.stderr.write(`skulens: class "${printable(label.slice(0, 80))}" skipped: ${problem}\n`);
  for (const label of emptyClasses) process.stderr.write(`skulens: class "${printable(label)}" has no images: skipped\n`);
  if (nestedClasses.length > 0) {
    const shown = nestedClasses.slice(0, 3).map((c) => `"${printable(c.label)}" (${plural(c.subfolders, 'sub-folder')})`);
    const more = nestedClasses.length > 3 ? ` and ${nestedClasses.length - 3} more` : '';
    process.stderr.write(
      `skulens: note: class folders ${shown.join(', ')}${more} hold images in sub-folders; each class folder is one label. ` +
        `For one label per sub-folder, point at the folder that holds them or use a path,label CSV.\n`,
    );
  }
  if (items.length === 0) throw new SkulensError('E_EMPTY', `No ${kind} images found in "${source}".`);
  return items;
}

/**
 * Warn when nothing declared how to preprocess for this model (no skulens.preprocess
 * metadata, no --preset): the neutral default feeds unnormalised pixels, which an
 * ImageNet-trained backbone still embeds, only much worse — an easy mistake to miss.
 */
export function warnDefaultSpec(embedder: Embedder): void {
  if (embedder.specSource !== 'default') return;
  const { width, height, resize } = embedder.spec;
  process.stderr.write(
    `skulens: warning: ${embedder.modelPath ?? 'the model'} declares no preprocessing and no --preset was given: using ${resize} to ${width}x${height}, pixels /255, no mean/std. ` +
      `An ImageNet backbone needs --preset imagenet (docs/embedder.md, Presets).\n`,
  );
}

/** E_IMAGE_DECODE when none of `count` images could be used: "None of the 3 images could be read.", "The image could not be read." */
export function noneUsable(count: number, what = 'read', kind = 'image'): SkulensError {
  return new SkulensError(
    'E_IMAGE_DECODE',
    count === 1 ? `The ${kind} could not be ${what}.` : `None of the ${count} ${kind}s could be ${what}.`,
  );
}

/** Write to stdout and wait for it to drain (large JSON outputs to a pipe). */
export function out(text: string): Promise<void> {
  return new Promise((resolve) => {
    if (process.stdout.write(text)) resolve();
    else process.stdout.once('drain', () => resolve());
  });
}

/**
 * Read each image with `read` and hand the result to `use`, with a progress bar. An image
 * that cannot be decoded (E_IMAGE_DECODE from `read`) is reported and skipped; any other
 * error stops the run. Returns how many images were read.
 */
export async function forEachImage<R>(
  paths: readonly string[],
  label: string,
  read: (path: string) => Promise<R>,
  use: (result: R, path: string, index: number) => Promise<void>,
): Promise<number> {
  const progress = createProgress(label, paths.length);
  let ok = 0;
  try {
    for (const [i, path] of paths.entries()) {
      let result: R;
      try {
        result = await read(path);
      } catch (err) {
        if (!(err instanceof SkulensError) || err.code !== 'E_IMAGE_DECODE') throw err;
        warnSkipped(path, err.message);
        continue;
      }
      ok++;
      await use(result, path, i);
      progress.update(i + 1);
    }
  } finally {
    progress.done();
  }
  return ok;
}

/** Inputs embedded per call, so output streams and memory stays flat on big folders. */
const CHUNK = 256;

/**
 * Embed image files in chunks with a progress bar, reporting and skipping the ones that
 * cannot be read; yields each chunk with its vectors (null where an image was skipped).
 */
export async function* embedInChunks<T extends DatasetItem>(
  embedder: Embedder,
  items: readonly T[],
  label: string,
): AsyncGenerator<{ chunk: T[]; vectors: (Float32Array | null)[] }> {
  const progress = createProgress(label, items.length);
  try {
    for (let start = 0; start < items.length; start += CHUNK) {
      const chunk = items.slice(start, start + CHUNK);
      const { vectors, failures } = await embedder.embedSettled(
        chunk.map((i) => i.path),
        { onProgress: (p) => progress.update(start + p.done) },
      );
      for (const f of failures) warnSkipped(chunk[f.index]!.path, f.error.message);
      yield { chunk, vectors };
    }
  } finally {
    // Also when the caller stops early or fails: the bar lets go of stdout/stderr.
    progress.done();
  }
}

/**
 * Where the annotated copy of image `index` of `count` goes:
 * - `--annotate <folder>` (existing, or ending in /): <folder>/<image name>.jpg;
 * - one image: exactly the path given;
 * - several images: <out name>-<image name><out ext> beside the path given
 *   (out.jpg → out-IMG_1.jpg, out-IMG_2.jpg), with -<n> added if two images share a name.
 */
export async function annotationPaths(target: string, images: readonly string[]): Promise<string[]> {
  const isDir =
    target.endsWith('/') ||
    (await stat(target).then(
      (s) => s.isDirectory(),
      () => false,
    ));
  const stem = (p: string) => basename(p, extname(p));
  const used = new Set<string>();
  const paths = images.map((image, i) => {
    let path: string;
    if (isDir) path = join(target, `${stem(image)}.jpg`);
    else if (images.length === 1) path = target;
    else path = join(dirname(target), `${stem(target)}-${stem(image)}${extname(target) || '.jpg'}`);
    if (used.has(path)) path = path.replace(/(\.[^.]+)$/, `-${i + 1}$1`);
    used.add(path);
    return path;
  });
  // `--annotate` onto the photos' own folder would otherwise replace the originals.
  const real = (p: string) => realpath(p).catch(() => resolve(p));
  const inputs = new Map<string, string>();
  for (const image of images) inputs.set(await real(image), image);
  for (const path of paths) {
    const input = inputs.get(await real(path));
    if (input !== undefined) {
      throw new SkulensError(
        'E_INPUT',
        `--annotate would overwrite the input image "${input}" with its annotated copy: write the copies to another folder or file name.`,
        { input },
      );
    }
  }
  return paths;
}

export function round(v: number, digits = 1): number {
  const k = 10 ** digits;
  return Math.round(v * k) / k;
}

export function roundBox(b: { x: number; y: number; width: number; height: number }) {
  return { x: round(b.x), y: round(b.y), width: round(b.width), height: round(b.height) };
}

/** Embed items in chunks with a progress bar; failures are reported on stderr and come back as null. */
export async function embedItems(embedder: Embedder, items: readonly DatasetItem[], label: string): Promise<(Float32Array | null)[]> {
  const vectors: (Float32Array | null)[] = [];
  for await (const chunk of embedInChunks(embedder, items, label)) vectors.push(...chunk.vectors);
  return vectors;
}
