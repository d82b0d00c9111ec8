import { rmSync } from 'node:fs';
import { defineConfig, type Options } from 'tsup';

// Two builds run concurrently, and tsup's per-build `clean` (including its .d.ts clean)
// would race and delete the other build's output: clean dist once, here, instead.
const cleanOnce = (watch: unknown) => {
  if (!watch) rmSync('dist', { recursive: true, force: true });
};

/** Node: index + CLI + skulens/cluster, runtime packages external (users install them as our dependencies). */
const node: Options = {
  entry: { index: 'src/index.ts', cli: 'src/cli.ts', cluster: 'src/cluster.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: { entry: { index: 'src/index.ts', cluster: 'src/cluster.ts' } },
  sourcemap: true,
  clean: false,
  splitting: true,
  external: ['onnxruntime-node', 'onnxruntime-common', 'onnxruntime-web', 'sharp', 'hnswlib-node'],
};

/**
 * Browser: one ES module, dist/browser.js, picked by the `browser` export condition.
 * onnxruntime-web stays external (`onnxruntime-web/wasm`, and `onnxruntime-web/webgpu`
 * imported on demand): the app's bundler then resolves and dedupes it and copies its
 * .wasm files next to it, and our bundle stays small. Everything else it needs
 * (platform-free core, small pure-JS deps) is bundled in, so a page without a bundler
 * needs an import map for onnxruntime-web only. Not minified: apps minify.
 */
export const browserBuild: Options = {
  entry: { browser: 'src/browser.ts' },
  format: ['esm'],
  platform: 'browser',
  target: 'es2022',
  dts: { entry: { browser: 'src/browser.ts' } },
  sourcemap: true,
  clean: false,
  splitting: false,
  external: ['onnxruntime-web', /^onnxruntime-web\//, 'onnxruntime-common'],
  noExternal: [/^(?!onnxruntime-)/],
};

export default defineConfig((options) => {
  cleanOnce(options.watch);
  return [node, browserBuild];
});
