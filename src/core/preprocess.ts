/**
 * Image preprocessing declared as data (a `PreprocessSpec`) and executed in one fused
 * pass: source pixels (optionally a crop of them) are resampled, normalised, reordered
 * and written straight into their slot of the batch tensor, with no intermediate images.
 */
import { SkulensError } from './errors.js';
import { is } from './is.js';
import type { RawImage, Rect } from './image.js';
import { definedOnly } from './options.js';

export type ResizeMode = 'stretch' | 'center-crop' | 'letterbox';
export type ChannelOrder = 'rgb' | 'bgr';
export type TensorLayout = 'nchw' | 'nhwc';
export type InputDType = 'float32' | 'float16';

export interface PreprocessSpec {
  /** Model input width and height in pixels. */
  width: number;
  height: number;
  /**
   * - `stretch`: resize to width×height ignoring aspect ratio;
   * - `center-crop`: resize the short side to size/cropFraction, then crop the centre
   *   (the ImageNet evaluation recipe: 256 then 224);
   * - `letterbox`: fit inside, keep aspect ratio, pad the rest with `padValue`.
   */
  resize: ResizeMode;
  /** center-crop only: share of the resized short side that is kept (0.875 = 224/256). */
  cropFraction: number;
  /** letterbox only: where the image sits in the padded frame. */
  letterboxAlign: 'center' | 'top-left';
  /** letterbox only: the 0–255 value of padding pixels (before normalisation). */
  padValue: number;
  /** Pixels (0–255) are multiplied by `scale`, then `(v - mean[c]) / std[c]`. */
  scale: number;
  mean: [number, number, number];
  std: [number, number, number];
  channelOrder: ChannelOrder;
  layout: TensorLayout;
  dtype: InputDType;
  /** Average several bilinear taps when shrinking by more than 2×, to avoid aliasing. */
  antialias: boolean;
}

const IMAGENET_MEAN: [number, number, number] = [0.485, 0.456, 0.406];
const IMAGENET_STD: [number, number, number] = [0.229, 0.224, 0.225];

const BASE: PreprocessSpec = {
  width: 224,
  height: 224,
  resize: 'stretch',
  cropFraction: 0.875,
  letterboxAlign: 'center',
  padValue: 114,
  scale: 1 / 255,
  mean: [0, 0, 0],
  std: [1, 1, 1],
  channelOrder: 'rgb',
  layout: 'nchw',
  dtype: 'float32',
  antialias: true,
};

/** Named preprocessing recipes for well-known model families. */
export const PRESETS = {
  /** torchvision / ONNX-zoo ImageNet classifiers: 256 → centre crop 224. */
  imagenet: { ...BASE, resize: 'center-crop', mean: IMAGENET_MEAN, std: IMAGENET_STD },
  /** NVIDIA TAO Retail Object Recognition (metric learning): 224 stretched. */
  'nvidia-retail': { ...BASE, resize: 'stretch', mean: IMAGENET_MEAN, std: [0.226, 0.226, 0.226] },
  /** OpenAI CLIP image towers: short side 224, centre crop 224, CLIP statistics. */
  clip: {
    ...BASE,
    resize: 'center-crop',
    cropFraction: 1,
    mean: [0.48145466, 0.4578275, 0.40821073],
    std: [0.26862954, 0.26130258, 0.27577711],
  },
  /** Ultralytics YOLOv5/v8/11 exports: RGB /255, centred letterbox padded with 114. */
  yolo: { ...BASE, width: 640, height: 640, resize: 'letterbox', letterboxAlign: 'center', antialias: false },
  /** Megvii YOLOX exports: BGR, raw 0–255, top-left letterbox padded with 114. */
  yolox: {
    ...BASE,
    width: 416,
    height: 416,
    resize: 'letterbox',
    letterboxAlign: 'top-left',
    scale: 1,
    channelOrder: 'bgr',
    antialias: false,
  },
} satisfies Record<string, PreprocessSpec>;

export type PresetName = keyof typeof PRESETS;

export function isPresetName(name: string): name is PresetName {
  return Object.hasOwn(PRESETS, name);
}

