import { describe, expect, it } from 'vitest';
import { fromHalfBits, toHalfBits, float32ToHalfArray, halfArrayToFloat32, halfBits } from '../src/core/float16.js';
import type { RawImage } from '../src/core/image.js';
import { imageSize, resolveSpec, writeImageToTensor, type PreprocessSpec } from '../src/core/preprocess.js';
import { SkulensError } from '../src/core/errors.js';

/** An image whose R = x, G = y, B = constant, so sampled positions can be read back. */
function gradient(width: number, height: number, channels: 3 | 4 = 3): RawImage {
  const data = new Uint8Array(width * height * channels);
  for (let y = 0; y < height; y++)
    for (let x = 0; x < width; x++) {
      const i = (y * width + x) * channels;
      data[i] = x;
      data[i + 1] = y;
      data[i + 2] = 200;
      if (channels === 4) data[i + 3] = 255;
    }
  return { data, width, height, channels };
}

const raw: Partial<PreprocessSpec> = { scale: 1, mean: [0, 0, 0], std: [1, 1, 1], antialias: false };

function run(image: RawImage, spec: PreprocessSpec, crop?: Parameters<typeof writeImageToTensor>[4]) {
  const out = new Float32Array(imageSize(spec));
  const placement = writeImageToTensor(image, spec, out, 0, crop);
  const at = (c: number, x: number, y: number) =>
    spec.layout === 'nchw' ? out[c * spec.width * spec.height + y * spec.width + x]! : out[(y * spec.width + x) * 3 + c]!;
  return { out, placement, at };
}

