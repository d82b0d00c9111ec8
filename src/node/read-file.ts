/**
 * Bounded reads of files named by someone else (gallery files, models, images, manifests):
 * open without blocking, refuse anything but a regular file, refuse a file over the size
 * limit, and read no more than the size seen at open. `/dev/zero`, a FIFO or a file that
 * keeps growing can then neither hang a command nor fill the memory.
 */
import type { FileHandle } from 'node:fs/promises';
import { constants } from 'node:fs';
import { open } from 'node:fs/promises';
import { SkulensError, messageOf, type SkulensErrorCode } from '../core/errors.js';

/** Largest model or gallery file read (protobuf, and so ONNX, cannot exceed 2 GiB). */
export const MAX_BINARY_BYTES = 2 ** 31 - 1;

export interface ReadFileOptions {
  /** Error code for every refusal (default E_IO). */
  code?: SkulensErrorCode;
}

/** The bytes of a regular file of at most `maxBytes` bytes; `what` names it in errors ("gallery", "image"...). */
export async function readRegularFile(path: string, maxBytes: number, what: string, options: ReadFileOptions = {}): Promise<Uint8Array> {
  const code = options.code ?? 'E_IO';
  const fail = (reason: string, cause?: unknown) =>
    new SkulensError(code, `Cannot read ${what} "${path}": ${reason}.`, { input: path, ...(cause === undefined ? {} : { cause }) });
  let handle: FileHandle | undefined;
  try {
    // O_NONBLOCK: opening a FIFO for reading would otherwise wait for a writer forever (no effect on regular files).
    handle = await open(path, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
  } catch (err) {
    const errno = (err as NodeJS.ErrnoException).code;
    throw fail(errno === 'ENOENT' ? 'no such file (file not found)' : errno === 'EISDIR' ? 'it is a folder' : messageOf(err), err);
  }
  try {
    const info = await handle.stat();
    if (!info.isFile()) throw fail(info.isDirectory() ? 'it is a folder' : 'not a regular file (a device, FIFO or socket)');
    if (info.size > maxBytes)
      throw fail(`${info.size.toLocaleString('en-US')} bytes is more than the ${maxBytes.toLocaleString('en-US')} accepted`);
    const bytes = new Uint8Array(info.size);
    let got = 0;
    while (got < bytes.length) {
      const { bytesRead } = await handle.read(bytes, got, bytes.length - got, got);
      if (bytesRead === 0) break; // shrank while reading: what was there is all there is
      got += bytesRead;
    }
    return got === bytes.length ? bytes : bytes.subarray(0, got);
  } catch (err) {
    if (err instanceof SkulensError) throw err;
    throw fail(messageOf(err), err);
  } finally {
    await handle.close();
  }
}
