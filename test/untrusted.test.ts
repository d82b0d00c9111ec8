/**
 * Galleries, models, images and folders from someone else (issue 25): each hole an
 * adversarial probe found, reproduced and shown closed. Galleries are forged with a
 * correct checksum (test/helpers/craft-gallery.ts), so only the reader's checks count.
 */
import { execFileSync, spawn } from 'node:child_process';
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import sharp from 'sharp';
import { afterAll, describe, expect, it } from 'vitest';
import { buildOnnx } from '../fixtures/onnx-builder.js';
import { annotate, Embedder, loadImage, PREPROCESS_METADATA_KEY, ReferenceGallery, SkulensError } from '../src/index.js';
import { decodeGallery, encodeGallery } from '../src/core/gallery/format.js';
import { getPlatform, setPlatform } from '../src/core/platform.js';
import { readLabelledSet } from '../src/node/dataset.js';
import { annotationPaths } from '../src/cli/common.js';
import { craftGallery, withMetaJson } from './helpers/craft-gallery.js';
import { writeCsv } from './helpers/cli.js';
import { REPO_ROOT } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-untrusted-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** A fresh empty folder under the test's temp folder. */
function folder(name: string): string {
  const d = join(dir, name);
  mkdirSync(d, { recursive: true });
  return d;
}

async function rejection(p: Promise<unknown>): Promise<SkulensError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(SkulensError);
  return err as SkulensError;
}

function thrown(fn: () => unknown): SkulensError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(SkulensError);
    return err as SkulensError;
  }
  throw new Error('expected a SkulensError, nothing was thrown');
}

interface Run {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
  /** Most threads the CLI process had at once (sampled from /proc every 10 ms). */
  maxThreads: number;
  timedOut: boolean;
}

/** Run the CLI from sources, killing it after `timeoutMs` (a hang is a failure, not a stuck suite). */
function cli(args: string[], options: { timeoutMs?: number } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    let maxThreads = 0;
    let timedOut = false;
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const sampler = setInterval(() => {
      try {
        maxThreads = Math.max(maxThreads, readdirSync(`/proc/${child.pid}/task`).length);
      } catch {
        /* exited */
      }
    }, 10);
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill('SIGKILL');
    }, options.timeoutMs ?? 150_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearInterval(sampler);
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr, maxThreads, timedOut });
    });
  });
}

/** A small photo-like PNG (noise, so embeddings differ between seeds). */
async function noisePng(path: string, seed: number, size = 96): Promise<void> {
  const data = Buffer.alloc(size * size * 3);
  let s = seed;
  for (let i = 0; i < data.length; i++) {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0;
    data[i] = s >>> 24;
  }
  await sharp(data, { raw: { width: size, height: size, channels: 3 } })
    .png()
    .toFile(path);
}

describe('1. a gallery file cannot pass options to the runtime', () => {
  it('session options and worker counts in a forged embedder spec are ignored: no file written, no extra threads, same answers', async () => {
    const work = folder('item1');
    const photo = join(work, 'query.png');
    await noisePng(photo, 7);
    await noisePng(join(work, 'ref-a.png'), 1);
    await noisePng(join(work, 'ref-b.png'), 2);
    // A genuine gallery of the built-in embedder...
    const embedder = await Embedder.create({ workers: 1 });
    const g = new ReferenceGallery();
    try {
      await g.addImages(embedder, 'a', [join(work, 'ref-a.png')]);
      await g.addImages(embedder, 'b', [join(work, 'ref-b.png')]);
    } finally {
      await embedder.dispose();
    }
    const clean = join(work, 'clean.skg');
    writeFileSync(clean, g.toBytes());
    // ...and the same gallery with runtime options slipped into its stored spec (same fingerprint).
    const data = decodeGallery(g.toBytes());
    const info = data.meta.embedder!;
    data.meta.embedder = {
      ...info,
      spec: {
        ...info.spec,
        sessionOptions: {
          optimizedModelFilePath: join(work, 'written-by-gallery.onnx'),
          enableProfiling: true,
          profileFilePrefix: join(work, 'profile-by-gallery'),
        },
        workers: 64,
        worker: true,
        batchSize: 100000,
        model: '/dev/zero',
      },
    };
    const forged = join(work, 'forged.skg');
    writeFileSync(forged, encodeGallery(data));

    const ok = await cli(['classify', photo, '--gallery', clean, '--json']);
    const bad = await cli(['classify', photo, '--gallery', forged, '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    expect(bad.code, bad.stderr).toBe(0);
    expect(JSON.parse(bad.stdout)).toEqual(JSON.parse(ok.stdout));
    // Nothing but what the test wrote is in the folder: no optimized model, no profile.
    expect(readdirSync(work).sort()).toEqual(['clean.skg', 'forged.skg', 'query.png', 'ref-a.png', 'ref-b.png']);
    // 64 workers would be 64 more threads; allow a little scheduling noise.
    expect(bad.maxThreads).toBeLessThanOrEqual(ok.maxThreads + 3);
  }, 300_000);

  it('an invalid preprocessing value in the stored spec is a format error naming the file', async () => {
    const path = join(folder('item1b'), 'g.skg');
    writeFileSync(
      path,
      craftGallery({ meta: { embedder: { fingerprint: 'ab'.repeat(16), spec: { width: -3 }, path: 'skulens:retail-160' } } }),
    );
    const r = await cli(['classify', path, '--gallery', path], { timeoutMs: 100_000 });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/g\.skg.*not a usable gallery.*width.*\[E_GALLERY_FORMAT\]/);
  }, 150_000);

  it('the API bounds workers by the CPU count', async () => {
    const err = await rejection(Embedder.create({ workers: 64 }));
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/workers must be an integer from 1 to \d+/);
  });
});

