/** Recognizer: detect → crop from the original → embed → classify, on real models and photos. */
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { Detector } from '../src/core/detector/detector.js';
import { Embedder } from '../src/core/embedder.js';
import { isSkulensError } from '../src/core/errors.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { Recognizer } from '../src/core/recognizer.js';
import { loadImage } from '../src/node/image-loader.js';
import { constantDetector } from '../fixtures/detector-graphs.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

const REFS: Record<string, string> = {
  Banana: 'train/Fruit/Banana',
  Orange: 'train/Fruit/Orange',
  'Granny-Smith': 'train/Fruit/Apple/Granny-Smith',
};

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe.skipIf(!HAVE_SHARED)('Recognizer', () => {
  let detector: Detector;
  let embedder: Embedder;
  let gallery: ReferenceGallery;
  beforeAll(async () => {
    // COCO banana / apple / orange, one box per object whatever its COCO class.
    detector = await Detector.create({ model: models.yolov8, classes: [46, 47, 49], classAgnostic: true });
    embedder = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet' });
    gallery = new ReferenceGallery();
    for (const [label, dir] of Object.entries(REFS)) {
      const images = Array.from({ length: 10 }, (_, i) =>
        join(grocery, dir, `${dir.split('/').pop()}_${String(i + 1).padStart(3, '0')}.jpg`),
      );
      const { added } = await gallery.addImages(embedder, label, images);
      expect(added).toBe(10);
    }
  });
  afterAll(async () => {
    await Promise.all([detector.dispose(), embedder.dispose()]);
  });

  it('names and counts the fruit on a photo, with crops from the original pixels', async () => {
    const recognizer = new Recognizer({ detector, embedder, gallery });
    const path = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
    const r = await recognizer.recognize(path);
    const detections = await detector.detect(path);
    expect(r.items.map((i) => i.box)).toEqual(detections.map((d) => d.box));
    expect(r.items.length).toBeGreaterThanOrEqual(3);
    expect(Object.values(r.counts).reduce((a, b) => a + b, 0) + r.unknown).toBe(r.items.length);
    const [top] = Object.entries(r.counts).sort((a, b) => b[1] - a[1]);
    expect(top![0]).toBe('Banana');
    // Each item's similarity is what its crop of the ORIGINAL image scores in the gallery.
    const image = await loadImage(path);
    const vectors = await embedder.embed(r.items.map((i) => ({ image, crop: i.box })));
    const again = gallery.classifyBatch(vectors);
    r.items.forEach((item, i) => {
      expect(item.guess).toBe(again[i]!.label);
      expect(item.similarity).toBeCloseTo(again[i]!.score, 5);
      expect(item.unknownScore).toBeCloseTo(again[i]!.unknownScore, 5);
    });
    for (const stage of ['decode', 'detect', 'embed', 'search', 'total'] as const) expect(r.timings[stage]).toBeGreaterThanOrEqual(0);
    expect(r.timings.total).toBeGreaterThanOrEqual(r.timings.detect + r.timings.embed);
    expect([r.width, r.height]).toEqual([image.width, image.height]);
  });

  it('a high threshold answers unknown instead of guessing', async () => {
    const recognizer = new Recognizer({ detector, embedder, gallery, threshold: 0.999 });
    const r = await recognizer.recognize(join(grocery, 'test/Fruit/Orange/Orange_027.jpg'));
    expect(r.items.length).toBeGreaterThan(0);
    expect(r.counts).toEqual({});
    expect(r.unknown).toBe(r.items.length);
    for (const item of r.items) expect(item).toMatchObject({ label: null, unknown: true, guess: expect.any(String) });
  });

  it('refuses an embedder other than the gallery’s (E_FINGERPRINT) and an empty gallery (E_EMPTY)', async () => {
    const other = await Embedder.create({ model: models.mobilenetEmbed, preset: 'clip' });
    const err = thrown(() => new Recognizer({ detector, embedder: other, gallery }));
    await other.dispose();
    expect(isSkulensError(err, 'E_FINGERPRINT')).toBe(true);
    expect(
      isSkulensError(
        thrown(() => new Recognizer({ detector, embedder, gallery: new ReferenceGallery() })),
        'E_EMPTY',
      ),
    ).toBe(true);
  });

  it('an image with nothing detected gives an empty recognition, not an error', async () => {
    const none = await Detector.create({ model: constantDetector({ output: new Float32Array(6), outputShape: [1, 1, 6] }) });
    const r = await new Recognizer({ detector: none, embedder, gallery }).recognize(join(grocery, 'test/Fruit/Banana/Banana_013.jpg'));
    await none.dispose();
    expect(r).toMatchObject({ items: [], counts: {}, unknown: 0 });
  });

  it('a corrupt image is an E_IMAGE_DECODE error', async () => {
    const recognizer = new Recognizer({ detector, embedder, gallery });
    const err = await recognizer.recognize(new Uint8Array([0xff, 0xd8, 0xff, 0x00])).catch((e: unknown) => e);
    expect(isSkulensError(err, 'E_IMAGE_DECODE')).toBe(true);
  });
});
