/**
 * `npm run test:browser` rebuilds dist/browser.js; it must leave the rest of dist (the
 * Node build: dist/cli.js, dist/index.js) alone, or examples and the CLI break after it.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { REPO_ROOT, buildBrowserBundle } from './helpers.js';

describe('browser bundle build', () => {
  it('keeps the other files in dist', async () => {
    const dist = join(REPO_ROOT, 'dist');
    const sentinel = join(dist, 'keep-me.test-sentinel');
    mkdirSync(dist, { recursive: true });
    writeFileSync(sentinel, 'written before the browser build\n');
    try {
      await buildBrowserBundle();
      expect(existsSync(join(dist, 'browser.js'))).toBe(true);
      expect(existsSync(sentinel)).toBe(true);
    } finally {
      rmSync(sentinel, { force: true });
    }
  });
});