describe('2. HNSW parameters are bounded (hnswlib wraps 2^32 to 0 and crashes)', () => {
  it('from the constructor: E_INPUT', () => {
    for (const hnsw of [{ M: 2 ** 32 }, { M: 1 }, { efConstruction: 2 ** 31 }, { ef: 1e9 }, { M: 2.5 }]) {
      const err = thrown(() => new ReferenceGallery({ hnsw }));
      expect(err.code).toBe('E_INPUT');
      expect(err.message).toMatch(/hnsw\.\w+ must be an integer from/);
    }
    // Only the three parameters: nothing else reaches the native index.
    expect(thrown(() => new ReferenceGallery({ hnsw: { dim: 1 } as never })).code).toBe('E_INPUT');
  });

  it('from a valid-checksum file: E_GALLERY_FORMAT, before any index is built (checked in a child process: a crash must not take the suite)', async () => {
    const path = join(folder('item2'), 'm.skg');
    writeFileSync(path, craftGallery({ meta: { index: 'hnsw', hnsw: { M: 2 ** 32, efConstruction: 100, ef: 128 } } }));
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'helpers', 'load-gallery-child.ts'), path], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 100_000,
    });
    expect(out).toMatch(/^error E_GALLERY_FORMAT .*m\.skg.*hnsw\.M must be an integer from 2 to 256/);
  }, 150_000);
});

describe('3. reads are bounded: no device, FIFO or endless file', () => {
  it('gallery info /dev/zero fails at once', async () => {
    const r = await cli(['gallery', 'info', '/dev/zero'], { timeoutMs: 100_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/dev\/zero.*not a regular file.*\[E_IO\]/);
  }, 150_000);

  it('a gallery whose embedder path is /dev/zero fails at once', async () => {
    const path = join(folder('item3'), 'zero.skg');
    writeFileSync(path, craftGallery({ meta: { embedder: { fingerprint: 'ab'.repeat(16), spec: {}, path: '/dev/zero' } } }));
    const photo = join(dir, 'item3', 'q.png');
    await noisePng(photo, 3);
    const r = await cli(['classify', photo, '--gallery', path], { timeoutMs: 100_000 });
    expect(r.timedOut).toBe(false);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/\/dev\/zero.*not a regular file.*\[E_MODEL_LOAD\]/);
  }, 150_000);

  it('a FIFO named in a CSV is reported and skipped; the build finishes', async () => {
    const work = folder('item3-fifo');
    await noisePng(join(work, 'a.png'), 11);
    await noisePng(join(work, 'b.png'), 12);
    execFileSync('mkfifo', [join(work, 'pipe.jpg')]);
    writeCsv(join(work, 'refs.csv'), [
      { path: 'a.png', label: 'a' },
      { path: 'pipe.jpg', label: 'b' },
      { path: 'b.png', label: 'b' },
    ]);
    const r = await cli(['gallery', 'build', join(work, 'refs.csv'), '-o', join(work, 'g.skg')]);
    expect(r.timedOut).toBe(false);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped .*pipe\.jpg: .*not a regular file/);
    expect((await ReferenceGallery.load(join(work, 'g.skg'))).labels).toEqual(['a', 'b']);
  }, 200_000);

  it('the API refuses devices and FIFOs for models, galleries and images', async () => {
    expect((await rejection(ReferenceGallery.load('/dev/zero'))).code).toBe('E_IO');
    expect((await rejection(Embedder.create({ model: '/dev/zero' }))).code).toBe('E_MODEL_LOAD');
    const fifo = join(folder('item3-api'), 'p.png');
    execFileSync('mkfifo', [fifo]);
    const err = await rejection(loadImage(fifo));
    expect(err.code).toBe('E_IMAGE_DECODE');
    expect(err.message).toMatch(/not a regular file/);
  });
});

