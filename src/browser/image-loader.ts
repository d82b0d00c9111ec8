/**
 * Browser image decoding: every DOM image source, encoded bytes and URLs become 8-bit
 * RGBA pixels (`RawImage`, channels 4) through the browser's own decoders.
 *
 * - Encoded data (Blob/File, bytes, URL) goes through `createImageBitmap` with
 *   `imageOrientation: 'from-image'` (EXIF rotation, like sharp's `.rotate()`) and
 *   `premultiplyAlpha: 'none'`, off the main thread in Chromium.
 * - Pixels are read back with `getImageData` from one reused scratch canvas, drawn over
 *   white so transparent images match the Node loader (which flattens alpha onto white).
 * - Already-decoded sources (ImageData, RawImage) are used as they are, with no copy.
 */
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

export interface LoadImageOptions extends ImageLoadOptions {
  /** For URL inputs: options passed to `fetch` (credentials, signal...). */
  fetchInit?: RequestInit;
}

/**
 * What the browser entry accepts as an image: a URL string, encoded bytes, a Blob/File,
 * any canvas image source (img, canvas, OffscreenCanvas, ImageBitmap, video, VideoFrame),
 * ImageData, raw pixels or an ndarray.
 */
export type BrowserImageInput =
  | string
  | URL
  | Uint8Array
  | ArrayBuffer
  | Blob
  | ImageData
  | RawImage
  | NdArrayImage
  | HTMLImageElement
  | HTMLCanvasElement
  | HTMLVideoElement
  | OffscreenCanvas
  | ImageBitmap
  | VideoFrame
  | SVGImageElement;

type Drawable = CanvasImageSource;
type Ctx2D = CanvasRenderingContext2D | OffscreenCanvasRenderingContext2D;

let scratch: { canvas: OffscreenCanvas | HTMLCanvasElement; ctx: Ctx2D } | undefined;

function scratchContext(width: number, height: number): Ctx2D {
  if (!scratch) {
    const canvas =
      typeof OffscreenCanvas !== 'undefined'
        ? new OffscreenCanvas(width, height)
        : typeof document !== 'undefined'
          ? Object.assign(document.createElement('canvas'), { width, height })
          : undefined;
    if (!canvas)
      throw new SkulensError(
        'E_IMAGE_DECODE',
        'Cannot decode images here: neither OffscreenCanvas nor document.createElement("canvas") is available.',
      );
    const ctx = canvas.getContext('2d', { willReadFrequently: true, alpha: true, colorSpace: 'srgb' }) as Ctx2D | null;
    if (!ctx) throw new SkulensError('E_IMAGE_DECODE', 'Cannot decode images: the browser refused a 2D canvas context.');
    scratch = { canvas, ctx };
  }
  const { canvas, ctx } = scratch;
  if (canvas.width !== width || canvas.height !== height) {
    canvas.width = width; // resizing also clears the canvas and resets its state
    canvas.height = height;
  }
  return ctx;
}

/** Intrinsic pixel size of a drawable source. */
function sizeOf(source: Drawable): { width: number; height: number } {
  if (typeof HTMLImageElement !== 'undefined' && source instanceof HTMLImageElement)
    return { width: source.naturalWidth, height: source.naturalHeight };
  if (typeof HTMLVideoElement !== 'undefined' && source instanceof HTMLVideoElement)
    return { width: source.videoWidth, height: source.videoHeight };
  if (typeof VideoFrame !== 'undefined' && source instanceof VideoFrame)
    return { width: source.displayWidth, height: source.displayHeight };
  if (typeof SVGImageElement !== 'undefined' && source instanceof SVGImageElement) {
    return { width: source.width.baseVal.value, height: source.height.baseVal.value };
  }
  const s = source as { width: number; height: number };
  return { width: s.width, height: s.height };
}

/** Draw a source over white on the scratch canvas and read its pixels (synchronously, so the scratch canvas can be shared). */
function drawToPixels(source: Drawable, name: string, maxPixels: number): RawImage {
  const { width, height } = sizeOf(source);
  if (!(width > 0 && height > 0)) {
    throw new SkulensError(
      'E_IMAGE_DECODE',
      `Cannot read image ${name}: it has no pixels yet (${width}x${height}); wait for it to load (img.decode(), video "loadeddata").`,
      { input: name },
    );
  }
  checkPixels(width, height, maxPixels, name);
  const ctx = scratchContext(width, height);
  ctx.globalCompositeOperation = 'copy';
  ctx.fillStyle = '#fff';
  ctx.fillRect(0, 0, width, height);
  ctx.globalCompositeOperation = 'source-over';
  ctx.drawImage(source, 0, 0, width, height);
  const { data } = ctx.getImageData(0, 0, width, height);
  return { data, width, height, channels: 4 };
}

