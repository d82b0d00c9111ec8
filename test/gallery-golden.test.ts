/**
 * Golden gallery files: one per format version, written by the skulens commits that
 * wrote that version (scripts/golden-galleries.sh), with the answers that code gave.
 * Today's code must read every one of them and answer the same.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { GALLERY_FORMAT_VERSION, ReferenceGallery } from '../src/index.js';
import { DEFAULT_POWER, DEFAULT_SHRINKAGE } from '../src/core/adapt/lda.js';
import { REPO_ROOT } from './helpers/shared.js';

interface Golden {
  kind: string;
  formatVersion: number;
  classes: { label: string; references: number; vectors: number }[];
  queries: number[][];
  answers: { label: string; score: number; unknown: boolean; unknownScore?: number }[];
}

const DIR = join(REPO_ROOT, 'fixtures', 'galleries');
const names = readdirSync(DIR)
  .filter((f) => f.endsWith('.skg'))
  .map((f) => f.slice(0, -4))
  .sort();
/**
 * Files re-saved at a higher version: commits 1eefc5e..1737628^ wrote a calibration with a
 * cohort term as version 2, which today's code reads as written (same answers) and saves
 * as version 3, the lowest that holds it.
 */
const UPGRADED_ON_SAVE: Record<string, number> = { 'v2-calibrated-cohort': 3 };
const versionOf = (bytes: Uint8Array) => new DataView(bytes.buffer, bytes.byteOffset).getUint16(8, true);

describe('golden gallery files of earlier format versions', () => {
  it('there is one for every format version this code reads', () => {
    const versions = new Set(names.map((n) => (JSON.parse(readFileSync(join(DIR, `${n}.json`), 'utf8')) as Golden).formatVersion));
    expect([...versions].sort()).toEqual(Array.from({ length: GALLERY_FORMAT_VERSION }, (_, i) => i + 1));
  });

  for (const name of names) {
    it(`${name}: loads and answers as the code that wrote it did`, () => {
      const golden = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Golden;
      const bytes = new Uint8Array(readFileSync(join(DIR, `${name}.skg`)));
      expect(versionOf(bytes)).toBe(golden.formatVersion);
      const gallery = ReferenceGallery.fromBytes(bytes);
      expect(gallery.classInfo()).toEqual(golden.classes);
      const check = (g: ReferenceGallery) => {
        golden.queries.forEach((q, i) => {
          const want = golden.answers[i]!;
          const got = g.classify(q, { k: 5 });
          expect(got.label).toBe(want.label);
          expect(got.unknown).toBe(want.unknown);
          // float32 arithmetic in a different order may move the last digits, no more
          expect(got.score).toBeCloseTo(want.score, 5);
          if (want.unknownScore !== undefined) expect(got.unknownScore).toBeCloseTo(want.unknownScore, 5);
        });
      };
      check(gallery);
      // Saved again by today's code, it keeps the lowest version that holds its content.
      const again = gallery.toBytes({ float16: golden.kind === 'plain-f16' });
      expect(versionOf(again)).toBe(UPGRADED_ON_SAVE[name] ?? golden.formatVersion);
      check(ReferenceGallery.fromBytes(again));
    });
  }
});

describe('an adapted gallery written before the defaults were re-chosen (issue 29)', () => {
  it('re-fits with the power and shrinkage it was built with, not the new defaults', () => {
    const bytes = new Uint8Array(readFileSync(join(DIR, 'v2-adapted.skg')));
    const gallery = ReferenceGallery.fromBytes(bytes);
    const before = gallery.adaptationInfo!;
    expect(before).toMatchObject({ method: 'lda', power: 0.75, shrinkage: 0.15 });
    // Adding a class owes a re-fit: it must use the file's era's defaults (0.75 / 0.15).
    const dim = gallery.dim;
    gallery.add('late-class', [
      Float32Array.from({ length: dim }, (_, i) => (i === 0 ? 1 : 0.01)),
      Float32Array.from({ length: dim }, (_, i) => (i === 1 ? 1 : 0.02)),
    ]);
    expect(gallery.adaptationInfo).toMatchObject({ method: 'lda', power: 0.75, shrinkage: 0.15 });
    // A gallery adapted today records what it resolved, so a later change of defaults cannot move its re-fits.
    const today = ReferenceGallery.fromBytes(gallery.toBytes());
    today.adapt();
    expect(ReferenceGallery.fromBytes(today.toBytes()).adaptationInfo).toMatchObject({
      power: DEFAULT_POWER,
      shrinkage: DEFAULT_SHRINKAGE,
    });
  });
});
