/**
 * Writes fixtures/shelf-expected.json: the built-in shelf detector's boxes on one shelf
 * photo, which test/shelf.test.ts compares against (so a change in decoding, letterboxing,
 * NMS or the model shows up as a failing test, not as silently different boxes). The file
 * records the model's SHA-256: a new model needs a new expectation, and the test says so.
 *
 *   npx tsx scripts/shelf-expectation.ts [--model models/skulens-shelf.onnx]
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import '../src/node/platform.js';
import { Detector } from '../src/core/detector/detector.js';

const ROOT = resolve(import.meta.dirname, '..');
const SHARED = resolve(process.env.SKULENS_SHARED ?? join(ROOT, '..', 'shared'));
const argv = process.argv.slice(2);
const modelArg = argv.indexOf('--model');
const model = resolve(modelArg >= 0 ? argv[modelArg + 1]! : join(ROOT, 'models', 'skulens-shelf.onnx'));
/** Relative to the shared folder, so the test finds it wherever SKULENS_SHARED points. */
export const PHOTO = 'data/sku110k-shelf/train_2943.jpg';
const OUT = join(ROOT, 'fixtures', 'shelf-expected.json');

const detector = await Detector.create({ model, worker: false });
const detections = await detector.detect(join(SHARED, PHOTO));
await detector.dispose();
const round = (v: number, k = 1e4) => Math.round(v * k) / k;
const expectation = {
  note: 'written by scripts/shelf-expectation.ts; regenerate when models/skulens-shelf.onnx changes',
  modelSha256: createHash('sha256').update(readFileSync(model)).digest('hex'),
  photo: PHOTO,
  confidence: detector.confidence,
  detections: detections.map((d) => ({
    x: round(d.box.x),
    y: round(d.box.y),
    width: round(d.box.width),
    height: round(d.box.height),
    score: round(d.score, 1e6),
  })),
};
writeFileSync(OUT, JSON.stringify(expectation, null, 1) + '\n');
console.log(`wrote ${relative(ROOT, OUT)}: ${detections.length} boxes of ${relative(ROOT, model)} on ${PHOTO}`);
