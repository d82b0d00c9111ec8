/**
 * Platform-free image types. Decoding lives in the platform entries (sharp in Node,
 * canvas in the browser); everything downstream works on `RawImage` pixels.
 */
import { SkulensError, messageOf } from './errors.js';
import { getPlatform } from './platform.js';

/** Decoded 8-bit pixels, row-major, interleaved channels (RGB or RGBA). */
export interface RawImage {
  data: Uint8Array | Uint8ClampedArray;
  width: number;
  height: number;
  channels: 3 | 4;
}

/** A rectangle in pixel units of an image (x, y = top-left corner). */
export interface Rect {
  x: number;
  y: number;
  width: number;
  height: number;
}

/**
 * Browser image objects, described by shape so that Node builds need no DOM typings:
 * HTMLImageElement, HTMLCanvasElement, HTMLVideoElement, OffscreenCanvas, ImageBitmap,
 * ImageData and VideoFrame all have a width and a height.
 */
export interface DrawableImage {
  readonly width: number;
  readonly height: number;
}

/** A Blob or File, by shape. */
export interface BlobLike {
  readonly size: number;
  readonly type: string;
  arrayBuffer(): Promise<ArrayBuffer>;
}

/**
 * What an image argument may be. Everywhere: a path (Node) or URL (browser), encoded
 * bytes (JPEG, PNG, WebP, ...) or raw pixels. In the browser also the DOM image objects
 * and Blobs; the Node decoder refuses those with E_IMAGE_DECODE.
 */
export type ImageInput = string | URL | Uint8Array | ArrayBuffer | RawImage | DrawableImage | BlobLike;

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
    !Number.isInteger(width) || width < 1 || !Number.isInteger(height) || height < 1
      ? `width and height must be positive integers, got ${width}x${height}`
      : channels !== 3 && channels !== 4
        ? `channels must be 3 (RGB) or 4 (RGBA), got ${channels}`
        : data.length !== width * height * channels
          ? `data has ${data.length} bytes but ${width}x${height}x${channels} needs ${width * height * channels}`
          : undefined;
  if (problem) throw new SkulensError('E_IMAGE_DECODE', `Invalid raw image ${name}: ${problem}.`, { input: name });
  return image;
}
