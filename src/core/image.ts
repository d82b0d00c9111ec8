/**
 * Image helpers every platform shares: recognising raw pixels and ndarrays, naming an
 * input in messages, the pixel limit, and decoding through the registered platform
 * (sharp in Node, canvas in the browser). The shapes themselves are in image-types.ts.
 */
import { SkulensError, messageOf } from './errors.js';
import type { ImageInput, ImageLoadOptions, RawImage } from './image-types.js';
import { check, is } from './is.js';
import { describeNdArray, isNdArray, ndarrayToRaw } from './ndarray.js';
import { getPlatform } from './platform.js';

export type { RawImage, Rect, DrawableImage, BlobLike, ImageInput, NdArrayImage, ImageLoadOptions } from './image-types.js';

/** Images with more pixels than this are refused unless `maxPixels` says otherwise (64 MP, e.g. 8000×8000): a guard against decompression bombs. */
export const DEFAULT_MAX_PIXELS = 64_000_000;

/** The end of every platform's "too many pixels" message, naming both ways to raise the limit. */
export function pixelLimitMessage(maxPixels: number, pixels?: number): string {
  const count = pixels === undefined ? 'more' : `${pixels.toLocaleString('en-US')} pixels, more`;
  return `it has ${count} than the limit of ${maxPixels.toLocaleString('en-US')} pixels (if the image is genuine, raise the limit: the maxPixels option, or --max-pixels on the command line).`;
}

/** A pixel limit given by a caller: a positive integer (E_INPUT otherwise), or the default. */
export function checkMaxPixels(maxPixels: number | undefined): number {
  if (maxPixels === undefined) return DEFAULT_MAX_PIXELS;
  check(is.positiveInt(maxPixels), 'maxPixels', 'a positive integer', maxPixels);
  return maxPixels;
}

export function isRawImage(value: unknown): value is RawImage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<RawImage>;
  return (
    (v.data instanceof Uint8Array || v.data instanceof Uint8ClampedArray) &&
    typeof v.width === 'number' &&
    typeof v.height === 'number' &&
    typeof v.channels === 'number'
  );
}

/** A short human name for an input, used in error messages and CLI output (every platform's inputs). */
export function describeInput(input: unknown): string {
  if (typeof input === 'string') return input.startsWith('data:') ? `<data URL, ${input.length} chars>` : input;
  if (typeof URL !== 'undefined' && input instanceof URL) return input.href;
  if (typeof File !== 'undefined' && input instanceof File) return input.name || '<File>';
  if (typeof Blob !== 'undefined' && input instanceof Blob) return `<Blob ${input.type || 'untyped'}, ${input.size} bytes>`;
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) return `<${input.byteLength} encoded bytes>`;
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) return input.currentSrc || input.src || '<img>';
  if (isRawImage(input)) return `<raw ${input.width}x${input.height}x${input.channels}>`;
  if (isNdArray(input)) return describeNdArray(input);
  const ctor = (input as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `<${ctor ?? typeof input}>`;
}

/**
 * Already-decoded pixels as a checked RawImage: raw pixels as they are, an ndarray read
 * through its strides; undefined for anything that needs decoding.
 */
export function pixelsOf(input: unknown, name = describeInput(input)): RawImage | undefined {
  if (isRawImage(input)) return validateRawImage(input, name);
  if (isNdArray(input)) return ndarrayToRaw(input, name);
  return undefined;
}

/**
 * Decode any accepted input through the registered platform (raw pixels are only
 * checked, ndarrays copied to 8-bit pixels); failures become E_IMAGE_DECODE naming the input.
 */
export async function decodeImage(input: ImageInput, options: ImageLoadOptions = {}): Promise<RawImage> {
  try {
    return pixelsOf(input) ?? (await getPlatform().loadImage(input, options));
  } catch (err) {
    if (err instanceof SkulensError) throw err;
    const name = describeInput(input);
    throw new SkulensError('E_IMAGE_DECODE', `Cannot use image ${name}: ${messageOf(err)}`, { cause: err, input: name });
  }
}

/** Check user-supplied raw pixels; returns them unchanged when they are consistent. */
export function validateRawImage(image: RawImage, name = describeInput(image)): RawImage {
  const { width, height, channels, data } = image;
  const problem =
    !is.positiveInt(width) || !is.positiveInt(height)
      ? `width and height must be positive integers, got ${width}x${height}`
      : channels !== 3 && channels !== 4
        ? `channels must be 3 (RGB) or 4 (RGBA), got ${channels}`
        : data.length !== width * height * channels
          ? `data has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}`
          : undefined;
  if (problem) throw new SkulensError('E_IMAGE_DECODE', `Invalid raw image ${name}: ${problem}.`, { input: name });
  return image;
}
