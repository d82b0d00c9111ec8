/**
 * ndarray images (the scijs `ndarray` shape: data, shape [height, width, channels],
 * stride, offset), duck-typed: views with any strides give the pixels, and so the
 * vectors, of the contiguous image; floats are 0–1; bad shapes fail with E_IMAGE_DECODE.
 */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Detector, Embedder, loadImage, type NdArrayImage, type RawImage } from '../src/index.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

/** The same pixels stored column by column ([width, height, channels] in memory, as get-pixels keeps them) and viewed as [height, width, channels]. */
function transposedView(img: RawImage): NdArrayImage {
  const { width: w, height: h, channels: c } = img;
  const data = new Uint8Array(w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) for (let k = 0; k < c; k++) data[(x * h + y) * c + k] = img.data[(y * w + x) * c + k]!;
  return { data, shape: [h, w, c], stride: [c, h * c, 1], offset: 0 };
}

/** The image stored upside down, mirrored, inside a larger buffer, and viewed back the right way up (negative strides, an offset). */
function flippedView(img: RawImage): NdArrayImage {
  const { width: w, height: h, channels: c } = img;
  const pad = 17;
  const data = new Uint8Array(pad + w * h * c);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++)
      for (let k = 0; k < c; k++) data[pad + ((h - 1 - y) * w + (w - 1 - x)) * c + k] = img.data[(y * w + x) * c + k]!;
  return { data, shape: [h, w, c], stride: [-w * c, -c, 1], offset: pad + (h * w - 1) * c };
}

const contiguous = (img: RawImage, data: NdArrayImage['data'] = img.data): NdArrayImage => ({
  data,
  shape: [img.height, img.width, img.channels],
  stride: [img.width * img.channels, img.channels, 1],
  offset: 0,
});

describe('ndarray images: bad shapes and values', () => {
  const img: RawImage = { data: Uint8Array.from({ length: 4 * 3 * 3 }, (_, i) => (i * 37) % 256), width: 4, height: 3, channels: 3 };

  it('views with other strides read the same pixels; gray becomes RGB; float 0–1 is scaled to 0–255', async () => {
    const same = (a: RawImage) => expect({ ...a, data: Array.from(a.data) }).toEqual({ ...img, data: Array.from(img.data) });
    same(await loadImage(contiguous(img)));
    same(await loadImage(transposedView(img)));
    same(await loadImage(flippedView(img)));
    same(
      await loadImage(
        contiguous(
          img,
          Float32Array.from(img.data, (v) => v / 255),
        ),
      ),
    );
    same(
      await loadImage(
        contiguous(
          img,
          Float64Array.from(img.data, (v) => v / 255),
        ),
      ),
    );
    const gray = await loadImage({ data: Uint8Array.of(0, 50, 100, 150, 200, 250), shape: [2, 3], stride: [3, 1], offset: 0 });
    expect(gray).toMatchObject({ width: 3, height: 2, channels: 3 });
    expect(Array.from(gray.data.subarray(3, 6))).toEqual([50, 50, 50]);
  });

  it('a wrong shape, a float above 1, strides outside the data or an unsupported type is E_IMAGE_DECODE saying what to do', async () => {
    const bad = async (a: NdArrayImage, pattern: RegExp) => {
      const err = await loadImage(a).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_IMAGE_DECODE' });
      expect((err as Error).message).toMatch(pattern);
    };
    // planar [channels, height, width]
    await bad(
      { data: new Uint8Array(3 * 4 * 5), shape: [3, 4, 5], stride: [20, 5, 1], offset: 0 },
      /ndarray \[3x4x5\].*5 channels.*transpose\(1, 2, 0\)/,
    );
    await bad({ data: new Uint8Array(24), shape: [2, 3, 4, 1], stride: [12, 4, 1, 1], offset: 0 }, /expected \[height, width, channels\]/);
    await bad(contiguous(img, Float32Array.from(img.data)), /float pixels must be 0–1, got 37 .*divide 0–255 values by 255/);
    await bad({ ...contiguous(img), offset: 5 }, /reach elements 5 to 40, but data holds 36/);
    await bad(
      contiguous(img, Int16Array.from(img.data) as never),
      /Uint8Array or Uint8ClampedArray \(0–255\), or a Float32Array or Float64Array \(0–1\)/,
    );
  });
});

describe.skipIf(!HAVE_SHARED)('ndarray images through the Embedder and the Detector', () => {
  const photo = join(grocery, 'test/Packages/Juice/Bravo-Orange-Juice/Bravo-Orange-Juice_003.jpg');
  let embedder: Embedder;
  let raw: RawImage;
  beforeAll(async () => {
    embedder = await Embedder.create(); // the built-in embedder
    raw = await loadImage(photo);
  });
  afterAll(() => embedder?.dispose());

  it("a transposed view, a flipped view and float 0–1 pixels give the contiguous image's vector exactly", async () => {
    const [ref, ...others] = await embedder.embed([
      raw,
      contiguous(raw),
      transposedView(raw),
      flippedView(raw),
      contiguous(
        raw,
        Float32Array.from(raw.data, (v) => v / 255),
      ),
    ]);
    for (const v of others) expect(Array.from(v)).toEqual(Array.from(ref!));
    // and crops of an ndarray are crops of its pixels
    const crop = { x: 40, y: 30, width: 150, height: 200 };
    const [a, b] = await embedder.embed([
      { image: raw, crop },
      { image: transposedView(raw), crop },
    ]);
    expect(Array.from(b!)).toEqual(Array.from(a!));
  });

  it('the Detector finds the same boxes in an ndarray view as in the file', async () => {
    const detector = await Detector.create({ model: models.yolov8 });
    try {
      const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
      const fromFile = await detector.detect(banana);
      expect(fromFile.some((d) => d.label === 'banana')).toBe(true);
      expect(await detector.detect(transposedView(await loadImage(banana)))).toEqual(fromFile);
    } finally {
      await detector.dispose();
    }
  });
});
