/**
 * The producer side of the cluster: put photos on a BullMQ queue in Redis, wait for a
 * worker's answer, read a job's state, and publish the models every worker must use.
 * Photos travel inside the job (base64), so workers need no shared disk for them and
 * Redis holds at most `maxDepth` photos waiting.
 */
import { randomUUID } from 'node:crypto';
import { Job, Queue, QueueEvents } from 'bullmq';
import { Redis } from 'ioredis';
import { SkulensError, messageOf, type SkulensErrorCode } from '../core/errors.js';
import { ReferenceGallery } from '../core/gallery/gallery.js';
import { plural } from '../core/plural.js';
import { readSource, sha256, type ClassifyRequestOptions, type PublishedModels, type ServiceModels, type ServiceResult } from './models.js';

export const DEFAULT_QUEUE = 'skulens';
/** Tries per job (the first run included) for failures that may pass: a worker killed mid-job, Redis or PostgreSQL away. */
export const DEFAULT_ATTEMPTS = 3;
/** Photos waiting (not yet taken by a worker) above which new ones are refused with E_BUSY / 429. */
export const DEFAULT_MAX_DEPTH = 1000;

export type JobKind = 'recognize' | 'classify';

/** Client-given labels stored with the result (store id, photo name...): short strings only. */
export type JobMeta = Record<string, string>;

export interface JobData {
  kind: JobKind;
  /** The photo's encoded bytes, base64. */
  image: string;
  options: ClassifyRequestOptions;
  meta: JobMeta;
  /** ms since the epoch, when the service accepted the photo. */
  submittedAt: number;
}

export type JobState = 'waiting' | 'active' | 'completed' | 'failed' | 'delayed' | 'unknown';

export interface JobStatus {
  id: string;
  state: JobState;
  /** Runs so far (a run cut short by a dead worker counts when it is retried). */
  attempts: number;
  result?: ServiceResult;
  error?: { code: string; message: string };
}

/** Redis key holding the published models of a queue. */
export function modelsKey(queue: string): string {
  return `skulens:${queue}:models`;
}

/**
 * Failures cross Redis as strings: "[E_CODE] message". Parse one back; anything else
 * (a dead worker's "job stalled more than allowable limit", a bug) is E_INTERNAL.
 */
export function parseFailure(reason: string | undefined): { code: string; message: string } {
  const m = /^\[(E_[A-Z_]+)\] ([\s\S]*)$/.exec(reason ?? '');
  return m ? { code: m[1]!, message: m[2]! } : { code: 'E_INTERNAL', message: reason || 'the job failed' };
}

export function formatFailure(code: SkulensErrorCode | 'E_INTERNAL', message: string): string {
  return `[${code}] ${message}`;
}

export interface ClusterClientOptions {
  /** Redis URL, e.g. redis://127.0.0.1:6379. */
  redis: string;
  /** Queue name (default "skulens"): one per independent set of workers. */
  queue?: string;
  /** Waiting photos above which enqueue() refuses with E_BUSY (default DEFAULT_MAX_DEPTH). */
  maxDepth?: number;
  /** Tries per job (default DEFAULT_ATTEMPTS). */
  attempts?: number;
  /** Completed/failed jobs kept in Redis for GET /v1/jobs/:id, in seconds (default 3600). */
  keepSeconds?: number;
}

/** Enqueue photos for `skulens worker`s and wait for their results. */
export class ClusterClient {
  readonly queueName: string;
  readonly maxDepth: number;
  readonly queue: Queue<JobData, ServiceResult>;
  private events?: QueueEvents;
  private readonly attempts: number;
  private readonly keepSeconds: number;

  constructor(options: ClusterClientOptions) {
    if (!options?.redis) throw new SkulensError('E_INPUT', 'ClusterClient needs { redis: "redis://host:port" }.');
    this.queueName = options.queue ?? DEFAULT_QUEUE;
    this.maxDepth = options.maxDepth ?? DEFAULT_MAX_DEPTH;
    this.attempts = options.attempts ?? DEFAULT_ATTEMPTS;
    this.keepSeconds = options.keepSeconds ?? 3600;
    // Fail fast while Redis is away (the HTTP client gets E_BUSY and retries) instead of queueing commands in memory.
    this.queue = new Queue(this.queueName, {
      connection: { url: options.redis, enableOfflineQueue: false, maxRetriesPerRequest: 1 } as never,
    });
    this.queue.on('error', () => {}); // reconnects on its own; errors surface on the calls
    this.redisUrl = options.redis;
    this.redis = new Redis(options.redis, { enableOfflineQueue: false, maxRetriesPerRequest: 1, lazyConnect: true });
    this.redis.on('error', () => {});
  }
  private readonly redisUrl: string;
  /** A plain connection for the published-models key. */
  private readonly redis: Redis;

  /** Photos waiting for a worker (not counting the ones being processed). */
  async depth(): Promise<number> {
    const c = await this.wrap(() => this.queue.getJobCounts('waiting', 'delayed', 'prioritized'));
    return Object.values(c).reduce((a, b) => a + b, 0);
  }

  /** Workers connected to this queue now. */
  workers(): Promise<number> {
    return this.wrap(() => this.queue.getWorkersCount());
  }

