/**
 * What a new user meets first: usage errors in the CLI's one-line shape, and an install
 * whose hnswlib-node addon was never built (simulated by test/helpers/no-hnswlib.cjs),
 * where the CLI and the package still work and only an explicit HNSW request fails; CSV
 * manifests with padded labels.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { readManifest } from '../src/node/dataset.js';
import { type CliResult, runCli } from './helpers/cli.js';
import { REPO_ROOT } from './helpers/shared.js';

const NO_HNSWLIB = join(REPO_ROOT, 'test', 'helpers', 'no-hnswlib.cjs');

/** node [--require no-hnswlib.cjs] --import tsx ...args, asynchronously (a blocking spawn starves vitest's worker RPC). */
function node(args: string[], preload: boolean): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [...(preload ? ['--require', NO_HNSWLIB] : []), '--import', 'tsx', ...args], { cwd: REPO_ROOT });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('CLI usage errors', { timeout: 300_000 }, () => {
  it('end in a code, on one line, exit 1', async () => {
    const r = await runCli(['classify', 'x.jpg', '--gallery', 'g.skg', '--thresold', '0.5']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/^skulens: unknown option '--thresold' \(Did you mean --threshold\?\) \[E_INPUT\]\n$/);
    const missing = await runCli(['gallery', 'build', 'refs']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toMatch(/^skulens: required option '-o, --output <file>' not specified \[E_INPUT\]\n$/);
  });
});

describe('without the hnswlib-node addon', { timeout: 300_000 }, () => {
  const probe = join(REPO_ROOT, 'test', 'helpers', 'hnsw-probe.ts');

  it('the preload really takes the addon away (control: a plain run uses HNSW)', async () => {
    expect((await node(['-e', "require('hnswlib-node')"], true)).code).not.toBe(0);
    const r = await node([probe], false);
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toMatchObject({ autoKind: 'hnsw', explicit: { kind: 'hnsw' } });
  });

  it('skulens --help works', async () => {
    const r = await node([join(REPO_ROOT, 'src', 'cli.ts'), '--help'], true);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/Usage: skulens/);
  });

  it('the package imports; auto falls back to exact with one note; an explicit "hnsw" says how to fix it', async () => {
    const r = await node([probe], true);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout);
    expect(out.autoKind).toBe('exact');
    expect(out.correct).toBe(out.total);
    expect(r.stderr.trim().split('\n')).toEqual([
      'skulens: note: HNSW is unavailable (the hnswlib-node addon is not built): searching with the exact index.',
    ]);
    expect(out.explicit.code).toBe('E_PLATFORM');
    expect(out.explicit.message).toMatch(/npm install-scripts approve hnswlib-node/);
  });
});

describe('CSV manifests as spreadsheets write them', () => {
  const dir = mkdtempSync(join(tmpdir(), 'skulens-csv-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('labels are trimmed, so "  Orange " and "Orange" are one class', async () => {
    const csv = join(dir, 'padded.csv');
    writeFileSync(csv, 'path , Label\na.jpg,  Orange \nb.jpg,Orange\nc.jpg,"  Red Apple"\n');
    expect((await readManifest(csv)).map((r) => r.label)).toEqual(['Orange', 'Orange', 'Red Apple']);
    writeFileSync(csv, 'path,label\na.jpg,   \n');
    await expect(readManifest(csv)).rejects.toThrow(/line 2: needs both a path and a label/);
  });

  it('a bad header is quoted as the user wrote it', async () => {
    const csv = join(dir, 'semicolons.csv');
    writeFileSync(csv, 'Path;Label\na.jpg;Orange\n');
    await expect(readManifest(csv)).rejects.toThrow(/found "Path;Label"/);
  });
});
