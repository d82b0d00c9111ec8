/**
 * Image helpers every platform shares: recognising raw pixels, naming an input in
 * messages, and decoding through the registered platform (sharp in Node, canvas in the
 * browser). The shapes themselves are in image-types.ts.
 */
import { SkulensError, messageOf } from './errors.js';
import type { ImageInput, RawImage } from './image-types.js';
import { is } from './is.js';
import { getPlatform } from './platform.js';

export type { RawImage, Rect, DrawableImage, BlobLike, ImageInput } from './image-types.js';

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
  const ctor = (input as { constructor?: { name?: string } } | null)?.constructor?.name;
  return `<${ctor ?? typeof input}>`;
}

/**
 * Decode any accepted input through the registered platform (raw pixels are only
 * checked); failures become E_IMAGE_DECODE naming the input.
 */
export async function decodeImage(input: ImageInput): Promise<RawImage> {
  try {
    return isRawImage(input) ? validateRawImage(input) : await getPlatform().loadImage(input);
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
