/** Run the CLI from sources (through tsx), as a user would run `skulens`. */
import { type ChildProcess, spawn } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from './shared.js';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

export function runCli(args: string[], options: { cwd?: string; env?: NodeJS.ProcessEnv } = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args], {
      cwd: options.cwd ?? REPO_ROOT,
      env: { ...process.env, ...options.env },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A path,label CSV manifest with RFC 4180 quoting. */
export function writeCsv(path: string, rows: readonly { path: string; label: string }[]): void {
  const q = (s: string) => (/[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s);
  writeFileSync(path, ['path,label', ...rows.map((r) => `${q(r.path)},${q(r.label)}`)].join('\n') + '\n');
}

export interface CliProcess {
  proc: ChildProcess;
  /** Everything the process wrote on stderr so far. */
  log(): string;
  /** Resolves when a stderr line matches. */
  waitFor(re: RegExp, timeoutMs?: number): Promise<string>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/** `skulens ...args` (a long-running verb: serve, worker) from the sources, resolved once a stderr line matches `ready`. */
export async function spawnSkulens(args: string[], ready: RegExp): Promise<CliProcess> {
  const proc = spawn(process.execPath, ['--import', 'tsx', join(REPO_ROOT, 'src', 'cli.ts'), ...args], {
    cwd: REPO_ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const waiters: { re: RegExp; resolve: (l: string) => void }[] = [];
  proc.stderr!.on('data', (d: Buffer) => {
    text += d.toString();
    for (const w of [...waiters]) {
      const m = text.split('\n').find((l) => w.re.test(l));
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  });
  const exited = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  const w: CliProcess = {
    proc,
    log: () => text,
    exited,
    waitFor(re, timeoutMs = 60_000) {
      const found = text.split('\n').find((l) => re.test(l));
      if (found) return Promise.resolve(found);
      return new Promise((resolve, reject) => {
        const t = setTimeout(
          () => reject(new Error(`skulens ${args[0]}: no line matching ${re} within ${timeoutMs} ms. stderr:\n${text}`)),
          timeoutMs,
        );
        waiters.push({
          re,
          resolve: (l) => {
            clearTimeout(t);
            resolve(l);
          },
        });
        void exited.then((code) => reject(new Error(`skulens ${args[0]} exited (${code}) before ${re}. stderr:\n${text}`)));
      });
    },
  };
  await w.waitFor(ready, 240_000); // model loading on a loaded 2-core machine
  return w;
}