  /**
   * Put one photo on the queue. Refuses with E_BUSY when `maxDepth` photos already wait
   * (the check and the add are two steps: concurrent callers can overshoot by their number).
   */
  async enqueue(
    kind: JobKind,
    image: Uint8Array,
    options: ClassifyRequestOptions = {},
    meta: JobMeta = {},
    jobId: string = randomUUID(),
  ): Promise<string> {
    const depth = await this.depth();
    if (depth >= this.maxDepth) throw new QueueFullError(depth, this.maxDepth);
    const data: JobData = {
      kind,
      image: Buffer.from(image.buffer, image.byteOffset, image.byteLength).toString('base64'),
      options,
      meta,
      submittedAt: Date.now(),
    };
    await this.wrap(() =>
      this.queue.add(kind, data, {
        jobId,
        attempts: this.attempts,
        backoff: { type: 'exponential', delay: 1000 },
        removeOnComplete: { age: this.keepSeconds },
        removeOnFail: { age: this.keepSeconds },
      }),
    );
    return jobId;
  }

  /** Wait for a job's result; a failed job throws a JobFailure with its code. Undefined on timeout. */
  async wait(jobId: string, timeoutMs: number): Promise<ServiceResult | undefined> {
    this.events ??= this.openEvents();
    await this.wrap(() => this.events!.waitUntilReady());
    const job = await this.wrap(() => Job.fromId<JobData, ServiceResult>(this.queue, jobId));
    if (!job) throw new SkulensError('E_INPUT', `No job ${jobId} (finished jobs are kept ${this.keepSeconds} s).`);
    try {
      return await job.waitUntilFinished(this.events, timeoutMs);
    } catch (err) {
      const msg = messageOf(err);
      if (/timed out before finishing/i.test(msg)) return undefined;
      const { code, message } = parseFailure(msg);
      throw new JobFailure(code, message);
    }
  }

  async status(jobId: string): Promise<JobStatus | undefined> {
    // State first, then the job's fields: a job's state and its attemptsMade/failedReason change together in one
    // Redis script, so fields read before the state could be older than it (a "failed" job with 0 attempts).
    const raw = await this.wrap(() => this.queue.getJobState(jobId));
    const job = await this.wrap(() => Job.fromId<JobData, ServiceResult>(this.queue, jobId));
    if (!job) return undefined;
    const state: JobState =
      raw === 'waiting-children' || raw === 'prioritized' || raw === 'waiting'
        ? 'waiting'
        : (['active', 'completed', 'failed', 'delayed'] as string[]).includes(raw)
          ? (raw as JobState)
          : 'unknown';
    const s: JobStatus = { id: jobId, state, attempts: job.attemptsMade };
    if (state === 'completed') s.result = job.returnvalue;
    if (state === 'failed') s.error = parseFailure(job.failedReason);
    return s;
  }

  /** Make every worker of this queue use these models from its next job on. */
  async publish(models: ServiceModels): Promise<PublishedModels> {
    await this.connect();
    return this.wrap(() => publishModels(this.redis, this.queueName, models));
  }

  /** The models workers use now, if any were published. */
  async published(): Promise<PublishedModels | undefined> {
    await this.connect();
    return this.wrap(() => readPublished(this.redis, this.queueName));
  }

  async close(): Promise<void> {
    await Promise.all([this.events?.close(), this.queue.close(), this.redis.quit().catch(() => {})]);
  }

  private async connect(): Promise<void> {
    if (this.redis.status === 'wait') await this.wrap(() => this.redis.connect());
  }

  private openEvents(): QueueEvents {
    const events = new QueueEvents(this.queueName, { connection: { url: this.redisUrl } as never });
    events.on('error', () => {});
    return events;
  }

  private async wrap<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof SkulensError) throw err;
      throw new SkulensError('E_BUSY', `Redis is unreachable (${messageOf(err)}): retry later.`, { cause: err });
    }
  }
}

/** E_BUSY because `maxDepth` photos already wait: the caller should retry later (HTTP 429). */
export class QueueFullError extends SkulensError {
  readonly depth: number;
  constructor(depth: number, maxDepth: number) {
    super('E_BUSY', `The queue is full (${plural(depth, 'photo')} waiting, limit ${maxDepth}): retry later, or add workers.`);
    this.depth = depth;
  }
}

/** A job that failed for good, with the code its worker reported ("E_INTERNAL" for a failure that was not a SkulensError). */
export class JobFailure extends Error {
  readonly code: string;
  constructor(code: string, message: string) {
    super(message);
    this.name = 'JobFailure';
    this.code = code;
  }
}

/** Read the gallery and detector, fingerprint them, and store the set in Redis for the queue's workers. */
export async function publishModels(redis: Redis, queue: string, models: ServiceModels): Promise<PublishedModels> {
  const [g, d] = await Promise.all([readSource(models.gallery, 'gallery'), readSource(models.detector, 'detector')]);
  ReferenceGallery.fromBytes(g); // a corrupt file stops here (E_GALLERY_FORMAT), not in every worker
  // Only the model fields: `models` may be the whole serve options, whose token and database
  // URL must never reach Redis, where every worker and anyone with Redis access can read them.
  const { gallery, detector, detectorOptions, embedder, maxPixels } = models;
  const published: PublishedModels = {
    gallery,
    detector,
    ...(detectorOptions !== undefined ? { detectorOptions } : {}),
    ...(embedder !== undefined ? { embedder } : {}),
    ...(maxPixels !== undefined ? { maxPixels } : {}),
    gallerySha256: sha256(g),
    detectorSha256: sha256(d),
  };
  await redis.set(modelsKey(queue), JSON.stringify(published));
  return published;
}

export async function readPublished(redis: Redis, queue: string): Promise<PublishedModels | undefined> {
  const text = await redis.get(modelsKey(queue));
  return text ? (JSON.parse(text) as PublishedModels) : undefined;
}
