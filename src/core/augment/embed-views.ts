/**
 * Embedding references with their augmented views (`addImages({ augment })`): one image
 * at a time, so its views exist only while they are embedded. An image that cannot be
 * read is reported and skipped, like in `embedSettled`.
 */
import type { Embedder, EmbedFailure, EmbedInput, EmbedProgress } from '../embedder.js';
import { SkulensError } from '../errors.js';
import { check, is } from '../is.js';
import { decodeImage, describeInput, isRawImage } from '../image.js';
import type { ImageInput, Rect } from '../image-types.js';
import { augmentImage, DEFAULT_AUGMENT_VIEWS, viewSeed, type AugmentOptions } from './augment.js';

/** Views per image from the `augment` option (0: none). */
export function augmentViews(augment: number | AugmentOptions | undefined): number {
  if (augment === undefined) return 0;
  const views = typeof augment === 'number' ? augment : (augment.views ?? DEFAULT_AUGMENT_VIEWS);
  check(is.int(views, 0, 1000), 'augment', 'a whole number of views from 0 to 1000', views);
  return views;
}

export async function embedWithViews(
  embedder: Embedder,
  label: string,
  images: readonly EmbedInput[],
  views: number,
  seed: number,
  onProgress?: (p: EmbedProgress) => void,
): Promise<{ vectors: Float32Array[]; added: number; failures: EmbedFailure[] }> {
  const vectors: Float32Array[] = [];
  const failures: EmbedFailure[] = [];
  let added = 0;
  for (let i = 0; i < images.length; i++) {
    const input = images[i]!;
    try {
      if (isCropInput(input))
        throw new SkulensError('E_INPUT', 'augment takes whole images, not { image, crop } inputs: crop the image first.');
      const image = await decodeImage(input, { maxPixels: embedder.maxPixels });
      vectors.push(...(await embedder.embed([image, ...augmentImage(image, views, viewSeed(seed, label, i))])));
      added++;
    } catch (err) {
      if (!(err instanceof SkulensError)) throw err;
      failures.push({ index: i, input: describeInput(isCropInput(input) ? input.image : input), error: err });
    }
    onProgress?.({ done: i + 1, total: images.length });
  }
  return { vectors, added, failures };
}

function isCropInput(input: EmbedInput): input is { image: ImageInput; crop?: Rect } {
  return typeof input === 'object' && input !== null && !isRawImage(input) && 'image' in input;
}
