/**
 * `skulens serve`: the HTTP front of the recognition service (Fastify). Request bodies
 * are the photo's bytes; the service never opens a path or fetches a URL a client names.
 * Without Redis it runs photos in this process (LocalRunner); with Redis it enqueues them
 * for `skulens worker`s (ClusterClient) and, unless `?async=1`, answers when one is done.
 */
import { timingSafeEqual } from 'node:crypto';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import { Counter, Gauge, Histogram, Registry } from 'prom-client';
import { SkulensError, messageOf } from '../core/errors.js';
import { is } from '../core/is.js';
import { AuditStore } from './db.js';
import { LocalRunner } from './local.js';
import { INPUT_ERROR_CODES, Pipeline, type ClassifyRequestOptions, type ServiceModels, type ServiceResult } from './models.js';
import { checkMaxPixels } from '../core/image.js';
import { PAGE_HTML } from './page.js';
import { ClusterClient, DEFAULT_MAX_DEPTH, JobFailure, QueueFullError, type JobKind, type JobMeta, type JobStatus } from './queue.js';

export interface ServeOptions extends ServiceModels {
  /** Redis URL: enqueue photos for workers instead of running them here. */
  redis?: string;
  /** PostgreSQL URL: store every result (in-process mode; with Redis the workers store). */
  database?: string;
  /** Queue name (default "skulens"). */
  queue?: string;
  /** Bearer token every /v1 and /metrics request must carry. */
  token?: string;
  /** Largest photo accepted, in bytes (default 20 MiB); larger bodies get 413. */
  maxBytes?: number;
  /** Photos waiting above which requests get 429 (default 100 in-process, DEFAULT_MAX_DEPTH with Redis). */
  maxQueue?: number;
  /** How long a request without `?async=1` waits for its result before answering 202 with the job id, ms (default 120000). */
  waitTimeout?: number;
  /** Fastify's request log (default off). */
  logger?: boolean;
}

export const DEFAULT_MAX_BYTES = 20 << 20;
const LOCAL_MAX_QUEUE = 100;
/** Client-given metadata: at most this many keys, each value this long. */
const MAX_META_KEYS = 20;
const MAX_META_LENGTH = 200;

export interface RecognitionService {
  app: FastifyInstance;
  /** `local` without Redis, `queue` with it. */
  mode: 'local' | 'queue';
  /** A job's state (and result or error), as GET /v1/jobs/:id answers it. */
  jobStatus(id: string): Promise<JobStatus | undefined>;
  /** Stop accepting requests, finish the accepted photos (in-process) and release everything. */
  close(): Promise<void>;
}

class HttpError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

