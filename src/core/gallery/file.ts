/**
 * Gallery files through the platform (Node: the file system; the browser has none):
 * an atomic write, and a read whose failures name the file.
 */
import { SkulensError, messageOf } from '../errors.js';
import { getPlatform } from '../platform.js';

export async function writeGalleryFile(path: string, bytes: Uint8Array): Promise<void> {
  const write = getPlatform().writeFileAtomic;
  if (!write) throw new SkulensError('E_PLATFORM', 'This platform cannot write files: use toBytes() and store the bytes yourself.');
  await write(path, bytes);
}

/** Read a file and `open` its bytes; a damaged file (E_GALLERY_FORMAT from `open`) is reported with its path. */
export async function readGalleryFile<T>(path: string, open: (bytes: Uint8Array) => T): Promise<T> {
  let bytes: Uint8Array;
  try {
    bytes = await getPlatform().readBinary(path, 'gallery');
  } catch (err) {
    if (err instanceof SkulensError) throw err;
    const code = (err as { code?: string }).code;
    throw new SkulensError('E_IO', `Cannot read gallery "${path}": ${code === 'ENOENT' ? 'no such file' : messageOf(err)}.`, {
      cause: err,
      input: path,
    });
  }
  try {
    return open(bytes);
  } catch (err) {
    if (err instanceof SkulensError && err.code === 'E_GALLERY_FORMAT') {
      throw new SkulensError('E_GALLERY_FORMAT', `"${path}" is not a usable gallery: ${err.message}`, { cause: err, input: path });
    }
    throw err;
  }
}
