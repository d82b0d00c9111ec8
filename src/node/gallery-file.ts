/**
 * Atomic file writes for galleries: the bytes go to a temporary file in the target's
 * folder (same file system, so rename is atomic), are flushed to disk with fsync, then
 * renamed over the target. A crash or kill at any point leaves either the old file or
 * the new one, never a half-written gallery (a stray temp file at worst).
 */
import { open, rename, unlink } from 'node:fs/promises';
import { basename, dirname, join } from 'node:path';
import { SkulensError, messageOf } from '../core/errors.js';

/** Bytes written per call, so a big gallery is not one giant syscall (and progress is possible). */
const CHUNK = 8 << 20;

export async function writeFileAtomic(path: string, bytes: Uint8Array): Promise<void> {
  const dir = dirname(path);
  const tmp = join(dir, `.${basename(path)}.${process.pid}.${Date.now().toString(36)}${Math.random().toString(36).slice(2, 8)}.tmp`);
  let handle: Awaited<ReturnType<typeof open>> | undefined;
  try {
    handle = await open(tmp, 'wx', 0o644);
    for (let p = 0; p < bytes.length; p += CHUNK) {
      const end = Math.min(p + CHUNK, bytes.length);
      let written = 0;
      while (p + written < end) written += (await handle.write(bytes, p + written, end - p - written)).bytesWritten;
    }
    await handle.sync();
    await handle.close();
    handle = undefined;
    await rename(tmp, path);
  } catch (err) {
    await handle?.close().catch(() => {});
    await unlink(tmp).catch(() => {});
    throw new SkulensError('E_IO', `Cannot write "${path}": ${messageOf(err)}.`, { cause: err, input: path });
  }
  // Make the rename itself durable (best effort: not every file system allows fsync on a folder).
  try {
    const d = await open(dir, 'r');
    await d.sync().finally(() => d.close());
  } catch {
    /* ignore */
  }
}
