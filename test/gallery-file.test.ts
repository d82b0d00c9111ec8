/** Gallery files on disk: atomic saves (even when the process is killed mid-write) and clear load errors. */
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import '../src/node/platform.js';
import { SkulensError } from '../src/core/errors.js';
import { ReferenceGallery } from '../src/core/gallery/gallery.js';
import { REPO_ROOT } from './helpers/shared.js';

const dir = mkdtempSync(join(tmpdir(), 'skulens-gallery-file-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

function small(): ReferenceGallery {
  return new ReferenceGallery({ clustersPerClass: 'all' })
    .add('old', [new Float32Array([1, 0, 0])])
    .add('older', [new Float32Array([0, 1, 0])]);
}

describe('gallery files', () => {
  it('saves and loads; overwriting keeps no temp files behind', async () => {
    const path = join(dir, 'g.skg');
    await small().save(path);
    await small()
      .add('new', [new Float32Array([0, 0, 1])])
      .save(path);
    const g = await ReferenceGallery.load(path);
    expect(g.labels).toEqual(['new', 'old', 'older']);
    expect(readdirSync(dir).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });

  it('load errors name the file and the reason', async () => {
    await expect(ReferenceGallery.load(join(dir, 'missing.skg'))).rejects.toMatchObject({
      code: 'E_IO',
      message: expect.stringMatching(/no such file/),
    });
    const junk = join(dir, 'junk.skg');
    writeFileSync(junk, 'path,label\nx.jpg,x\n');
    const err = await ReferenceGallery.load(junk).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(SkulensError);
    expect((err as SkulensError).code).toBe('E_GALLERY_FORMAT');
    expect((err as SkulensError).message).toMatch(/junk\.skg.*not a usable gallery.*(too short|magic)/);
  });

  it('a save killed half-way leaves the previous file intact and loadable', async () => {
    const path = join(dir, 'precious.skg');
    await small().save(path);
    const before = statSync(path).size;
    const child = spawn(
      join(REPO_ROOT, 'node_modules', '.bin', 'tsx'),
      [join(REPO_ROOT, 'test', 'helpers', 'save-big-gallery.ts'), path, '40000'],
      {
        stdio: ['ignore', 'pipe', 'inherit'],
      },
    );
    let output = '';
    child.stdout.on('data', (d: Buffer) => (output += d.toString()));
    // Kill (SIGKILL: no cleanup handlers run) as soon as the temp file has some bytes in it.
    let tempSize = 0;
    await new Promise<void>((resolve, reject) => {
      const timer = setInterval(() => {
        const tmp = readdirSync(dir).find((f) => f.startsWith('.precious.skg.') && f.endsWith('.tmp'));
        if (tmp) {
          try {
            tempSize = statSync(join(dir, tmp)).size;
          } catch {
            tempSize = 0;
          }
          if (tempSize > 0) {
            child.kill('SIGKILL');
            clearInterval(timer);
          }
        }
      }, 1);
      child.on('exit', () => {
        clearInterval(timer);
        resolve();
      });
      child.on('error', reject);
    });
    expect(output).toContain('saving');
    expect(output).not.toContain('saved'); // killed before the rename
    expect(tempSize).toBeGreaterThan(0);
    expect(tempSize).toBeLessThan(40000 * 1280 * 4);
    expect(statSync(path).size).toBe(before);
    const g = await ReferenceGallery.load(path);
    expect(g.labels).toEqual(['old', 'older']);
    expect(g.classify(new Float32Array([0.9, 0.1, 0])).label).toBe('old');
  }, 180_000);
});
