/** Image decoding in Node: every awkward input decodes correctly or fails with E_IMAGE_DECODE naming it. */
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import sharp from 'sharp';
import { beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_MAX_PIXELS, Embedder, loadImage, ReferenceGallery, SkulensError } from '../src/index.js';
import { grocery, HAVE_SHARED } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-img-'));
const file = (name: string) => join(dir, name);

/** A real JPEG whose frame header (SOF0) is patched to claim width×height. */
async function jpegClaiming(width: number, height: number): Promise<Buffer> {
  const jpeg = await sharp({ create: { width: 16, height: 16, channels: 3, background: '#888' } })
    .jpeg()
    .toBuffer();
  const sof = jpeg.indexOf(Buffer.from([0xff, 0xc0]));
  jpeg.writeUInt16BE(height, sof + 5);
  jpeg.writeUInt16BE(width, sof + 7);
  return jpeg;
}

async function expectDecodeError(input: string | Uint8Array, pattern: RegExp, name?: string) {
  const err = await loadImage(input).then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SkulensError);
  expect((err as SkulensError).code).toBe('E_IMAGE_DECODE');
  expect((err as SkulensError).message).toMatch(pattern);
  if (name) expect((err as SkulensError).message).toContain(name);
}

// A solid orange-red image as the source of the generated colour-space variants.
let photo: { data: Buffer; info: { raw: { width: number; height: number; channels: 3 } } };
beforeAll(async () => {
  const data = await sharp({ create: { width: 64, height: 48, channels: 3, background: { r: 200, g: 60, b: 20 } } })
    .raw()
    .toBuffer();
  photo = { data, info: { raw: { width: 64, height: 48, channels: 3 } } };
});

