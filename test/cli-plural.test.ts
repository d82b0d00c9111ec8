/** Counts of one read as English in the CLI's messages (issue 26, item 19: "1 items"). */
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { plural } from '../src/core/plural.js';
import { runCli, writeCsv } from './helpers/cli.js';
import { grocery, HAVE_SHARED } from './helpers/shared.js';

describe('plural', () => {
  it('puts the noun in the number of the count', () => {
    expect([0, 1, 2].map((n) => plural(n, 'item'))).toEqual(['0 items', '1 item', '2 items']);
    expect([1, 3].map((n) => plural(n, 'box', 'boxes'))).toEqual(['1 box', '3 boxes']);
  });
});

describe.skipIf(!HAVE_SHARED)('one of a kind in the CLI', () => {
  it('a gallery of one photo says "1 label, 1 reference → 1 vector"; one unreadable image says "The image could not be embedded."', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'skulens-plural-'));
    writeCsv(join(dir, 'one.csv'), [{ path: join(grocery, 'test/Fruit/Banana/Banana_001.jpg'), label: 'Banana' }]);
    const out = join(dir, 'one.skg');
    writeFileSync(join(dir, 'broken.jpg'), 'not an image');
    const [build, bad] = await Promise.all([
      runCli(['gallery', 'build', join(dir, 'one.csv'), '-o', out]),
      runCli(['embed', join(dir, 'broken.jpg')]),
    ]);
    expect(build.code, build.stderr).toBe(0);
    expect(build.stderr).toMatch(/wrote .*one\.skg: 1 label, 1 reference → 1 vector \(/);
    const info = await runCli(['gallery', 'info', out]);
    expect(info.stdout).toMatch(/^ {2}1 label, 1 reference → 1 vector, /m);
    expect(bad.code).toBe(1);
    expect(bad.stderr.trim().split('\n').at(-1)).toBe('skulens: The image could not be embedded. [E_IMAGE_DECODE]');
  });
});
