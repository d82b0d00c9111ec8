/**
 * Embedder: images (or crops of them) in, L2-normalised embedding vectors out.
 * Preprocessing is a declared `PreprocessSpec`; batches are decoded ahead while the
 * previous batch runs through the model.
 */
import type { InferenceSession, Tensor } from 'onnxruntime-common';
import { DEFAULT_EMBEDDER } from './builtin-models.js';
import { SkulensError, messageOf } from './errors.js';
import { halfArrayToFloat32, halfBits } from './float16.js';
import { checkMaxPixels, decodeImage, describeInput, isRawImage, type ImageInput, type Rect } from './image.js';
import { check, is } from './is.js';
import { fitSpecToInput, formatShape, openImageModel, type ImageModel } from './image-model.js';
import type { ModelSource } from './model.js';
import { definedOnly } from './options.js';
import { getPlatform } from './platform.js';
import { imageSize, resolveSpec, writeImageToTensor, type PreprocessSpec } from './preprocess.js';
import { normalizeInPlace } from './vector.js';
import { plural } from './plural.js';

/** The ONNX metadata key under which a model may declare its own preprocessing (JSON). */
export const PREPROCESS_METADATA_KEY = 'skulens.preprocess';

export interface EmbedderOptions extends Partial<PreprocessSpec> {
  /**
   * Path/URL of the .onnx file, its bytes, or a built-in id. Default: `DEFAULT_EMBEDDER`
   * (`skulens:mobilenetv2`, 224 px, 1280-d); `skulens:retail-160` is the fast one (docs/models.md).
   */
  model?: ModelSource;
  /** Named preprocessing recipe: imagenet, nvidia-retail, clip (see docs/embedder.md). */
  preset?: string;
  /** Name of the output holding the embedding (default: one named like "embedding", else the only 2-D output). */
  output?: string;
  /** Images per inference run (default 16). */
  batchSize?: number;
  /** L2-normalise vectors (default true). */
  normalize?: boolean;
  /** Passed to onnxruntime's InferenceSession.create (threads, execution providers...). */
  sessionOptions?: InferenceSession.SessionOptions;
  /**
   * Node: run inference in a worker thread (default true), so the next batch is decoded
   * and preprocessed while this one runs, and the event loop stays free.
   */
  worker?: boolean;
  /**
   * Node: how many worker threads run batches at the same time, each with its own copy of
   * the model and an equal share of the CPU cores (default: 2 on a machine with 2 or more
   * cores, else 1). Two single-threaded sessions get more images through a 2-core machine
   * than one two-threaded session; 1 gives the lowest latency for a single batch and
   * loads the model once.
   */
  workers?: number;
  /** Refuse images with more pixels than this, before decoding (default DEFAULT_MAX_PIXELS, 64 MP). */
  maxPixels?: number;
}

/** One thing to embed: an image, or a rectangle of one. */
export type EmbedInput = ImageInput | { image: ImageInput; crop?: Rect };

export interface EmbedFailure {
  index: number;
  input: string;
  error: SkulensError;
}

export interface EmbedProgress {
  done: number;
  total: number;
}

export interface EmbedOptions {
  /** Called after each batch. */
  onProgress?: (progress: EmbedProgress) => void;
  signal?: AbortSignal;
}

export interface EmbedSettledResult {
  /** One entry per input, in order; `null` where the input failed. */
  vectors: (Float32Array | null)[];
  failures: EmbedFailure[];
}

/** Thrown by `embed` when some inputs failed; the others' vectors are kept in `vectors`. */
export class EmbedError extends SkulensError {
  readonly failures: EmbedFailure[];
  readonly vectors: (Float32Array | null)[];
  constructor(result: EmbedSettledResult) {
    const first = result.failures[0]!;
    const more = result.failures.length > 1 ? ` (and ${result.failures.length - 1} more)` : '';
    super(
      first.error.code,
      `${result.failures.length} of ${plural(result.vectors.length, 'input')} failed: ${first.error.message}${more}`,
      {
        input: first.input,
        cause: first.error,
      },
    );
    this.name = 'EmbedError';
    this.failures = result.failures;
    this.vectors = result.vectors;
  }
}

export class Embedder {
  /** Preprocessing actually applied (after preset, model metadata, options and the model's own input shape). */
  readonly spec: PreprocessSpec;
  /** Embedding dimension. */
  readonly dim: number;
  /** Identity of model bytes + preprocessing + output: vectors are comparable only between equal fingerprints. */
  readonly fingerprint: string;
  readonly inputName: string;
  readonly outputName: string;
  readonly batchSize: number;
  readonly normalize: boolean;
  /** Where the model came from, when given as a path. */
  readonly modelPath: string | undefined;
  /** Where the spec came from: "preset:imagenet", "metadata", "options" or combinations. */
  readonly specSource: string;
  /** The preset name it was created with, if any (galleries record it). */
  readonly preset: string | undefined;
  /** Images with more pixels than this are refused (E_IMAGE_DECODE) before decoding. */
  readonly maxPixels: number;

