/**
 * Child process for the decode-amplification test: embed `count` copies of one large PNG
 * in batches of 16 with a tiny model, and print the process's peak resident size (VmHWM,
 * MiB) before and after, so the growth is this job's alone.
 */
import { readFileSync } from 'node:fs';
import sharp from 'sharp';
import '../../src/node/platform.js';
import { Embedder } from '../../src/core/embedder.js';
import { buildOnnx } from '../../fixtures/onnx-builder.js';

const side = Number(process.argv[2] ?? 4000);
const count = Number(process.argv[3] ?? 32);
const hwm = () => Number(/VmHWM:\s+(\d+)/.exec(readFileSync('/proc/self/status', 'utf8'))![1]) / 1024;
const model = buildOnnx({
  inputs: [{ name: 'pixels', shape: ['N', 3, 16, 16] }],
  outputs: [{ name: 'embedding', shape: ['N', 768] }],
  nodes: [{ op: 'Flatten', inputs: ['pixels'], outputs: ['embedding'] }],
});
const png = new Uint8Array(
  await sharp({ create: { width: side, height: side, channels: 3, background: '#4080c0' } })
    .png({ compressionLevel: 1 })
    .toBuffer(),
);
const e = await Embedder.create({ model, width: 16, height: 16, batchSize: 16, workers: 1 });
await e.embed([png]);
const before = hwm();
const vectors = await e.embed(Array.from({ length: count }, () => png));
console.log(JSON.stringify({ before, after: hwm(), n: vectors.length, pngBytes: png.length }));
await e.dispose();
