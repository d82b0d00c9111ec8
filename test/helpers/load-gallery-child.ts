/**
 * Child process for the untrusted-gallery tests: load the gallery at argv[2] and classify
 * one query with it, printing "loaded <label>" or "error <code> <message>". A crash of
 * the native index shows as a signal, not as a dead test runner.
 */
import '../../src/node/platform.js';
import { ReferenceGallery } from '../../src/core/gallery/gallery.js';
import { SkulensError } from '../../src/core/errors.js';

try {
  const g = await ReferenceGallery.load(process.argv[2]!);
  console.log('loaded', g.classify(new Float32Array(g.dim).fill(1)).label);
} catch (err) {
  console.log('error', err instanceof SkulensError ? err.code : 'uncoded', (err as Error).message);
}
