/**
 * skulens picks onnxruntime's int8 kernels per CPU (src/core/int8-probe.ts): the fast ones
 * where a probe finds them exact, the exact-arithmetic option (x64quantprecision) elsewhere.
 * Whatever it picks must not change a single vector: on every CPU the default session has to
 * answer bit for bit what the exact option answers.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { describe, expect, it } from 'vitest';
import { Detector, Embedder } from '../src/index.js';
import { fastInt8IsExact, probeModelBytes } from '../src/core/int8-probe.js';
import { EXACT_INT8_SESSION_ENTRY, withSessionDefaults } from '../src/core/model.js';
import { HAVE_SHARED, models, shelves, testPhotos as photos } from './helpers/shared.js';

const exact = { extra: { session: { ...EXACT_INT8_SESSION_ENTRY } } };

describe('int8 kernel probe', () => {
  it('its graph computes 255·127·64 per output under exact arithmetic, and it agrees with the default kernels', async () => {
    const run = async (options?: ort.InferenceSession.SessionOptions) => {
      const session = await ort.InferenceSession.create(probeModelBytes(), options);
      const { y } = await session.run({ a: new ort.Tensor('uint8', new Uint8Array(4 * 64).fill(255), [4, 64]) });
      await session.release();
      return Array.from(y!.data as Int32Array);
    };
    const reference = await run(exact);
    expect(reference).toEqual(new Array(4 * 16).fill(255 * 127 * 64));
    // The probe says "exact" exactly when the default kernels give the reference.
    expect(await fastInt8IsExact(ort)).toBe((await run()).every((v, i) => v === reference[i]));
  });

  it('the exact-arithmetic entry is added under the defaults only when asked, and the caller still wins', () => {
    const session = (o: ort.InferenceSession.SessionOptions) => (o.extra as { session: Record<string, unknown> }).session;
    expect(session(withSessionDefaults({}, { exactInt8: true })).x64quantprecision).toBe('1');
    expect(session(withSessionDefaults({})).x64quantprecision).toBeUndefined();
    const off = { extra: { session: { x64quantprecision: '0' } } };
    expect(session(withSessionDefaults(off, { exactInt8: true })).x64quantprecision).toBe('0');
  });
});

describe.skipIf(!HAVE_SHARED)('the kernels skulens picks give the exact vectors', () => {
  // Full-range int8 weights (the ONNX-zoo MobileNetV2) saturate on AVX2-only kernels; the
  // built-in embedder's 7-bit weights do not, but is checked all the same.
  const files = [...photos('Fruit/Banana', 8), ...photos('Packages/Milk/Arla-Standard-Milk', 8)];
  for (const [name, options] of [
    ['MobileNetV2-int8', { model: models.mobilenetEmbed, preset: 'imagenet' }],
    ['built-in skulens:retail-160', {}],
  ] as const) {
    it(`${name}: default session options and exact int8 arithmetic give identical vectors`, async () => {
      const picked = await Embedder.create(options);
      const reference = await Embedder.create({ ...options, sessionOptions: exact });
      try {
        const [a, b] = [await picked.embed(files), await reference.embed(files)];
        a.forEach((v, i) => expect(Array.from(v), files[i]).toEqual(Array.from(b[i]!)));
      } finally {
        await picked.dispose();
        await reference.dispose();
      }
    });
  }

  it('YOLOv8n-int8 detector: default session options and exact int8 arithmetic give identical boxes', async () => {
    const photo = join(
      shelves,
      readdirSync(shelves)
        .filter((f) => f.endsWith('.jpg'))
        .sort()[0]!,
    );
    const picked = await Detector.create({ model: models.yolov8 });
    const reference = await Detector.create({ model: models.yolov8, sessionOptions: exact });
    try {
      const [a, b] = [await picked.detect(photo), await reference.detect(photo)];
      expect(a.length).toBeGreaterThan(0);
      expect(a).toEqual(b);
    } finally {
      await picked.dispose();
      await reference.dispose();
    }
  });
});
