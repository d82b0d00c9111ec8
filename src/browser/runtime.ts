/**
 * Which onnxruntime-web build runs the models, and how it is set up.
 *
 * - By default the lean CPU build `onnxruntime-web/wasm` (its .wasm is fetched only when
 *   the first model loads; sizes in docs/browser.md).
 * - When the caller asks for `webgpu` and the browser has `navigator.gpu` with an
 *   adapter, the WebGPU build `onnxruntime-web/webgpu` is imported on demand instead
 *   (it also runs the `wasm` EP, so sessions fall back to CPU for unsupported ops). A
 *   wasm-only user never downloads it.
 * - `configure({ ort })` hands in an onnxruntime-web module of the caller's own (e.g. the
 *   `onnxruntime-web/all` build, or one already configured elsewhere in the app).
 *
 * The build is chosen once, when the first session is created: tensors and sessions of
 * two different builds do not mix.
 */
import type * as OrtCommon from 'onnxruntime-common';
import * as ortWasm from 'onnxruntime-web/wasm';
import { SkulensError, messageOf } from '../core/errors.js';
import type { OrtModule } from '../core/platform.js';

type OrtWeb = typeof ortWasm;
type ExecutionProvider = 'wasm' | 'webgpu' | 'webnn' | 'webgl' | (string & {});

export interface BrowserConfig {
  /**
   * Where onnxruntime-web finds its `.wasm`/`.mjs` files: a folder URL ending in "/"
   * (e.g. "/ort/") or `{ wasm, mjs }` file URLs. Default: beside onnxruntime-web's own
   * module (what bundlers and an import map pointing into `onnxruntime-web/dist` give).
   */
  wasmPaths?: OrtCommon.Env.WasmPrefixOrFilePaths;
  /**
   * WebAssembly threads. Default: onnxruntime's choice (up to 4 when the page is
   * cross-origin isolated, else 1). More than 1 needs COOP/COEP headers (see
   * docs/browser.md); without them it silently runs on one thread.
   */
  numThreads?: number;
  /** Run inference in a web worker so the page stays responsive (default false). */
  proxy?: boolean;
  /**
   * Execution providers in order of preference (default ["wasm"]). "webgpu" is used only
   * when the browser has WebGPU; otherwise it is dropped and the rest are used.
   */
  executionProviders?: ExecutionProvider[];
  /** Use this onnxruntime-web module instead of the built-in choice. */
  ort?: unknown;
  /** onnxruntime log level (default "warning"). */
  logLevel?: 'verbose' | 'info' | 'warning' | 'error' | 'fatal';
}

export interface RuntimeInfo {
  /** Which build runs the models: "onnxruntime-web/wasm", "onnxruntime-web/webgpu" or "custom". */
  build: string;
  /** Execution providers passed to sessions. */
  executionProviders: string[];
  /** `crossOriginIsolated && SharedArrayBuffer`: whether wasm threads are possible. */
  threadsAvailable: boolean;
  /** Threads requested from onnxruntime (0 = its default). */
  numThreads: number;
  /** Whether `navigator.gpu` exists (an adapter is requested only when webgpu is asked for). */
  webgpuAvailable: boolean;
  /** The resolved build and EPs are fixed once the first model loaded. */
  resolved: boolean;
}

let config: BrowserConfig = {};
let resolved: { ort: OrtWeb; build: string; eps: string[] } | undefined;
let resolving: Promise<{ ort: OrtWeb; build: string; eps: string[] }> | undefined;

/** Set up onnxruntime-web. Call before the first `Embedder.create`/`Detector.create`. */
export function configure(options: BrowserConfig): void {
  if (resolved || resolving) {
    const changesBuild = options.ort !== undefined || options.executionProviders !== undefined;
    if (changesBuild) {
      throw new SkulensError(
        'E_PLATFORM',
        'configure({ ort, executionProviders }) must be called before the first model is loaded: sessions of different onnxruntime builds cannot be mixed. Call it at start-up.',
      );
    }
  }
  config = { ...config, ...options };
  if (resolved) applyEnv(resolved.ort);
}

export function threadsAvailable(): boolean {
  const g = globalThis as { crossOriginIsolated?: boolean; SharedArrayBuffer?: unknown };
  return g.crossOriginIsolated === true && typeof g.SharedArrayBuffer === 'function';
}

function hasWebGpu(): boolean {
  return typeof navigator !== 'undefined' && 'gpu' in navigator && !!(navigator as { gpu?: unknown }).gpu;
}

async function webGpuAdapterAvailable(): Promise<boolean> {
  if (!hasWebGpu()) return false;
  try {
    const gpu = (navigator as { gpu?: { requestAdapter(): Promise<unknown> } }).gpu!;
    return (await gpu.requestAdapter()) !== null;
  } catch {
    return false;
  }
}

