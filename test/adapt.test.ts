/**
 * Few-shot adaptation and open-set calibration (issue 6): the linear algebra, the LDA fit
 * and its degenerate cases, the gallery integration (re-fit, save/load, format
 * versions), calibration, and — with the shared models — adapted top-1 ≥ plain top-1 on
 * held-out val.csv queries.
 */
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { backSolveTransposedRows, choleskyInPlace, forwardSolveRows, gram, mat, mulABt, symmetricEigen } from '../src/core/adapt/linalg.js';
import { applyAdaptation, fitAdaptation } from '../src/core/adapt/lda.js';
import { calibratedScore } from '../src/core/adapt/calibrate.js';
import { Rng } from '../src/core/adapt/rng.js';
import { base64ToF32, f32ToBase64 } from '../src/core/adapt/serialize.js';
import { Embedder } from '../src/core/embedder.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { HAVE_SHARED, grocery, models } from './helpers/shared.js';

function randomMat(rng: Rng, r: number, c: number) {
  const m = mat(r, c);
  for (let i = 0; i < m.data.length; i++) m.data[i] = rng.normal();
  return m;
}

/** C classes of n vectors in d dims: class means far apart, isotropic noise; non-negative like post-ReLU features. */
function synthetic(seed: number, C: number, n: number, d: number, spread = 0.3) {
  const rng = new Rng(seed);
  const means = Array.from({ length: C }, () => Array.from({ length: d }, () => Math.abs(rng.normal())));
  const vectors: Float32Array[][] = means.map((mu) =>
    Array.from({ length: n }, () => Float32Array.from(mu, (v) => Math.abs(v + spread * rng.normal()))),
  );
  return { means, vectors };
}

const finite = (a: ArrayLike<number>) => Array.from(a).every(Number.isFinite);

describe('linear algebra', () => {
  it('symmetric eigendecomposition, Cholesky and triangular solves agree with their definitions', () => {
    const rng = new Rng(7);
    for (const n of [1, 2, 7, 60]) {
      const X = randomMat(rng, n + 5, n);
      const A = gram(X);
      const { values, vectors } = symmetricEigen(A);
      for (let i = 1; i < n; i++) expect(values[i]!).toBeLessThanOrEqual(values[i - 1]!);
      for (let i = 0; i < n; i++) {
        for (let r = 0; r < n; r++) {
          let s = 0;
          for (let k = 0; k < n; k++) s += A.data[r * n + k]! * vectors.data[i * n + k]!;
          expect(s).toBeCloseTo(values[i]! * vectors.data[i * n + r]!, 8);
        }
      }
      const VVt = mulABt(vectors, vectors);
      for (let i = 0; i < n; i++) for (let j = 0; j < n; j++) expect(VVt.data[i * n + j]!).toBeCloseTo(i === j ? 1 : 0, 10);
      const L = mat(n, n, new Float64Array(A.data));
      expect(choleskyInPlace(L)).toBe(true);
      const LLt = mulABt(L, L);
      for (let i = 0; i < n * n; i++) expect(LLt.data[i]!).toBeCloseTo(A.data[i]!, 8);
      const B = randomMat(rng, 3, n);
      const Y = forwardSolveRows(L, B); // L·y = b
      const P = backSolveTransposedRows(L, B); // Lᵀ·p = b
      for (let r = 0; r < 3; r++) {
        for (let i = 0; i < n; i++) {
          let ly = 0;
          let ltp = 0;
          for (let k = 0; k < n; k++) {
            ly += L.data[i * n + k]! * Y.data[r * n + k]!;
            ltp += L.data[k * n + i]! * P.data[r * n + k]!;
          }
          expect(ly).toBeCloseTo(B.data[r * n + i]!, 8);
          expect(ltp).toBeCloseTo(B.data[r * n + i]!, 8);
        }
      }
    }
  });

  it('Cholesky reports a matrix that is not positive definite', () => {
    expect(choleskyInPlace(mat(2, 2, Float64Array.of(1, 2, 2, 1)))).toBe(false);
    expect(choleskyInPlace(mat(2, 2, new Float64Array(4)))).toBe(false);
  });

  it('float32 arrays survive the base64 round trip exactly', () => {
    const a = Float32Array.of(0, -0, 1.5, -3.25e-8, 3.4e38, Math.PI, 7);
    for (let n = 0; n <= a.length; n++)
      expect(Array.from(base64ToF32(f32ToBase64(a.subarray(0, n)), 'x'))).toEqual(Array.from(a.subarray(0, n)));
  });
});

