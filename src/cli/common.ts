/** Shared CLI plumbing: one-line errors with their code, and exit codes. */
import { InvalidArgumentError } from 'commander';
import { resolve } from 'node:path';
import type { Embedder } from '../core/embedder.js';
import { DEFAULT_EMBEDDER, isBuiltinModelId } from '../core/model.js';
import { SkulensError, messageOf } from '../core/errors.js';
import { readLabelledSet, type DatasetItem } from '../node/dataset.js';
import { createProgress } from './progress.js';
import { labelProblem, printable } from '../core/gallery/label.js';

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
  for (const [label, problem] of badLabels) if (problem) process.stderr.write(`skulens: class "${printable(label.slice(0, 80))}" skipped: ${problem}\n`);
  for (const label of emptyClasses) process.stderr.write(`skulens: class "${printable(label)}" has no images: skipped\n`);
  if (nestedClasses.length > 0) {
    const shown = nestedClasses.slice(0, 3).map((c) => `"${printable(c.label)}" (${c.subfolders} sub-folder${c.subfolders === 1 ? '' : 's'})`);
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

/** A commander argument parser: its errors print as commander's own one-line usage errors. */
export function parsePositiveInt(name: string) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError(`${name} must be a positive integer, got "${value}".`);
    return n;
  };
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

/** The --embedder value as a model source: the built-in model when absent, built-in ids as they are, files made absolute. */
export function embedderSource(path: string | undefined): string {
  if (path === undefined) return DEFAULT_EMBEDDER;
  return isBuiltinModelId(path) ? path : resolve(path);
}

export const EMBEDDER_HELP = `ONNX embedding model (default: the built-in ${DEFAULT_EMBEDDER}, see docs/models.md)`;