/** Build the service (models opened, Redis/PostgreSQL connected); `app.listen()` is the caller's. */
export async function createService(options: ServeOptions): Promise<RecognitionService> {
  const maxBytes = options.maxBytes ?? DEFAULT_MAX_BYTES;
  // With Redis the limit is only used by the workers: a bad one fails here, not in each of them.
  if (options.maxPixels !== undefined) checkMaxPixels(options.maxPixels);
  const waitTimeout = options.waitTimeout ?? 120_000;
  const store = options.database ? new AuditStore(options.database) : undefined;
  let client: ClusterClient | undefined;
  let runner: LocalRunner | undefined;
  let pipeline: Pipeline | undefined;
  let galleryFingerprint: string;
  try {
    if (options.redis) {
      client = new ClusterClient({
        redis: options.redis,
        maxDepth: options.maxQueue ?? DEFAULT_MAX_DEPTH,
        ...(options.queue ? { queue: options.queue } : {}),
      });
      // Workers use what the service names: publish it (gallery + detector, fingerprinted).
      galleryFingerprint = (await client.publish(options)).gallerySha256.slice(0, 16);
    } else {
      pipeline = await Pipeline.open(options);
      runner = new LocalRunner(pipeline, options.maxQueue ?? LOCAL_MAX_QUEUE, store);
      galleryFingerprint = pipeline.galleryFingerprint;
    }
  } catch (err) {
    await Promise.all([client?.close(), pipeline?.dispose(), store?.close()]);
    throw err;
  }
  const mode = client ? 'queue' : 'local';

  const registry = new Registry();
  const jobs = new Counter({
    name: 'skulens_jobs_total',
    help: 'Photos by kind and outcome (completed, failed, rejected = refused because the queue was full).',
    labelNames: ['kind', 'outcome'],
    registers: [registry],
  });
  const latency = new Histogram({
    name: 'skulens_request_duration_seconds',
    help: 'Time from accepting a photo to answering with its result (requests that waited for it).',
    labelNames: ['kind'],
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 4, 8, 16, 32, 64],
    registers: [registry],
  });
  new Gauge({
    name: 'skulens_queue_depth',
    help: 'Photos accepted and waiting to be processed.',
    registers: [registry],
    async collect() {
      this.set(runner ? runner.depth : await client!.depth().catch(() => NaN));
    },
  });
  if (client) {
    new Gauge({
      name: 'skulens_workers',
      help: 'Workers connected to the queue.',
      registers: [registry],
      async collect() {
        this.set(await client!.workers().catch(() => NaN));
      },
    });
  }
  // Seconds per photo, smoothed, for Retry-After.
  let secondsPerPhoto = 1;

  const app = Fastify({ bodyLimit: maxBytes, logger: options.logger ?? false });
  // Every body is the photo's bytes, whatever its content type.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', { parseAs: 'buffer' }, (_req, body, done) => done(null, body));

  const token = options.token ? Buffer.from(options.token) : undefined;
  app.addHook('onRequest', async (req) => {
    if (!token || req.url === '/' || req.url.startsWith('/healthz')) return;
    const given = Buffer.from(/^Bearer (.+)$/i.exec(req.headers.authorization ?? '')?.[1] ?? '');
    if (given.length !== token.length || !timingSafeEqual(given, token))
      throw new HttpError(401, 'E_AUTH', 'Missing or wrong bearer token: send "Authorization: Bearer <token>".');
  });

  app.setErrorHandler((err: Error & { statusCode?: number; code?: string }, _req, reply) => {
    const { status, code, message, retryAfter } = toHttp(err, maxBytes);
    if (retryAfter !== undefined) reply.header('Retry-After', String(retryAfter));
    if (status === 401) reply.header('WWW-Authenticate', 'Bearer');
    return reply.code(status).send({ error: { code, message } });
  });

  const retryAfter = async (depth: number): Promise<number> => {
    const workers = client ? Math.max(1, await client.workers().catch(() => 1)) : 1;
    return Math.min(600, Math.max(1, Math.ceil((depth * secondsPerPhoto) / workers)));
  };

  const submit = async (kind: JobKind, req: FastifyRequest, reply: FastifyReply) => {
    const image = req.body;
    if (!Buffer.isBuffer(image) || image.length === 0)
      throw new HttpError(400, 'E_INPUT', 'The request body must be the photo (JPEG, PNG, WebP...) as raw bytes.');
    const query = req.query as Record<string, string | undefined>;
    const opts = parseOptions(query, kind);
    const meta = parseMeta(query);
    const wantAsync = query.async === '1' || query.async === 'true';
    const t0 = performance.now();
    let id: string;
    let result: ServiceResult | undefined;
    try {
      if (runner) {
        const job = runner.enqueue(kind, new Uint8Array(image), opts, meta);
        id = job.id;
        if (wantAsync) job.done.catch(() => {});
        else result = await job.done;
      } else {
        id = await client!.enqueue(kind, new Uint8Array(image), opts, meta);
        if (!wantAsync) result = await client!.wait(id, waitTimeout);
      }
    } catch (err) {
      if (err instanceof QueueFullError) {
        jobs.inc({ kind, outcome: 'rejected' });
        throw new HttpError(429, 'E_BUSY', err.message, await retryAfter(err.depth));
      }
      if (err instanceof JobFailure || err instanceof SkulensError) jobs.inc({ kind, outcome: 'failed' });
      throw err;
    }
    if (result) {
      const s = (performance.now() - t0) / 1000;
      latency.observe({ kind }, s);
      jobs.inc({ kind, outcome: 'completed' });
      secondsPerPhoto = 0.8 * secondsPerPhoto + 0.2 * s;
      return reply.send({ id, ...result });
    }
    return reply
      .code(202)
      .header('Location', `/v1/jobs/${id}`)
      .send({ id, state: 'waiting', location: `/v1/jobs/${id}` });
  };

  app.post('/v1/recognize', (req, reply) => submit('recognize', req, reply));
  app.post('/v1/classify', (req, reply) => submit('classify', req, reply));

  const jobStatus = async (id: string): Promise<JobStatus | undefined> => {
    const status = runner ? runner.status(id) : await client!.status(id);
    if (status || !store) return status;
    // Gone from memory or Redis: the stored audit, if there is one.
    const result = await store.get(id);
    return result ? { id, state: 'completed', attempts: 1, result } : undefined;
  };

  app.get('/v1/jobs/:id', async (req) => {
    const { id } = req.params as { id: string };
    const status = await jobStatus(id);
    if (!status) throw new HttpError(404, 'E_INPUT', `No job ${id}: unknown, or finished too long ago to be kept.`);
    return status;
  });

  app.get('/healthz', async (_req, reply) => {
    try {
      const depth = runner ? runner.depth : await client!.depth();
      const workers = client ? await client.workers() : undefined;
      return { ok: true, mode, gallery: galleryFingerprint, depth, ...(workers !== undefined ? { workers } : {}) };
    } catch (err) {
      return reply.code(503).send({ ok: false, mode, error: { code: 'E_BUSY', message: messageOf(err) } });
    }
  });

  app.get('/metrics', async (_req, reply) => reply.type(registry.contentType).send(await registry.metrics()));

  app.get('/', async (_req, reply) => reply.type('text/html; charset=utf-8').send(PAGE_HTML));

  return {
    app,
    mode,
    jobStatus,
    async close() {
      await app.close(); // stops accepting; in-flight requests finish first
      await runner?.drain();
      await Promise.all([client?.close(), pipeline?.dispose(), store?.close()]);
    },
  };
}