/** Build a full spec from a preset name (or the neutral base) plus overrides, and check it. */
export function resolveSpec(preset: string | undefined, overrides: Partial<PreprocessSpec> = {}): PreprocessSpec {
  let base: PreprocessSpec = BASE;
  if (preset !== undefined) {
    if (!isPresetName(preset)) {
      throw new SkulensError('E_PREPROCESS', `Unknown preset "${preset}". Known presets: ${Object.keys(PRESETS).join(', ')}.`);
    }
    base = PRESETS[preset];
  }
  const defined = definedOnly(overrides);
  const spec = { ...base, ...defined } as PreprocessSpec;
  validateSpec(spec);
  return spec;
}

/** The keys of a PreprocessSpec: all that a gallery file may say about its embedder's preprocessing. */
export const SPEC_KEYS: readonly (keyof PreprocessSpec)[] = Object.keys(BASE) as (keyof PreprocessSpec)[];

/**
 * The preprocessing recorded in a gallery file, as options for Embedder.create: only the
 * spec's own keys (a file must never pass session options, worker counts or paths to the
 * runtime), each checked like any spec. Throws E_PREPROCESS naming the bad value.
 */
export function specFromRecord(record: Record<string, unknown>): Partial<PreprocessSpec> {
  const picked: Record<string, unknown> = {};
  for (const key of SPEC_KEYS) if (Object.hasOwn(record, key)) picked[key] = record[key];
  resolveSpec(undefined, picked as Partial<PreprocessSpec>);
  return picked as Partial<PreprocessSpec>;
}

/** Largest model input side accepted (a 4096² float32 RGB input is already 200 MB per image). */
export const MAX_INPUT_SIDE = 4096;

function validateSpec(s: PreprocessSpec): void {
  const fail = (what: string) => {
    throw new SkulensError('E_PREPROCESS', `Invalid preprocessing spec: ${what}.`);
  };
  if (!is.positiveInt(s.width) || !is.positiveInt(s.height)) fail(`width/height must be positive integers, got ${s.width}x${s.height}`);
  if (s.width > MAX_INPUT_SIDE || s.height > MAX_INPUT_SIDE)
    fail(`width/height must be at most ${MAX_INPUT_SIDE}, got ${s.width}x${s.height}`);
  if (!is.oneOf(s.resize, ['stretch', 'center-crop', 'letterbox'])) fail(`resize "${s.resize}" is not stretch, center-crop or letterbox`);
  if (!is.inRange(s.cropFraction, 0, 1, 'lo')) fail(`cropFraction must be in (0, 1], got ${s.cropFraction}`);
  if (!is.oneOf(s.letterboxAlign, ['center', 'top-left'])) fail(`letterboxAlign "${s.letterboxAlign}" is not center or top-left`);
  if (!is.inRange(s.padValue, 0, 255)) fail(`padValue must be 0–255, got ${s.padValue}`);
  if (!is.inRange(s.scale, 0, Infinity, 'lo')) fail(`scale must be > 0, got ${s.scale}`);
  for (const key of ['mean', 'std'] as const) {
    const v = s[key];
    if (!Array.isArray(v) || v.length !== 3 || !v.every(is.finite)) fail(`${key} must be three numbers`);
  }
  if (s.std.some((x) => x === 0)) fail('std must not contain 0');
  if (!is.oneOf(s.channelOrder, ['rgb', 'bgr'])) fail(`channelOrder "${s.channelOrder}" is not rgb or bgr`);
  if (!is.oneOf(s.layout, ['nchw', 'nhwc'])) fail(`layout "${s.layout}" is not nchw or nhwc`);
  if (!is.oneOf(s.dtype, ['float32', 'float16'])) fail(`dtype "${s.dtype}" is not float32 or float16`);
}

/**
 * Where the source region landed in the model input: input = source * scale + pad.
 * Detectors use it to map boxes back to the original image.
 */
export interface Placement {
  /** The source region that was resampled (integer pixel rectangle of the image). */
  source: Rect;
  scaleX: number;
  scaleY: number;
  padX: number;
  padY: number;
}

/** Values per image in the batch tensor for this spec. */
export function imageSize(spec: PreprocessSpec): number {
  return 3 * spec.width * spec.height;
}

