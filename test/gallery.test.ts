/**
 * ReferenceGallery without models: adding, merging, clustering, voting, both indexes,
 * the binary format's safety checks (overlapping calls: concurrency.test.ts).
 */
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { SkulensError } from '../src/core/errors.js';
import { sha256HexSync } from '../src/browser/sha256.js';
import { crc32 } from '../src/core/gallery/crc32.js';
import { ExactIndex } from '../src/core/gallery/exact-index.js';
import { FORMAT_VERSION, HEADER_SIZE } from '../src/core/gallery/format.js';
import { ReferenceGallery, voteNeighbors } from '../src/core/gallery/gallery.js';
import { HnswIndex } from '../src/node/hnsw-index.js';
import { RETAIL160_EMBEDDER } from '../src/core/builtin-models.js';
import { Rng } from '../src/core/adapt/rng.js';
import { DEFAULT_POWER, DEFAULT_SHRINKAGE } from '../src/core/adapt/lda.js';

/** Seeded clustered unit vectors: `classes` centres, `per` noisy members each. */
function clustered(classes: number, per: number, dim: number, seed = 1, noise = 0.5) {
  let s = seed;
  const rand = () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
  const centres = Array.from({ length: classes }, () => Float32Array.from({ length: dim }, rand));
  const make = () => centres.map((c) => Array.from({ length: per }, () => unit(Float32Array.from(c, (x) => x + noise * rand()))));
  return { train: make(), test: make() };
}

function unit(v: Float32Array): Float32Array {
  const n = Math.hypot(...v);
  return v.map((x) => x / n);
}

function expectError(fn: () => unknown, code: string, message?: RegExp): SkulensError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SkulensError);
    expect((err as SkulensError).code).toBe(code);
    if (message) expect((err as SkulensError).message).toMatch(message);
    return err as SkulensError;
  }
  throw new Error(`expected ${code}, nothing was thrown`);
}

function galleryOf(data: Float32Array[][], options: ConstructorParameters<typeof ReferenceGallery>[0] = {}) {
  const g = new ReferenceGallery(options);
  data.forEach((vs, c) => g.add(`class-${c}`, vs));
  return g;
}

