/**
 * Detector on tiny constant graphs (exact boxes: density, clipping, empty results, bad
 * layouts) and on the real YOLOX / YOLOv8 / YOLOv5-fp16 models with grocery photos.
 */
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { Detector, type Detection } from '../src/core/detector/detector.js';
import { Embedder } from '../src/core/embedder.js';
import { isSkulensError } from '../src/core/errors.js';
import type { RawImage, Rect } from '../src/core/image.js';
import { loadImage } from '../src/node/image-loader.js';
import { constantDetector, denseShelf } from '../fixtures/detector-graphs.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

const blank = (width: number, height: number): RawImage => ({
  data: new Uint8Array(width * height * 3).fill(90),
  width,
  height,
  channels: 3,
});

function iou(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  if (w <= 0 || h <= 0) return 0;
  return (w * h) / (a.width * a.height + b.width * b.height - w * h);
}

async function rejects(p: Promise<unknown>, code: string, pattern: RegExp) {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(isSkulensError(err), `expected a SkulensError, got ${String(err)}`).toBe(true);
  expect((err as { code: string }).code).toBe(code);
  expect((err as Error).message).toMatch(pattern);
}

describe('Detector on a dense-shelf fixture (YOLOv5 single class [1,25200,6])', () => {
  const shelf = denseShelf();
  let detector: Detector;
  beforeAll(async () => {
    detector = await Detector.create({
      model: constantDetector({ output: shelf.output, outputShape: [1, 25200, 6] }),
      classAgnostic: true,
    });
  });
  afterAll(() => detector.dispose());

  it('is laid out like a dense shelf: ~2,000 candidates above threshold, 600 objects', () => {
    expect(shelf.truth).toHaveLength(600);
    expect(shelf.aboveThreshold).toBeGreaterThan(1900);
    expect(shelf.aboveThreshold).toBeLessThan(2200);
  });

  it('keeps exactly the 600 true boxes, mapped back to the original image', async () => {
    expect(detector.format).toBe('yolov5');
    expect(detector.formatSource).toBe('shape');
    // A 1280×1280 photo is letterboxed at scale 0.5 without padding: image = input × 2.
    const found = await detector.detect(blank(1280, 1280));
    expect(found).toHaveLength(600);
    const expected = [...shelf.truth].sort((a, b) => b.score - a.score);
    found.forEach((d, i) => {
      const t = expected[i]!;
      expect(d.score).toBeCloseTo(t.score, 4);
      expect(d.box.x).toBeCloseTo(Math.max(0, t.x1 * 2), 2);
      expect(d.box.y).toBeCloseTo(Math.max(0, t.y1 * 2), 2);
      expect(d.box.x + d.box.width).toBeCloseTo(Math.min(1280, t.x2 * 2), 2);
      expect(d.box.y + d.box.height).toBeCloseTo(Math.min(1280, t.y2 * 2), 2);
      expect(d.classId).toBe(0);
    });
  });

  it('maxDetections keeps the best ones', async () => {
    const capped = await Detector.create({
      model: constantDetector({ output: shelf.output, outputShape: [1, 25200, 6] }),
      maxDetections: 150,
    });
    const found = await capped.detect(blank(640, 640));
    await capped.dispose();
    expect(found).toHaveLength(150);
    const best = [...shelf.truth].sort((a, b) => b.score - a.score).slice(0, 150);
    expect(found.map((d) => d.score)).toEqual(best.map((t) => expect.closeTo(t.score, 4)));
  });
});