describe('preprocessing', () => {
  it('same size is an exact copy (identity resample)', () => {
    const spec = resolveSpec(undefined, { ...raw, width: 16, height: 8 });
    const { at } = run(gradient(16, 8), spec);
    for (let y = 0; y < 8; y++) for (let x = 0; x < 16; x++) expect([at(0, x, y), at(1, x, y), at(2, x, y)]).toEqual([x, y, 200]);
  });

  it('stretch maps pixel centres linearly (2x upscale of a gradient)', () => {
    const spec = resolveSpec(undefined, { ...raw, width: 8, height: 8 });
    const { at } = run(gradient(4, 4), spec);
    // Output centre 1.5 → source (1.5+0.5)/2-0.5 = 0.25
    expect(at(0, 1, 0)).toBeCloseTo(0.25, 5);
    expect(at(0, 7, 0)).toBeCloseTo(3, 5); // clamped at the right edge
    expect(at(1, 0, 4)).toBeCloseTo(1.75, 5);
  });

  it('center-crop resizes the short side to size/0.875 and keeps the centre', () => {
    const spec = resolveSpec('imagenet', { ...raw });
    const image = gradient(448, 256); // short side 256 → k = 1, crop offset (112, 16)
    const { at, placement } = run(image, spec);
    expect(placement.scaleX).toBeCloseTo(1);
    expect(placement.padX).toBe(-112);
    expect(placement.padY).toBe(-16);
    expect(at(0, 0, 0)).toBeCloseTo(112, 4);
    expect(at(1, 0, 0)).toBeCloseTo(16, 4);
  });

  it('letterbox pads with padValue, centred or top-left, and reports the placement', () => {
    const centred = resolveSpec('yolo', { ...raw, width: 8, height: 8 });
    const image = gradient(8, 4);
    const c = run(image, centred);
    expect(c.placement).toMatchObject({ scaleX: 1, scaleY: 1, padX: 0, padY: 2 });
    expect(c.at(0, 3, 0)).toBe(114);
    expect(c.at(1, 3, 2)).toBeCloseTo(0);
    expect(c.at(2, 3, 7)).toBe(114);
    const topLeft = resolveSpec('yolox', { ...raw, width: 8, height: 8 });
    const t = run(image, topLeft);
    expect(t.placement.padY).toBe(0);
    expect(t.at(2, 5, 0)).toBe(5); // BGR: red (x) lands in channel 2
    expect(t.at(0, 5, 0)).toBe(200);
    expect(t.at(0, 5, 6)).toBe(114); // padding below the image
  });

  it('BGR order swaps channels; NHWC interleaves them', () => {
    const spec = resolveSpec(undefined, { ...raw, width: 4, height: 4, channelOrder: 'bgr', layout: 'nhwc' });
    const { out } = run(gradient(4, 4), spec);
    // pixel (x=3, y=1): R=3, G=1, B=200 → B,G,R
    const p = (1 * 4 + 3) * 3;
    expect([out[p], out[p + 1], out[p + 2]]).toEqual([200, 1, 3]);
  });

  it('normalises as (v*scale - mean)/std per channel', () => {
    const spec = resolveSpec('imagenet', { width: 4, height: 4, resize: 'stretch' });
    const { at } = run(gradient(4, 4), spec);
    expect(at(2, 0, 0)).toBeCloseTo((200 / 255 - 0.406) / 0.225, 5);
  });

  it('a crop rectangle equals cropping the image first', () => {
    const spec = resolveSpec(undefined, { ...raw, width: 6, height: 6 });
    const image = gradient(40, 30);
    const crop = { x: 10.4, y: 5, width: 12, height: 9.2 }; // fractional: clipped to pixels 10..22 x 5..14
    const viaCrop = run(image, spec, crop).out;
    const w = 13;
    const h = 10;
    const cut = new Uint8Array(w * h * 3);
    for (let y = 0; y < h; y++) cut.set(image.data.subarray(((y + 5) * 40 + 10) * 3, ((y + 5) * 40 + 10 + w) * 3), y * w * 3);
    const viaCut = run({ data: cut, width: w, height: h, channels: 3 }, spec).out;
    expect(Array.from(viaCrop)).toEqual(Array.from(viaCut));
  });

  it('RGBA input ignores alpha', () => {
    const spec = resolveSpec(undefined, { ...raw, width: 5, height: 5 });
    expect(Array.from(run(gradient(9, 7, 4), spec).out)).toEqual(Array.from(run(gradient(9, 7, 3), spec).out));
  });

  it('antialiasing averages when shrinking a lot (a 1-px checkerboard becomes grey)', () => {
    const n = 64;
    const data = new Uint8Array(n * n * 3);
    for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) data.fill((x + y) % 2 ? 255 : 0, (y * n + x) * 3, (y * n + x) * 3 + 3);
    const image: RawImage = { data, width: n, height: n, channels: 3 };
    const aa = run(image, resolveSpec(undefined, { ...raw, width: 8, height: 8, antialias: true })).out;
    for (const v of aa) expect(Math.abs(v - 127.5)).toBeLessThan(20);
  });

  it('rejects invalid specs and unknown presets with E_PREPROCESS', () => {
    expect(() => resolveSpec('imagenett')).toThrow(/Known presets: imagenet/);
    expect(() => resolveSpec(undefined, { std: [1, 0, 1] })).toThrow(SkulensError);
    expect(() => resolveSpec(undefined, { width: 0 })).toThrow(/width\/height/);
  });

  it('matches a naive bilinear reference everywhere, including the bottom-right pixel and crops', () => {
    // Random pixels, so every channel and both read paths (32-bit words, and bytes for
    // the row whose last tap is the buffer's final pixel) are exercised.
    let seed = 7;
    const rand = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) & 255;
    const [w, h] = [13, 11];
    const image: RawImage = { data: Uint8Array.from({ length: w * h * 3 }, rand), width: w, height: h, channels: 3 };
    const px = (x: number, y: number, c: number) => image.data[(y * w + x) * 3 + c]!;
    const reference = (sx: number, sy: number, c: number) => {
      const x = Math.min(w - 1, Math.max(0, sx));
      const y = Math.min(h - 1, Math.max(0, sy));
      const [x0, y0] = [Math.floor(x), Math.floor(y)];
      const [x1, y1] = [Math.min(w - 1, x0 + 1), Math.min(h - 1, y0 + 1)];
      const [fx, fy] = [x - x0, y - y0];
      const top = px(x0, y0, c) * (1 - fx) + px(x1, y0, c) * fx;
      const bottom = px(x0, y1, c) * (1 - fx) + px(x1, y1, c) * fx;
      return top * (1 - fy) + bottom * fy;
    };
    for (const [W, H] of [
      [29, 23],
      [13, 11],
      [7, 6],
    ] as const) {
      const { at } = run(image, resolveSpec(undefined, { ...raw, width: W, height: H }));
      for (let y = 0; y < H; y++)
        for (let x = 0; x < W; x++)
          for (let c = 0; c < 3; c++)
            expect(at(c, x, y)).toBeCloseTo(reference(((x + 0.5) * w) / W - 0.5, ((y + 0.5) * h) / H - 0.5, c), 3);
    }
    // A crop touching the bottom-right corner samples only inside the crop.
    const crop = { x: 9, y: 8, width: 4, height: 3 };
    const { at } = run(image, resolveSpec(undefined, { ...raw, width: 8, height: 6 }), crop);
    const clampTo = (v: number, lo: number, hi: number) => Math.min(hi, Math.max(lo, v));
    for (let y = 0; y < 6; y++)
      for (let x = 0; x < 8; x++)
        for (let c = 0; c < 3; c++)
          expect(at(c, x, y)).toBeCloseTo(
            reference(clampTo(9 + ((x + 0.5) * 4) / 8 - 0.5, 9, 12), clampTo(8 + ((y + 0.5) * 3) / 6 - 0.5, 8, 10), c),
            3,
          );
  });
});

describe('float16', () => {
  it('round-trips representative values', () => {
    for (const v of [0, 1, -1, 0.5, 65504, -2.5, 1e-5, 0.1, 114, 255]) {
      expect(fromHalfBits(toHalfBits(v))).toBeCloseTo(v, Math.abs(v) < 1 ? 3 : 0);
    }
    expect(toHalfBits(1)).toBe(0x3c00);
    expect(toHalfBits(-2)).toBe(0xc000);
    expect(toHalfBits(1e6)).toBe(0x7c00); // overflow → +Inf
    expect(fromHalfBits(0x7c00)).toBe(Infinity);
    const arr = Float32Array.from([0.25, 3, -7.5]);
    expect(Array.from(halfArrayToFloat32(float32ToHalfArray(arr)))).toEqual([0.25, 3, -7.5]);
  });

  it('reads the bits of any 2-byte view (browsers hand float16 outputs out as Float16Array)', () => {
    const bits = float32ToHalfArray(Float32Array.from([0, 0.25, 3, -7.5, 1]));
    expect(halfBits(bits)).toBe(bits);
    // Node 20 has no Float16Array: another 2-byte view of an offset slice of the same memory stands in for it.
    const view = new Int16Array(bits.buffer, 2, 3);
    expect(Array.from(halfArrayToFloat32(halfBits(view)))).toEqual([0.25, 3, -7.5]);
  });
});