function checkPixels(width: number, height: number, maxPixels: number, name: string): void {
  if (width * height > maxPixels) {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: ${pixelLimitMessage(maxPixels, width * height)}`, {
      input: name,
    });
  }
}

async function decodeBlob(blob: Blob, name: string, maxPixels: number): Promise<RawImage> {
  if (blob.size === 0) throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: it is empty (0 bytes).`, { input: name });
  if (typeof createImageBitmap !== 'function') {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: this browser has no createImageBitmap.`, { input: name });
  }
  let bitmap: ImageBitmap;
  try {
    bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image', premultiplyAlpha: 'none', colorSpaceConversion: 'default' });
  } catch (err) {
    const type = blob.type ? ` (type ${blob.type})` : '';
    throw new SkulensError(
      'E_IMAGE_DECODE',
      `Cannot decode image ${name}${type}: the browser could not decode it (${messageOf(err)}); JPEG, PNG, WebP, GIF, AVIF and BMP are supported.`,
      { cause: err, input: name },
    );
  }
  try {
    return drawToPixels(bitmap, name, maxPixels);
  } finally {
    bitmap.close();
  }
}

async function fetchBlob(url: string, name: string, init?: RequestInit): Promise<Blob> {
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new SkulensError('E_IMAGE_DECODE', `Cannot fetch image ${name}: ${messageOf(err)} (offline, CORS, or a wrong URL?).`, {
      cause: err,
      input: name,
    });
  }
  if (!response.ok)
    throw new SkulensError('E_IMAGE_DECODE', `Cannot fetch image ${name}: HTTP ${response.status} ${response.statusText}.`, {
      input: name,
    });
  return response.blob();
}

/** Decode any accepted browser image input into 8-bit pixels. */
export async function loadImage(input: BrowserImageInput, options: LoadImageOptions = {}): Promise<RawImage> {
  const name = describeInput(input);
  if (input === null || input === undefined) throw new SkulensError('E_IMAGE_DECODE', `Cannot load image: got ${input}.`);
  const pixels = pixelsOf(input, name);
  if (pixels) return pixels;
  const maxPixels = checkMaxPixels(options.maxPixels);
  if (typeof ImageData !== 'undefined' && input instanceof ImageData) {
    return { data: input.data, width: input.width, height: input.height, channels: 4 };
  }
  if (typeof input === 'string' || (typeof URL !== 'undefined' && input instanceof URL)) {
    return decodeBlob(await fetchBlob(String(input), name, options.fetchInit), name, maxPixels);
  }
  if (typeof Blob !== 'undefined' && input instanceof Blob) return decodeBlob(input, name, maxPixels);
  if (input instanceof Uint8Array || input instanceof ArrayBuffer) {
    return decodeBlob(new Blob([input as Uint8Array<ArrayBuffer>]), name, maxPixels);
  }
  if (typeof HTMLImageElement !== 'undefined' && input instanceof HTMLImageElement) {
    if (!input.complete || input.naturalWidth === 0) {
      try {
        await input.decode();
      } catch (err) {
        throw new SkulensError('E_IMAGE_DECODE', `Cannot decode image ${name}: the <img> failed to load (${messageOf(err)}).`, {
          cause: err,
          input: name,
        });
      }
    }
    return drawToPixels(input, name, maxPixels);
  }
  if (isDrawable(input)) {
    try {
      return drawToPixels(input, name, maxPixels);
    } catch (err) {
      if (err instanceof SkulensError) throw err;
      // e.g. a tainted (cross-origin) canvas or a closed ImageBitmap
      throw new SkulensError('E_IMAGE_DECODE', `Cannot read pixels of ${name}: ${messageOf(err)}`, { cause: err, input: name });
    }
  }
  throw new SkulensError(
    'E_IMAGE_DECODE',
    `Cannot load image ${name}: expected a URL, Blob/File, encoded bytes, HTMLImageElement, HTMLCanvasElement, HTMLVideoElement, OffscreenCanvas, ImageBitmap, VideoFrame, ImageData, raw pixels { data, width, height, channels } or an ndarray [height, width, channels].`,
    { input: name },
  );
}

function isDrawable(input: unknown): input is Drawable {
  const is = (ctor: unknown) => typeof ctor === 'function' && input instanceof (ctor as new () => unknown);
  const g = globalThis as Record<string, unknown>;
  return ['HTMLCanvasElement', 'HTMLVideoElement', 'OffscreenCanvas', 'ImageBitmap', 'VideoFrame', 'SVGImageElement'].some((k) => is(g[k]));
}
