/**
 * The key under which benchmarks cache embedding vectors. The embedder's fingerprint
 * names the model bytes, preprocessing and output; the vectors also depend on how
 * onnxruntime computes them: its version, the session options (e.g. x64quantprecision,
 * the graph optimisation level, execution providers) and, for int8 models without
 * x64quantprecision, the CPU's instruction set. All of these go into the key.
 */
import { createHash } from 'node:crypto';
import { arch, cpus } from 'node:os';
import * as ort from 'onnxruntime-node';
import type { InferenceSession } from 'onnxruntime-common';
import { withSessionDefaults } from '../src/core/model.js';

export function vectorCacheKey(fingerprint: string, sessionOptions?: InferenceSession.SessionOptions): string {
  const identity = {
    fingerprint,
    onnxruntime: ort.env.versions,
    // as the session gets them (skulens' defaults under the caller's options)
    session: withSessionDefaults(sessionOptions),
    cpu: `${arch()} ${cpus()[0]?.model ?? ''}`,
  };
  return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 24);
}
