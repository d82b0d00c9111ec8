/**
 * Images to reference vectors for addImages() / addNegativeImages(): with augmented views
 * when asked (../augment/embed-views.ts), else one embedSettled() call. An image that
 * cannot be read is a failure, and skipped.
 */
import { augmentViews, embedWithViews } from '../augment/embed-views.js';
import type { Embedder, EmbedFailure, EmbedInput } from '../embedder.js';
import type { AddImagesOptions } from './types.js';

/** `seed`: the gallery's, for the views (unless `augment.seed` is given). */
export async function embedImages(
  embedder: Embedder,
  label: string,
  images: readonly EmbedInput[],
  options: AddImagesOptions,
  seed: number,
): Promise<{ vectors: Float32Array[]; added: number; failures: EmbedFailure[] }> {
  const views = augmentViews(options.augment);
  if (views > 0) {
    const viewSeed = (typeof options.augment === 'object' ? options.augment.seed : undefined) ?? seed;
    return embedWithViews(embedder, label, images, views, viewSeed, options.onProgress);
  }
  const { vectors, failures } = await embedder.embedSettled(images, options.onProgress ? { onProgress: options.onProgress } : {});
  const ok = vectors.filter((v): v is Float32Array => v !== null);
  return { vectors: ok, added: ok.length, failures };
}