describe('ReferenceGallery basics', () => {
  it('adds, names, merges a label added twice and removes', () => {
    const { train, test } = clustered(5, 8, 32);
    const g = galleryOf(train, { clustersPerClass: 'all' });
    expect(g.labels).toEqual(['class-0', 'class-1', 'class-2', 'class-3', 'class-4']);
    expect(g.size).toBe(40);
    expect(g.dim).toBe(32);
    expect(g.metric).toBe('cosine');
    const r = g.classify(test[3]![0]!);
    expect(r.label).toBe('class-3');
    expect(r.unknown).toBe(false);
    expect(r.neighbors[0]!.label).toBe('class-3');
    expect(r.labels[0]!.label).toBe('class-3');
    expect(r.labels.length).toBe(5);
    // Same label again: merged, not replaced.
    g.add('class-3', test[3]!.slice(0, 2));
    expect(g.classInfo().find((c) => c.label === 'class-3')).toEqual({ label: 'class-3', references: 10, vectors: 10 });
    expect(g.remove('class-3')).toBe(true);
    expect(g.remove('class-3')).toBe(false);
    expect(g.labels).not.toContain('class-3');
    expect(g.classify(test[3]![0]!).label).not.toBe('class-3');
  });

  it('reduces each class to K k-means centroids, reproducibly; small classes keep all', () => {
    const { train } = clustered(3, 12, 16);
    const g = new ReferenceGallery({ clustersPerClass: 4 });
    g.add('a', train[0]!).add('b', train[1]!).add('tiny', train[2]!.slice(0, 3));
    expect(g.classInfo()).toEqual([
      { label: 'a', references: 12, vectors: 4 },
      { label: 'b', references: 12, vectors: 4 },
      { label: 'tiny', references: 3, vectors: 3 },
    ]);
    const again = new ReferenceGallery({ clustersPerClass: 4 });
    again.add('a', train[0]!).add('b', train[1]!).add('tiny', train[2]!.slice(0, 3));
    expect(Buffer.from(again.toBytes()).equals(Buffer.from(g.toBytes()))).toBe(true);
    // Adding more to a clustered class re-clusters over everything it has seen.
    g.add('tiny', train[2]!.slice(3));
    expect(g.classInfo().find((c) => c.label === 'tiny')).toEqual({ label: 'tiny', references: 12, vectors: 4 });
    // The default keeps 3 centroids per class (chosen on val, docs/gallery.md); 1 is the class mean.
    const byDefault = new ReferenceGallery();
    byDefault.add('a', train[0]!);
    expect(byDefault.size).toBe(3);
    const mean = new ReferenceGallery({ clustersPerClass: 1 });
    mean.add('a', train[0]!);
    expect(mean.size).toBe(1);
  });

  it('calibrate() works on a plain gallery whose classes hold no more references than clustersPerClass, before and after a load', () => {
    // With the default of 3 centroids, few-shot classes (2-3 references) keep their references as
    // their vectors; calibrate() must use them (it used to say the gallery "was loaded").
    const { train } = clustered(4, 3, 16, 9);
    const g = new ReferenceGallery();
    train.forEach((vs, c) => g.add(`c${c}`, c === 0 ? vs.slice(0, 2) : vs));
    expect(g.classInfo().map((c) => c.vectors)).toEqual([2, 3, 3, 3]);
    const info = g.calibrate({ folds: 2 });
    expect(Number.isFinite(info.threshold)).toBe(true);
    expect(g.thresholdSource).toBe('calibrated');
    const loaded = ReferenceGallery.fromBytes(g.toBytes());
    expect(loaded.calibrate({ folds: 2 }).threshold).toBeCloseTo(info.threshold, 5);
    // A class reduced to centroids has no references after a load: that one still says so.
    const big = new ReferenceGallery({ clustersPerClass: 2 });
    train.forEach((vs, c) => big.add(`c${c}`, vs));
    expectError(() => ReferenceGallery.fromBytes(big.toBytes()).calibrate(), 'E_INPUT', /centroid/);
  });

  it('rejects wrong dimensions, empty galleries and bad options with clear errors', () => {
    const g = new ReferenceGallery();
    expectError(() => g.classify(new Float32Array(4)), 'E_EMPTY');
    g.add('x', [new Float32Array([1, 0, 0, 0])]);
    expectError(() => g.classify(new Float32Array(5)), 'E_DIM_MISMATCH', /5 values .* 4-d/);
    expectError(() => g.classifyBatch([new Float32Array(4).fill(1), new Float32Array(3)]), 'E_DIM_MISMATCH');
    expectError(() => g.add('y', [new Float32Array(3)]), 'E_DIM_MISMATCH');
    expectError(() => g.add('y', [new Float32Array(4)]), 'E_INPUT', /all zeros/);
    expectError(() => g.add('y', [new Float32Array([1, NaN, 0, 0])]), 'E_INPUT', /non-finite/);
    expectError(() => g.add('', [new Float32Array([1, 0, 0, 0])]), 'E_INPUT');
    expectError(() => g.classify(new Float32Array(4).fill(1), { k: 0 }), 'E_INPUT');
    expectError(() => new ReferenceGallery({ clustersPerClass: 0 }), 'E_INPUT');
    expectError(() => new ReferenceGallery({ metric: 'dot' as 'l2' }), 'E_INPUT');
  });

  it('answers "unknown" below the threshold, keeping the best guess', () => {
    const g = new ReferenceGallery({ clustersPerClass: 'all' });
    g.add('east', [new Float32Array([1, 0, 0])]).add('north', [new Float32Array([0, 1, 0])]);
    const r = g.classify(new Float32Array([0.05, 0.02, 1]), { threshold: 0.5 });
    expect(r.unknown).toBe(true);
    expect(r.label).toBe('east');
    expect(g.classify(new Float32Array([1, 0.1, 0]), { threshold: 0.5 }).unknown).toBe(false);
    // A gallery-level default threshold travels with the file.
    const strict = ReferenceGallery.fromBytes(
      new ReferenceGallery({ threshold: 0.99 }).add('east', [new Float32Array([1, 0, 0])]).toBytes(),
    );
    expect(strict.threshold).toBe(0.99);
    expect(strict.classify(new Float32Array([1, 0.3, 0])).unknown).toBe(true);
  });

  it('votes with similarity weights: near-ties share, clearly worse neighbours barely count', () => {
    const n = (label: string, score: number) => ({ label, score });
    const opts = { k: 5, threshold: 0, top: 3, temperature: 0.02 };
    // Three near-equal "b" beat one slightly better "a".
    expect(voteNeighbors([n('a', 0.9), n('b', 0.895), n('b', 0.894), n('b', 0.893), n('c', 0.5)], opts).label).toBe('b');
    // A much better "a" beats many distant "b".
    const r = voteNeighbors([n('a', 0.9), n('b', 0.7), n('b', 0.69), n('b', 0.68), n('b', 0.67)], opts);
    expect(r.label).toBe('a');
    expect(r.labels.map((l) => l.label)).toEqual(['a', 'b']);
    expect(r.labels[0]!.votes).toBeGreaterThan(0.99);
  });

  it('l2 and cosine agree on unit vectors', () => {
    const { train, test } = clustered(6, 6, 24, 3);
    const cos = galleryOf(train, { metric: 'cosine', clustersPerClass: 'all' });
    const l2 = galleryOf(train, { metric: 'l2', clustersPerClass: 'all' });
    for (const q of test.flat()) {
      const a = cos.classify(q);
      const b = l2.classify(q);
      expect(b.label).toBe(a.label);
      expect(b.score).toBeCloseTo(a.score, 5);
    }
  });
});