  private readonly model: ImageModel;
  private readonly pooled: boolean;

  private constructor(init: {
    model: ImageModel;
    spec: PreprocessSpec;
    specSource: string;
    preset: string | undefined;
    outputName: string;
    pooled: boolean;
    dim: number;
    fingerprint: string;
    batchSize: number;
    normalize: boolean;
    modelPath: string | undefined;
    maxPixels: number;
  }) {
    this.model = init.model;
    this.spec = init.spec;
    this.specSource = init.specSource;
    this.preset = init.preset;
    this.inputName = init.model.input.name;
    this.outputName = init.outputName;
    this.pooled = init.pooled;
    this.dim = init.dim;
    this.fingerprint = init.fingerprint;
    this.batchSize = init.batchSize;
    this.normalize = init.normalize;
    this.modelPath = init.modelPath;
    this.maxPixels = init.maxPixels;
  }

  static async create(options: EmbedderOptions = {}): Promise<Embedder> {
    const {
      model = DEFAULT_EMBEDDER,
      preset,
      output,
      batchSize = 16,
      normalize = true,
      sessionOptions,
      worker,
      workers,
      maxPixels,
      ...overrides
    } = options ?? ({} as EmbedderOptions);
    check(is.positiveInt(batchSize), 'batchSize', 'a positive integer', batchSize);
    const pixelLimit = checkMaxPixels(maxPixels);
    const opened = await openImageModel(model, 'embedder', {
      sessionOptions,
      worker,
      workers: workers ?? Math.min(2, getPlatform().cpuCount?.() ?? 1),
    });
    try {
      return await Embedder.build(opened, { preset, output, batchSize, normalize, maxPixels: pixelLimit, overrides });
    } catch (err) {
      await opened.release().catch(() => undefined); // refused: do not leak the session (or its worker threads)
      throw err;
    }
  }

  private static async build(
    model: ImageModel,
    options: {
      preset: string | undefined;
      output: string | undefined;
      batchSize: number;
      normalize: boolean;
      maxPixels: number;
      overrides: Partial<PreprocessSpec>;
    },
  ): Promise<Embedder> {
    const { preset, output, batchSize, normalize, maxPixels, overrides } = options;
    // Spec precedence: model metadata < preset < explicit options.
    const sources: string[] = [];
    let fromMetadata: Partial<PreprocessSpec> = {};
    const metaJson = model.metadata[PREPROCESS_METADATA_KEY];
    if (metaJson !== undefined) {
      try {
        fromMetadata = JSON.parse(metaJson) as Partial<PreprocessSpec>;
      } catch (err) {
        throw new SkulensError('E_PREPROCESS', `The model's "${PREPROCESS_METADATA_KEY}" metadata is not valid JSON: ${messageOf(err)}`);
      }
      sources.push('metadata');
    }
    const explicit = definedOnly(overrides);
    if (preset) sources.push(`preset:${preset}`);
    if (Object.keys(explicit).length) sources.push('options');
    const base = preset ? resolveSpec(preset) : resolveSpec(undefined, fromMetadata);
    let spec = resolveSpec(undefined, { ...base, ...explicit });

    const input = model.input;
    const explicitSize = explicit.width !== undefined || explicit.height !== undefined;
    spec = fitSpecToInput(spec, input, explicitSize);

    const { name: outputName, pooled, dim } = pickOutput(model, output);
    const effectiveBatch = input.fixedBatch ?? batchSize;

    const platform = getPlatform();
    const modelHash = await platform.sha256Hex(model.bytes);
    const identity = JSON.stringify({ model: modelHash, output: outputName, normalize, spec: canonicalSpec(spec) });
    const fingerprint = (await platform.sha256Hex(new TextEncoder().encode(identity))).slice(0, 32);

    const embedder = new Embedder({
      model,
      spec,
      specSource: sources.join('+') || 'default',
      preset,
      outputName,
      pooled,
      dim: dim ?? 0,
      fingerprint,
      batchSize: effectiveBatch,
      normalize,
      modelPath: model.path,
      maxPixels,
    });
    if (dim === undefined) {
      // The output's width is symbolic: learn it from one blank image.
      const probe = await embedder.runBatch(new Float32Array(imageSize(spec) * embedder.runSize(1)), 1);
      (embedder as { dim: number }).dim = probe[0]!.length;
    }
    return embedder;
  }

  /**
   * Embed inputs in order. If any input fails, throws an `EmbedError` whose `failures`
   * say which and whose `vectors` hold the results of the others.
   */
  async embed(inputs: readonly EmbedInput[], options: EmbedOptions = {}): Promise<Float32Array[]> {
    const result = await this.embedSettled(inputs, options);
    if (result.failures.length) throw new EmbedError(result);
    return result.vectors as Float32Array[];
  }

