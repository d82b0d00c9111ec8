/**
 * Bounded fuzzing of the gallery reader (issue 25): seeded mutations of small real
 * galleries — bit flips, truncations, splices, length fields and forged metadata, most
 * with a recomputed checksum so that the structural checks are what is tested. Each must
 * load as a usable gallery or fail with a coded SkulensError: never another exception, a
 * crash of the native index, a hang or unbounded memory. Same seed, same cases.
 */
import { describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { SkulensError } from '../src/core/errors.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { fixChecksum, withMetaJson } from './helpers/craft-gallery.js';

const CASES = 600;
const SEED = 20251202;

/** xorshift32: small, seeded, the same everywhere. */
function rng(seed: number) {
  let s = seed >>> 0 || 1;
  const next = () => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s / 2 ** 32;
  };
  return { next, int: (n: number) => Math.floor(next() * n), pick: <T>(xs: readonly T[]): T => xs[Math.floor(next() * xs.length)]! };
}
type Rng = ReturnType<typeof rng>;

function unitVectors(r: Rng, n: number, dim: number): number[][] {
  return Array.from({ length: n }, () => {
    const v = Array.from({ length: dim }, () => r.next() - 0.5);
    const len = Math.hypot(...v);
    return v.map((x) => x / len);
  });
}

/** The galleries mutated: plain float32 with HNSW settings, float16 l2, and an adapted + calibrated one (format version 3). */
function bases(): Uint8Array[] {
  const r = rng(7);
  const plain = new ReferenceGallery({
    clustersPerClass: 'all',
    index: 'hnsw',
    hnsw: { M: 8, efConstruction: 40, ef: 32 },
    threshold: 0.4,
  });
  const l2 = new ReferenceGallery({ metric: 'l2', clustersPerClass: 2 });
  const adapted = new ReferenceGallery({ clustersPerClass: 'all' });
  for (const label of ['apple', 'Bärenmarke 1,5%', 'cola', 'dill']) {
    plain.add(label, unitVectors(r, 3, 8));
    l2.add(label, unitVectors(r, 3, 6));
    adapted.add(label, unitVectors(r, 4, 8));
  }
  adapted.adapt();
  adapted.calibrate({ folds: 2 });
  return [plain.toBytes(), l2.toBytes({ float16: true }), adapted.toBytes()];
}

const INTERESTING_U32 = [0, 1, 2, 3, 4, 7, 255, 256, 65535, 65536, 2 ** 31 - 1, 2 ** 31, 2 ** 32 - 1];
const INTERESTING_JSON: unknown[] = [
  null,
  true,
  false,
  -1,
  0,
  1,
  1.5,
  2,
  2 ** 31,
  2 ** 32,
  2 ** 53,
  1e308,
  -1e308,
  '',
  'x',
  'all',
  'hnsw',
  [],
  [1, 2],
  {},
  { M: 4 },
  'a'.repeat(5000),
];
const META_PATHS = [
  ['clustersPerClass'],
  ['seed'],
  ['index'],
  ['hnsw'],
  ['hnsw', 'M'],
  ['hnsw', 'ef'],
  ['hnsw', 'efConstruction'],
  ['hnsw', 'extra'],
  ['threshold'],
  ['embedder'],
  ['embedder', 'fingerprint'],
  ['embedder', 'spec'],
  ['embedder', 'path'],
  ['adaptation'],
  ['adaptation', 'options'],
  ['adaptation', 'fit'],
  ['calibration'],
  ['calibration', 'offsets'],
  ['calibration', 'cohortWeight'],
  ['calibration', 'cohortSize'],
  ['unknownKey'],
];

function nested(depth: number): unknown {
  let v: unknown = 1;
  for (let i = 0; i < depth; i++) v = r0.next() < 0.5 ? [v] : { a: v };
  return v;
}
const r0 = rng(SEED + 1);

type Kind = 'flip' | 'flip+crc' | 'truncate' | 'truncate+size' | 'field' | 'splice' | 'meta' | 'meta-text';

