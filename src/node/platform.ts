/** Registers the Node runtime (onnxruntime-node, sharp, fs, crypto) with the core. */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { Platform } from '../core/platform.js';
import { setPlatform } from '../core/platform.js';
import { loadImage, type NodeImageInput } from './image-loader.js';
import { WorkerSession } from './worker-session.js';
import { createHnswIndex } from './hnsw-index.js';
import { writeFileAtomic } from './gallery-file.js';
import { builtinModelLocation } from './builtin-models.js';

export const nodePlatform: Platform = {
  name: 'node',
  ort,
  loadImage: (input) => loadImage(input as NodeImageInput),
  async readBinary(source) {
    const buf = await readFile(source);
    return new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
  },
  builtinModelLocation,
  async sha256Hex(bytes) {
    return createHash('sha256').update(bytes).digest('hex');
  },
  createWorkerSession: (bytes, options, workers) => WorkerSession.create(bytes, options, workers),
  cpuCount: availableParallelism,
  createAnnIndex: createHnswIndex,
  writeFileAtomic,
};

setPlatform(nodePlatform);