describe('Detector edge cases (constant graphs)', () => {
  it('clips boxes to the image and drops boxes lying in the letterbox padding', async () => {
    // End-to-end rows x1,y1,x2,y2,score,class in 640×640 input pixels. A 1280×640 image is
    // letterboxed at scale 0.5 into rows 160..480 (centred), so image y = (input y - 160) × 2.
    const rows = [
      [-40, 100, 100, 200, 0.9, 3], // sticks out left and above the image area → clipped
      [600, 400, 700, 520, 0.8, 1], // sticks out right and below the input frame → clipped
      [100, 10, 200, 150, 0.7, 2], // entirely in the top padding → dropped
    ];
    const model = constantDetector({ output: Float32Array.from(rows.flat()), outputShape: [1, 3, 6] });
    const detector = await Detector.create({ model, labels: ['a', 'b', 'c', 'd'] });
    expect(detector.format).toBe('end2end');
    const found = await detector.detect(blank(1280, 640));
    await detector.dispose();
    expect(found).toHaveLength(2);
    expect(found[0]).toMatchObject({ box: { x: 0, y: 0, width: 200, height: 80 }, classId: 3, label: 'd' });
    expect(found[0]!.score).toBeCloseTo(0.9, 6);
    expect(found[1]).toMatchObject({ box: { x: 1200, y: 480, width: 80, height: 160 }, classId: 1, label: 'b' });
  });

  it('no box above the threshold is an empty result, not an error', async () => {
    const quiet = new Float32Array(25200 * 6);
    for (let i = 0; i < 25200; i++) quiet.set([320, 320, 50, 50, 0.2, 0.9], i * 6);
    const detector = await Detector.create({ model: constantDetector({ output: quiet, outputShape: [1, 25200, 6] }) });
    expect(await detector.detect(blank(300, 200))).toEqual([]);
    await detector.dispose();
    // After dispose() a call says so with a code, and a second dispose() is harmless.
    await expect(detector.detect(blank(300, 200))).rejects.toMatchObject({
      code: 'E_INPUT',
      message: expect.stringMatching(/Detector was disposed/),
    });
    await detector.dispose();
  });

  it('an unreadable output layout fails with E_MODEL_SHAPE naming the shapes', async () => {
    const model = constantDetector({ output: new Float32Array(7), outputShape: [1, 7] });
    await rejects(
      Detector.create({ model }),
      'E_MODEL_SHAPE',
      /output is shaped \[1,7\].*input images float32 \[1,3,640,640\], outputs output \[1,7\]/,
    );
    const v8 = constantDetector({ output: new Float32Array(84 * 8400), outputShape: [1, 84, 8400] });
    await rejects(
      Detector.create({ model: v8, format: 'yolox' }),
      'E_MODEL_SHAPE',
      /YOLOX rows must be the grid cells at strides 8\/16\/32 for the 640x640 input \(8400\), got 84/,
    );
  });

  it('learns symbolic output dims from a probe run; reads Ultralytics metadata (end2end, names)', async () => {
    const rows = Float32Array.from([10, 10, 50, 50, 0.9, 1, 0, 0, 0, 0, 0, 0]);
    const model = constantDetector({
      output: rows,
      outputShape: [1, 2, 6],
      declaredOutputShape: ['batch', 'boxes', 6],
      metadata: { end2end: 'True', names: "{0: 'can', 1: \"o'clock cereal\"}" },
    });
    const detector = await Detector.create({ model });
    expect(detector.outputShape).toEqual([1, 2, 6]);
    expect(detector.format).toBe('end2end');
    expect(detector.formatSource).toBe('metadata');
    expect(detector.labels).toEqual(['can', "o'clock cereal"]);
    const found = await detector.detect(blank(640, 640));
    await detector.dispose();
    expect(found).toEqual([
      { box: { x: 10, y: 10, width: 40, height: 40 }, score: expect.closeTo(0.9, 6), classId: 1, label: "o'clock cereal" },
    ]);
  });

  it('rejects bad options and a corrupt image clearly', async () => {
    const model = constantDetector({ output: new Float32Array(6), outputShape: [1, 1, 6] });
    await rejects(Detector.create({ model, confidence: 1.5 }), 'E_INPUT', /confidence must be between 0 and 1/);
    await rejects(Detector.create({ model, inputSize: 320 }), 'E_MODEL_SHAPE', /fixed size 640x640, but 320x320/);
    const detector = await Detector.create({ model });
    await rejects(detector.detect(new Uint8Array([1, 2, 3, 4])), 'E_IMAGE_DECODE', /Cannot decode image/);
    await detector.dispose();
  });
});

// --- Real models on real photos -----------------------------------------------------

const FRUIT = [
  { file: 'Banana/Banana_013.jpg', coco: 46, imagenet: 954 },
  { file: 'Banana/Banana_037.jpg', coco: 46, imagenet: 954 },
  { file: 'Orange/Orange_027.jpg', coco: 49, imagenet: 950 },
  { file: 'Orange/Orange_043.jpg', coco: 49, imagenet: 950 },
  { file: 'Apple/Granny-Smith/Granny-Smith_039.jpg', coco: 47, imagenet: 948 },
  { file: 'Apple/Granny-Smith/Granny-Smith_053.jpg', coco: 47, imagenet: 948 },
];