  /** Embed one input. */
  async embedOne(input: EmbedInput): Promise<Float32Array> {
    return (await this.embed([input]))[0]!;
  }

  /** Embed inputs in order, never throwing for a bad image: failures are listed instead. */
  async embedSettled(inputs: readonly EmbedInput[], options: EmbedOptions = {}): Promise<EmbedSettledResult> {
    if (!Array.isArray(inputs)) throw new SkulensError('E_INPUT', 'embed() takes an array of images.');
    this.model.ensureOpen();
    const total = inputs.length;
    const vectors: (Float32Array | null)[] = new Array(total).fill(null);
    const failures: EmbedFailure[] = [];
    const per = imageSize(this.spec);
    const parallel = this.model.workerPool?.parallelRuns ?? 1;
    // Small jobs are split so that every worker gets a share (fixed-batch models cannot be).
    const step = this.model.input.fixedBatch ? this.batchSize : Math.max(1, Math.min(this.batchSize, Math.ceil(total / parallel)));

    // A pipeline: while up to `parallel` batches run through the model (in worker threads
    // on Node), the next batch is decoded and preprocessed here.
    let decoding = total > 0 ? this.prepareBatch(inputs, 0, Math.min(step, total)) : undefined;
    const running = new Set<Promise<void>>();
    // The first failed run. Runs settle while the loop awaits other things, so a failure
    // is recorded here and rethrown at the next check rather than left to a race.
    let runError: { error: unknown } | undefined;
    const throwIfRunFailed = () => {
      if (runError) throw runError.error;
    };
    let finished = 0;
    try {
      for (let start = 0; start < total; start += step) {
        options.signal?.throwIfAborted();
        throwIfRunFailed();
        const end = Math.min(start + step, total);
        const { data, ok, failed } = await decoding!;
        failures.push(...failed);
        decoding = end < total ? this.prepareBatch(inputs, end, Math.min(end + step, total)) : undefined;

        while (running.size >= parallel) await Promise.race(running);
        throwIfRunFailed();
        const batch = (ok.length ? this.runBatch(data.subarray(0, per * this.runSize(ok.length)), ok.length) : Promise.resolve([])).then(
          (out) => {
            ok.forEach((index, j) => {
              const v = out[j]!;
              // A NaN or infinite vector would answer every comparison wrongly and quietly: fail that input instead.
              if (v.every(Number.isFinite)) vectors[index] = v;
              else failures.push({ index, input: describeInput(unwrap(inputs[index]!).image), error: nonFiniteError(inputs[index]!) });
            });
            finished += end - start;
            options.onProgress?.({ done: finished, total });
          },
        );
        // Never rejects: a failure is kept in runError (the first one wins).
        const tracked: Promise<void> = batch.then(
          () => void running.delete(tracked),
          (error: unknown) => {
            running.delete(tracked);
            runError ??= { error };
          },
        );
        running.add(tracked);
      }
      await Promise.all(running);
      throwIfRunFailed();
      if (total === 0) options.onProgress?.({ done: 0, total });
    } finally {
      // Never leave work running past the call, even when aborted or failing.
      await Promise.allSettled([decoding, ...running]);
    }
    failures.sort((a, b) => a.index - b.index);
    return { vectors, failures };
  }

  /** Release the ONNX session. */
  async dispose(): Promise<void> {
    await this.model.release();
  }

  /** Batch size to run: models with a fixed batch need exactly that many slots. */
  private runSize(n: number): number {
    return this.model.input.fixedBatch ?? n;
  }

  /**
   * Decode inputs [start, end) and write each into its slot of a batch buffer as soon as
   * it is decoded, so a batch never holds all its decoded images at once (16 large photos
   * would be gigabytes). Slots of failed inputs are closed up; `ok` lists the inputs in
   * the buffer, in order.
   */
  private async prepareBatch(
    inputs: readonly EmbedInput[],
    start: number,
    end: number,
  ): Promise<{ data: Float32Array; ok: number[]; failed: EmbedFailure[] }> {
    const per = imageSize(this.spec);
    const n = end - start;
    const data = this.model.batchBuffer(per * this.runSize(n));
    const written: boolean[] = new Array<boolean>(n).fill(false);
    const failed: EmbedFailure[] = [];
    await Promise.all(
      inputs.slice(start, end).map(async (entry, i) => {
        const { image, crop } = unwrap(entry);
        try {
          writeImageToTensor(await decodeImage(image, { maxPixels: this.maxPixels }), this.spec, data, i, crop);
          written[i] = true;
        } catch (err) {
          failed.push({ index: start + i, input: describeInput(image), error: asDecodeError(err, entry) });
        }
      }),
    );
    const ok: number[] = [];
    for (let i = 0; i < n; i++) {
      if (!written[i]) continue;
      if (ok.length !== i) data.copyWithin(ok.length * per, i * per, (i + 1) * per);
      ok.push(start + i);
    }
    return { data, ok, failed };
  }