/** Shape of a batch tensor for this spec. */
export function batchShape(spec: PreprocessSpec, batch: number): number[] {
  return spec.layout === 'nchw' ? [batch, 3, spec.height, spec.width] : [batch, spec.height, spec.width, 3];
}

/** Clip a (possibly fractional, possibly out-of-bounds) rectangle to integer image pixels. */
export function clipRect(rect: Rect | undefined, width: number, height: number): Rect {
  if (!rect) return { x: 0, y: 0, width, height };
  const x0 = Math.max(0, Math.min(width - 1, Math.floor(rect.x)));
  const y0 = Math.max(0, Math.min(height - 1, Math.floor(rect.y)));
  const x1 = Math.max(x0 + 1, Math.min(width, Math.ceil(rect.x + rect.width)));
  const y1 = Math.max(y0 + 1, Math.min(height, Math.ceil(rect.y + rect.height)));
  return { x: x0, y: y0, width: x1 - x0, height: y1 - y0 };
}

/**
 * Per-axis resampling plan: for each output coordinate, `taps` pairs of source offsets
 * and a weight. Offsets are source indices times `stride` (bytes per pixel for x, bytes
 * per row for y), so the inner loops only add them.
 */
interface AxisPlan {
  taps: number;
  i0: Int32Array;
  i1: Int32Array;
  w1: Float32Array; // weight of i1; i0 gets 1 - w1
  /** Output coordinates [start, end) that map inside the source (the rest is padding). */
  start: number;
  end: number;
}

/**
 * Plan one axis: output positions o in [start, end) sample the source at
 * `lo + (o - offset + 0.5) * step - 0.5` (pixel centres aligned), clamped to [lo, hi].
 */
function planAxis(
  outSize: number,
  start: number,
  end: number,
  offset: number,
  step: number,
  lo: number,
  hi: number,
  antialias: boolean,
  stride: number,
): AxisPlan {
  const taps = antialias && step > 2 ? Math.ceil(step / 2) : 1;
  const n = outSize * taps;
  const i0 = new Int32Array(n);
  const i1 = new Int32Array(n);
  const w1 = new Float32Array(n);
  for (let o = start; o < end; o++) {
    for (let t = 0; t < taps; t++) {
      // Tap positions spread evenly across the footprint of the output pixel.
      const centre = lo + (o - offset + (t + 0.5) / taps) * step - 0.5;
      const c = Math.min(hi, Math.max(lo, centre));
      const f = Math.floor(c);
      const k = o * taps + t;
      i0[k] = f * stride;
      i1[k] = Math.min(hi, f + 1) * stride;
      w1[k] = c - f;
    }
  }
  return { taps, i0, i1, w1, start, end };
}

/** Compute where the (cropped) source goes in the model input for this spec. */
export function computePlacement(spec: PreprocessSpec, source: Rect): Placement {
  const { width: W, height: H } = spec;
  const sw = source.width;
  const sh = source.height;
  if (spec.resize === 'stretch') return { source, scaleX: W / sw, scaleY: H / sh, padX: 0, padY: 0 };
  if (spec.resize === 'center-crop') {
    // Resize the short side to min(W,H)/cropFraction, then cut the centre W×H.
    const k = Math.round(Math.min(W, H) / spec.cropFraction) / Math.min(sw, sh);
    const rw = sw * k;
    const rh = sh * k;
    return { source, scaleX: k, scaleY: k, padX: -Math.round((rw - W) / 2), padY: -Math.round((rh - H) / 2) };
  }
  const k = Math.min(W / sw, H / sh);
  const nw = Math.max(1, Math.round(sw * k));
  const nh = Math.max(1, Math.round(sh * k));
  const centred = spec.letterboxAlign === 'center';
  return {
    source,
    scaleX: nw / sw,
    scaleY: nh / sh,
    padX: centred ? Math.floor((W - nw) / 2) : 0,
    padY: centred ? Math.floor((H - nh) / 2) : 0,
  };
}

/**
 * Resample `image` (or its `crop`) into slot `index` of the float32 batch buffer `out`,
 * normalised and laid out as `spec` says. Returns where the source landed.
 */