describe('loadImage: bad and unusual inputs', () => {
  it('corrupt JPEG (truncated half-way) fails naming the file', async () => {
    const jpeg = await sharp({
      create: { width: 400, height: 300, channels: 3, background: '#808080', noise: { type: 'gaussian', mean: 128, sigma: 40 } },
    })
      .jpeg()
      .toBuffer();
    writeFileSync(file('truncated.jpg'), jpeg.subarray(0, jpeg.length >> 1));
    await expectDecodeError(file('truncated.jpg'), /truncated JPEG data: the file ends before the image does/, 'truncated.jpg');
  });

  it('zero-byte file and empty buffer', async () => {
    writeFileSync(file('empty.jpg'), '');
    await expectDecodeError(file('empty.jpg'), /empty\.jpg/);
    await expectDecodeError(new Uint8Array(0), /empty \(0 bytes\)/);
  });

  it('a text file named .jpg', async () => {
    writeFileSync(file('notes.jpg'), 'this is not an image\n');
    await expectDecodeError(file('notes.jpg'), /not a supported image format/, 'notes.jpg');
  });

  it('a missing file', async () => {
    await expectDecodeError(file('nope.jpg'), /file not found/, 'nope.jpg');
  });

  it('a header declaring 30000×30000 is refused before decoding (decompression bomb)', async () => {
    writeFileSync(file('bomb.jpg'), await jpegClaiming(30000, 30000));
    await expectDecodeError(
      file('bomb.jpg'),
      /900,000,000 pixels, more than the limit of 64,000,000 pixels .*maxPixels option, or --max-pixels/,
      'bomb.jpg',
    );
  });

  it.skipIf(!HAVE_SHARED)(
    'maxPixels: a 348×348 photo fails under a 100,000-pixel limit, naming --max-pixels, and decodes under 200,000',
    async () => {
      const path = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
      const err = await loadImage(path, { maxPixels: 100_000 }).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_IMAGE_DECODE' });
      expect((err as Error).message).toMatch(/121,104 pixels, more than the limit of 100,000 pixels .*--max-pixels/);
      expect(await loadImage(path, { maxPixels: 200_000 })).toMatchObject({ width: 348, height: 348 });
      expect(DEFAULT_MAX_PIXELS).toBe(64_000_000);
      await expect(loadImage(path, { maxPixels: 0 })).rejects.toMatchObject({ code: 'E_INPUT' });
    },
  );

  it('a 1×1 image decodes', async () => {
    const png = await sharp({ create: { width: 1, height: 1, channels: 3, background: '#ff8000' } })
      .png()
      .toBuffer();
    const img = await loadImage(png);
    expect(img).toMatchObject({ width: 1, height: 1, channels: 3 });
    expect(Array.from(img.data)).toEqual([255, 128, 0]);
  });

  it('grayscale becomes RGB with equal channels', async () => {
    const gray = await sharp(photo.data, photo.info).toColourspace('b-w').png().toBuffer();
    expect((await sharp(gray).metadata()).channels).toBe(1);
    const img = await loadImage(gray);
    expect(img.channels).toBe(3);
    expect(img.data[0]).toBe(img.data[1]);
    expect(img.data[1]).toBe(img.data[2]);
  });

  it('RGBA is flattened onto white', async () => {
    const rgba = Buffer.alloc(4 * 4 * 4);
    for (let i = 0; i < 16; i++) rgba.set(i < 8 ? [255, 0, 0, 255] : [0, 0, 0, 0], i * 4); // top opaque red, bottom transparent
    const png = await sharp(rgba, { raw: { width: 4, height: 4, channels: 4 } })
      .png()
      .toBuffer();
    const img = await loadImage(png);
    expect(img.channels).toBe(3);
    expect(Array.from(img.data.subarray(0, 3))).toEqual([255, 0, 0]);
    expect(Array.from(img.data.subarray(45, 48))).toEqual([255, 255, 255]);
  });

  it('16-bit PNG becomes 8-bit', async () => {
    const png16 = await sharp(photo.data, photo.info).toColourspace('rgb16').png().toBuffer();
    expect((await sharp(png16).metadata()).depth).toBe('ushort');
    const img = await loadImage(png16);
    expect(img.data).toHaveLength(64 * 48 * 3);
    expect(Math.abs(img.data[0]! - 200)).toBeLessThanOrEqual(1);
    expect(Math.abs(img.data[1]! - 60)).toBeLessThanOrEqual(1);
  });

  it('CMYK JPEG is converted to sRGB', async () => {
    const cmyk = await sharp(photo.data, photo.info).toColourspace('cmyk').jpeg({ quality: 95 }).toBuffer();
    expect((await sharp(cmyk).metadata()).space).toBe('cmyk');
    const img = await loadImage(cmyk);
    expect(img.channels).toBe(3);
    const [r, g, b] = img.data;
    // Round trip through CMYK and JPEG is lossy; the colour must stay a strong orange-red.
    expect(r!).toBeGreaterThan(150);
    expect(g!).toBeLessThan(110);
    expect(b!).toBeLessThan(80);
  });

  it('EXIF orientation is applied (orientation 6 = rotate 90° clockwise)', async () => {
    const jpeg = await sharp(photo.data, photo.info).jpeg().withMetadata({ orientation: 6 }).toBuffer();
    const img = await loadImage(jpeg);
    expect([img.width, img.height]).toEqual([48, 64]);
  });

  it('a file: URL decodes; a browser-only image object is refused in Node', async () => {
    const png = await sharp({ create: { width: 3, height: 2, channels: 3, background: '#00ff00' } })
      .png()
      .toBuffer();
    writeFileSync(file('url.png'), png);
    const img = await loadImage(pathToFileURL(file('url.png')));
    expect([img.width, img.height]).toEqual([3, 2]);
    await expect(loadImage({ width: 3, height: 2 } as never)).rejects.toMatchObject({ code: 'E_IMAGE_DECODE' });
  });

  it('raw pixels are validated', async () => {
    await expect(loadImage({ data: new Uint8Array(10), width: 2, height: 2, channels: 3 })).rejects.toThrow(/needs 12/);
    await expect(loadImage({ data: new Uint8Array(8), width: 2, height: 2, channels: 2 as 3 })).rejects.toThrow(/channels must be 3/);
  });

  it('an http(s) URL is refused with E_INPUT saying it is not fetched in Node (not "file not found")', async () => {
    for (const url of ['https://example.com/shelf.jpg', new URL('http://example.com/shelf.jpg')]) {
      const err = await loadImage(url).catch((e: unknown) => e);
      expect(err).toMatchObject({ code: 'E_INPUT' });
      expect((err as Error).message).toMatch(
        /Cannot read image "http.*shelf\.jpg": images are not fetched from URLs in Node: .*pass the bytes/,
      );
    }
    // Another scheme in a URL object was a bare TypeError before.
    await expect(loadImage(new URL('data:image/png;base64,AAAA'))).rejects.toMatchObject({ code: 'E_INPUT' });
    const gallery = await ReferenceGallery.load('http://example.com/products.skg').catch((e: unknown) => e);
    expect(gallery).toMatchObject({ code: 'E_INPUT' });
    expect((gallery as Error).message).toMatch(
      /Cannot read gallery "http:.*": ReferenceGallery\.load\(\) does not fetch URLs in Node: .*ReferenceGallery\.fromBytes\(\)/,
    );
    const model = await Embedder.create({ model: 'https://example.com/embedder.onnx' }).catch((e: unknown) => e);
    expect(model).toMatchObject({ code: 'E_INPUT' });
    expect((model as Error).message).toMatch(/Cannot read model "https:.*": models are not fetched from URLs in Node: .*bytes as `model`/);
  });

  it.skipIf(!HAVE_SHARED)(
    'a truncated real photo says "truncated", also among concurrent decodes (libvips shares its error text)',
    async () => {
      const jpeg = readFileSync(join(grocery, 'test/Fruit/Banana/Banana_001.jpg'));
      writeFileSync(file('cut.jpg'), jpeg.subarray(0, 8000));
      await expectDecodeError(
        file('cut.jpg'),
        /^Cannot decode image .*cut\.jpg: truncated JPEG data: the file ends before the image does \(8,000 bytes; an interrupted download or copy\?\)\.$/,
      );
      // Decoded at once, as an Embedder batch does: sharp's own text was "Unknown error" for some of them.
      const cuts = Array.from({ length: 32 }, (_, i) => new Uint8Array(jpeg.subarray(0, 1000 + i * 500)));
      const results = await Promise.allSettled(cuts.map((b) => loadImage(b)));
      const messages = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'decoded'));
      for (const m of messages) expect(m).toMatch(/truncated JPEG data: the file ends before the image does/);
    },
  );

  it.skipIf(!HAVE_SHARED)('truncated PNG, GIF, WebP and TIFF copies of a real photo name their format', async () => {
    const photo = join(grocery, 'test/Fruit/Banana/Banana_001.jpg');
    for (const [format, expected] of [
      ['png', /truncated PNG data: the file ends before the image does/],
      ['gif', /truncated GIF data: the file ends before the image does/],
      ['webp', /truncated WebP data: the file ends before the image does/],
      ['tiff', /truncated or corrupt TIFF data \(\d[\d,]* bytes/],
    ] as const) {
      const bytes = await sharp(photo).toFormat(format).toBuffer();
      await expectDecodeError(new Uint8Array(bytes.subarray(0, bytes.length >> 1)), expected);
    }
  });

  it.skipIf(!HAVE_SHARED)('a real grocery photo decodes from a path and from bytes identically', async () => {
    const path = join(grocery, 'test/Fruit/Banana/Banana_001.jpg');
    const a = await loadImage(path);
    const b = await loadImage(new Uint8Array(readFileSync(path)));
    expect(a.width).toBeGreaterThan(100);
    expect(Buffer.compare(Buffer.from(a.data), Buffer.from(b.data))).toBe(0);
  });
});