describe.skipIf(!HAVE_SHARED)('Detector with real YOLO models on grocery photos', () => {
  const detectors: Record<string, Detector> = {};
  let classifier: Embedder;
  beforeAll(async () => {
    detectors.yolox = await Detector.create({ model: models.yolox, format: 'yolox' });
    detectors.yolov8 = await Detector.create({ model: models.yolov8 });
    detectors.yolov5fp16 = await Detector.create({ model: models.yolov5fp16 });
    // MobileNetV2's ImageNet logits, to check independently that a box holds the fruit.
    classifier = await Embedder.create({ model: models.mobilenet, preset: 'imagenet', output: 'output' });
  });
  afterAll(async () => {
    await Promise.all([...Object.values(detectors).map((d) => d.dispose()), classifier.dispose()]);
  });

  it('picks or is told the right layout and preprocessing for each model', () => {
    expect(detectors.yolox!.format).toBe('yolox');
    expect(detectors.yolox!.spec).toMatchObject({
      width: 416,
      height: 416,
      channelOrder: 'bgr',
      scale: 1,
      letterboxAlign: 'top-left',
      padValue: 114,
    });
    expect(detectors.yolov8!).toMatchObject({ format: 'yolov8', formatSource: 'shape', outputShape: [1, 84, 8400] });
    expect(detectors.yolov8!.spec).toMatchObject({ width: 640, channelOrder: 'rgb', letterboxAlign: 'center', scale: 1 / 255 });
    expect(detectors.yolov8!.labels?.[46]).toBe('banana'); // from the export's metadata
    expect(detectors.yolov5fp16!).toMatchObject({ format: 'yolov5', outputShape: [1, 25200, 85] });
    expect(detectors.yolov5fp16!.spec).toMatchObject({ width: 640, height: 640, dtype: 'float16' });
  });

  it("format auto reads YOLOX-nano's raw grid [1,3549,85] as YOLOX, with its preprocessing and the same boxes as format yolox", async () => {
    const auto = await Detector.create({ model: models.yolox });
    try {
      expect(auto).toMatchObject({ format: 'yolox', formatSource: 'values', outputShape: [1, 3549, 85] });
      expect(auto.spec).toEqual(detectors.yolox!.spec);
      for (const { file } of FRUIT.slice(0, 3)) {
        const path = join(grocery, 'test/Fruit', file);
        const found = await auto.detect(path);
        expect(found.length).toBeGreaterThan(0);
        expect(found).toEqual(await detectors.yolox!.detect(path));
      }
    } finally {
      await auto.dispose();
    }
  });

  for (const { file, coco, imagenet } of FRUIT) {
    it(`all three find the fruit in ${file} (score ≥ 0.5), agree on the strongest box (IoU ≥ 0.5), and the box holds the fruit`, async () => {
      const path = join(grocery, 'test/Fruit', file);
      const image = await loadImage(path);
      const tops: Detection[] = [];
      for (const d of Object.values(detectors)) {
        const found = await d.detect(path);
        const top = found.find((x) => x.classId === coco);
        expect(top, `${d.format} found no class ${coco}`).toBeDefined();
        expect(top!.score).toBeGreaterThanOrEqual(0.5);
        const { x, y, width, height } = top!.box;
        expect(x >= 0 && y >= 0 && x + width <= image.width && y + height <= image.height).toBe(true);
        tops.push(top!);
      }
      for (let i = 0; i < 3; i++) for (let j = i + 1; j < 3; j++) expect(iou(tops[i]!.box, tops[j]!.box)).toBeGreaterThanOrEqual(0.5);
      // An ImageNet classifier on the crop ranks the same fruit in its top 5.
      const logits = await classifier.embed(tops.map((t) => ({ image, crop: t.box })));
      for (const l of logits) {
        const top5 = Array.from(l.keys())
          .sort((a, b) => l[b]! - l[a]!)
          .slice(0, 5);
        expect(top5).toContain(imagenet);
      }
    });
  }

  it('file input and raw-pixel input give the same boxes', async () => {
    const path = join(grocery, 'test/Fruit', FRUIT[2]!.file);
    const raw = await loadImage(path);
    for (const d of Object.values(detectors)) expect(await d.detect(raw)).toEqual(await d.detect(path));
  });

  it('an image smaller than the input size is upscaled; boxes stay in its own pixels', async () => {
    const path = join(grocery, 'test/Fruit', FRUIT[0]!.file);
    const full = await loadImage(path);
    const { data, info } = await sharp(path).rotate().resize(120, 120).raw().toBuffer({ resolveWithObject: true });
    const small: RawImage = { data, width: info.width, height: info.height, channels: 3 };
    const k = 120 / full.width;
    for (const d of Object.values(detectors)) {
      const big = (await d.detect(full)).filter((x) => x.classId === 46);
      const tiny = (await d.detect(small)).filter((x) => x.classId === 46);
      expect(tiny.length).toBeGreaterThan(0);
      for (const t of tiny) expect(t.box.x + t.box.width <= 120 && t.box.y + t.box.height <= 120).toBe(true);
      // The strongest small-image box is one of the full-size boxes, scaled.
      const scaled = big.map((b) => ({ x: b.box.x * k, y: b.box.y * k, width: b.box.width * k, height: b.box.height * k }));
      expect(Math.max(...scaled.map((b) => iou(b, tiny[0]!.box)))).toBeGreaterThanOrEqual(0.5);
    }
  });

  it('a featureless image gives no detections', async () => {
    for (const d of Object.values(detectors)) expect(await d.detect(blank(500, 375))).toEqual([]);
  });
});
