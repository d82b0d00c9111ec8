/**
 * `skulens serve`, `skulens worker`, `skulens db migrate` and `skulens gallery publish`:
 * the recognition service past one machine (docs/service.md).
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { SkulensError } from '../core/errors.js';
import { DEFAULT_MAX_PIXELS } from '../core/image.js';
import { is } from '../core/is.js';
import { DEFAULT_DETECTOR, isBuiltinModelId } from '../core/builtin-models.js';
import { AuditStore } from '../service/db.js';
import type { DetectorSettings } from '../service/models.js';
import { ClusterClient, DEFAULT_MAX_DEPTH, DEFAULT_QUEUE } from '../service/queue.js';
import { DEFAULT_MAX_BYTES, createService } from '../service/server.js';
import { startWorker } from '../service/worker.js';
import { action } from './common.js';
import { addDetectorOptions, parseMaxPixels, parsePositiveInt, readLabels, type DetectorFlags } from './options.js';

/** Paths become absolute (workers may start elsewhere); URLs and built-in ids stay as given. */
function location(source: string): string {
  return /^https?:\/\//i.test(source) || isBuiltinModelId(source) ? source : resolve(source);
}

async function detectorSettings(opts: DetectorFlags): Promise<DetectorSettings> {
  const s: DetectorSettings = {
    format: opts.format,
    confidence: opts.confidence,
    iou: opts.iou,
    maxDetections: opts.maxDetections,
    classAgnostic: !!opts.classAgnostic,
  };
  if (opts.classes) s.classes = opts.classes;
  if (opts.inputSize !== undefined) s.inputSize = opts.inputSize;
  if (opts.tiles !== undefined) s.tiles = opts.tiles;
  if (opts.labels) s.labels = await readLabels(opts.labels);
  return s;
}

/** A URL as printed: a password in it is masked, since terminal output ends up in logs. */
export function maskPassword(url: string): string {
  return url.replace(/^([a-z][a-z0-9+.-]*:\/\/[^:@/]*):[^@/]*@/i, '$1:***@');
}

/** Run `stop` on the first SIGINT/SIGTERM; a second one exits at once. */
function onSignals(stop: () => Promise<void>): void {
  let stopping = false;
  const handler = (signal: string) => {
    if (stopping) {
      process.stderr.write(`skulens: ${signal} again: exiting now\n`);
      process.exit(1);
    }
    stopping = true;
    process.stderr.write(`skulens: ${signal}: finishing running photos (send it again to exit now)\n`);
    stop().then(
      () => process.exit(0),
      (err) => {
        process.stderr.write(`skulens: shutdown: ${String(err)}\n`);
        process.exit(1);
      },
    );
  };
  process.on('SIGINT', handler);
  process.on('SIGTERM', handler);
}

function parsePort(value: string): number {
  const n = Number(value);
  if (!is.int(n, 0, 65535)) throw new InvalidArgumentError('expected a port number, 0–65535.');
  return n;
}

type ServeFlags = DetectorFlags & {
  gallery: string;
  embedder?: string;
  redis?: string;
  database?: string;
  queue: string;
  host: string;
  port: number;
  token?: string;
  maxBytes: number;
  maxQueue?: number;
  waitTimeout: number;
};

