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

/**
 * An n-dimensional array view as the `ndarray` package (scijs) makes them, by shape:
 * `shape` [height, width, channels] (channels 1, 3 or 4) or [height, width] (gray),
 * element (y, x, c) at `data[offset + y*stride[0] + x*stride[1] + c*stride[2]]`, so
 * transposed, cropped and flipped views work without a copy. Integer data are 0–255;
 * float data are 0–1 (see docs/embedder.md, "Raw pixels and ndarrays").
 */
export interface NdArrayImage {
  data: Uint8Array | Uint8ClampedArray | Float32Array | Float64Array;
  shape: readonly number[];
  stride: readonly number[];
  offset: number;
}

/** Options every platform's image loading honours. */
export interface ImageLoadOptions {
  /** Refuse images with more pixels than this (default DEFAULT_MAX_PIXELS, 64 MP), checked before decoding. */
  maxPixels?: number;
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
 * bytes (JPEG, PNG, WebP, ...), raw pixels or an ndarray. In the browser also the DOM image objects
 * and Blobs; the Node decoder refuses those with E_IMAGE_DECODE.
 */
export type ImageInput = string | URL | Uint8Array | ArrayBuffer | RawImage | NdArrayImage | DrawableImage | BlobLike;