export function runtimeInfo(): RuntimeInfo {
  const wanted = config.executionProviders ?? ['wasm'];
  return {
    build:
      resolved?.build ??
      (config.ort ? 'custom' : wanted.includes('webgpu') && hasWebGpu() ? 'onnxruntime-web/webgpu' : 'onnxruntime-web/wasm'),
    executionProviders: resolved?.eps ?? wanted.filter((ep) => ep !== 'webgpu' || hasWebGpu()),
    threadsAvailable: threadsAvailable(),
    numThreads: config.numThreads ?? 0,
    webgpuAvailable: hasWebGpu(),
    resolved: resolved !== undefined,
  };
}

function applyEnv(ort: OrtWeb): void {
  const wasm = ort.env.wasm;
  if (config.wasmPaths !== undefined) wasm.wasmPaths = config.wasmPaths;
  if (config.numThreads !== undefined) wasm.numThreads = config.numThreads;
  if (config.proxy !== undefined) wasm.proxy = config.proxy;
  ort.env.logLevel = config.logLevel ?? 'warning';
}

async function resolveOrt(): Promise<{ ort: OrtWeb; build: string; eps: string[] }> {
  if (resolved) return resolved;
  resolving ??= (async () => {
    const wanted = config.executionProviders ?? ['wasm'];
    // navigator.gpu can exist without a usable adapter (blocklisted GPU, --disable-gpu).
    const webgpu = wanted.includes('webgpu') && (await webGpuAdapterAvailable());
    let eps = wanted.filter((ep) => ep !== 'webgpu' || webgpu);
    if (eps.length === 0) eps = ['wasm'];
    let ort: OrtWeb;
    let build: string;
    if (config.ort) {
      ort = config.ort as OrtWeb;
      build = 'custom';
    } else if (eps.includes('webgpu')) {
      try {
        ort = (await import('onnxruntime-web/webgpu')) as OrtWeb;
        build = 'onnxruntime-web/webgpu';
      } catch (err) {
        throw new SkulensError(
          'E_PLATFORM',
          `Cannot load the WebGPU build of onnxruntime ("onnxruntime-web/webgpu"): ${messageOf(err)}. With an import map, map "onnxruntime-web/webgpu" to onnxruntime-web/dist/ort.webgpu.min.mjs.`,
          { cause: err },
        );
      }
    } else {
      ort = ortWasm;
      build = 'onnxruntime-web/wasm';
    }
    applyEnv(ort);
    resolved = { ort, build, eps };
    return resolved;
  })();
  try {
    return await resolving;
  } catch (err) {
    resolving = undefined;
    throw err;
  }
}

/** Turn onnxruntime-web's loading failures into advice. */
function explainOrtError(err: unknown): string {
  const message = messageOf(err);
  if (/magic word|expected magic|00 61 73 6d/i.test(message)) {
    return `${message} — the server answered the .wasm request with something else (usually an HTML page: a 404 fallback or an SPA's index.html). Make the ort-wasm-*.wasm files of onnxruntime-web/dist reachable and point configure({ wasmPaths }) at them (see docs/browser.md).`;
  }
  if (/Failed to fetch dynamically imported module|Importing a module script failed|\.mjs/i.test(message) && /ort-wasm/i.test(message)) {
    return `${message} — the ort-wasm-*.mjs glue file was not found next to the .wasm: serve both from onnxruntime-web/dist and set configure({ wasmPaths }).`;
  }
  if (/no available backend/i.test(message))
    return `${message} — check the execution providers and that the .wasm files are served (docs/browser.md).`;
  return message;
}

/**
 * The `ort` object given to the core. `InferenceSession.create` waits for the build to be
 * chosen and adds the configured execution providers; `Tensor` is that build's class.
 */
export const browserOrt: OrtModule = {
  InferenceSession: {
    async create(model: Uint8Array, options?: OrtCommon.InferenceSession.SessionOptions) {
      const { ort, eps } = await resolveOrt();
      const sessionOptions: OrtCommon.InferenceSession.SessionOptions = { ...options };
      sessionOptions.executionProviders ??= eps as OrtCommon.InferenceSession.ExecutionProviderConfig[];
      try {
        return await ort.InferenceSession.create(model, sessionOptions);
      } catch (err) {
        throw new Error(explainOrtError(err), { cause: err });
      }
    },
  } as unknown as OrtModule['InferenceSession'],
  get Tensor() {
    return (resolved?.ort ?? ortWasm).Tensor as unknown as OrtModule['Tensor'];
  },
};
