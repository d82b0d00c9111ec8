/**
 * Images given as `ndarray` views (the scijs `ndarray` package and what builds on it),
 * recognised by shape so that the package is no dependency: read through their strides
 * into the 8-bit interleaved pixels the rest of skulens works on.
 */
import { SkulensError } from './errors.js';
import type { NdArrayImage, RawImage } from './image-types.js';

/** An object with the members of an ndarray view (checked in full by ndarrayToRaw). */
export function isNdArray(value: unknown): value is NdArrayImage {
  if (typeof value !== 'object' || value === null) return false;
  const v = value as Partial<NdArrayImage>;
  return Array.isArray(v.shape) && Array.isArray(v.stride) && typeof v.offset === 'number' && v.data !== undefined;
}

/** `[HxWxC] float32`, for messages. */
export function describeNdArray(a: NdArrayImage): string {
  const type = (a.data as { constructor?: { name?: string } } | undefined)?.constructor?.name ?? typeof a.data;
  return `<ndarray [${a.shape.join('x')}] ${type}>`;
}

/**
 * Copy an ndarray image of shape [height, width, channels] (1, 3 or 4) or [height, width]
 * into RGB/RGBA bytes; a contiguous uint8 RGB/RGBA view is returned without a copy.
 * Integer data are taken as 0–255, float data as 0–1 (a float above 1 is an error, not
 * a silent white image). Bad shapes, types and strides are E_IMAGE_DECODE.
 */
export function ndarrayToRaw(a: NdArrayImage, name = describeNdArray(a)): RawImage {
  const fail = (why: string): never => {
    throw new SkulensError('E_IMAGE_DECODE', `Invalid ndarray image ${name}: ${why}.`, { input: name });
  };
  const { data, shape, stride, offset } = a;
  const float = data instanceof Float32Array || data instanceof Float64Array;
  if (!float && !(data instanceof Uint8Array || data instanceof Uint8ClampedArray)) {
    fail('its data must be a Uint8Array or Uint8ClampedArray (0–255), or a Float32Array or Float64Array (0–1)');
  }
  if ((shape.length !== 2 && shape.length !== 3) || stride.length !== shape.length) {
    fail(`its shape is [${shape.join(', ')}] with ${stride.length} strides; expected [height, width, channels] or [height, width]`);
  }
  const [height, width, depth = 1] = shape as [number, number, number?];
  if (![height, width].every((n) => Number.isInteger(n) && n >= 1))
    fail(`height and width (shape[0], shape[1]) must be positive integers, got ${height}x${width}`);
  if (depth !== 1 && depth !== 3 && depth !== 4) {
    fail(
      `its shape [${shape.join(', ')}] has ${depth} channels; expected 1 (gray), 3 (RGB) or 4 (RGBA) last — planar [channels, height, width] data need .transpose(1, 2, 0)`,
    );
  }
  const [sy, sx, sc = 0] = stride as [number, number, number?];
  if (![sy, sx, sc, offset].every(Number.isInteger)) fail('its strides and offset must be integers');
  // Every element the strides reach must lie inside data (negative strides: flipped views).
  let lo = offset;
  let hi = offset;
  shape.forEach((n, i) => {
    const span = (n - 1) * stride[i]!;
    if (span < 0) lo += span;
    else hi += span;
  });
  if (lo < 0 || hi >= data.length) fail(`its offset and strides reach elements ${lo} to ${hi}, but data holds ${data.length}`);

  const channels = depth === 4 ? 4 : 3;
  if (!float && depth === channels && offset === 0 && sc === 1 && sx === channels && sy === width * channels) {
    return { data: (data as Uint8Array | Uint8ClampedArray).subarray(0, width * height * channels), width, height, channels };
  }
  const out = new Uint8Array(width * height * channels);
  const cs = depth === 1 ? 0 : sc; // gray: the one channel becomes R, G and B
  let o = 0;
  for (let y = 0; y < height; y++) {
    for (let x = 0, base = offset + y * sy; x < width; x++, base += sx) {
      for (let c = 0; c < channels; c++) {
        const v = data[base + c * cs]!;
        if (!float) out[o++] = v;
        else if (v >= -FLOAT_SLACK && v <= 1 + FLOAT_SLACK) out[o++] = Math.max(0, Math.min(255, Math.round(v * 255)));
        else fail(`float pixels must be 0–1, got ${v} at (y ${y}, x ${x}, channel ${c}); divide 0–255 values by 255, or pass a Uint8Array`);
      }
    }
  }
  return { data: out, width, height, channels };
}

/** Floats may stray this far outside 0–1 (under half an 8-bit step: rounding noise of x / 255 arithmetic). */
const FLOAT_SLACK = 1 / 512;
