/**
 * Loading an ONNX model and reading what its image input expects. Shared by the
 * Embedder and the Detector so both report shape problems the same way.
 */
import type { InferenceSession } from 'onnxruntime-common';
import type { AdaptOptions } from './adapt/lda.js';
import { SkulensError, messageOf } from './errors.js';
import { float32ToHalfArray } from './float16.js';
import { fastInt8IsExact } from './int8-probe.js';
import { getPlatform, type WorkerPoolSession } from './platform.js';
import { batchShape, type InputDType, type PreprocessSpec, type TensorLayout } from './preprocess.js';

export type ModelSource = string | Uint8Array | ArrayBuffer;

/**
 * The embedder that ships inside the package (models/skulens-retail-160.onnx, see
 * docs/models.md). Galleries record this id rather than a file path, so they keep
 * working when the package is reinstalled or moved.
 */
export const DEFAULT_EMBEDDER = 'skulens:retail-160';

/**
 * The second built-in embedder: the ONNX model zoo's int8 MobileNetV2 (Apache-2.0, see
 * models/NOTICE) with its pooled features as output and the imagenet preprocessing in its
 * metadata (scripts/make-mobilenetv2.ts). Slower than retail-160 but trained on ImageNet:
 * it holds up better on shelf photos of products unlike the Grocery Store's (docs/models.md).
 */
export const MOBILENETV2_EMBEDDER = 'skulens:mobilenetv2';

/** The shelf detector that ships inside the package (models/skulens-shelf.onnx, see docs/detector.md). */
export const SHELF_DETECTOR = 'skulens:shelf';

/**
 * The detector `Detector.create()` and `detect`/`recognize` use when no model is given;
 * `undefined`: none, a model must be named. The issue's rule makes skulens:shelf the default
 * once its AP50 against the SKU-110K reference (npm run bench:shelf) reaches 0.50; it is
 * below that (docs/detector.md), so it is opt-in. The one-line switch: `= SHELF_DETECTOR`.
 */
export const DEFAULT_DETECTOR: string | undefined = undefined;

/** Built-in model ids and their file names inside the package's models/ folder. */
const BUILTIN_MODELS: Readonly<Record<string, string>> = {
  'skulens:retail-160': 'skulens-retail-160.onnx',
  [MOBILENETV2_EMBEDDER]: 'skulens-mobilenetv2.onnx',
  [SHELF_DETECTOR]: 'skulens-shelf.onnx',
};

/**
 * adapt() defaults that differ for a built-in model. The built-in descriptor leaves the
 * network already whitened by its training classes' within-class covariance, so shrinking
 * toward the identity is shrinking toward what those classes taught: on held-out classes
 * with 5 references each, 0.4 answered 0.908 against 0.905 at 0.02-0.15 (docs/models.md).
 * Explicit options still win.
 */
const BUILTIN_ADAPT_DEFAULTS: Readonly<Record<string, Readonly<AdaptOptions>>> = { 'skulens:retail-160': { shrinkage: 0.4 } };

/**
 * Default "unknown" threshold of an uncalibrated, unadapted gallery built with a built-in
 * embedder, in place of the generic DEFAULT_THRESHOLD floor: measured per model on Grocery
 * Store train → val only (bench/thresholds.ts, rule in docs/accuracy.md), so that such a
 * gallery rejects about 1 % of the answers its nearest label gets right.
 */
const BUILTIN_THRESHOLDS: Readonly<Record<string, number>> = { 'skulens:retail-160': 0.26, [MOBILENETV2_EMBEDDER]: 0.67 };

/** The measured default threshold for a built-in model id (undefined for other models). */
export function defaultThresholdFor(model: string): number | undefined {
  return BUILTIN_THRESHOLDS[model];
}

/** adapt() defaults for vectors of this model (a built-in id or a path): empty for models not shipped here. */
export function adaptDefaultsFor(model: string | undefined): AdaptOptions {
  return { ...(model !== undefined ? BUILTIN_ADAPT_DEFAULTS[model] : undefined) };
}

/** True for ids of models shipped in the package (`skulens:…`), as opposed to paths and URLs. */
export function isBuiltinModelId(model: string): boolean {
  return model.startsWith('skulens:');
}