describe('fitAdaptation', () => {
  const flat = (groups: Float32Array[][]) => {
    const rows = groups.flat();
    const d = rows[0]!.length;
    const X = new Float32Array(rows.length * d);
    rows.forEach((r, i) => X.set(r, i * d));
    const y = Int32Array.from(groups.flatMap((g, c) => g.map(() => c)));
    return { X, y, d };
  };

  it('learns C−1 axes, gives finite unit vectors, and is deterministic', () => {
    const { X, y, d } = flat(synthetic(1, 6, 8, 40).vectors);
    const a = fitAdaptation(X, y, d);
    const b = fitAdaptation(X, y, d);
    expect(a.adaptation).not.toBeNull();
    expect(a.adaptation!.outDim).toBe(5);
    expect(Array.from(a.adaptation!.projection)).toEqual(Array.from(b.adaptation!.projection));
    const out = applyAdaptation(a.adaptation!, X);
    expect(finite(out)).toBe(true);
    for (let i = 0; i < y.length; i++) {
      let s = 0;
      for (let k = 0; k < 5; k++) s += out[i * 5 + k]! ** 2;
      expect(s).toBeCloseTo(1, 5);
    }
  });

  it('refuses (identity) with one or two classes, one reference per class, or identical references — never NaN', () => {
    const s = synthetic(2, 4, 5, 16);
    const cases: [string, Float32Array[][]][] = [
      ['one class', [s.vectors[0]!]],
      ['two classes', s.vectors.slice(0, 2)],
      ['one reference per class', s.vectors.map((v) => v.slice(0, 1))],
      ['identical references', s.vectors.map((v) => [v[0]!, v[0]!, v[0]!])],
    ];
    for (const [what, groups] of cases) {
      const { X, y, d } = flat(groups);
      const r = fitAdaptation(X, y, d);
      expect(r.adaptation, what).toBeNull();
      expect(r.reason, what).toMatch(/adaptation|nothing to learn/);
    }
  });

  it('copes with fewer references than dimensions at zero shrinkage', () => {
    const { X, y, d } = flat(synthetic(3, 5, 3, 64).vectors);
    const r = fitAdaptation(X, y, d, { shrinkage: 0 });
    expect(r.adaptation).not.toBeNull();
    expect(finite(r.adaptation!.projection)).toBe(true);
  });
});

