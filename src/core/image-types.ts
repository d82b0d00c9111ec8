/**
 * The shapes of images skulens accepts and produces. Types only, so that the platform
 * seam (platform.ts) can name them without importing the decoding helpers in image.ts,
 * which themselves go through the platform.
 */

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