/** Where a model given as a string lives: a built-in id resolves through the platform. */
export function modelLocation(model: string): string {
  if (!isBuiltinModelId(model)) return model;
  const file = BUILTIN_MODELS[model];
  if (!file) throw new SkulensError('E_MODEL_LOAD', `Unknown built-in model "${model}". Built-in models: ${Object.keys(BUILTIN_MODELS).join(', ')}.`, { input: model });
  return getPlatform().builtinModelLocation(file);
}

export interface LoadedModel {
  bytes: Uint8Array;
  session: InferenceSession;
  /** The same session when it runs in worker threads: its pool's extras. */
  workerPool?: WorkerPoolSession;
  /** The path or URL the model came from, when it was given as one. */
  path?: string;
}

/**
 * Session defaults; callers can override each (docs/embedder.md, "Session options").
 *
 * Spinning off: onnxruntime's intra-op threads spin after each run waiting for more work.
 * skulens interleaves inference with decoding and preprocessing on the same cores, and
 * spinning threads steal exactly that time (measured: decode + NMS 10–65 ms with spinning
 * vs 0.2–3 ms without; embedding from JPEG files faster too).
 *
 * Exact int8 arithmetic everywhere: on x86 CPUs without VNNI (AVX2 only), onnxruntime's fast
 * int8 kernels add pairs of uint8×int8 products in int16, which saturates with full-range
 * int8 weights, so an int8 model answers differently there than on VNNI CPUs or in browsers
 * (the shared MobileNetV2: embedding cosine down to 0.95; 10 of 16 bananas named instead
 * of 13). `x64quantprecision` makes onnxruntime compute such layers exactly (uint8×uint8),
 * but on VNNI CPUs it replaces exact fast kernels with slow ones (MobileNetV2: half the
 * speed, no output bit changed). So loadModel asks for it only where a probe shows the
 * fast kernels are inexact (see int8-probe.ts, EXACT_INT8_SESSION_ENTRY). Exact vectors
 * keep galleries portable between machines.
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
export function withSessionDefaults(options: InferenceSession.SessionOptions = {}, { exactInt8 = false } = {}): InferenceSession.SessionOptions {
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
export async function loadModel(model: ModelSource, sessionOptions?: InferenceSession.SessionOptions, { worker = true, workers = 1 }: LoadModelOptions = {}): Promise<LoadedModel> {
  if (model === undefined || model === null) throw new SkulensError('E_INPUT', 'No model given: pass `model` as a path, URL or the bytes of an .onnx file.');
  if (!Number.isInteger(workers) || workers < 1) throw new SkulensError('E_INPUT', `workers must be a positive integer, got ${workers}.`);
  const platform = getPlatform();
  let bytes: Uint8Array;
  const path = typeof model === 'string' ? model : undefined;
  if (typeof model === 'string') {
    const location = modelLocation(model); // a missing built-in model says so itself
    try {
      bytes = await platform.readBinary(location);
    } catch (err) {
      throw new SkulensError('E_MODEL_LOAD', `Cannot read model "${model}": ${messageOf(err)}`, { cause: err, input: model });
    }
  } else {
    bytes = model instanceof Uint8Array ? model : new Uint8Array(model);
  }
  try {
    const options = withSessionDefaults(sessionOptions, { exactInt8: !(await fastInt8IsExact(platform.ort)) });
    let session: InferenceSession;
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
    throw new SkulensError('E_MODEL_LOAD', `Cannot load ONNX model${path ? ` "${path}"` : ''}: ${messageOf(err)}`, { cause: err, ...(path ? { input: path } : {}) });
  }
}

/**
 * A float32 batch buffer of `length` values: one that a worker pool handed back after an
 * earlier run when there is one (its old contents are overwritten), else a new one.
 */
export function batchBuffer(workerPool: WorkerPoolSession | undefined, length: number): Float32Array {
  const spare = workerPool?.takeSpareBuffer(length * 4);
  return spare ? new Float32Array(spare, 0, length) : new Float32Array(length);
}

type Dim = number | string;

function shapeOf(session: InferenceSession, name: string, kind: 'input' | 'output'): Dim[] | undefined {
  const list = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const meta = (list as readonly InferenceSession.ValueMetadata[] | undefined)?.find((m) => m.name === name);
  return meta && meta.isTensor ? [...meta.shape] : undefined;
}