describe('4. a batch of large images does not hold them all decoded', () => {
  it('32 PNGs of 4000x4000 (1.5 GB decoded) embed with a bounded peak memory', () => {
    // In a child process, so its peak resident size (VmHWM) is this job's alone.
    const out = execFileSync(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'test', 'helpers', 'embed-peak.ts'), '4000', '32'], {
      cwd: REPO_ROOT,
      encoding: 'utf8',
      timeout: 240_000,
    });
    const { before, after, n } = JSON.parse(out) as { before: number; after: number; n: number };
    expect(n).toBe(32);
    // Held all at once, a batch of 16 is 768 MB and its look-ahead as much again.
    expect(after - before).toBeLessThan(700);
  }, 300_000);
});

describe('5. SVG', () => {
  const svg = (body: string, size = 20) =>
    `<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="${size}" height="${size}">${body}</svg>`;

  it('is refused under any extension unless allowSvg is set', async () => {
    const d = folder('item5');
    writeFileSync(join(d, 'photo.jpg'), svg('<rect width="20" height="20" fill="red"/>'));
    const err = await rejection(loadImage(join(d, 'photo.jpg')));
    expect(err.code).toBe('E_IMAGE_DECODE');
    expect(err.message).toMatch(/SVG.*allowSvg/);
    // A 120-byte SVG that would draw 64 MP: refused before it is drawn.
    expect((await rejection(loadImage(new TextEncoder().encode(svg('', 8000))))).code).toBe('E_IMAGE_DECODE');
    const ok = await loadImage(join(d, 'photo.jpg'), { allowSvg: true });
    expect(Array.from(ok.data.subarray(0, 3))).toEqual([255, 0, 0]);
  });

  it('when allowed, cannot draw files from its folder', async () => {
    const d = folder('item5-href');
    await sharp({ create: { width: 20, height: 20, channels: 3, background: '#ff0000' } })
      .png()
      .toFile(join(d, 'sibling.png'));
    writeFileSync(join(d, 'drawing.svg'), svg('<image href="sibling.png" xlink:href="sibling.png" width="20" height="20"/>'));
    const img = await loadImage(join(d, 'drawing.svg'), { allowSvg: true });
    // Transparent (flattened onto white), not the sibling's red.
    expect(Array.from(img.data.subarray(0, 3))).toEqual([255, 255, 255]);
  });
});

describe('6. symbolic links in reference folders', () => {
  it('a symlinked class folder and symlinked images are read; a link loop is read once', async () => {
    const root = folder('item6/refs');
    const elsewhere = folder('item6/elsewhere');
    folder('item6/refs/real');
    await noisePng(join(root, 'real', '1.png'), 21, 16);
    folder('item6/elsewhere/linked');
    await noisePng(join(elsewhere, 'linked', '1.png'), 22, 16);
    symlinkSync(join(elsewhere, 'linked'), join(root, 'linked'));
    folder('item6/refs/files');
    await noisePng(join(elsewhere, 'x.png'), 23, 16);
    symlinkSync(join(elsewhere, 'x.png'), join(root, 'files', 'x.png'));
    symlinkSync(root, join(root, 'real', 'loop')); // refs/real/loop -> refs
    const set = await readLabelledSet(root);
    const byLabel = (l: string) => set.items.filter((i) => i.label === l).length;
    expect(byLabel('linked')).toBe(1);
    expect(byLabel('files')).toBe(1);
    expect(set.emptyClasses).toEqual([]);
    // refs/real holds 1.png and, through the loop, the whole tree once more at most: finite.
    expect(byLabel('real')).toBeGreaterThanOrEqual(1);
    expect(set.items.length).toBeLessThan(10);
  });
});

