/**
 * Audit results in PostgreSQL. `migrate()` creates the schema (numbered steps, each
 * applied once, under an advisory lock so two `skulens db migrate` cannot race);
 * `save()` is idempotent by job id, so a job retried after its worker died mid-write
 * is still stored exactly once.
 */
import pg from 'pg';
import { SkulensError, messageOf } from '../core/errors.js';
import type { JobMeta } from './queue.js';
import type { ServiceResult } from './models.js';

/** Schema steps, in order; never edit a published one, append a new one. */
const MIGRATIONS: readonly string[] = [
  `CREATE TABLE skulens_audits (
     job_id text PRIMARY KEY,
     kind text NOT NULL,
     submitted_at timestamptz NOT NULL,
     stored_at timestamptz NOT NULL DEFAULT now(),
     store text,
     photo text,
     meta jsonb NOT NULL DEFAULT '{}',
     gallery_fingerprint text NOT NULL,
     detector_fingerprint text,
     width integer,
     height integer,
     counts jsonb NOT NULL DEFAULT '{}',
     unknown integer NOT NULL DEFAULT 0,
     share_of_shelf jsonb,
     items jsonb NOT NULL DEFAULT '[]',
     result jsonb NOT NULL
   );
   CREATE INDEX skulens_audits_store_time ON skulens_audits (store, submitted_at);`,
];

/** Arbitrary constant: the advisory lock key of skulens migrations. */
const MIGRATION_LOCK = 0x5c_1e_25;

export interface AuditRecord {
  jobId: string;
  submittedAt: Date;
  meta: JobMeta;
  result: ServiceResult;
}

export class AuditStore {
  private readonly pool: pg.Pool;

  constructor(url: string) {
    if (!url) throw new SkulensError('E_INPUT', 'AuditStore needs a PostgreSQL URL (postgres://user@host:port/db).');
    this.pool = new pg.Pool({ connectionString: url, max: 4 });
    this.pool.on('error', () => {}); // an idle client lost: the pool replaces it, queries report errors
  }

  /** Apply the schema steps not applied yet. Returns how many ran. */
  async migrate(): Promise<number> {
    const client = await this.connect();
    try {
      await client.query('BEGIN');
      await client.query('SELECT pg_advisory_xact_lock($1)', [MIGRATION_LOCK]);
      await client.query(
        'CREATE TABLE IF NOT EXISTS skulens_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())',
      );
      const { rows } = await client.query<{ v: number | null }>('SELECT max(version) AS v FROM skulens_migrations');
      const done = rows[0]?.v ?? 0;
      for (let v = done + 1; v <= MIGRATIONS.length; v++) {
        await client.query(MIGRATIONS[v - 1]!);
        await client.query('INSERT INTO skulens_migrations (version) VALUES ($1)', [v]);
      }
      await client.query('COMMIT');
      return MIGRATIONS.length - done;
    } catch (err) {
      await client.query('ROLLBACK').catch(() => {});
      throw this.wrapError(err, 'migrate the schema');
    } finally {
      client.release();
    }
  }

  /** Store one result; a second save of the same job id changes nothing. True if this call stored it. */
  async save(rec: AuditRecord): Promise<boolean> {
    const r = rec.result;
    const shelf = r.kind === 'recognize' ? r : undefined;
    const single = r.kind === 'classify' ? r : undefined;
    try {
      const res = await this.pool.query(
        `INSERT INTO skulens_audits (job_id, kind, submitted_at, store, photo, meta, gallery_fingerprint, detector_fingerprint, width, height, counts, unknown, share_of_shelf, items, result)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15)
         ON CONFLICT (job_id) DO NOTHING`,
        [
          rec.jobId,
          r.kind,
          rec.submittedAt,
          rec.meta.store ?? null,
          rec.meta.photo ?? null,
          JSON.stringify(rec.meta),
          r.gallery,
          shelf?.detector ?? null,
          shelf?.width ?? null,
          shelf?.height ?? null,
          JSON.stringify(shelf ? shelf.counts : single!.unknown ? {} : { [single!.guess]: 1 }),
          shelf ? shelf.unknown : single!.unknown ? 1 : 0,
          shelf ? JSON.stringify(shelf.shareOfShelf) : null,
          JSON.stringify(shelf ? shelf.items : []),
          JSON.stringify(r),
        ],
      );
      return res.rowCount === 1;
    } catch (err) {
      throw this.wrapError(err, `store job ${rec.jobId}`);
    }
  }

  /** One stored audit's result, or undefined. */
  async get(jobId: string): Promise<ServiceResult | undefined> {
    try {
      const { rows } = await this.pool.query<{ result: ServiceResult }>('SELECT result FROM skulens_audits WHERE job_id = $1', [jobId]);
      return rows[0]?.result;
    } catch (err) {
      throw this.wrapError(err, `read job ${jobId}`);
    }
  }

  async close(): Promise<void> {
    await this.pool.end();
  }

  private async connect(): Promise<pg.PoolClient> {
    try {
      return await this.pool.connect();
    } catch (err) {
      throw this.wrapError(err, 'connect');
    }
  }

  private wrapError(err: unknown, what: string): SkulensError {
    if (err instanceof SkulensError) return err;
    const code = (err as { code?: string }).code;
    // 42P01: table missing — the schema was never created.
    if (code === '42P01')
      return new SkulensError('E_INPUT', `Cannot ${what}: the audit tables do not exist. Run "skulens db migrate --database URL" first.`, {
        cause: err,
      });
    return new SkulensError('E_BUSY', `Cannot ${what} in PostgreSQL: ${messageOf(err)}. Check --database and that the server is up.`, {
      cause: err,
    });
  }
}