function typeOf(session: InferenceSession, name: string, kind: 'input' | 'output'): string | undefined {
  const list = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const meta = (list as readonly InferenceSession.ValueMetadata[] | undefined)?.find((m) => m.name === name);
  return meta && meta.isTensor ? meta.type : undefined;
}

export function formatShape(shape: readonly Dim[] | undefined): string {
  return shape ? `[${shape.join(',')}]` : '[?]';
}

export function describeOutputs(session: InferenceSession): string {
  return session.outputNames.map((n) => `${n} ${formatShape(outputShape(session, n))}`).join(', ');
}

export function outputShape(session: InferenceSession, name: string): Dim[] | undefined {
  return shapeOf(session, name, 'output');
}

export function outputType(session: InferenceSession, name: string): string | undefined {
  return typeOf(session, name, 'output');
}

/** What the model's single image input needs. */
export interface ImageInputInfo {
  name: string;
  dtype: InputDType;
  layout: TensorLayout;
  /** Fixed spatial size, when the model declares one. */
  width?: number;
  height?: number;
  /** Fixed batch size, when the model declares one (every run must use it). */
  fixedBatch?: number;
}

/** Read and check the image input: one float tensor shaped [N,3,H,W] or [N,H,W,3]. */
export function inspectImageInput(session: InferenceSession): ImageInputInfo {
  const expected = 'one float32/float16 image input shaped [N,3,H,W] (NCHW) or [N,H,W,3] (NHWC)';
  const names = session.inputNames;
  const described = names.map((n) => `${n} ${typeOf(session, n, 'input') ?? '?'} ${formatShape(shapeOf(session, n, 'input'))}`).join(', ');
  if (names.length !== 1) {
    throw new SkulensError('E_MODEL_SHAPE', `Model has ${names.length} inputs (${described}); expected ${expected}.`);
  }
  const name = names[0]!;
  const shape = shapeOf(session, name, 'input');
  const type = typeOf(session, name, 'input');
  if (type !== 'float32' && type !== 'float16') {
    throw new SkulensError('E_MODEL_SHAPE', `Model input ${described} has type ${type}; expected ${expected}.`);
  }
  const num = (d: Dim | undefined) => (typeof d === 'number' && d > 0 ? d : undefined);
  let layout: TensorLayout | undefined;
  if (shape?.length === 4) {
    if (shape[1] === 3) layout = 'nchw';
    else if (shape[3] === 3) layout = 'nhwc';
    else if (typeof shape[1] !== 'number' && typeof shape[3] !== 'number') layout = 'nchw'; // fully dynamic: assume NCHW
  }
  if (!shape || !layout) {
    throw new SkulensError('E_MODEL_SHAPE', `Model input ${described} is not image-shaped; expected ${expected}.`);
  }
  const info: ImageInputInfo = { name, dtype: type, layout };
  const h = num(layout === 'nchw' ? shape[2] : shape[1]);
  const w = num(layout === 'nchw' ? shape[3] : shape[2]);
  const b = num(shape[0]);
  if (w !== undefined) info.width = w;
  if (h !== undefined) info.height = h;
  if (b !== undefined) info.fixedBatch = b;
  return info;
}

/** Apply what the model itself declares (dtype, layout, fixed size) on top of a spec. */
export function fitSpecToInput(spec: PreprocessSpec, input: ImageInputInfo, explicitSize: boolean): PreprocessSpec {
  if (explicitSize && input.width !== undefined && input.height !== undefined && (spec.width !== input.width || spec.height !== input.height)) {
    throw new SkulensError(
      'E_MODEL_SHAPE',
      `Model input "${input.name}" has a fixed size ${input.width}x${input.height}, but ${spec.width}x${spec.height} was requested.`,
    );
  }
  return {
    ...spec,
    dtype: input.dtype,
    layout: input.layout,
    width: input.width ?? spec.width,
    height: input.height ?? spec.height,
  };
}

/** Wrap a float32 batch buffer as an input tensor of the model's dtype. */
export function makeInputTensor(spec: PreprocessSpec, data: Float32Array, batch: number) {
  const { Tensor } = getPlatform().ort;
  const shape = batchShape(spec, batch);
  return spec.dtype === 'float16' ? new Tensor('float16', float32ToHalfArray(data), shape) : new Tensor('float32', data, shape);
}