describe('7. --annotate never overwrites the input photos', () => {
  it('an annotation target that is an input image is refused before anything is written', async () => {
    const d = folder('item7');
    await noisePng(join(d, 'shelf.jpg'), 31, 16);
    const before = readFileSync(join(d, 'shelf.jpg'));
    for (const target of [d, `${d}/`, join(d, 'shelf.jpg')]) {
      const err = await rejection(annotationPaths(target, [join(d, 'shelf.jpg')]));
      expect(err.code).toBe('E_INPUT');
      expect(err.message).toMatch(/overwrite the input image/);
    }
    expect(readFileSync(join(d, 'shelf.jpg'))).toEqual(before);
    // Another folder is fine.
    expect(await annotationPaths(folder('item7-out'), [join(d, 'shelf.jpg')])).toEqual([join(dir, 'item7-out', 'shelf.jpg')]);
  });
});

describe('8. NaN and infinity', () => {
  it('a valid-checksum gallery with a NaN or infinite vector is refused', () => {
    for (const bad of [NaN, Infinity, -Infinity]) {
      for (const float16 of [false, true]) {
        const bytes = craftGallery({
          classes: [
            { label: 'a', vectors: [1, 0, 0] },
            { label: 'b', vectors: [0, bad, 0] },
          ],
          float16,
        });
        const err = thrown(() => ReferenceGallery.fromBytes(bytes));
        expect(err.code).toBe('E_GALLERY_FORMAT');
        expect(err.message).toMatch(/"b" has a non-finite value/);
      }
    }
  });

  it('embed reports an input whose vector comes out NaN instead of returning it', async () => {
    // log(-x): NaN for every positive pixel value.
    const model = buildOnnx({
      inputs: [{ name: 'pixels', shape: ['N', 3, 4, 4] }],
      outputs: [{ name: 'embedding', shape: ['N', 48] }],
      nodes: [
        { op: 'Neg', inputs: ['pixels'], outputs: ['neg'] },
        { op: 'Log', inputs: ['neg'], outputs: ['log'] },
        { op: 'Flatten', inputs: ['log'], outputs: ['embedding'] },
      ],
    });
    const e = await Embedder.create({ model, width: 4, height: 4, workers: 1 });
    try {
      const grey = { data: new Uint8Array(4 * 4 * 3).fill(128), width: 4, height: 4, channels: 3 as const };
      const r = await e.embedSettled([grey]);
      expect(r.vectors).toEqual([null]);
      expect(r.failures).toHaveLength(1);
      expect(r.failures[0]!.error.message).toMatch(/NaN or infinite/);
    } finally {
      await e.dispose();
    }
  });
});

describe('9. temp files and what a save keeps', () => {
  const g = () => new ReferenceGallery().add('a', [new Float32Array([1, 0, 0])]);

  it('temp files of interrupted saves of the same target are removed; a live one is kept', async () => {
    const d = folder('item9');
    const dead = join(d, '.g.skg.999999999.abc123.tmp'); // beyond pid_max: that process cannot exist
    const live = join(d, `.g.skg.${process.pid}.abc123.tmp`);
    const other = join(d, '.h.skg.999999999.abc123.tmp');
    for (const f of [dead, live, other]) writeFileSync(f, 'x'.repeat(1000));
    await g().save(join(d, 'g.skg'));
    const left = readdirSync(d);
    expect(left).not.toContain('.g.skg.999999999.abc123.tmp');
    expect(left).toContain(`.g.skg.${process.pid}.abc123.tmp`);
    expect(left).toContain('.h.skg.999999999.abc123.tmp'); // another target's: not ours to judge
  });

  it("a save keeps the target's mode and writes through a symbolic link", async () => {
    const d = folder('item9-mode');
    const real = join(d, 'real.skg');
    await g().save(real);
    chmodSync(real, 0o600);
    await g().save(real);
    expect(statSync(real).mode & 0o777).toBe(0o600);
    symlinkSync('real.skg', join(d, 'link.skg'));
    await g()
      .add('b', [new Float32Array([0, 1, 0])])
      .save(join(d, 'link.skg'));
    expect(lstatSync(join(d, 'link.skg')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(d, 'link.skg'))).toBe('real.skg');
    expect((await ReferenceGallery.load(real)).labels).toEqual(['a', 'b']);
    expect(statSync(real).mode & 0o777).toBe(0o600);
  });

  it('a failed annotate leaves no temp file', async () => {
    const d = folder('item9-annotate');
    mkdirSync(join(d, 'out.jpg')); // a folder where the file should go: the rename fails
    const img = { data: new Uint8Array(8 * 8 * 3).fill(90), width: 8, height: 8, channels: 3 as const };
    expect((await rejection(annotate(img, [], { file: join(d, 'out.jpg') }))).code).toBe('E_IO');
    expect(readdirSync(d)).toEqual(['out.jpg']);
  });
});

