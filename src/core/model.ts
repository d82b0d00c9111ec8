/**
 * Reading an ONNX model (a path, URL, built-in id or bytes) and opening an onnxruntime
 * session on it with skulens' session defaults, in worker threads where the platform
 * has them. What the model's image input and outputs look like is image-model.ts's job.
 */
import type { InferenceSession } from 'onnxruntime-common';
import { modelLocation } from './builtin-models.js';
import { SkulensError, isSkulensError, messageOf } from './errors.js';
import { check, is } from './is.js';
import { fastInt8IsExact } from './int8-probe.js';
import { getPlatform, type SessionLike, type WorkerPoolSession } from './platform.js';

export type ModelSource = string | Uint8Array | ArrayBuffer;

export interface LoadedModel {
  bytes: Uint8Array;
  session: SessionLike;
  /** The same session when it runs in worker threads: its pool's extras. */
  workerPool?: WorkerPoolSession;
  /** The path or URL the model came from, when it was given as one. */
  path?: string;
}

/**
 * Session defaults; callers can override each (docs/embedder.md, "Session options", has the why and the figures).
 * Spinning off: spinning intra-op threads would hold the cores that decoding, preprocessing and NMS need between runs.
 * Exact int8 arithmetic (EXACT_INT8_SESSION_ENTRY) is added by loadModel only where int8-probe.ts finds the fast
 * kernels inexact, so vectors, and galleries, are the same on every machine.
 */
export const DEFAULT_SESSION_OPTIONS: InferenceSession.SessionOptions = {
  extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
};

/** The config entry (under `extra.session`) that makes onnxruntime's int8 arithmetic exact on every x86 CPU. */
export const EXACT_INT8_SESSION_ENTRY = { x64quantprecision: '1' } as const;

/**
 * Our defaults under the caller's options (`extra` merged one level deep per section);
 * `exactInt8` adds EXACT_INT8_SESSION_ENTRY to the defaults (the caller's entry still wins).
 */
export function withSessionDefaults(
  options: InferenceSession.SessionOptions = {},
  { exactInt8 = false } = {},
): InferenceSession.SessionOptions {
  const userExtra = (options.extra ?? {}) as Record<string, Record<string, unknown>>;
  const baseExtra = DEFAULT_SESSION_OPTIONS.extra as Record<string, Record<string, unknown>>;
  const session = { ...baseExtra.session, ...(exactInt8 ? EXACT_INT8_SESSION_ENTRY : {}), ...userExtra.session } as Record<string, unknown>;
  for (const key of ['intra_op', 'inter_op']) {
    session[key] = { ...(baseExtra.session?.[key] as object), ...(userExtra.session?.[key] as object) };
  }
  return { ...options, extra: { ...userExtra, session } };
}

export interface LoadModelOptions {
  /** Run inference in worker threads where the platform offers them (Node). Default true. */
  worker?: boolean;
  /**
   * Worker threads, each with its own copy of the session, so that this many runs execute
   * at once (default 1). Unless the caller sets `intraOpNumThreads`, the CPU cores are
   * shared out between them.
   */
  workers?: number;
}

/**
 * Read and open a model. By default inference runs in a worker thread where the
 * platform offers one (Node), so `run()` does not block the event loop.
 */
export async function loadModel(
  model: ModelSource,
  sessionOptions?: InferenceSession.SessionOptions,
  { worker = true, workers = 1 }: LoadModelOptions = {},
): Promise<LoadedModel> {
  if (model === undefined || model === null)
    throw new SkulensError('E_INPUT', 'No model given: pass `model` as a path, URL or the bytes of an .onnx file.');
  const platform = getPlatform();
  // Each worker is a thread with its own copy of the model: more of them than cores only costs memory.
  const maxWorkers = Math.max(2, platform.cpuCount?.() ?? 1);
  check(is.int(workers, 1, maxWorkers), 'workers', `an integer from 1 to ${maxWorkers} (the CPU cores here)`, workers);
  let bytes: Uint8Array;
  const path = typeof model === 'string' ? model : undefined;
  if (typeof model === 'string') {
    const location = modelLocation(model); // a missing built-in model says so itself
    try {
      bytes = await platform.readBinary(location, 'model');
    } catch (err) {
      if (isSkulensError(err, 'E_INPUT')) throw err; // e.g. a URL in Node: already says what to do
      throw new SkulensError('E_MODEL_LOAD', `Cannot read model "${model}": ${messageOf(err)}`, { cause: err, input: model });
    }
  } else {
    bytes = model instanceof Uint8Array ? model : new Uint8Array(model);
  }
  try {
    const options = withSessionDefaults(sessionOptions, { exactInt8: !(await fastInt8IsExact(platform.ort)) });
    let session: SessionLike;
    let workerPool: WorkerPoolSession | undefined;
    if (worker && platform.createWorkerSession) {
      // Several sessions at once: give each its share of the cores instead of letting
      // every one start a thread per core and fight over them.
      if (workers > 1 && options.intraOpNumThreads === undefined && platform.cpuCount) {
        options.intraOpNumThreads = Math.max(1, Math.floor(platform.cpuCount() / workers));
      }
      session = workerPool = await platform.createWorkerSession(bytes, options, workers);
    } else {
      session = await platform.ort.InferenceSession.create(bytes, options);
    }
    return { bytes, session, ...(workerPool ? { workerPool } : {}), ...(path === undefined ? {} : { path }) };
  } catch (err) {
    throw new SkulensError('E_MODEL_LOAD', `Cannot load ONNX model${path ? ` "${path}"` : ''}: ${messageOf(err)}`, {
      cause: err,
      ...(path ? { input: path } : {}),
    });
  }
}
