/**
 * The consumer side: a BullMQ worker that takes photos from the queue, runs them through
 * the published models and writes the result (to Redis for the caller, to PostgreSQL
 * when a database is given). Before each job it reads the published models' fingerprints
 * (one Redis GET) and switches to a newly published gallery between jobs; jobs already
 * running finish with the models they started with.
 *
 * Failures: an input the models cannot handle (corrupt photo, gallery of another
 * embedder...) fails at once with its SkulensError code — retrying would fail the same
 * way. Anything else (Redis or PostgreSQL away, a bug) is retried up to the job's
 * attempts. A worker killed mid-job loses its lock; after `lockDuration` another worker's
 * stalled-job check puts the job back on the queue.
 */
import { UnrecoverableError, Worker, type Job } from 'bullmq';
import { Redis } from 'ioredis';
import { SkulensError, messageOf } from '../core/errors.js';
import { checkMaxPixels } from '../core/image.js';
import { AuditStore } from './db.js';
import { INPUT_ERROR_CODES, Pipeline, type PublishedModels, type ServiceResult } from './models.js';
import { DEFAULT_QUEUE, formatFailure, readPublished, type JobData } from './queue.js';

export interface WorkerOptions {
  /** Redis URL of the queue. */
  redis: string;
  /** PostgreSQL URL: store every result there (schema from `skulens db migrate`). */
  database?: string;
  /** Queue name (default "skulens"). */
  queue?: string;
  /** Photos processed at once by this worker (default 1; the models' sessions are shared). */
  concurrency?: number;
  /**
   * How long a job stays locked to this worker without a renewal, in ms (default 30000):
   * after a crash, its job goes back to the queue within about this time.
   */
  lockDuration?: number;
  /** How often this worker looks for jobs whose worker died, in ms (default 30000). */
  stalledInterval?: number;
  /** Pixel limit of the photos this worker decodes, instead of the one the service published (`maxPixels`). */
  maxPixels?: number;
  /** Called with one line per notable event (job done or failed, models switched). */
  log?: (line: string) => void;
}

export interface ClusterWorker {
  /** Jobs completed by this worker. */
  readonly completed: number;
  /** Stop taking jobs; wait for running ones (`force`: stop now, their jobs return to the queue after the lock expires). */
  close(force?: boolean): Promise<void>;
}

interface Loaded {
  key: string;
  pipeline: Pipeline;
  running: number;
  retired: boolean;
}

/** Start a worker in this process. Resolves once it is connected and taking jobs. */
export async function startWorker(options: WorkerOptions): Promise<ClusterWorker> {
  if (!options?.redis) throw new SkulensError('E_INPUT', 'startWorker needs { redis: "redis://host:port" }.');
  if (options.maxPixels !== undefined) checkMaxPixels(options.maxPixels);
  const queue = options.queue ?? DEFAULT_QUEUE;
  const log = options.log ?? (() => {});
  const store = options.database ? new AuditStore(options.database) : undefined;
  const redis = new Redis(options.redis, { maxRetriesPerRequest: null });
  redis.on('error', () => {});

  let current: Loaded | undefined;
  let loading: Promise<Loaded> | undefined;
  let completed = 0;

  const release = async (l: Loaded) => {
    l.running--;
    if (l.retired && l.running === 0) await l.pipeline.dispose().catch(() => {});
  };

  // The published models, opened once per publish; a newer publish retires the old set.
  const acquire = async (): Promise<Loaded> => {
    const published = await readPublished(redis, queue);
    if (!published)
      throw new Error('no models published for this queue yet (start "skulens serve --redis" or run "skulens gallery publish")');
    const key = `${published.gallerySha256}/${published.detectorSha256}/${published.embedder ?? ''}/${JSON.stringify(published.detectorOptions ?? {})}/${published.maxPixels ?? ''}`;
    if (current?.key !== key) {
      loading ??= open(published, key).finally(() => (loading = undefined));
      const next = await loading;
      if (current !== next) {
        const old = current;
        current = next;
        if (old) {
          old.retired = true;
          if (old.running === 0) await old.pipeline.dispose().catch(() => {});
        }
        log(
          `skulens worker: using gallery ${next.pipeline.galleryFingerprint} (${published.gallery}), detector ${next.pipeline.detectorFingerprint}`,
        );
      }
    }
    current!.running++;
    return current!;
  };
  const open = async (published: PublishedModels, key: string): Promise<Loaded> => ({
    key,
    pipeline: await Pipeline.open(options.maxPixels !== undefined ? { ...published, maxPixels: options.maxPixels } : published, published),
    running: 0,
    retired: false,
  });

  const handle = async (job: Job<JobData, ServiceResult>): Promise<ServiceResult> => {
    let loaded: Loaded | undefined;
    const t0 = performance.now();
    log(`skulens worker: job ${job.id} started (${job.data.kind}, try ${job.attemptsStarted})`);
    try {
      loaded = await acquire();
      const { kind, image, options: opts, meta, submittedAt } = job.data;
      const result = await loaded.pipeline.run(kind, new Uint8Array(Buffer.from(image, 'base64')), opts ?? {});
      if (store) await store.save({ jobId: job.id!, submittedAt: new Date(submittedAt), meta: meta ?? {}, result });
      log(`skulens worker: job ${job.id} done in ${Math.round(performance.now() - t0)} ms`);
      return result;
    } catch (err) {
      const code = err instanceof SkulensError ? err.code : 'E_INTERNAL';
      const reason = formatFailure(code, messageOf(err));
      log(`skulens worker: job ${job.id} failed: ${reason}`);
      throw INPUT_ERROR_CODES.has(code) ? new UnrecoverableError(reason) : new Error(reason);
    } finally {
      if (loaded) await release(loaded);
    }
  };

  const worker = new Worker<JobData, ServiceResult>(queue, handle, {
    connection: { url: options.redis, maxRetriesPerRequest: null } as never,
    concurrency: options.concurrency ?? 1,
    lockDuration: options.lockDuration ?? 30_000,
    stalledInterval: options.stalledInterval ?? options.lockDuration ?? 30_000,
    // A job whose worker died twice is failed rather than passed around forever.
    maxStalledCount: 2,
    autorun: false,
  });
  worker.on('error', (err) => log(`skulens worker: ${messageOf(err)}`));
  worker.on('completed', () => completed++);
  void worker.run();
  await worker.waitUntilReady();

  return {
    get completed() {
      return completed;
    },
    async close(force = false) {
      await worker.close(force);
      await Promise.all([current?.pipeline.dispose(), store?.close(), redis.quit().catch(() => {})]);
    },
  };
}