describe('vector indexes', () => {
  it('ExactIndex returns the true top-k, and survives removals', () => {
    const dim = 19; // not a multiple of 4: exercises the unrolled loop's tail
    const idx = new ExactIndex(dim, 'cosine', 2);
    const rows = clustered(10, 10, dim, 7).train.flat();
    rows.forEach((v, i) => idx.add(i, v));
    for (const id of [3, 50, 99]) idx.remove(id);
    const q = rows[42]!;
    const brute = rows
      .map((v, id) => ({ id, score: v.reduce((s, x, j) => s + x * q[j]!, 0) }))
      .filter((h) => ![3, 50, 99].includes(h.id))
      .sort((a, b) => b.score - a.score)
      .slice(0, 7);
    const hits = idx.search(q, 7);
    expect(hits.map((h) => h.id)).toEqual(brute.map((h) => h.id));
    hits.forEach((h, i) => expect(h.score).toBeCloseTo(brute[i]!.score, 5));
    expect(idx.size).toBe(97);
  });

  it('a batch search answers each query to the bit as the query alone (pairs, an odd one out, both metrics)', () => {
    const { train, test } = clustered(12, 6, 19, 3);
    const queries = test.flat().slice(0, 7);
    for (const metric of ['cosine', 'l2'] as const) {
      const idx = new ExactIndex(19, metric, 8);
      // Unnormalised rows for l2, so its norm term matters.
      train.flat().forEach((v, i) => idx.add(i, metric === 'l2' ? v.map((x) => x * (1 + (i % 5))) : v));
      const batch = idx.searchBatch(queries, 9);
      expect(batch).toHaveLength(7);
      queries.forEach((q, i) => expect(batch[i]).toEqual(idx.search(q, 9)));
    }
    // The gallery: classifyBatch (flat or as an array) answers as classify, with the open-set guard on too.
    const g = galleryOf(train, { clustersPerClass: 2 });
    g.addNegatives(test[11]!);
    const one = queries.map((q) => g.classify(q, { top: 3 }));
    const flat = new Float32Array(7 * 19);
    queries.forEach((q, i) => flat.set(q, i * 19));
    expect(g.classifyBatch(flat, { top: 3 })).toEqual(one);
    expect(g.classifyBatch(queries, { top: 3 })).toEqual(one);
  });

  it('HNSW agrees with exact on clustered data, grows past its capacity and handles removals', () => {
    const { train, test } = clustered(40, 30, 64, 11);
    const exact = galleryOf(train, { index: 'exact', clustersPerClass: 'all' });
    const hnsw = galleryOf(train, { index: 'hnsw', clustersPerClass: 'all' });
    let agree = 0;
    const queries = test.flat();
    for (const q of queries) if (exact.classify(q).label === hnsw.classify(q).label) agree++;
    expect(hnsw.indexKind).toBe('hnsw');
    expect(agree / queries.length).toBeGreaterThan(0.99);
    hnsw.remove('class-7');
    hnsw.add('late', test[7]!);
    expect(hnsw.classify(test[7]![0]!).label).toBe('late');
    expect(hnsw.labels).not.toContain('class-7');
    // Direct: an index created tiny keeps growing.
    const idx = new HnswIndex({ metric: 'l2', dim: 8, capacity: 2, M: 8, efConstruction: 20, ef: 10, seed: 1 });
    for (let i = 0; i < 100; i++)
      idx.add(
        i,
        Float32Array.from({ length: 8 }, (_, j) => Math.sin(i * 7 + j)),
      );
    expect(idx.size).toBe(100);
    expect(
      idx.search(
        Float32Array.from({ length: 8 }, (_, j) => Math.sin(42 * 7 + j)),
        1,
      )[0]!.id,
    ).toBe(42);
  });

  it('auto stays exact for few queries and switches to HNSW when the graph pays for itself', () => {
    const { train, test } = clustered(50, 25, 16, 5);
    const g = galleryOf(train, { clustersPerClass: 'all' }); // 1,250 vectors ≥ AUTO_HNSW_MIN_SIZE
    g.classify(test[0]![0]!);
    expect(g.indexKind).toBe('exact');
    g.classifyBatch(test.flat().slice(0, 400));
    expect(g.indexKind).toBe('hnsw');
    const small = galleryOf(clustered(3, 3, 8).train, { clustersPerClass: 'all' });
    small.buildIndex();
    expect(small.indexKind).toBe('exact');
  });
});