  /** Run `count` preprocessed images (plus padding slots for fixed-batch models). */
  private async runBatch(data: Float32Array, count: number): Promise<Float32Array[]> {
    const tensor = await this.model.run(this.model.inputTensor(this.spec, data, this.runSize(count)), this.outputName);
    const vectors = this.extract(tensor, count);
    tensor.dispose?.();
    return vectors;
  }

  private extract(tensor: Tensor, count: number): Float32Array[] {
    const data = tensor.type === 'float16' ? halfArrayToFloat32(halfBits(tensor.data as ArrayBufferView)) : (tensor.data as Float32Array);
    const dims = tensor.dims;
    const vectors: Float32Array[] = [];
    if (this.pooled) {
      // [N,C,H,W] feature map: global average pool over H×W.
      const [, c, h, w] = dims as [number, number, number, number];
      const hw = h * w;
      for (let n = 0; n < count; n++) {
        const v = new Float32Array(c);
        for (let k = 0; k < c; k++) {
          let s = 0;
          const off = (n * c + k) * hw;
          for (let i = 0; i < hw; i++) s += data[off + i]!;
          v[k] = s / hw;
        }
        vectors.push(v);
      }
    } else {
      const d = dims[1]!;
      for (let n = 0; n < count; n++) vectors.push(data.slice(n * d, (n + 1) * d));
    }
    if (this.normalize) for (const v of vectors) normalizeInPlace(v);
    return vectors;
  }
}

function unwrap(entry: EmbedInput): { image: ImageInput; crop?: Rect } {
  if (typeof entry === 'object' && entry !== null && 'image' in entry && !isRawImage(entry)) return entry;
  return { image: entry as ImageInput };
}

function asDecodeError(err: unknown, entry: EmbedInput): SkulensError {
  if (err instanceof SkulensError) return err;
  const name = describeInput(unwrap(entry).image);
  return new SkulensError('E_IMAGE_DECODE', `Cannot use image ${name}: ${messageOf(err)}`, { cause: err, input: name });
}

function nonFiniteError(entry: EmbedInput): SkulensError {
  const name = describeInput(unwrap(entry).image);
  return new SkulensError(
    'E_MODEL_SHAPE',
    `The embedder returned a vector with NaN or infinite values for ${name}: the model or its preprocessing is broken for this input; check the model and its spec.`,
    { input: name },
  );
}

function pickOutput(model: ImageModel, requested: string | undefined): { name: string; pooled: boolean; dim: number | undefined } {
  const names = model.outputNames;
  let name: string | undefined;
  if (requested !== undefined) {
    if (!names.includes(requested)) {
      throw new SkulensError('E_MODEL_SHAPE', `The model has no output "${requested}"; its outputs are: ${model.describeOutputs()}.`);
    }
    name = requested;
  } else {
    name =
      names.find((n) => /embed/i.test(n)) ??
      (() => {
        const twoD = names.filter((n) => model.outputShape(n)?.length === 2);
        if (twoD.length === 1) return twoD[0];
        const fourD = names.filter((n) => model.outputShape(n)?.length === 4);
        return twoD.length === 0 && fourD.length === 1 ? fourD[0] : undefined;
      })();
    if (name === undefined) {
      throw new SkulensError(
        'E_MODEL_SHAPE',
        `Cannot tell which output is the embedding: outputs are ${model.describeOutputs()}. Pass \`output\` (CLI: \`embed --output\`, \`gallery build --embedding-output\`) naming a [N,D] or [N,C,H,W] output.`,
      );
    }
  }
  const shape = model.outputShape(name);
  if (!shape || (shape.length !== 2 && shape.length !== 4)) {
    throw new SkulensError(
      'E_MODEL_SHAPE',
      `Output "${name}" has shape ${formatShape(shape)}; expected [N,D] (an embedding) or [N,C,H,W] (a feature map to average-pool).`,
    );
  }
  const width = shape[1];
  return { name, pooled: shape.length === 4, dim: typeof width === 'number' && width > 0 ? width : undefined };
}

/** Spec with sorted keys and rounded numbers, so equal specs hash equally on every platform. */
export function canonicalSpec(spec: PreprocessSpec): Record<string, unknown> {
  const round = (x: unknown): unknown => (typeof x === 'number' ? Number(x.toPrecision(8)) : Array.isArray(x) ? x.map(round) : x);
  return Object.fromEntries(
    Object.keys(spec)
      .sort()
      .map((k) => [k, round(spec[k as keyof PreprocessSpec])]),
  );
}
