/**
 * Gallery files as an attacker would write them: any metadata, labels and vectors, with a
 * correct checksum (the encoder writes whatever it is given), so that only the reader's
 * own checks stand between the file and the library.
 */
import { encodeGallery, type GalleryMeta } from '../../src/core/gallery/format.js';
import { crc32 } from '../../src/core/gallery/crc32.js';

export interface CraftOptions {
  meta?: GalleryMeta;
  dim?: number;
  classes?: { label: string; refs?: number; vectors: number[] }[];
  float16?: boolean;
}

/** Two unit-vector classes in 3-d under `meta`, unless told otherwise. */
export function craftGallery(options: CraftOptions = {}): Uint8Array {
  const dim = options.dim ?? 3;
  const classes = (
    options.classes ?? [
      { label: 'east', vectors: [1, 0, 0] },
      { label: 'north', vectors: [0, 1, 0] },
    ]
  ).map((c) => ({ label: c.label, refs: c.refs ?? c.vectors.length / dim, vectors: Float32Array.from(c.vectors) }));
  return encodeGallery({ metric: 'cosine', dim, meta: options.meta ?? {}, classes }, { float16: options.float16 === true });
}

/** Rewrite the trailing CRC-32 after editing bytes in place (a "valid-checksum" forgery). */
export function fixChecksum(bytes: Uint8Array): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (bytes.length >= 4) view.setUint32(bytes.length - 4, crc32(bytes.subarray(0, bytes.length - 4)), true);
  return bytes;
}

/** The same gallery bytes with another metadata block (any text, even invalid JSON): sizes and checksum rewritten. */
export function withMetaJson(bytes: Uint8Array, metaJson: string): Uint8Array {
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const oldLen = view.getUint32(32, true);
  const meta = new TextEncoder().encode(metaJson);
  const rest = bytes.subarray(40 + oldLen, bytes.length - 4);
  // Keep the vectors where they were relative to a 4-byte boundary: pad with spaces (still the same JSON).
  const pad = (((oldLen - meta.length) % 4) + 4) % 4;
  const out = new Uint8Array(40 + meta.length + pad + rest.length + 4);
  out.set(bytes.subarray(0, 40));
  out.set(meta, 40);
  out.fill(0x20, 40 + meta.length, 40 + meta.length + pad);
  out.set(rest, 40 + meta.length + pad);
  const v = new DataView(out.buffer);
  v.setUint32(32, meta.length + pad, true);
  v.setBigUint64(24, BigInt(out.length), true);
  return fixChecksum(out);
}