describe('gallery bytes', () => {
  const { train } = clustered(4, 5, 12, 21);
  const labels = ['Café Crème', 'milk, 1/2 L', 'a/b\\c "quoted"', '日本茶 🍵'];
  const g = new ReferenceGallery({
    clustersPerClass: 'all',
    embedder: {
      fingerprint: '0123456789abcdef0123456789abcdef',
      spec: { width: 224, height: 224 },
      path: '/models/m.onnx',
      preset: 'imagenet',
      output: 'embedding',
    },
  });
  train.forEach((vs, i) => g.add(labels[i]!, vs));
  const bytes = g.toBytes();

  it('round-trips labels (unicode, commas, slashes, quotes), vectors, counts and embedder', () => {
    const h = ReferenceGallery.fromBytes(bytes);
    expect(h.labels).toEqual([...labels].sort());
    expect(h.embedder).toEqual(g.embedder);
    expect(h.classInfo()).toEqual(g.classInfo());
    for (const q of train.flat()) expect(h.classify(q)).toEqual(g.classify(q));
    expect(Buffer.from(h.toBytes()).equals(Buffer.from(bytes))).toBe(true);
  });

  it('float16 halves the vectors and keeps answers', () => {
    const half = g.toBytes({ float16: true });
    expect(half.length).toBeLessThan(bytes.length * 0.75);
    const h = ReferenceGallery.fromBytes(half);
    for (const q of train.flat()) {
      const a = g.classify(q);
      const b = h.classify(q);
      expect(b.label).toBe(a.label);
      expect(Math.abs(b.score - a.score)).toBeLessThan(2e-3);
    }
  });

  it('refuses truncated files at every length', () => {
    for (const cut of [0, 1, 8, 20, HEADER_SIZE, HEADER_SIZE + 10, bytes.length >> 1, bytes.length - 4, bytes.length - 1]) {
      expectError(
        () => ReferenceGallery.fromBytes(bytes.subarray(0, cut)),
        'E_GALLERY_FORMAT',
        cut === 0 ? /empty/ : /truncated|too short/,
      );
    }
  });

  it('refuses random bytes, wrong magic, a future version, a flipped bit and trailing data', () => {
    const random = new Uint8Array(4096).map((_, i) => (i * 2654435761) >>> 24);
    expectError(() => ReferenceGallery.fromBytes(random), 'E_GALLERY_FORMAT', /magic/);
    const magic = bytes.slice();
    magic[1] = 0x58;
    expectError(() => ReferenceGallery.fromBytes(magic), 'E_GALLERY_FORMAT', /not a skulens gallery/);
    const future = bytes.slice();
    new DataView(future.buffer).setUint16(8, FORMAT_VERSION + 1, true);
    expectError(
      () => ReferenceGallery.fromBytes(future),
      'E_GALLERY_FORMAT',
      new RegExp(`version ${FORMAT_VERSION + 1} .*newer skulens.*Upgrade`),
    );
    const flipped = bytes.slice();
    flipped[bytes.length - 40]! ^= 0x10;
    expectError(() => ReferenceGallery.fromBytes(flipped), 'E_GALLERY_FORMAT', /checksum/);
    const longer = new Uint8Array(bytes.length + 3);
    longer.set(bytes);
    expectError(() => ReferenceGallery.fromBytes(longer), 'E_GALLERY_FORMAT', /trailing/);
  });

  it('CRC-32 matches the standard check value, in one piece or in unaligned chunks', () => {
    const data = new TextEncoder().encode('123456789');
    expect(crc32(data)).toBe(0xcbf43926);
    const big = new Uint8Array(10_001).map((_, i) => (i * 31) & 255);
    expect(crc32(big.subarray(3), crc32(big.subarray(0, 3)))).toBe(crc32(big));
  });

  it("the browser's fallback SHA-256 (no WebCrypto on plain-http pages) gives node:crypto's hex around every padding boundary", () => {
    // 55/56 and 119/120 bytes: where the length field stops fitting in the last block.
    for (const n of [0, 1, 55, 56, 63, 64, 65, 119, 120, 1000, 100_003]) {
      const bytes = new Uint8Array(n).map((_, i) => (i * 131 + n) & 255);
      expect(sha256HexSync(bytes), `${n} bytes`).toBe(createHash('sha256').update(bytes).digest('hex'));
    }
    const inside = new Uint8Array(300).map((_, i) => i & 255).subarray(7, 207); // a view at an unaligned offset
    expect(sha256HexSync(inside)).toBe(createHash('sha256').update(inside).digest('hex'));
  });
});

