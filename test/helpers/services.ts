/**
 * Redis and PostgreSQL for the service tests: the URLs .ci/run (scripts/test-services.sh)
 * exports. Without them the tests skip with a loud warning — except under CI=true, where
 * a missing server is a failure, never a silent pass. Also: a private redis-server the
 * restart test can kill, and `skulens worker` child processes.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { type CliProcess, spawnSkulens } from './cli.js';

export const REDIS_URL = process.env.SKULENS_TEST_REDIS;
export const DATABASE_URL = process.env.SKULENS_TEST_DATABASE;
export const HAVE_SERVICES = !!REDIS_URL && !!DATABASE_URL;

if (!HAVE_SERVICES) {
  const msg =
    'SKULENS_TEST_REDIS / SKULENS_TEST_DATABASE are not set: the cluster tests (Redis + PostgreSQL) are SKIPPED. Start them with: eval "$(bash scripts/test-services.sh start)"';
  if (process.env.CI === 'true') throw new Error(`${msg} — and under CI=true they must run.`);
  console.warn(`\n*** skulens tests: ${msg} ***\n`);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.on('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

/** A redis-server of our own (append-only file, fsync on every write), to kill and restart. */
export class OwnRedis {
  proc?: ChildProcess;
  readonly dir = mkdtempSync(join(tmpdir(), 'skulens-redis-'));
  constructor(readonly port: number) {}

  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    const proc = spawn(
      'redis-server',
      [
        '--bind',
        '127.0.0.1',
        '--port',
        String(this.port),
        '--dir',
        this.dir,
        '--appendonly',
        'yes',
        '--appendfsync',
        'always',
        '--save',
        '',
      ],
      { stdio: ['ignore', 'pipe', 'pipe'] },
    );
    this.proc = proc;
    await waitForLine(proc, /Ready to accept connections/, 20_000);
  }

  /** SIGKILL: no shutdown save, only what the append-only file already holds survives. */
  async kill(): Promise<void> {
    const p = this.proc;
    if (!p || p.exitCode !== null) return;
    const exited = new Promise((r) => p.once('exit', r));
    p.kill('SIGKILL');
    await exited;
  }
}

/** A `skulens worker` child process (test/helpers/cli.ts). */
export type WorkerProcess = CliProcess;

/** `skulens worker ...args` from the sources, resolved once it says it is ready. */
export function spawnWorker(args: string[]): Promise<WorkerProcess> {
  return spawnSkulens(['worker', ...args], /worker ready/);
}

function waitForLine(proc: ChildProcess, re: RegExp, timeoutMs: number): Promise<void> {
  return new Promise((resolve, reject) => {
    let text = '';
    const t = setTimeout(() => reject(new Error(`no ${re} within ${timeoutMs} ms: ${text}`)), timeoutMs);
    const on = (d: Buffer) => {
      text += d.toString();
      if (re.test(text)) {
        clearTimeout(t);
        resolve();
      }
    };
    proc.stdout!.on('data', on);
    proc.stderr!.on('data', on);
    proc.once('exit', (code) => reject(new Error(`exited ${code}: ${text}`)));
  });
}

export async function waitUntil<T>(fn: () => Promise<T | undefined | false>, timeoutMs: number, what: string): Promise<T> {
  const end = Date.now() + timeoutMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
