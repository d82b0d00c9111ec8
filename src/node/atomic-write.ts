/**
 * The one atomic file write in skulens, used by every writer (gallery saves through the
 * platform's writeFileAtomic, annotated images): the bytes go to a temporary
 * file in the target's folder (same file system, so rename is atomic), are flushed to disk
 * with fsync, then renamed over the target. A crash or kill at any point leaves either the
 * old file or the new one, never a half-written gallery (a stray temp file at worst, which
 * the next save of the same target removes).
 */
import type { FileHandle } from 'node:fs/promises';
import { lstat, open, readdir, readlink, realpath, rename, stat, unlink } from 'node:fs/promises';
import { basename, dirname, join, resolve } from 'node:path';
import { SkulensError, messageOf } from '../core/errors.js';

/** Bytes written per call, so a big gallery is not one giant syscall (and progress is possible). */
const CHUNK = 8 << 20;
/** A temp file older than this is stale even if its writer's process id is in use again. */
const STALE_AFTER_MS = 24 * 3600 * 1000;

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  let target: string;
  let mode = 0o644;
  let tmp: string | undefined;
  let handle: FileHandle | undefined;
  try {
    // A symbolic link is written through (the file it points to is replaced), not replaced by a file.
    target = await linkTarget(path);
    const existing = await stat(target).catch(() => undefined);
    if (existing?.isFile()) mode = existing.mode & 0o7777; // keep the target's permissions
    const dir = dirname(target);
    await removeStaleTemps(dir, basename(target));
    tmp = join(dir, `.${basename(target)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
    handle = await open(tmp, 'wx', 0o600);
    for (let p = 0; p < bytes.length; p += CHUNK) {
      const end = Math.min(p + CHUNK, bytes.length);
      let written = 0;
      while (p + written < end) written += (await handle.write(bytes, p + written, end - p - written)).bytesWritten;
    }
    await handle.chmod(mode);
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, target);
  } catch (err) {
    await handle?.close().catch(() => {});
    if (tmp) await unlink(tmp).catch(() => {});
    throw new SkulensError('E_IO', `Cannot write "${path}": ${messageOf(err)}.`, { cause: err, input: path });
  }
  // Make the rename itself durable (best effort: not every file system allows fsync on a folder).
  try {
    const d = await open(dirname(target), 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* ignore */
  }
}

/** The file a path names, following symbolic links (also one that points to a file not yet there). */
async function linkTarget(path: string): Promise<string> {
  try {
    return await realpath(path);
  } catch {
    // Missing, or a dangling link: follow the links by hand (at most 40 hops, as the kernel does).
    let p = resolve(path);
    for (let hops = 0; hops < 40; hops++) {
      const info = await lstat(p).catch(() => undefined);
      if (!info?.isSymbolicLink()) return p;
      p = resolve(dirname(p), await readlink(p));
    }
    throw new Error('too many levels of symbolic links');
  }
}

/**
 * Remove temp files of earlier saves of the same target that were interrupted (killed,
 * power cut): their writer's process is gone, or they are older than a day. Temp files
 * of a save still running in a live process are left alone.
 */
async function removeStaleTemps(dir: string, name: string): Promise<void> {
  const prefix = `.${name}.`;
  let entries: string[];
  try {
    entries = await readdir(dir);
  } catch {
    return;
  }
  for (const entry of entries) {
    if (!entry.startsWith(prefix) || !entry.endsWith('.tmp')) continue;
    const m = /^(\d+)\.[0-9a-z]+\.tmp$/.exec(entry.slice(prefix.length));
    if (!m) continue;
    const file = join(dir, entry);
    const info = await lstat(file).catch(() => undefined);
    if (!info?.isFile()) continue;
    if (processAlive(Number(m[1])) && Date.now() - info.mtimeMs < STALE_AFTER_MS) continue;
    await unlink(file).catch(() => {});
  }
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM'; // exists, but is someone else's
  }
}