describe('embedder identity', () => {
  const fake = (fingerprint: string, dim = 4) => ({
    fingerprint,
    dim,
    spec: { width: 1 } as never,
    modelPath: '/m.onnx',
    outputName: 'embedding',
  });

  it('adopts the first embedder and refuses another one (E_FINGERPRINT)', () => {
    const g = new ReferenceGallery();
    g.useEmbedder({ ...fake('aaaa'), preset: 'imagenet' });
    g.add('x', [new Float32Array([1, 0, 0, 0])]);
    expect(g.embedder).toMatchObject({ fingerprint: 'aaaa', path: '/m.onnx', preset: 'imagenet', output: 'embedding' });
    expect(() => g.useEmbedder(fake('aaaa'))).not.toThrow();
    expectError(() => g.useEmbedder(fake('bbbb')), 'E_FINGERPRINT', /different model or preprocessing/);
    expectError(() => g.useEmbedder(fake('aaaa', 8)), 'E_DIM_MISMATCH');
    // Another model that also differs in width: the fingerprint is the cause, and the message names both.
    expectError(
      () => g.useEmbedder(fake('bbbb', 8)),
      'E_FINGERPRINT',
      /built with embedder aaaa .*makes 8-d vectors, the gallery holds 4-d/,
    );
    // Vectors of unknown origin cannot be mixed with an embedder's either.
    const anonymous = new ReferenceGallery().add('x', [new Float32Array([1, 0, 0, 0])]);
    expectError(() => anonymous.useEmbedder(fake('aaaa')), 'E_FINGERPRINT');
  });

  it('a gallery of an earlier built-in model says to rebuild it, not to change models', () => {
    const builtin = (fingerprint: string) => ({ ...fake(fingerprint), modelPath: RETAIL160_EMBEDDER });
    const g = new ReferenceGallery();
    g.useEmbedder(builtin('old1'));
    expectError(
      () => g.useEmbedder(builtin('new2')),
      'E_FINGERPRINT',
      /earlier version of the built-in model skulens:retail-160 .*rebuild the gallery/,
    );
    // A release with another output width says the same (not a bare dimension mismatch).
    g.add('x', [new Float32Array([1, 0, 0, 0])]);
    expectError(() => g.useEmbedder({ ...builtin('new3'), dim: 8 }), 'E_FINGERPRINT', /earlier version of the built-in model/);
  });

  it("adapt() takes the built-in model's own defaults, which explicit options override and a saved gallery keeps", () => {
    const rng = new Rng(5);
    const fill = (g: ReferenceGallery) => {
      for (const c of ['a', 'b', 'c'])
        g.add(
          c,
          Array.from({ length: 4 }, () =>
            Float32Array.from({ length: 4 }, (_, k) => (k === c.charCodeAt(0) - 97 ? 1 : 0) + 0.3 * (rng.next() - 0.5)),
          ),
        );
      return g;
    };
    const withBuiltin = new ReferenceGallery({ index: 'exact' });
    withBuiltin.useEmbedder({ ...fake('cccc'), modelPath: RETAIL160_EMBEDDER });
    fill(withBuiltin);
    expect(withBuiltin.adapt()).toMatchObject({ method: 'lda', shrinkage: 0.4, power: 0.75 });
    expect(withBuiltin.adapt({ shrinkage: 0.3, power: undefined })).toMatchObject({ shrinkage: 0.3, power: 0.75 });
    withBuiltin.adapt();
    const reloaded = ReferenceGallery.fromBytes(withBuiltin.toBytes());
    reloaded.add('d', [new Float32Array([0, 0, 0, 1]), new Float32Array([0.1, 0, 0, 1])]); // re-fit after a load
    expect(reloaded.adaptationInfo).toMatchObject({ method: 'lda', shrinkage: 0.4 });
    // Any other model keeps the library defaults.
    const other = new ReferenceGallery({ index: 'exact' });
    other.useEmbedder(fake('dddd'));
    expect(fill(other).adapt()).toMatchObject({ shrinkage: DEFAULT_SHRINKAGE, power: DEFAULT_POWER });
  });
});