describe('10. control characters in labels', () => {
  const bad = ['esc\x1b[31mred', 'nul\0', 'bell\x07', 'nonchar\ufffe', 'lone\ud800', 'bidi\u202e', 'c1\x9b'];

  it('are refused by add() and in a valid-checksum file', () => {
    for (const label of bad) {
      expect(thrown(() => new ReferenceGallery().add(label, [[1, 0, 0]])).code).toBe('E_INPUT');
      if (/\p{Cs}/u.test(label)) continue; // UTF-8 cannot hold a lone surrogate: no file can carry one
      const err = thrown(() => ReferenceGallery.fromBytes(craftGallery({ classes: [{ label, vectors: [1, 0, 0] }] })));
      expect(err.code).toBe('E_GALLERY_FORMAT');
      // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that no control character is printed
      expect(err.message).not.toMatch(/[\x00-\x1f\x7f-\x9f]/); // the message itself is safe to print
    }
    // Ordinary Unicode is fine.
    expect(new ReferenceGallery().add('Bärenmarke 1,5% «Milch» 🥛 / 牛乳', [[1, 0, 0]]).labels).toHaveLength(1);
  });

  it('annotate draws a label with control characters (from a detector labels file) instead of failing', async () => {
    const img = { data: new Uint8Array(64 * 64 * 3).fill(200), width: 64, height: 64, channels: 3 as const };
    const items = [{ box: { x: 4, y: 20, width: 30, height: 30 }, label: 'x\x1b\x07\0y\ufffe', score: 0.9 }];
    // Both layouts draw the label: a tag on the photo, and the legend beside it (the output grows by the panel).
    expect((await sharp(await annotate(img, items, { labels: 'tags' })).metadata()).width).toBe(64);
    expect((await sharp(await annotate(img, items, { labels: 'legend' })).metadata()).width).toBeGreaterThan(64);
  });

  it('gallery build reports and skips a class with a bad or overlong label before embedding anything', async () => {
    const work = folder('item10-build');
    await noisePng(join(work, 'a.png'), 41);
    await noisePng(join(work, 'b.png'), 42);
    await noisePng(join(work, 'c.png'), 43);
    writeCsv(join(work, 'refs.csv'), [
      { path: 'a.png', label: 'fine' },
      { path: 'b.png', label: 'x'.repeat(16385) },
      { path: 'c.png', label: 'evil\x1b]0;title\x07' },
    ]);
    const r = await cli(['gallery', 'build', join(work, 'refs.csv'), '-o', join(work, 'g.skg')]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/skipped: a label must be at most 16384 characters/);
    expect(r.stderr).toMatch(/evil\\u\{1b\}.*skipped: .*U\+001B/);
    // biome-ignore lint/suspicious/noControlCharactersInRegex: the assertion is that no raw ESC reaches the terminal
    expect(r.stderr).not.toMatch(/\x1b/);
    expect((await ReferenceGallery.load(join(work, 'g.skg'))).labels).toEqual(['fine']);
  }, 200_000);
});

