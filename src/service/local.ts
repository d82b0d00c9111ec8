/**
 * The embedded default of `skulens serve` (no Redis): photos run one at a time through
 * one Pipeline in this process, behind a bounded FIFO. It answers like the queue does
 * (job ids, states, E_BUSY when full) so the HTTP layer does not care which it has.
 */
import { randomUUID } from 'node:crypto';
import { SkulensError, messageOf } from '../core/errors.js';
import type { AuditStore } from './db.js';
import type { ClassifyRequestOptions, Pipeline, ServiceResult } from './models.js';
import { QueueFullError, type JobKind, type JobMeta, type JobStatus } from './queue.js';

/** Finished jobs remembered for GET /v1/jobs/:id (older ones: the database, if any). */
const KEEP_FINISHED = 1000;

interface LocalJob {
  status: JobStatus;
  done: Promise<ServiceResult>;
}

export class LocalRunner {
  private readonly jobs = new Map<string, LocalJob>();
  private tail: Promise<unknown> = Promise.resolve();
  private waitingCount = 0;
  private running = 0;

  constructor(
    private readonly pipeline: Pipeline,
    private readonly maxDepth: number,
    private readonly store?: AuditStore,
  ) {}

  /** Photos accepted and not started yet. */
  get depth(): number {
    return this.waitingCount;
  }

  /** Accept one photo; `done` settles with its result or its SkulensError. */
  enqueue(kind: JobKind, image: Uint8Array, options: ClassifyRequestOptions, meta: JobMeta): { id: string; done: Promise<ServiceResult> } {
    if (this.waitingCount >= this.maxDepth) throw new QueueFullError(this.waitingCount, this.maxDepth);
    const id = randomUUID();
    const submittedAt = new Date();
    const status: JobStatus = { id, state: 'waiting', attempts: 0 };
    this.waitingCount++;
    const done = this.tail.then(async () => {
      this.waitingCount--;
      this.running++;
      status.state = 'active';
      status.attempts = 1;
      try {
        const result = await this.pipeline.run(kind, image, options);
        if (this.store) await this.store.save({ jobId: id, submittedAt, meta, result });
        Object.assign(status, { state: 'completed', result });
        return result;
      } catch (err) {
        const code = err instanceof SkulensError ? err.code : 'E_INTERNAL';
        Object.assign(status, { state: 'failed', error: { code, message: messageOf(err) } });
        throw err;
      } finally {
        this.running--;
        this.forgetOld();
      }
    });
    this.tail = done.catch(() => {});
    this.jobs.set(id, { status, done });
    return { id, done };
  }

  status(id: string): JobStatus | undefined {
    return this.jobs.get(id)?.status;
  }

  /** Resolves when every accepted photo has been processed (graceful shutdown). */
  async drain(): Promise<void> {
    while (this.waitingCount > 0 || this.running > 0) await this.tail;
  }

  private forgetOld(): void {
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= KEEP_FINISHED) break;
      if (job.status.state === 'completed' || job.status.state === 'failed') this.jobs.delete(id);
    }
  }
}
