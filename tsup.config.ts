import { defineConfig } from 'tsup';

export default defineConfig({
  entry: { index: 'src/index.ts', cli: 'src/cli.ts' },
  format: ['esm'],
  platform: 'node',
  target: 'node20',
  dts: { entry: { index: 'src/index.ts' } },
  sourcemap: true,
  clean: true,
  splitting: true,
  // Native and runtime packages stay external: users install them as our dependencies.
  external: ['onnxruntime-node', 'onnxruntime-common', 'onnxruntime-web', 'sharp', 'hnswlib-node'],
});