export function writeImageToTensor(image: RawImage, spec: PreprocessSpec, out: Float32Array, index: number, crop?: Rect): Placement {
  if (image.data.byteLength > 0x7fffffff) {
    // Source offsets are planned as 32-bit integers.
    throw new SkulensError(
      'E_PREPROCESS',
      `An image of ${image.width}x${image.height} pixels (${image.data.byteLength} bytes) is over 2 GiB; downscale it before embedding.`,
    );
  }
  const source = clipRect(crop, image.width, image.height);
  const placement = computePlacement(spec, source);
  const { width: W, height: H } = spec;
  const { scaleX, scaleY, padX, padY } = placement;

  // Output pixels that receive image content (letterbox leaves padding around them).
  const xStart = Math.max(0, padX);
  const xEnd = Math.min(W, padX + Math.round(source.width * scaleX));
  const yStart = Math.max(0, padY);
  const yEnd = Math.min(H, padY + Math.round(source.height * scaleY));
  const ch = image.channels;
  const rowStride = image.width * ch;
  const px = planAxis(W, xStart, xEnd, padX, 1 / scaleX, source.x, source.x + source.width - 1, spec.antialias, ch);
  const py = planAxis(H, yStart, yEnd, padY, 1 / scaleY, source.y, source.y + source.height - 1, spec.antialias, rowStride);

  // v' = (v * scale - mean) / std = v * a + b, per output channel.
  const order = spec.channelOrder === 'rgb' ? [0, 1, 2] : [2, 1, 0];
  const a = order.map((_, c) => spec.scale / spec.std[c]!);
  const b = order.map((_, c) => -spec.mean[c]! / spec.std[c]!);
  const pad = a.map((ac, c) => spec.padValue * ac + b[c]!);

  const plane = W * H;
  const base = index * 3 * plane;
  // Strides into `out` for channel c and pixel p: base + c*cStride + p*pStride.
  const cStride = spec.layout === 'nchw' ? plane : 1;
  const pStride = spec.layout === 'nchw' ? 1 : 3;
  const src = image.data;
  const [s0, s1, s2] = order as [number, number, number];
  const [a0, a1, a2] = a as [number, number, number];
  const [b0, b1, b2] = b as [number, number, number];
  const o0 = base;
  const o1 = base + cStride;
  const o2 = base + 2 * cStride;

  // Padding first (cheap, and only where the image does not land).
  if (xStart > 0 || yStart > 0 || xEnd < W || yEnd < H) {
    for (let y = 0; y < H; y++) {
      for (let x = 0; x < W; x++) {
        if (y >= yStart && y < yEnd && x >= xStart && x < xEnd) continue;
        const p = (y * W + x) * pStride;
        out[o0 + p] = pad[0]!;
        out[o1 + p] = pad[1]!;
        out[o2 + p] = pad[2]!;
      }
    }
  }

  const tx = px.taps;
  const ty = py.taps;
  if (tx === 1 && ty === 1) {
    // Plain bilinear: the hot path for crops and photos near the model's size. Each tap
    // reads its pixel's channels with one 32-bit load (a quarter of the loads of byte
    // reads); a row whose last tap would read past the end of the pixel buffer (only the
    // image's bottom-right pixel can) takes the byte-wise loop instead.
    const xi0 = px.i0;
    const xi1 = px.i1;
    const xw = px.w1;
    const words = new DataView(src.buffer, src.byteOffset, src.byteLength);
    const lastWord = src.byteLength - 4;
    const sh0 = s0 * 8;
    const sh1 = s1 * 8;
    const sh2 = s2 * 8;
    for (let y = yStart; y < yEnd; y++) {
      const r0 = py.i0[y]!;
      const r1 = py.i1[y]!;
      const wy = py.w1[y]!;
      let p = (y * W + xStart) * pStride;
      if (xEnd > xStart && r1 + xi1[xEnd - 1]! <= lastWord) {
        for (let x = xStart; x < xEnd; x++, p += pStride) {
          const wx = xw[x]!;
          const q00 = words.getUint32(r0 + xi0[x]!, true);
          const q01 = words.getUint32(r0 + xi1[x]!, true);
          const q10 = words.getUint32(r1 + xi0[x]!, true);
          const q11 = words.getUint32(r1 + xi1[x]!, true);
          // Interpolate along x on both rows, then along y, then normalise.
          let t = (q00 >>> sh0) & 255;
          let u = (q10 >>> sh0) & 255;
          t += (((q01 >>> sh0) & 255) - t) * wx;
          u += (((q11 >>> sh0) & 255) - u) * wx;
          out[o0 + p] = (t + (u - t) * wy) * a0 + b0;
          t = (q00 >>> sh1) & 255;
          u = (q10 >>> sh1) & 255;
          t += (((q01 >>> sh1) & 255) - t) * wx;
          u += (((q11 >>> sh1) & 255) - u) * wx;
          out[o1 + p] = (t + (u - t) * wy) * a1 + b1;
          t = (q00 >>> sh2) & 255;
          u = (q10 >>> sh2) & 255;
          t += (((q01 >>> sh2) & 255) - t) * wx;
          u += (((q11 >>> sh2) & 255) - u) * wx;
          out[o2 + p] = (t + (u - t) * wy) * a2 + b2;
        }
      } else {
        for (let x = xStart; x < xEnd; x++, p += pStride) {
          const wx = xw[x]!;
          const i00 = r0 + xi0[x]!;
          const i01 = r0 + xi1[x]!;
          const i10 = r1 + xi0[x]!;
          const i11 = r1 + xi1[x]!;
          let t = src[i00 + s0]!;
          let u = src[i10 + s0]!;
          t += (src[i01 + s0]! - t) * wx;
          u += (src[i11 + s0]! - u) * wx;
          out[o0 + p] = (t + (u - t) * wy) * a0 + b0;
          t = src[i00 + s1]!;
          u = src[i10 + s1]!;
          t += (src[i01 + s1]! - t) * wx;
          u += (src[i11 + s1]! - u) * wx;
          out[o1 + p] = (t + (u - t) * wy) * a1 + b1;
          t = src[i00 + s2]!;
          u = src[i10 + s2]!;
          t += (src[i01 + s2]! - t) * wx;
          u += (src[i11 + s2]! - u) * wx;
          out[o2 + p] = (t + (u - t) * wy) * a2 + b2;
        }
      }
    }
    return placement;
  }

  // Shrinking by more than 2×: average tx×ty bilinear taps per output pixel.
  const norm = 1 / (tx * ty);
  for (let y = yStart; y < yEnd; y++) {
    let p = (y * W + xStart) * pStride;
    for (let x = xStart; x < xEnd; x++, p += pStride) {
      let v0 = 0;
      let v1 = 0;
      let v2 = 0;
      for (let j = 0; j < ty; j++) {
        const ky = y * ty + j;
        const r0 = py.i0[ky]!;
        const r1 = py.i1[ky]!;
        const wy = py.w1[ky]!;
        for (let i = 0; i < tx; i++) {
          const kx = x * tx + i;
          const c0 = px.i0[kx]!;
          const c1 = px.i1[kx]!;
          const wx = px.w1[kx]!;
          const w00 = (1 - wy) * (1 - wx);
          const w01 = (1 - wy) * wx;
          const w10 = wy * (1 - wx);
          const w11 = wy * wx;
          const i00 = r0 + c0;
          const i01 = r0 + c1;
          const i10 = r1 + c0;
          const i11 = r1 + c1;
          v0 += src[i00 + s0]! * w00 + src[i01 + s0]! * w01 + src[i10 + s0]! * w10 + src[i11 + s0]! * w11;
          v1 += src[i00 + s1]! * w00 + src[i01 + s1]! * w01 + src[i10 + s1]! * w10 + src[i11 + s1]! * w11;
          v2 += src[i00 + s2]! * w00 + src[i01 + s2]! * w01 + src[i10 + s2]! * w10 + src[i11 + s2]! * w11;
        }
      }
      out[o0 + p] = v0 * norm * a0 + b0;
      out[o1 + p] = v1 * norm * a1 + b1;
      out[o2 + p] = v2 * norm * a2 + b2;
    }
  }
  return placement;
}
