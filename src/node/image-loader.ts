/**
 * Node image decoding with sharp (libvips): EXIF orientation applied, any colour space
 * (grayscale, CMYK, 16-bit) converted to 8-bit sRGB, alpha flattened onto white, and a
 * pixel limit against decompression bombs checked from the header before decoding.
 * Files are read by us (bounded, regular files only) and decoded from memory; SVG is
 * refused unless asked for; decoded bytes in the making are capped across the process.
 */
import { fileURLToPath } from 'node:url';
import sharp, { type Sharp, type SharpOptions } from 'sharp';
import { SkulensError, messageOf } from '../core/errors.js';
import {
  checkMaxPixels,
  describeInput,
  pixelLimitMessage,
  pixelsOf,
  type ImageLoadOptions,
  type NdArrayImage,
  type RawImage,
} from '../core/image.js';
import { explainDecodeFailure } from './decode-errors.js';
import { isHttpUrl, urlNotFetched } from './no-fetch.js';
import { readRegularFile } from './read-file.js';

export interface LoadImageOptions extends ImageLoadOptions {
  /**
   * Decode SVG drawings (default false). An SVG is a program that draws: it can be any
   * size from a few bytes and can refer to other files, so images from others should not
   * be SVG. Even when allowed it is decoded from memory, with no folder to read files from.
   */
  allowSvg?: boolean;
}

/** Largest image file read (a 64 MP photo as an uncompressed TIFF is ~200 MB). */
export const MAX_IMAGE_FILE_BYTES = 256 << 20;
/**
 * Decoded bytes that may be in the making at once in this process (4 per pixel: libvips
 * may hold an alpha channel). A decode waits for room; an image larger than this alone is
 * decoded when nothing else is. With the Embedder writing each image into its batch as
 * soon as it is decoded, this bounds a batch's memory, whatever its size.
 */
export const DECODE_BUDGET_BYTES = 256 << 20;

/** Node image input: file path, encoded bytes, raw pixels or an ndarray. */
export type NodeImageInput = string | URL | Uint8Array | ArrayBuffer | RawImage | NdArrayImage;

export async function loadImage(input: NodeImageInput, options: LoadImageOptions = {}): Promise<RawImage> {
  const name = describeInput(input);
  const pixels = pixelsOf(input, name);
  if (pixels) return pixels;
  const maxPixels = checkMaxPixels(options.maxPixels);
  let source: Buffer;
  if (typeof input === 'string' || input instanceof URL) {
    if (isHttpUrl(input)) throw urlNotFetched(input, 'image');
    if (input instanceof URL && input.protocol !== 'file:')
      throw new SkulensError('E_INPUT', `Cannot read image "${input.href}": a URL given in Node must be a file: URL.`, { input: name });
    // file: URLs only. Read here rather than by libvips: a FIFO or /dev/zero is refused, the size bounded.
    const bytes = await readRegularFile(typeof input === 'string' ? input : fileURLToPath(input), MAX_IMAGE_FILE_BYTES, 'image', {
      code: 'E_IMAGE_DECODE',
    });
    source = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  } else if (input instanceof Uint8Array) source = Buffer.from(input.buffer, input.byteOffset, input.byteLength);
  else if (input instanceof ArrayBuffer) source = Buffer.from(input);
  else
    throw new SkulensError(
      'E_IMAGE_DECODE',
      `Cannot load image ${name}: expected a file path, encoded bytes, raw pixels { data, width, height, channels } or an ndarray [height, width, channels].`,
      { input: name },
    );
  if (source.length === 0) {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: it is empty (0 bytes).`, { input: name });
  }

  let cost = 0;
  try {
    // The header alone: format and size, before any pixel is decoded.
    const header = await sharp(source, { limitInputPixels: false }).metadata(); // the limit is checked below, with the count
    if (header.format === 'svg' && options.allowSvg !== true) {
      throw new SkulensError(
        'E_IMAGE_DECODE',
        `Cannot decode image ${name}: it is an SVG drawing, which skulens decodes only with allowSvg: true (an SVG can draw at any size and refer to other files; convert it to PNG if you trust it).`,
        { input: name },
      );
    }
    const pixels = (header.width ?? 0) * (header.height ?? 0);
    if (pixels > maxPixels)
      throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: ${pixelLimitMessage(maxPixels, pixels)}`, { input: name });
    cost = Math.min(DECODE_BUDGET_BYTES, pixels * 4);
    await decodeBudget.acquire(cost);
    const { data, info } = await sharpToRgb(source, { limitInputPixels: maxPixels }).toBuffer({ resolveWithObject: true });
    if (info.channels !== 3)
      throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: the decoder produced ${info.channels} channels, not RGB.`, {
        input: name,
      });
    return { data: new Uint8Array(data.buffer, data.byteOffset, data.byteLength), width: info.width, height: info.height, channels: 3 };
  } catch (err) {
    if (err instanceof SkulensError) throw err;
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: ${explainDecodeFailure(source, messageOf(err), maxPixels)}`, {
      cause: err,
      input: name,
    });
  } finally {
    decodeBudget.release(cost);
  }
}

/** A first-come, first-served budget of bytes: acquire waits until the request fits (or nothing else holds any). */
class ByteBudget {
  private used = 0;
  private readonly queue: { bytes: number; go: () => void }[] = [];
  constructor(private readonly limit: number) {}

  acquire(bytes: number): Promise<void> {
    if (this.queue.length === 0 && this.fits(bytes)) {
      this.used += bytes;
      return Promise.resolve();
    }
    return new Promise((go) => this.queue.push({ bytes, go }));
  }

  release(bytes: number): void {
    this.used -= bytes;
    while (this.queue.length > 0 && this.fits(this.queue[0]!.bytes)) {
      const next = this.queue.shift()!;
      this.used += next.bytes;
      next.go();
    }
  }

  private fits(bytes: number): boolean {
    return this.used === 0 || this.used + bytes <= this.limit;
  }
}

const decodeBudget = new ByteBudget(DECODE_BUDGET_BYTES);

/** The sharp pipeline loadImage decodes with: any input to raw 8-bit RGB (exported for bench/sharp-options.ts). */
export function sharpToRgb(source: string | Buffer | Buffer[], options: SharpOptions = {}): Sharp {
  return sharp(source, { failOn: 'truncated', ...options })
    .rotate() // apply EXIF orientation
    .flatten({ background: { r: 255, g: 255, b: 255 } }) // no-op without alpha
    .toColourspace('srgb') // grayscale, CMYK, 16-bit → 8-bit sRGB
    .removeAlpha()
    .raw();
}
