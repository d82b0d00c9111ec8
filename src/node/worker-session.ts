/**
 * onnxruntime-node sessions that run in worker threads.
 *
 * onnxruntime-node's `run()` executes synchronously on the calling thread (it only
 * defers to the next tick), so inference on the main thread blocks the event loop and
 * nothing else — decoding callbacks, the next batch's preprocessing, a server's requests
 * — can make progress meanwhile. Hosting the session in a worker lets the Embedder
 * preprocess batch b+1 while batch b runs. Input buffers are transferred, not copied.
 *
 * A pool of several workers, each with its own session, runs several batches at once:
 * on a 2-core machine two single-threaded sessions get more images through than one
 * session whose two intra-op threads meet at a barrier after every layer.
 */
import { createRequire } from 'node:module';
import { Worker } from 'node:worker_threads';
import type { InferenceSession, Tensor as OrtTensor } from 'onnxruntime-common';
import * as ort from 'onnxruntime-node';

/** The worker's code, plain CommonJS so it runs the same from sources (tests) and dist. */
const WORKER_SOURCE = `
const { parentPort, workerData } = require('node:worker_threads');
const ort = require(workerData.ortPath);
let session;
const describe = (m) => m.map((x) => ({ ...x, shape: x.shape ? [...x.shape] : undefined }));
parentPort.on('message', async (msg) => {
  try {
    if (msg.kind === 'init') {
      session = await ort.InferenceSession.create(msg.bytes, msg.options);
      parentPort.postMessage({ id: msg.id, info: {
        inputNames: session.inputNames, outputNames: session.outputNames,
        inputMetadata: describe(session.inputMetadata), outputMetadata: describe(session.outputMetadata) } });
    } else if (msg.kind === 'run') {
      const feeds = {};
      for (const [name, t] of Object.entries(msg.feeds)) feeds[name] = new ort.Tensor(t.type, t.data, t.dims);
      const result = await session.run(feeds, msg.fetches);
      const outputs = {};
      const transfer = [];
      for (const [name, t] of Object.entries(result)) {
        outputs[name] = { type: t.type, dims: t.dims, data: t.data };
        if (!transfer.includes(t.data.buffer)) transfer.push(t.data.buffer);
      }
      // Send the input buffers back too, so the caller can fill them again.
      const spare = [];
      for (const t of Object.values(msg.feeds)) {
        const buffer = t.data.buffer;
        if (buffer instanceof ArrayBuffer && !transfer.includes(buffer)) { transfer.push(buffer); spare.push(buffer); }
      }
      parentPort.postMessage({ id: msg.id, outputs, spare }, transfer);
    } else if (msg.kind === 'release') {
      if (session) await session.release();
      parentPort.postMessage({ id: msg.id });
    }
  } catch (err) {
    parentPort.postMessage({ id: msg.id, error: String(err && err.message || err) });
  }
});
`;

interface Reply {
  id: number;
  error?: string;
  info?: Pick<InferenceSession, 'inputNames' | 'outputNames' | 'inputMetadata' | 'outputMetadata'>;
  outputs?: Record<string, { type: OrtTensor.Type; dims: number[]; data: OrtTensor.DataType }>;
  /** The run's input buffers, handed back after the run. */
  spare?: ArrayBuffer[];
}

/** One worker thread hosting one session. */
class SessionThread {
  /** Calls sent and not yet answered (the pool sends runs to the least busy thread). */
  readonly pending = new Map<number, { resolve: (r: Reply) => void; reject: (e: Error) => void }>();
  private readonly worker: Worker;
  private nextId = 0;
  private dead: Error | undefined;

  constructor(ortPath: string) {
    this.worker = new Worker(WORKER_SOURCE, { eval: true, workerData: { ortPath } });
    this.worker.unref(); // an idle session must not keep the process alive
    this.worker.on('message', (reply: Reply) => {
      const waiter = this.pending.get(reply.id);
      if (!waiter) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) this.worker.unref();
      if (reply.error !== undefined) waiter.reject(new Error(reply.error));
      else waiter.resolve(reply);
    });
    const fail = (err: Error) => {
      this.dead ??= err; // an 'error' event is followed by 'exit': keep the first, real cause
      for (const w of this.pending.values()) w.reject(err);
      this.pending.clear();
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => fail(new Error(`inference worker exited (code ${code})`)));
  }

  /** Why this thread stopped (crash, exit), once it has. */
  get deadReason(): Error | undefined {
    return this.dead;
  }

  call(message: Record<string, unknown>, transfer: ArrayBuffer[] = []): Promise<Reply> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise<Reply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.ref(); // keep the process alive while a call is in flight
      this.worker.postMessage({ ...message, id }, transfer);
    });
  }

  async release(): Promise<void> {
    if (!this.dead) await this.call({ kind: 'release' }).catch(() => undefined);
    await this.worker.terminate();
  }
}

