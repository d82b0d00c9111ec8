/**
 * The seam between the platform-free core and a runtime. Core modules import only
 * `onnxruntime-common` types; the Node and browser entries register the concrete
 * onnxruntime build, the image decoder and file access here when they are imported
 * (the way onnxruntime-common's API is served by backends that register themselves).
 */
import type * as OrtCommon from 'onnxruntime-common';
import { SkulensError } from './errors.js';
import type { ImageInput, ImageLoadOptions, RawImage } from './image-types.js';
import type { AnnIndexOptions, VectorIndex } from './vector-index.js';

/**
 * The members of an onnxruntime session that skulens calls: onnxruntime's own sessions
 * have them, and so does the Node worker pool, without pretending to be a full
 * InferenceSession.
 */
export interface SessionLike {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly inputMetadata: readonly OrtCommon.InferenceSession.ValueMetadata[];
  readonly outputMetadata: readonly OrtCommon.InferenceSession.ValueMetadata[];
  run(feeds: Record<string, OrtCommon.Tensor>, fetches: readonly string[]): Promise<Record<string, OrtCommon.Tensor>>;
  release(): Promise<void>;
}

/** The parts of an onnxruntime build that skulens uses. */
export interface OrtModule {
  InferenceSession: { create(model: Uint8Array, options?: OrtCommon.InferenceSession.SessionOptions): Promise<SessionLike> };
  Tensor: typeof OrtCommon.Tensor;
}

/**
 * A session served by a pool of worker threads (Node): several runs execute at once, and
 * the input buffers transferred to a run come back for reuse.
 */
export interface WorkerPoolSession extends SessionLike {
  /** How many runs execute at once (one per worker). */
  readonly parallelRuns: number;
  /** A buffer of at least `byteLength` bytes that a finished run handed back, if any. */
  takeSpareBuffer(byteLength: number): ArrayBuffer | undefined;
}

export interface Platform {
  name: string;
  ort: OrtModule;
  /** Decode any accepted image input into 8-bit RGB/RGBA pixels, refusing more than `options.maxPixels`. */
  loadImage(input: ImageInput, options?: ImageLoadOptions): Promise<RawImage>;
  /** Read a model or gallery file (`what`, for the platform's errors) given by path or URL. */
  readBinary(source: string, what?: 'model' | 'gallery'): Promise<Uint8Array>;
  /** Path or URL of a model file shipped in the package's models/ folder. */
  builtinModelLocation(file: string): string;
  /** Hex SHA-256 of bytes (model fingerprints must match across platforms). */
  sha256Hex(bytes: Uint8Array): Promise<string>;
  /**
   * Create a session off the main thread, where the runtime's own `run()` would block it
   * (Node): `workers` threads each hold a copy of the model, so that many runs execute at
   * once. Absent where `ort.InferenceSession.create` is already asynchronous.
   */
  createWorkerSession?(
    bytes: Uint8Array,
    options: OrtCommon.InferenceSession.SessionOptions | undefined,
    workers: number,
  ): Promise<WorkerPoolSession>;
  /** CPU cores this process may use, where the platform can tell. */
  cpuCount?(): number;
  /** Approximate nearest-neighbour index (HNSW) for big galleries; absent where there is none (browser: exact index only). */
  createAnnIndex?(options: AnnIndexOptions): VectorIndex;
  /** False when createAnnIndex exists but cannot work here (Node: hnswlib-node not built); `auto` then stays exact. */
  annIndexAvailable?(): boolean;
  /** Write a file atomically (temp file in the same folder, fsync, rename); absent where there are no files. */
  writeFileAtomic?(path: string, bytes: Uint8Array): Promise<void>;
}

let current: Platform | undefined;

export function setPlatform(platform: Platform): void {
  current = platform;
}

export function getPlatform(): Platform {
  if (!current) {
    throw new SkulensError(
      'E_PLATFORM',
      'No skulens platform is registered: import from "skulens" (which picks the Node or browser entry) rather than from an internal module.',
    );
  }
  return current;
}