function mutate(base: Uint8Array, kind: Kind, r: Rng): Uint8Array {
  const b = base.slice();
  const view = new DataView(b.buffer);
  const body = b.length - 4;
  switch (kind) {
    case 'flip':
    case 'flip+crc': {
      for (let i = 1 + r.int(8); i > 0; i--) {
        const at = r.int(kind === 'flip' ? b.length : body);
        b[at]! ^= 1 << r.int(8);
      }
      return kind === 'flip' ? b : fixChecksum(b);
    }
    case 'truncate':
      return b.slice(0, r.int(b.length));
    case 'truncate+size': {
      const cut = b.slice(0, 44 + r.int(b.length - 44));
      new DataView(cut.buffer).setBigUint64(24, BigInt(cut.length), true);
      return fixChecksum(cut);
    }
    case 'field': {
      const metaLen = view.getUint32(32, true);
      // Header fields, or the first class's label length / counts in the table.
      const at = r.pick([12, 16, 20, 32, 40 + metaLen, 40 + metaLen + 4]);
      const old = view.getUint32(at, true);
      const value = r.next() < 0.3 ? (old + r.pick([-1, 1, 4, -4])) >>> 0 : r.pick(INTERESTING_U32);
      if (at === 40 + metaLen + 4) {
        // Counts sit after the label: find them.
        const labelLen = view.getUint32(40 + metaLen, true);
        view.setUint32(40 + metaLen + 4 + labelLen + r.int(2) * 4, value, true);
      } else view.setUint32(at, value, true);
      if (r.next() < 0.2) view.setBigUint64(24, r.pick([0n, 1n, BigInt(b.length) + 1n, 2n ** 64n - 1n]), true);
      return fixChecksum(b);
    }
    case 'splice': {
      const at = 40 + r.int(body - 40);
      const del = r.int(16);
      const ins = Uint8Array.from({ length: r.int(16) }, () => r.int(256));
      const out = new Uint8Array(b.length - Math.min(del, body - at) + ins.length);
      out.set(b.subarray(0, at));
      out.set(ins, at);
      out.set(b.subarray(Math.min(at + del, body)), at + ins.length);
      new DataView(out.buffer).setBigUint64(24, BigInt(out.length), true);
      return fixChecksum(out);
    }
    case 'meta': {
      const metaLen = view.getUint32(32, true);
      const meta = JSON.parse(new TextDecoder().decode(b.subarray(40, 40 + metaLen))) as Record<string, unknown>;
      for (let i = 1 + r.int(3); i > 0; i--) {
        const path = r.pick(META_PATHS);
        let obj = meta as Record<string, unknown>;
        for (const key of path.slice(0, -1)) {
          if (typeof obj[key] !== 'object' || obj[key] === null) obj[key] = {};
          obj = obj[key] as Record<string, unknown>;
        }
        const last = path[path.length - 1]!;
        const roll = r.next();
        if (roll < 0.1) delete obj[last];
        else if (roll < 0.2) obj[last] = nested(20 + r.int(30));
        else obj[last] = r.pick(INTERESTING_JSON);
      }
      return withMetaJson(b, JSON.stringify(meta));
    }
    case 'meta-text': {
      const metaLen = view.getUint32(32, true);
      const text = new TextDecoder().decode(b.subarray(40, 40 + metaLen));
      const at = r.int(text.length + 1);
      const junk = r.pick(['', '{', '}', '"', ',', '\\u0000', '[[[[', '\u001b', '\udc00', '1e999', 'null', ':']);
      return withMetaJson(b, text.slice(0, at) + junk + text.slice(at + r.int(4)));
    }
  }
}

/** Use a loaded gallery the way commands do; every failure must be a coded SkulensError. */
function exercise(g: ReferenceGallery, r: Rng): void {
  const attempt = (fn: () => unknown) => {
    try {
      fn();
    } catch (err) {
      if (!(err instanceof SkulensError)) throw err;
    }
  };
  void g.labels;
  attempt(() => g.classInfo());
  const q = Array.from({ length: Math.max(1, g.dim) }, () => r.next() - 0.5);
  attempt(() => {
    const c = g.classify(q, { top: 3 });
    // A loaded gallery answers with a label it holds and real numbers.
    expect(g.labels).toContain(c.label);
    expect(Number.isNaN(c.score)).toBe(false);
  });
  attempt(() => g.buildIndex());
  attempt(() => ReferenceGallery.fromBytes(g.toBytes()));
  g.dispose();
}

describe('gallery reader fuzzing', () => {
  it(`${CASES} seeded mutations: each loads and works, or fails with a coded SkulensError`, () => {
    const r = rng(SEED);
    const kinds: Kind[] = ['flip', 'flip+crc', 'truncate', 'truncate+size', 'field', 'splice', 'meta', 'meta-text'];
    const originals = bases();
    const tally = new Map<string, number>();
    const rssStart = process.memoryUsage().rss;
    let rssMax = rssStart;
    const t0 = performance.now();
    for (let i = 0; i < CASES; i++) {
      const kind = kinds[i % kinds.length]!;
      const bytes = mutate(r.pick(originals), kind, r);
      const started = performance.now();
      let outcome: string;
      try {
        const g = ReferenceGallery.fromBytes(bytes, { index: r.pick(['exact', 'hnsw', 'auto'] as const) });
        exercise(g, r);
        outcome = 'loaded';
      } catch (err) {
        if (!(err instanceof SkulensError)) throw new Error(`case ${i} (${kind}): ${String(err)}`, { cause: err });
        outcome = err.code;
      }
      // A damaged file with a wrong checksum never loads.
      if (kind === 'flip') expect(outcome, `case ${i}`).toBe('E_GALLERY_FORMAT');
      expect(performance.now() - started, `case ${i} (${kind}) took too long`).toBeLessThan(5000);
      rssMax = Math.max(rssMax, process.memoryUsage().rss);
      tally.set(`${kind} ${outcome}`, (tally.get(`${kind} ${outcome}`) ?? 0) + 1);
    }
    // Every kind of mutation ran, and both outcomes occur (the test is not all refusals).
    const outcomes = [...tally.keys()];
    expect(outcomes.some((k) => k.endsWith('loaded'))).toBe(true);
    expect(outcomes.some((k) => k.endsWith('E_GALLERY_FORMAT'))).toBe(true);
    // The bases are a few KB: nothing may allocate more than a little working memory.
    expect(rssMax - rssStart).toBeLessThan(256 * 2 ** 20);
    console.log(
      `gallery fuzz: ${CASES} cases in ${((performance.now() - t0) / 1000).toFixed(1)} s, rss +${((rssMax - rssStart) / 2 ** 20).toFixed(0)} MiB; ${[
        ...tally,
      ]
        .sort()
        .map(([k, n]) => `${k}: ${n}`)
        .join(', ')}`,
    );
  }, 60_000);
});
