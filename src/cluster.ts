/**
 * skulens/cluster — the recognition service as a library: run the HTTP service
 * (`createService`), enqueue photos for workers and wait for their results
 * (`ClusterClient`), run a worker inside an app (`startWorker`), and keep audits in
 * PostgreSQL (`AuditStore`). Node only; needs Redis for the queue (docs/service.md).
 */
import './node/platform.js';

export { createService, DEFAULT_MAX_BYTES } from './service/server.js';
export type { ServeOptions, RecognitionService } from './service/server.js';
export { ClusterClient, JobFailure, QueueFullError, DEFAULT_QUEUE, DEFAULT_ATTEMPTS, DEFAULT_MAX_DEPTH } from './service/queue.js';
export type { ClusterClientOptions, JobKind, JobMeta, JobState, JobStatus } from './service/queue.js';
export { startWorker } from './service/worker.js';
export type { WorkerOptions, ClusterWorker } from './service/worker.js';
export { AuditStore } from './service/db.js';
export type { AuditRecord } from './service/db.js';
export { Pipeline } from './service/models.js';
export type {
  ServiceModels,
  PublishedModels,
  DetectorSettings,
  RecognizeResult,
  ClassifyResult,
  ServiceResult,
  ShelfShare,
  RecognizeRequestOptions,
  ClassifyRequestOptions,
} from './service/models.js';