describe('gallery.adapt() / calibrate()', () => {
  const build = (groups: Float32Array[][], opts: ConstructorParameters<typeof ReferenceGallery>[0] = {}) => {
    const g = new ReferenceGallery({ index: 'exact', ...opts });
    groups.forEach((vs, c) => g.add(`class-${c}`, vs));
    return g;
  };

  it('a one-class gallery and a one-reference-per-class gallery adapt to the identity and still classify', () => {
    const s = synthetic(4, 5, 6, 24);
    for (const groups of [[s.vectors[0]!], s.vectors.map((v) => v.slice(0, 1))]) {
      const g = build(groups);
      const plain = build(groups);
      const info = g.adapt();
      expect(info.method).toBe('identity');
      expect(info.reason).toBeTruthy();
      expect(info.outDim).toBe(24);
      const q = s.vectors[0]![5]!;
      const r = g.classify(q);
      expect(Number.isFinite(r.score)).toBe(true);
      expect(r.label).toBe(plain.classify(q).label);
      expect(r.score).toBeCloseTo(plain.classify(q).score, 6);
      // and it survives a save/load
      const again = ReferenceGallery.fromBytes(g.toBytes());
      expect(again.classify(q).label).toBe(r.label);
    }
  });

  it('the threshold follows the searched space: an identity fit keeps the raw one, a projection resets it to -1, a re-fit switches it', () => {
    const s = synthetic(4, 5, 6, 24);
    // Two labels: nothing to fit, so raw similarities are searched and their threshold still holds.
    const two = build(s.vectors.slice(0, 2), { threshold: 0.4 });
    expect(two.adapt().method).toBe('identity');
    expect([two.threshold, two.thresholdSource]).toEqual([0.4, 'explicit']);
    const q = s.vectors[4]![0]!;
    expect(two.classify(q).unknown).toBe(two.classify(q).unknownScore < 0.4);
    // A third label makes the (lazy) re-fit a projection: another scale, so nothing is unknown until calibrate().
    two.add('class-2', s.vectors[2]!);
    expect(two.adaptationInfo!.method).toBe('lda');
    expect([two.threshold, two.thresholdSource]).toEqual([-1, 'adapted']);
    // Back to two labels: raw similarities again, so the raw default (the generic floor: no embedder recorded).
    two.remove('class-2');
    expect(two.adaptationInfo!.method).toBe('identity');
    expect([two.threshold, two.thresholdSource]).toEqual([0.5, 'default']);
    // A calibration adapt() drops does not leave its threshold behind on the raw scores.
    const cal = build(s.vectors.slice(0, 2));
    cal.calibrate();
    expect(cal.thresholdSource).toBe('calibrated');
    cal.adapt();
    expect([cal.threshold, cal.thresholdSource, cal.calibrationInfo]).toEqual([0.5, 'default', undefined]);
    // A load keeps what was saved (no re-fit happens).
    expect(ReferenceGallery.fromBytes(cal.toBytes()).threshold).toBe(0.5);
  });

  it('separates look-alike classes that plain class means confuse', () => {
    // Classes differ by a small signal in one dimension each; a few high-variance nuisance
    // dimensions shared by all classes (think lighting, background) swamp the cosine.
    const rng = new Rng(5);
    const d = 30;
    const C = 6;
    const make = (c: number) => {
      const v = new Float32Array(d);
      for (let k = 0; k < d; k++) v[k] = 1 + 0.1 * rng.normal();
      for (let k = 0; k < 3; k++) v[d - 1 - k] = v[d - 1 - k]! + 3 * rng.normal(); // nuisance
      v[c] = v[c]! + 0.5; // the class signal
      return v;
    };
    const refs = Array.from({ length: C }, (_, c) => Array.from({ length: 20 }, () => make(c)));
    const queries = Array.from({ length: C * 30 }, (_, i) => ({ c: i % C, v: make(i % C) }));
    const plain = build(refs);
    const adapted = build(refs);
    adapted.adapt();
    const acc = (g: ReferenceGallery) => queries.filter((q) => g.classify(q.v).label === `class-${q.c}`).length / queries.length;
    expect(acc(adapted)).toBeGreaterThan(acc(plain) + 0.1);
  });

  it('re-fits when classes are added or removed, saves as version 2 and loads back identically', () => {
    const s = synthetic(6, 6, 8, 20);
    const g = build(s.vectors.slice(0, 5));
    expect(g.adapt().outDim).toBe(4);
    g.add('class-5', s.vectors[5]!);
    expect(g.adaptationInfo!.outDim).toBe(5);
    expect(g.remove('class-0')).toBe(true);
    expect(g.adaptationInfo!.outDim).toBe(4);
    const bytes = g.toBytes();
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true)).toBe(2);
    const back = ReferenceGallery.fromBytes(bytes);
    expect(back.adaptationInfo!.outDim).toBe(4);
    for (const v of s.vectors.flat()) {
      const a = g.classify(v);
      const b = back.classify(v);
      expect(b.label).toBe(a.label);
      expect(b.score).toBeCloseTo(a.score, 5);
    }
    // more references after a load re-fit from the stored references
    back.add('class-1', s.vectors[1]!.slice(0, 2));
    expect(back.classInfo().find((c) => c.label === 'class-1')!.references).toBe(10);
    expect(finite(back.classify(s.vectors[1]![0]!).labels.map((l) => l.score))).toBe(true);
  });

  it('a gallery that is neither adapted nor calibrated is still written as version 1', () => {
    const g = build(synthetic(7, 3, 4, 8).vectors);
    const bytes = g.toBytes();
    expect(new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true)).toBe(1);
  });

  it('is deterministic: two builds give byte-identical files', () => {
    const s = synthetic(8, 5, 6, 16);
    const a = build(s.vectors);
    const b = build(s.vectors);
    a.adapt({ shrinkage: 0.3 });
    b.adapt({ shrinkage: 0.3 });
    a.calibrate();
    b.calibrate();
    expect(Buffer.from(a.toBytes()).equals(Buffer.from(b.toBytes()))).toBe(true);
  });

  it('calibrate() sets a threshold that rejects most queries of an unseen class and few of known ones', () => {
    const s = synthetic(9, 7, 16, 24, 0.35);
    const g = build(s.vectors.slice(0, 6));
    g.adapt();
    const cal = g.calibrate({ folds: 4 });
    expect(Number.isFinite(cal.threshold)).toBe(true);
    expect(g.threshold).toBe(cal.threshold);
    const fresh = synthetic(9, 7, 16, 24, 0.35); // same means, new noise draws below
    const rng = new Rng(99);
    const jitter = (v: Float32Array) => Float32Array.from(v, (x) => Math.abs(x + 0.1 * rng.normal()));
    const known = fresh.vectors.slice(0, 6).flat().map(jitter);
    const unseen = fresh.vectors[6]!.map(jitter);
    const rejected = (vs: Float32Array[]) => vs.filter((v) => g.classify(v).unknown).length / vs.length;
    expect(rejected(known)).toBeLessThan(0.2);
    expect(rejected(unseen)).toBeGreaterThan(0.5);
    const r = g.classify(known[0]!);
    expect(r.unknownScore).toBeLessThanOrEqual(r.score);
    // stored with the file; stale once classes change
    const back = ReferenceGallery.fromBytes(g.toBytes());
    expect(back.threshold).toBe(cal.threshold);
    expect(back.calibrationInfo!.stale).toBeFalsy();
    back.remove('class-0');
    expect(back.calibrationInfo!.stale).toBe(true);
  });

  it('the calibrated score subtracts the offset and the weighted mean of the next labels', () => {
    expect(calibratedScore(0.9, 0.1, [0.8, 0.6, 0.1], 0.5, 2)).toBeCloseTo(0.9 - 0.1 - 0.5 * 0.7, 12);
    expect(calibratedScore(0.9, 0.1, [0.8], 0.5, 10)).toBeCloseTo(0.9 - 0.1 - 0.4, 12); // fewer labels than the cohort size
    expect(calibratedScore(0.9, 0.1, [], 0.5, 10)).toBeCloseTo(0.8, 12); // a one-label gallery: no cohort
    expect(calibratedScore(0.9, 0.1, [0.8], 0, 10)).toBeCloseTo(0.8, 12);
  });

  it('classify() applies the stored cohort term; a calibration without one (older files) uses offsets only', () => {
    const s = synthetic(9, 7, 16, 24, 0.35);
    const g = build(s.vectors.slice(0, 6));
    g.adapt();
    // The main score alone (rawSpace: false): the raw-space guard is tested in store.test.ts.
    g.calibrate({ cohortWeight: 0.5, cohortSize: 3, rawSpace: false });
    expect(g.calibrationInfo).toMatchObject({ cohortWeight: 0.5, cohortSize: 3 });
    // Expected: every label's best similarity, as calibrate() computes it.
    const expected = (gallery: ReferenceGallery, v: Float32Array) => {
      const r = gallery.classify(v);
      const best = new Map<string, number>();
      for (const n of gallery.nearest(v, gallery.size)) if (!best.has(n.label)) best.set(n.label, n.score);
      const others = [...best].filter(([l]) => l !== r.label).map(([, x]) => x);
      const { cohortWeight, cohortSize, offsets } = gallery.calibrationInfo!;
      const n = Math.min(cohortSize!, others.length);
      return { r, want: r.score - offsets[r.label]! - (cohortWeight! * others.slice(0, n).reduce((a, b) => a + b, 0)) / n };
    };
    const q = s.vectors[2]![0]!;
    const { r, want } = expected(g, q);
    expect(r.unknownScore).toBeCloseTo(want, 5);
    // Many stored vectors per class (40, far more than the 8-per-label search window of
    // `top`): classify() still sees the same cohort of 10 labels as calibrate().
    const many = synthetic(5, 14, 40, 16, 0.3);
    const all = build(many.vectors, { clustersPerClass: 'all' });
    all.calibrate({ cohortWeight: 0.5, cohortSize: 10, rawSpace: false });
    for (const v of [many.vectors[1]![3]!, many.vectors[4]![7]!, many.vectors[9]![0]!]) {
      const e = expected(all, v);
      expect(e.r.unknownScore).toBeCloseTo(e.want, 5);
    }
    // Round trip keeps the cohort settings; the file says it needs a reader that knows them.
    const version = (b: Uint8Array) => new DataView(b.buffer, b.byteOffset).getUint16(8, true);
    expect(version(g.toBytes())).toBe(3);
    const back = ReferenceGallery.fromBytes(g.toBytes());
    expect(back.classify(q).unknownScore).toBeCloseTo(r.unknownScore, 5);
    // cohortWeight 0 is exactly the offsets-only score of earlier versions.
    g.calibrate({ cohortWeight: 0, rawSpace: false });
    const plain = g.classify(q);
    expect(plain.unknownScore).toBeCloseTo(plain.score - g.calibrationInfo!.offsets[plain.label]!, 6);
    expect(version(g.toBytes())).toBe(2);
    expect(() => g.calibrate({ cohortWeight: -1 })).toThrow(/cohortWeight/);
  });

  it('calibrate() on a loaded clustered gallery without references says what to do', () => {
    const g = build(synthetic(10, 3, 5, 8).vectors, { clustersPerClass: 1 });
    const back = ReferenceGallery.fromBytes(g.toBytes());
    expect(() => back.calibrate()).toThrow(/needs the reference vectors.*--calibrate/);
  });
});