/** The subset of InferenceSession that skulens uses, served from a pool of worker threads. */
export class WorkerSession {
  inputNames: readonly string[] = [];
  outputNames: readonly string[] = [];
  inputMetadata: InferenceSession['inputMetadata'] = [];
  outputMetadata: InferenceSession['outputMetadata'] = [];
  /** How many runs can execute at once (one per worker). */
  readonly parallelRuns: number;
  /** Input buffers handed back by the workers, for `takeSpareBuffer`. */
  private readonly spares: ArrayBuffer[] = [];
  /** Spares are kept only once a caller has asked for one (the Detector never does). */
  private recycling = false;
  private released = false;

  private constructor(private readonly threads: SessionThread[]) {
    this.parallelRuns = threads.length;
  }

  /** Open the model in `workers` worker threads (each loads its own copy). */
  static async create(bytes: Uint8Array, options?: InferenceSession.SessionOptions, workers = 1): Promise<WorkerSession> {
    const ortPath = createRequire(import.meta.url).resolve('onnxruntime-node');
    const threads = Array.from({ length: Math.max(1, Math.floor(workers)) }, () => new SessionThread(ortPath));
    const session = new WorkerSession(threads);
    const replies = await Promise.allSettled(threads.map((t) => t.call({ kind: 'init', bytes, options: options ?? {} })));
    const failed = replies.find((r) => r.status === 'rejected');
    if (failed) {
      await Promise.all(threads.map((t) => t.release()));
      throw failed.reason;
    }
    Object.assign(session, (replies[0] as PromiseFulfilledResult<Reply>).value.info);
    return session;
  }

  /** Run the model on the least busy worker. The feeds' buffers are transferred to it (detached here). */
  async run(feeds: Record<string, OrtTensor>, fetches?: readonly string[]): Promise<Record<string, OrtTensor>> {
    const message: Record<string, { type: string; dims: readonly number[]; data: unknown }> = {};
    const transfer: ArrayBuffer[] = [];
    for (const [name, tensor] of Object.entries(feeds)) {
      const data = tensor.data as ArrayBufferView;
      message[name] = { type: tensor.type, dims: tensor.dims, data };
      if (data.buffer instanceof ArrayBuffer && !transfer.includes(data.buffer)) transfer.push(data.buffer);
    }
    // The least busy live worker; a crashed one is skipped while another still runs.
    const live = this.threads.filter((t) => !t.deadReason);
    if (live.length === 0) throw this.threads[0]!.deadReason!;
    const thread = live.reduce((best, t) => (t.pending.size < best.pending.size ? t : best));
    const reply = await thread.call({ kind: 'run', feeds: message, fetches }, transfer);
    if (this.recycling && !this.released) for (const buffer of reply.spare ?? []) this.keepSpare(buffer);
    const outputs: Record<string, OrtTensor> = {};
    for (const [name, t] of Object.entries(reply.outputs ?? {})) {
      outputs[name] = new ort.Tensor(t.type as 'float32', t.data as Float32Array, t.dims) as unknown as OrtTensor;
    }
    return outputs;
  }

  /**
   * A buffer of at least `byteLength` bytes that a finished run has handed back, if any.
   * Refilling it costs a third of what a fresh multi-megabyte allocation does (page faults
   * and zeroing), and the caller transfers it to the next run anyway.
   */
  takeSpareBuffer(byteLength: number): ArrayBuffer | undefined {
    this.recycling = true;
    // Best fit: the smallest spare that is large enough.
    let best = -1;
    this.spares.forEach((b, i) => {
      if (b.byteLength >= byteLength && (best < 0 || b.byteLength < this.spares[best]!.byteLength)) best = i;
    });
    return best < 0 ? undefined : this.spares.splice(best, 1)[0];
  }

  /** Keep a returned buffer; when the pool is full, it replaces the smallest one if larger. */
  private keepSpare(buffer: ArrayBuffer): void {
    if (this.spares.length < 2 * this.parallelRuns + 2) {
      this.spares.push(buffer);
      return;
    }
    let smallest = 0;
    this.spares.forEach((b, i) => {
      if (b.byteLength < this.spares[smallest]!.byteLength) smallest = i;
    });
    if (buffer.byteLength > this.spares[smallest]!.byteLength) this.spares[smallest] = buffer;
  }

  async release(): Promise<void> {
    this.released = true;
    this.spares.length = 0;
    await Promise.all(this.threads.map((t) => t.release()));
  }
}
