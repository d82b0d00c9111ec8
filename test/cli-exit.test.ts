/**
 * CLI exit paths: every input unreadable, an output that cannot be written (E_IO), an
 * error that did not come from skulens (E_INTERNAL), and --json runs that fail: exit code
 * 1, one line on stderr ending in the code, and nothing on stdout that a JSON reader would
 * take for a result.
 */
import { existsSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { action } from '../src/cli/common.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { grocery, HAVE_SHARED, models } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-cli-exit-'));
/** The last stderr line: the one-line reason. */
const reason = (stderr: string) => stderr.trim().split('\n').pop() ?? '';

describe('CLI errors that did not come from skulens', () => {
  it('are reported in one line marked [E_INTERNAL], exit code 1, stack only with SKULENS_DEBUG', async () => {
    const written: string[] = [];
    const write = process.stderr.write;
    const exitCode = process.exitCode;
    process.stderr.write = ((s: string) => (written.push(String(s)), true)) as typeof process.stderr.write;
    try {
      await action(async () => {
        (undefined as unknown as { x: number }).x; // a bug: TypeError
      })();
    } finally {
      process.stderr.write = write;
    }
    const code = process.exitCode;
    process.exitCode = exitCode;
    expect(code).toBe(1);
    expect(written).toHaveLength(1);
    expect(written[0]).toMatch(/^skulens: .*undefined.* \[E_INTERNAL\]\n$/);
  });
});

describe.skipIf(!HAVE_SHARED)('CLI exit paths', () => {
  const gallery = join(dir, 'g.skg');
  const bad = [join(dir, 'torn.jpg'), join(dir, 'notes.jpg')];
  beforeAll(async () => {
    writeFileSync(bad[0]!, Buffer.from([0xff, 0xd8, 0xff, 0xe0, 0, 0x10]));
    writeFileSync(bad[1]!, 'shopping list, not a photo');
    const refs = ['Banana', 'Orange'].flatMap((c) =>
      [1, 2, 3].map((i) => ({ path: join(grocery, `train/Fruit/${c}/${c}_00${i}.jpg`), label: c })),
    );
    writeCsv(join(dir, 'refs.csv'), refs);
    writeCsv(
      join(dir, 'bad.csv'),
      bad.map((path) => ({ path, label: 'Banana' })),
    );
    const r = await runCli(['gallery', 'build', join(dir, 'refs.csv'), '-o', gallery]);
    if (r.code !== 0) throw new Error(`gallery build failed: ${r.stderr}`);
  }, 900_000);
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('every input unreadable: each is reported, then exit 1 with E_IMAGE_DECODE and an empty stdout', async () => {
    const runs = await Promise.all([
      runCli(['classify', ...bad, '--gallery', gallery, '--json']),
      runCli(['eval', join(dir, 'bad.csv'), '--gallery', gallery, '--json']),
      runCli(['embed', ...bad]),
      runCli(['detect', ...bad, '--detector', models.yolov8, '--json']),
      runCli(['recognize', ...bad, '--detector', models.yolov8, '--gallery', gallery, '--json']),
      runCli(['gallery', 'build', join(dir, 'bad.csv'), '-o', join(dir, 'never.skg')]),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      for (const file of bad) expect(r.stderr).toContain(file);
      expect(reason(r.stderr)).toMatch(/^skulens: None of the 2 .*\[E_IMAGE_DECODE\]$/);
    }
    expect(existsSync(join(dir, 'never.skg'))).toBe(false);
  }, 900_000);

  it('an output that cannot be written is E_IO, leaving no temp file, and --json prints nothing', async () => {
    const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
    // A folder cannot be made under a file (a missing folder would simply be created).
    const underFile = join(bad[1]!, 'sub');
    const [build, annotated] = await Promise.all([
      runCli(['gallery', 'build', join(dir, 'refs.csv'), '-o', join(underFile, 'g.skg')]),
      runCli(['detect', banana, '--detector', models.yolov8, '--json', '--annotate', join(underFile, 'out.jpg')]),
    ]);
    for (const r of [build, annotated]) {
      expect(r.code, r.stderr).toBe(1);
      expect(reason(r.stderr)).toMatch(/\[E_IO\]$/);
      expect(reason(r.stderr)).toContain(underFile);
    }
    expect(annotated.stdout).toBe('');
    expect(readdirSync(dir).filter((f) => f.includes('.tmp'))).toEqual([]);
  }, 900_000);

  it('--json with a missing or damaged gallery: exit 1, one line on stderr, nothing on stdout', async () => {
    const damaged = join(dir, 'damaged.skg');
    writeFileSync(damaged, Buffer.from('\x89SKG\r\n\x1a\n this is not the rest of a gallery'));
    const banana = join(grocery, 'test/Fruit/Banana/Banana_013.jpg');
    const runs = await Promise.all([
      runCli(['classify', banana, '--gallery', join(dir, 'missing.skg'), '--json']),
      runCli(['eval', join(dir, 'refs.csv'), '--gallery', damaged, '--json']),
      runCli(['gallery', 'info', damaged, '--json']),
    ]);
    for (const r of runs) {
      expect(r.code, r.stderr).toBe(1);
      expect(r.stdout).toBe('');
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
    }
    expect(reason(runs[0]!.stderr)).toMatch(/missing\.skg.*\[E_IO\]$/);
    expect(reason(runs[1]!.stderr)).toMatch(/\[E_GALLERY_FORMAT\]$/);
    expect(reason(runs[2]!.stderr)).toMatch(/\[E_GALLERY_FORMAT\]$/);
  }, 900_000);
});