function toHttp(
  err: Error & { statusCode?: number; code?: string },
  maxBytes: number,
): { status: number; code: string; message: string; retryAfter?: number } {
  if (err instanceof HttpError)
    return {
      status: err.status,
      code: err.code,
      message: err.message,
      ...(err.retryAfter !== undefined ? { retryAfter: err.retryAfter } : {}),
    };
  if (err instanceof SkulensError || err instanceof JobFailure) {
    if (err.code === 'E_BUSY') return { status: 503, code: err.code, message: err.message, retryAfter: 5 };
    return { status: INPUT_ERROR_CODES.has(err.code) ? 422 : 500, code: err.code, message: err.message };
  }
  if (err.statusCode === 413)
    return {
      status: 413,
      code: 'E_INPUT',
      message: `The photo is larger than the ${maxBytes} bytes this service accepts (--max-bytes): send a smaller JPEG.`,
    };
  if (err.statusCode && err.statusCode >= 400 && err.statusCode < 500)
    return { status: err.statusCode, code: 'E_INPUT', message: err.message };
  return { status: 500, code: 'E_INTERNAL', message: messageOf(err) };
}

function parseNumber(query: Record<string, string | undefined>, name: string, integer: boolean): number | undefined {
  const v = query[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!(integer ? is.positiveInt(n) : is.finite(n)))
    throw new HttpError(400, 'E_INPUT', `?${name}= must be ${integer ? 'a positive integer' : 'a number'}, got "${v}".`);
  return n;
}

function parseOptions(query: Record<string, string | undefined>, kind: JobKind): ClassifyRequestOptions {
  const k = parseNumber(query, 'k', true);
  const threshold = parseNumber(query, 'threshold', false);
  const top = kind === 'classify' ? parseNumber(query, 'top', true) : undefined;
  return { ...(k !== undefined ? { k } : {}), ...(threshold !== undefined ? { threshold } : {}), ...(top !== undefined ? { top } : {}) };
}

/** store, photo and meta (a JSON object of strings) from the query: stored with the result. */
function parseMeta(query: Record<string, string | undefined>): JobMeta {
  let meta: Record<string, unknown> = {};
  if (query.meta) {
    try {
      meta = JSON.parse(query.meta) as Record<string, unknown>;
    } catch {
      throw new HttpError(400, 'E_INPUT', '?meta= must be a JSON object of strings.');
    }
    if (typeof meta !== 'object' || meta === null || Array.isArray(meta))
      throw new HttpError(400, 'E_INPUT', '?meta= must be a JSON object of strings.');
  }
  if (query.store !== undefined) meta.store = query.store;
  if (query.photo !== undefined) meta.photo = query.photo;
  const entries = Object.entries(meta);
  if (entries.length > MAX_META_KEYS) throw new HttpError(400, 'E_INPUT', `At most ${MAX_META_KEYS} metadata keys.`);
  for (const [k, v] of entries) {
    if (typeof v !== 'string' || v.length > MAX_META_LENGTH || k.length > MAX_META_LENGTH)
      throw new HttpError(400, 'E_INPUT', `Metadata "${k.slice(0, 40)}" must be a string of at most ${MAX_META_LENGTH} characters.`);
  }
  return meta as JobMeta;
}
