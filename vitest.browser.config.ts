import { defineConfig } from 'vitest/config';

/**
 * npm run test:browser — real Chromium (Debian's /usr/bin/chromium through playwright-core)
 * against a local COOP/COEP server. Files are *.e2e.ts so the Node suite never picks them up.
 */
export default defineConfig({
  test: {
    include: ['test/browser/**/*.e2e.ts'],
    testTimeout: 600_000,
    hookTimeout: 300_000,
    pool: 'forks',
    // One browser at a time: 2 shared cores, and timings are printed.
    poolOptions: { forks: { singleFork: true } },
    fileParallelism: false,
    reporters: ['verbose'],
  },
});
