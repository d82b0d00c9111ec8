/** Where the package's own models/ folder is, from wherever this code was loaded. */
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { SkulensError } from '../core/errors.js';

export function builtinModelLocation(file: string): string {
  // The bundles sit in dist/ (one level below the package root); the sources in src/node/ (two).
  const candidates = ['../models/', '../../models/'].map((dir) => fileURLToPath(new URL(dir + file, import.meta.url)));
  const found = candidates.find((p) => existsSync(p));
  if (!found) {
    throw new SkulensError(
      'E_MODEL_LOAD',
      `The built-in model ${file} is missing from the skulens package (looked in ${candidates.join(', ')}); reinstall skulens, or pass a model path.`,
    );
  }
  return found;
}