export function registerService(program: Command): void {
  addDetectorOptions(
    program
      .command('serve')
      .description(
        'HTTP recognition service: POST /v1/recognize, /v1/classify; GET /v1/jobs/:id, /healthz, /metrics, / (a page); in-process, or through Redis workers',
      ),
  )
    .requiredOption('--gallery <file|url>', 'gallery file (workers read it from here: a shared path or an http(s) URL)')
    .option('--embedder <model.onnx>', 'use this model instead of the one the gallery records (fingerprint checked)')
    .option('--redis <url>', 'enqueue photos for "skulens worker"s on this Redis instead of running them here')
    .option('--database <url>', 'store every result in PostgreSQL (in-process mode; with --redis the workers store them)')
    .option('--queue <name>', 'queue name, one per set of workers', DEFAULT_QUEUE)
    .option('--host <host>', 'address to listen on', '127.0.0.1')
    .option('--port <n>', 'port to listen on (0: any free port)', parsePort, 8080)
    .option('--token <secret>', 'require "Authorization: Bearer <secret>" on /v1 and /metrics (or set SKULENS_TOKEN)')
    .option('--max-bytes <n>', 'largest photo accepted, bytes (larger: 413)', parsePositiveInt('--max-bytes'), DEFAULT_MAX_BYTES)
    .option(
      '--max-queue <n>',
      `photos waiting above which requests get 429 (default 100 in-process, ${DEFAULT_MAX_DEPTH} with --redis)`,
      parsePositiveInt('--max-queue'),
    )
    .option(
      '--wait-timeout <ms>',
      'a request waits this long for its result, then gets 202 and the job id',
      parsePositiveInt('--wait-timeout'),
      120_000,
    )
    .action(
      action(async (opts: ServeFlags) => {
        const token = opts.token ?? process.env.SKULENS_TOKEN;
        const service = await createService({
          gallery: location(opts.gallery),
          // The option is required while DEFAULT_DETECTOR is undefined (opt-in built-in).
          detector: location(opts.detector ?? DEFAULT_DETECTOR!),
          detectorOptions: await detectorSettings(opts),
          ...(opts.embedder ? { embedder: location(opts.embedder) } : {}),
          ...(opts.redis ? { redis: opts.redis } : {}),
          ...(opts.database ? { database: opts.database } : {}),
          ...(token ? { token } : {}),
          queue: opts.queue,
          maxBytes: opts.maxBytes,
          ...(opts.maxQueue ? { maxQueue: opts.maxQueue } : {}),
          waitTimeout: opts.waitTimeout,
          // --max-pixels comes with the detector flags; it was accepted and ignored here before.
          ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
        });
        const address = await service.app.listen({ host: opts.host, port: opts.port });
        process.stderr.write(
          `skulens: serving on ${address} (${service.mode === 'queue' ? `queue "${opts.queue}" on ${maskPassword(opts.redis ?? '')}` : 'in-process'}${token ? ', token required' : ''})\n`,
        );
        onSignals(() => service.close());
      }),
    );

  program
    .command('worker')
    .description('take photos from the Redis queue, recognize them with the models the service published, store the results')
    .requiredOption('--redis <url>', 'Redis of the queue')
    .option('--database <url>', 'store every result in PostgreSQL (schema: skulens db migrate)')
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .option('--concurrency <n>', 'photos processed at once', parsePositiveInt('--concurrency'), 1)
    .option('--lock-ms <ms>', "a dead worker's photo goes back to the queue after about this long", parsePositiveInt('--lock-ms'), 30_000)
    .option(
      '--max-pixels <n>',
      `refuse photos with more pixels than this, before decoding; default: the limit "skulens serve --max-pixels" published, else ${DEFAULT_MAX_PIXELS.toLocaleString('en-US')}`,
      parseMaxPixels,
    )
    .action(
      action(async (opts: { redis: string; database?: string; queue: string; concurrency: number; lockMs: number; maxPixels?: number }) => {
        const worker = await startWorker({
          redis: opts.redis,
          ...(opts.database ? { database: opts.database } : {}),
          queue: opts.queue,
          concurrency: opts.concurrency,
          lockDuration: opts.lockMs,
          ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
          log: (line) => process.stderr.write(line + '\n'),
        });
        process.stderr.write(
          `skulens: worker ready on queue "${opts.queue}" (concurrency ${opts.concurrency}${opts.database ? ', storing results' : ''})\n`,
        );
        onSignals(() => worker.close());
      }),
    );

  program
    .command('db')
    .description('the PostgreSQL audit store')
    .command('migrate')
    .description('create or update the audit tables')
    .requiredOption('--database <url>', 'PostgreSQL URL, e.g. postgres://user@host:5432/skulens')
    .action(
      action(async (opts: { database: string }) => {
        const store = new AuditStore(opts.database);
        try {
          const n = await store.migrate();
          process.stderr.write(`skulens: ${n ? `applied ${n} schema step${n === 1 ? '' : 's'}` : 'schema up to date'}\n`);
        } finally {
          await store.close();
        }
      }),
    );

  const gallery = program.commands.find((c) => c.name() === 'gallery');
  if (!gallery) throw new Error('registerService must run after registerGallery');
  gallery
    .command('publish')
    .description('make every worker of a queue switch to this gallery between jobs (keeps the published detector)')
    .argument('<file|url>', 'gallery file: a path the workers can read, or an http(s) URL')
    .requiredOption('--redis <url>', 'Redis of the queue')
    .option('--queue <name>', 'queue name', DEFAULT_QUEUE)
    .action(
      action(async (file: string, opts: { redis: string; queue: string }) => {
        const client = new ClusterClient({ redis: opts.redis, queue: opts.queue });
        try {
          const current = await client.published();
          if (!current)
            throw new SkulensError(
              'E_EMPTY',
              `Nothing is published on queue "${opts.queue}" yet: start "skulens serve --redis ${maskPassword(opts.redis)}" once, which publishes its detector and gallery.`,
            );
          const p = await client.publish({ ...current, gallery: location(file) });
          process.stderr.write(
            `skulens: published gallery ${p.gallerySha256.slice(0, 16)} (${maskPassword(p.gallery)}) on queue "${opts.queue}"\n`,
          );
        } finally {
          await client.close();
        }
      }),
    );
}