describe('11. the right error codes', () => {
  it('bad metadata in a file is E_GALLERY_FORMAT naming the file', async () => {
    const d = folder('item11');
    const cases: [Record<string, unknown>, RegExp][] = [
      [{ clustersPerClass: -1 }, /clustersPerClass/],
      [{ clustersPerClass: 'some' }, /clustersPerClass/],
      [{ index: 'fast' }, /index must be/],
      [{ threshold: 'high' }, /threshold must be a number/],
      [{ seed: 'x', index: 'hnsw' }, /seed must be an integer/],
      [{ seed: -1 }, /seed must be an integer/],
      [{ hnsw: [] }, /hnsw must be an object/],
      [{ hnsw: { capacity: 1 } }, /not an HNSW parameter/],
      [{ embedder: { fingerprint: 42, spec: {} } }, /embedder\.fingerprint/],
      [{ embedder: { fingerprint: 'ab', spec: {}, path: 'x\x1b' } }, /embedder\.path/],
    ];
    for (const [meta, reason] of cases) {
      const path = join(d, 'meta.skg');
      writeFileSync(path, craftGallery({ meta }));
      const err = await rejection(ReferenceGallery.load(path));
      expect(err.code, JSON.stringify(meta)).toBe('E_GALLERY_FORMAT');
      expect(err.message).toMatch(/meta\.skg.*not a usable gallery/);
      expect(err.message).toMatch(reason);
    }
  });

  it('the API refuses a seed that is not an integer', () => {
    expect(thrown(() => new ReferenceGallery({ seed: 'x' as unknown as number, index: 'hnsw' })).code).toBe('E_INPUT');
  });

  it('metadata nested 100,000 deep is refused on load; unserialisable metadata is E_INPUT on save', () => {
    const deep = '{"a":'.repeat(100_000) + '1' + '}'.repeat(100_000);
    const bytes = craftGallery({ meta: {} });
    // Splice the deep JSON in as the metadata block (the encoder itself could not write it).
    const data = decodeGallery(bytes);
    const withDeep = encodeGallery({ ...data, meta: { placeholder: 'PLACEHOLDER' } });
    const json = new TextDecoder().decode(withDeep.subarray(40, 40 + new DataView(withDeep.buffer).getUint32(32, true)));
    const forged = withMetaJson(withDeep, json.replace('"PLACEHOLDER"', deep));
    const err = thrown(() => ReferenceGallery.fromBytes(forged));
    expect(err.code).toBe('E_GALLERY_FORMAT');
    expect(err.message).toMatch(/nested more than 32 levels/);
    const cyclic: Record<string, unknown> = {};
    cyclic.self = cyclic;
    expect(thrown(() => encodeGallery({ ...data, meta: cyclic })).code).toBe('E_INPUT');
  });

  it('a preprocessing size from model metadata is bounded', async () => {
    const model = buildOnnx({
      inputs: [{ name: 'pixels', shape: ['N', 3, 'H', 'W'] }],
      outputs: [{ name: 'embedding', shape: ['N', 3, 1, 1] }],
      nodes: [{ op: 'GlobalAveragePool', inputs: ['pixels'], outputs: ['embedding'] }],
      metadata: { [PREPROCESS_METADATA_KEY]: JSON.stringify({ width: 20000, height: 20000 }) },
    });
    const err = await rejection(Embedder.create({ model, workers: 1 }));
    expect(err.code).toBe('E_PREPROCESS');
    expect(err.message).toMatch(/at most 4096/);
  });

  it('a flat Float32Array on a gallery of unknown dimension is refused, not taken as one long vector', () => {
    const err = thrown(() => new ReferenceGallery().add('a', new Float32Array(12).fill(1)));
    expect(err.code).toBe('E_INPUT');
    expect(err.message).toMatch(/dimension is not known yet/);
    // With the dimension given, the same array is 4 vectors of 3.
    expect(new ReferenceGallery({ dim: 3, clustersPerClass: 'all' }).add('a', new Float32Array(12).fill(1)).size).toBe(4);
  });

  it('index "hnsw" on a platform without HNSW (the browser) falls back to exact search', () => {
    const node = getPlatform();
    const { createAnnIndex: _, ...withoutHnsw } = node;
    setPlatform(withoutHnsw);
    try {
      const g = ReferenceGallery.fromBytes(craftGallery({ meta: { index: 'hnsw' } }));
      expect(g.classify([0.9, 0.1, 0]).label).toBe('east');
      expect(g.indexKind).toBe('exact');
    } finally {
      setPlatform(node);
    }
  });
});
