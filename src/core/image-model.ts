/**
 * An opened image model: the one recipe the Embedder and the Detector share for
 * reading a model, opening its session (in worker threads where the platform has
 * them), reading its ONNX metadata, checking its single image input, learning symbolic
 * output shapes from a blank image, and running it with failures reported as skulens
 * errors. Each class only adds what its outputs mean.
 */
import type * as OrtCommon from 'onnxruntime-common';
import { SkulensError, messageOf } from './errors.js';
import { float32ToHalfArray } from './float16.js';
import { loadModel, type LoadModelOptions, type ModelSource } from './model.js';
import { readOnnxMetadata } from './onnx-metadata.js';
import { getPlatform, type SessionLike, type WorkerPoolSession } from './platform.js';
import { batchShape, imageSize, type InputDType, type PreprocessSpec, type TensorLayout } from './preprocess.js';

export interface OpenImageModelOptions extends LoadModelOptions {
  /** Passed to onnxruntime's InferenceSession.create, under skulens' defaults (model.ts). */
  sessionOptions?: OrtCommon.InferenceSession.SessionOptions | undefined;
}

/** What the model is opened as: named in run failures ("Running the detector failed"). */
export type ModelRole = 'embedder' | 'detector';

export class ImageModel {
  private released = false;

  private constructor(
    readonly role: ModelRole,
    readonly session: SessionLike,
    /** The session's worker pool, when it runs in worker threads (Node). */
    readonly workerPool: WorkerPoolSession | undefined,
    /** The model file's bytes (fingerprints hash them). */
    readonly bytes: Uint8Array,
    /** Where the model came from, when given as a path, URL or built-in id. */
    readonly path: string | undefined,
    /** The single image input, checked. */
    readonly input: ImageInputInfo,
    /** The ONNX `metadata_props` (preprocessing, Ultralytics names and imgsz...). */
    readonly metadata: Record<string, string>,
  ) {}

  static async open(model: ModelSource, role: ModelRole, options: OpenImageModelOptions = {}): Promise<ImageModel> {
    const { sessionOptions, ...load } = options;
    const loaded = await loadModel(model, sessionOptions, load);
    try {
      const input = inspectImageInput(loaded.session);
      return new ImageModel(role, loaded.session, loaded.workerPool, loaded.bytes, loaded.path, input, readOnnxMetadata(loaded.bytes));
    } catch (err) {
      await loaded.session.release().catch(() => undefined); // refused: do not leak its session (or worker threads)
      throw err;
    }
  }

  get outputNames(): readonly string[] {
    return this.session.outputNames;
  }

  /** An output's declared shape (symbolic dims as strings), if it is a tensor. */
  outputShape(name: string): Dim[] | undefined {
    return outputShape(this.session, name);
  }

  /** "name [dims], ..." for messages. */
  describeOutputs(): string {
    return describeOutputs(this.session);
  }

  /** A float32 batch buffer of `length` values, re-using one the worker pool handed back when it can. */
  batchBuffer(length: number): Float32Array {
    return batchBuffer(this.workerPool, length);
  }

  /** Wrap a float32 batch buffer as an input tensor of the model's dtype. */
  inputTensor(spec: PreprocessSpec, data: Float32Array, batch: number): OrtCommon.Tensor {
    return makeInputTensor(spec, data, batch);
  }

  /** Run one input tensor and return one output; a failing run is E_INFERENCE. */
  async run(input: OrtCommon.Tensor, output: string): Promise<OrtCommon.Tensor> {
    this.ensureOpen();
    let result: Record<string, OrtCommon.Tensor>;
    try {
      result = await this.session.run({ [this.input.name]: input }, [output]);
    } catch (err) {
      throw new SkulensError('E_INFERENCE', `Running the ${this.role} failed: ${messageOf(err)}`, { cause: err });
    }
    return result[output]!;
  }

  /** Run `batch` blank images: how a model with symbolic output dims shows their sizes. */
  async probe(spec: PreprocessSpec, output: string, batch = 1): Promise<OrtCommon.Tensor> {
    return this.run(this.inputTensor(spec, new Float32Array(imageSize(spec) * batch), batch), output);
  }

  /** E_INPUT once release() ran: a disposed Embedder/Detector says so, not "worker exited". */
  ensureOpen(): void {
    const owner = this.role === 'detector' ? 'Detector' : 'Embedder';
    if (this.released)
      throw new SkulensError('E_INPUT', `This ${owner} was disposed (dispose() was called): create a new one with ${owner}.create().`);
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

/** Open a model as an image model (see ImageModel). */
export function openImageModel(model: ModelSource, role: ModelRole, options: OpenImageModelOptions = {}): Promise<ImageModel> {
  return ImageModel.open(model, role, options);
}

/**
 * A float32 batch buffer of `length` values: one that a worker pool handed back after an
 * earlier run when there is one (its old contents are overwritten), else a new one.
 */
function batchBuffer(workerPool: WorkerPoolSession | undefined, length: number): Float32Array {
  const spare = workerPool?.takeSpareBuffer(length * 4);
  return spare ? new Float32Array(spare, 0, length) : new Float32Array(length);
}

export type Dim = number | string;

function shapeOf(session: SessionLike, name: string, kind: 'input' | 'output'): Dim[] | undefined {
  const list = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const meta = (list as readonly OrtCommon.InferenceSession.ValueMetadata[] | undefined)?.find((m) => m.name === name);
  return meta && meta.isTensor ? [...meta.shape] : undefined;
}

function typeOf(session: SessionLike, name: string, kind: 'input' | 'output'): string | undefined {
  const list = kind === 'input' ? session.inputMetadata : session.outputMetadata;
  const meta = (list as readonly OrtCommon.InferenceSession.ValueMetadata[] | undefined)?.find((m) => m.name === name);
  return meta && meta.isTensor ? meta.type : undefined;
}

export function formatShape(shape: readonly Dim[] | undefined): string {
  return shape ? `[${shape.join(',')}]` : '[?]';
}

function describeOutputs(session: SessionLike): string {
  return session.outputNames.map((n) => `${n} ${formatShape(outputShape(session, n))}`).join(', ');
}

function outputShape(session: SessionLike, name: string): Dim[] | undefined {
  return shapeOf(session, name, 'output');
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
export function inspectImageInput(session: SessionLike): ImageInputInfo {
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
  if (
    explicitSize &&
    input.width !== undefined &&
    input.height !== undefined &&
    (spec.width !== input.width || spec.height !== input.height)
  ) {
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
function makeInputTensor(spec: PreprocessSpec, data: Float32Array, batch: number) {
  const { Tensor } = getPlatform().ort;
  const shape = batchShape(spec, batch);
  return spec.dtype === 'float16' ? new Tensor('float16', float32ToHalfArray(data), shape) : new Tensor('float32', data, shape);
}
