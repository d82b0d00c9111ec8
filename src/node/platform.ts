/** Registers the Node runtime (onnxruntime-node, sharp, fs, crypto) with the core. */
import { createHash } from 'node:crypto';
import { availableParallelism } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { Platform } from '../core/platform.js';
import { setPlatform } from '../core/platform.js';
import { loadImage, type NodeImageInput } from './image-loader.js';
import { WorkerSession } from './worker-session.js';
import { createHnswIndex, hnswAvailable } from './hnsw-index.js';
import { writeFileAtomic } from './atomic-write.js';
import { builtinModelLocation } from './builtin-models.js';
import { MAX_BINARY_BYTES, readRegularFile } from './read-file.js';
import { isHttpUrl, urlNotFetched } from './no-fetch.js';

export const nodePlatform: Platform = {
  name: 'node',
  ort,
  loadImage: (input, options) => loadImage(input as NodeImageInput, options),
  // Models and gallery files: regular files only, at most 2 GiB (a path may come from a gallery file); no http(s).
  readBinary: async (source, what) => {
    if (isHttpUrl(source)) throw urlNotFetched(source, what ?? 'model');
    return readRegularFile(source, MAX_BINARY_BYTES, 'file');
  },
  builtinModelLocation,
  async sha256Hex(bytes) {
    return createHash('sha256').update(bytes).digest('hex');
  },
  createWorkerSession: (bytes, options, workers) => WorkerSession.create(bytes, options, workers),
  cpuCount: availableParallelism,
  createAnnIndex: createHnswIndex,
  annIndexAvailable: hnswAvailable,
  writeFileAtomic,
};

setPlatform(nodePlatform);
