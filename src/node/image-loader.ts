/**
 * Node image decoding with sharp (libvips): EXIF orientation applied, any colour space
 * (grayscale, CMYK, 16-bit) converted to 8-bit sRGB, alpha flattened onto white, and a
 * pixel limit against decompression bombs checked from the header before decoding.
 */
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { SkulensError, messageOf } from '../core/errors.js';
import { describeInput, isRawImage, validateRawImage, type RawImage } from '../core/image.js';

export interface LoadImageOptions {
  /** Refuse images with more pixels than this (default 64 MP, e.g. 8000×8000). */
  maxPixels?: number;
}

export const DEFAULT_MAX_PIXELS = 64_000_000;

/** Node image input: file path, encoded bytes, or raw pixels. */
export type NodeImageInput = string | URL | Uint8Array | ArrayBuffer | RawImage;

export async function loadImage(input: NodeImageInput, options: LoadImageOptions = {}): Promise<RawImage> {
  const name = describeInput(input);
  if (isRawImage(input)) return validateRawImage(input, name);
  let source: string | Buffer;
  if (typeof input === 'string') source = input;
  else if (input instanceof URL) source = fileURLToPath(input); // file: URLs only
  else if (input instanceof Uint8Array) source = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  else if (input instanceof ArrayBuffer) source = Buffer.from(input);
  else throw new SkulensError('E_IMAGE_DECODE', `Cannot load image ${name}: expected a file path, encoded bytes or raw pixels { data, width, height, channels }.`, { input: name });
  if (typeof source !== 'string' && source.length === 0) {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: it is empty (0 bytes).`, { input: name });
  }

  const maxPixels = options.maxPixels ?? DEFAULT_MAX_PIXELS;
  try {
    const { data, info } = await sharpToRgb(source, { limitInputPixels: maxPixels }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`decoder produced ${info.channels} channels`);
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: ${explainSharpError(messageOf(err), maxPixels)}`, { cause: err, input: name });
  }
}

/** The sharp pipeline loadImage decodes with: any input to raw 8-bit RGB (exported for bench/sharp-options.ts). */
export function sharpToRgb(source: string | Buffer | Buffer[], options: SharpOptions = {}): Sharp {
  return sharp(source, { failOn: 'truncated', ...options })
    .rotate() // apply EXIF orientation
    .flatten({ background: { r: 255, g: 255, b: 255 } }) // no-op without alpha
    .toColourspace('srgb') // grayscale, CMYK, 16-bit → 8-bit sRGB
    .removeAlpha()
    .raw();
}

/** Turn libvips' wording into something a user can act on. */
function explainSharpError(message: string, maxPixels: number): string {
  if (/Input file is missing/i.test(message)) return 'file not found.';
  if (/exceeds pixel limit/i.test(message)) return `the image has more than ${maxPixels.toLocaleString('en-US')} pixels (raise maxPixels if it is genuine).`;
  if (/unsupported image format/i.test(message)) return 'not a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF).';
  return message.replace(/\s+/g, ' ').trim();
}