describe.skipIf(!HAVE_SHARED)('grocery store: adapted vs plain on held-out val.csv', () => {
  let train: { label: string; v: Float32Array }[] = [];
  let val: { label: string; v: Float32Array }[] = [];
  beforeAll(async () => {
    const embedder = await Embedder.create({ model: models.mobilenetEmbed, preset: 'imagenet', batchSize: 32 });
    try {
      const embed = async (file: string, perClass: number) => {
        const { items } = await readLabelledSet(join(grocery, file));
        const seen = new Map<string, number>();
        const pick = items.filter((it) => {
          const n = seen.get(it.label) ?? 0;
          seen.set(it.label, n + 1);
          return n < perClass;
        });
        const vs = await embedder.embed(pick.map((p) => p.path));
        return pick.map((p, i) => ({ label: p.label, v: vs[i]! }));
      };
      train = await embed('train.csv', 12);
      val = await embed('val.csv', Infinity);
    } finally {
      await embedder.dispose();
    }
  }, 600_000);

  it('adapted top-1 >= plain top-1, deterministically, without NaNs', () => {
    const make = () => {
      const g = new ReferenceGallery({ index: 'exact' });
      const by = new Map<string, Float32Array[]>();
      for (const t of train) by.set(t.label, [...(by.get(t.label) ?? []), t.v]);
      for (const [l, vs] of by) g.add(l, vs);
      return g;
    };
    const plain = make();
    const adapted = make();
    const info = adapted.adapt();
    expect(info.method).toBe('lda');
    expect(info.outDim).toBe(80);
    const top1 = (g: ReferenceGallery) =>
      val.filter((q) => g.classify(q.v, { threshold: -Infinity }).label === q.label).length / val.length;
    const p = top1(plain);
    const a = top1(adapted);
    console.log(
      `val.csv top-1 with 12 references per class: plain ${p.toFixed(3)}, adapted ${a.toFixed(3)} (fit ${info.fitMs.toFixed(0)} ms)`,
    );
    expect(a).toBeGreaterThanOrEqual(p);
    const again = make();
    again.adapt();
    for (const q of val.slice(0, 40)) {
      const r = adapted.classify(q.v);
      expect(Number.isFinite(r.score)).toBe(true);
      expect(again.classify(q.v).score).toBe(r.score);
    }
  }, 120_000);
});
