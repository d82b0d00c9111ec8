/**
 * The gallery file format, versions 1-3 (documented byte by byte in docs/gallery-format.md).
 * Little-endian throughout; a fixed 40-byte header, a JSON metadata block, a class
 * table, 4-byte-aligned vectors and a CRC-32 of everything before it. Every read is
 * bounds-checked, so a damaged file gives E_GALLERY_FORMAT with the reason, never a
 * crash or a silently wrong gallery.
 */
import { LITTLE_ENDIAN } from '../endian.js';
import { SkulensError } from '../errors.js';
import { is } from '../is.js';
import { float32ToHalfArray, halfArrayToFloat32 } from '../float16.js';
import { crc32 } from './crc32.js';
import { hnswParamsProblem, type HnswParams, type Metric } from '../vector-index.js';
import { hasForbiddenChars, labelProblem } from './label.js';
import type { GalleryEmbedderInfo, IndexChoice } from './types.js';

/** "\x89SKG\r\n\x1a\n": a non-ASCII first byte and CR/LF/EOF bytes catch text-mode mangling (as PNG does). */
export const MAGIC = new Uint8Array([0x89, 0x53, 0x4b, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/**
 * Newest version this code reads. Version 2 adds the `adaptation` / `calibration` metadata;
 * version 3, a calibration whose unknown score has a cohort term (its threshold would
 * mean something else to a version-2 reader); version 4, negative references or open-set
 * guards (a version-3 reader would name what they reject). Files are written with the lowest version
 * that holds their content (docs/gallery-format.md).
 */
export const FORMAT_VERSION = 4;
export const HEADER_SIZE = 40;
const CHECKSUM_SIZE = 4;
const METRICS: Metric[] = ['cosine', 'l2'];
const DTYPES = ['float32', 'float16'] as const;
/** Deepest JSON nesting accepted in the metadata block (ours is 4 deep; deeper would overflow the stack when re-saved). */
export const MAX_META_DEPTH = 32;

export interface GalleryMeta {
  clustersPerClass?: number | 'all';
  seed?: number;
  index?: IndexChoice;
  hnsw?: Partial<HnswParams>;
  embedder?: GalleryEmbedderInfo;
  threshold?: number;
  /** Fields added by later versions (e.g. an adaptation head) are kept as they are. */
  [key: string]: unknown;
}

export interface GalleryData {
  metric: Metric;
  dim: number;
  meta: GalleryMeta;
  classes: { label: string; refs: number; vectors: Float32Array }[];
}

export interface EncodeOptions {
  /** Store vectors as float16: half the size, ~3 significant digits (scores move by ~1e-3). */
  float16?: boolean;
}

const utf8 = new TextEncoder();

export function encodeGallery(data: GalleryData, options: EncodeOptions = {}): Uint8Array {
  const { dim } = data;
  const half = options.float16 === true;
  const elem = half ? 2 : 4;
  let metaJson: string;
  try {
    metaJson = JSON.stringify(data.meta);
  } catch (err) {
    // A cycle or a nesting too deep for the stack (RangeError) in metadata given by the caller.
    throw new SkulensError('E_INPUT', `The gallery metadata cannot be written as JSON: ${(err as Error).message}.`);
  }
  const meta = utf8.encode(metaJson);
  const labels = data.classes.map((c) => utf8.encode(c.label));
  let vectorCount = 0;
  for (const c of data.classes) vectorCount += c.vectors.length / dim;
  let tableSize = 0;
  for (const l of labels) tableSize += 12 + l.length;
  const vectorsAt = align4(HEADER_SIZE + meta.length + tableSize);
  const total = vectorsAt + vectorCount * dim * elem + CHECKSUM_SIZE;
  if (total > Number.MAX_SAFE_INTEGER) throw new SkulensError('E_INPUT', 'Gallery too large to serialise.');

  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes.set(MAGIC, 0);
  view.setUint16(8, formatVersionFor(data.meta), true);
  view.setUint8(10, METRICS.indexOf(data.metric));
  view.setUint8(11, half ? 1 : 0);
  view.setUint32(12, dim, true);
  view.setUint32(16, data.classes.length, true);
  view.setUint32(20, vectorCount, true);
  view.setBigUint64(24, BigInt(total), true);
  view.setUint32(32, meta.length, true);
  view.setUint32(36, 0, true); // reserved
  bytes.set(meta, HEADER_SIZE);
  let p = HEADER_SIZE + meta.length;
  data.classes.forEach((c, i) => {
    const l = labels[i]!;
    view.setUint32(p, l.length, true);
    bytes.set(l, p + 4);
    p += 4 + l.length;
    view.setUint32(p, c.refs, true);
    view.setUint32(p + 4, c.vectors.length / dim, true);
    p += 8;
  });
  p = vectorsAt; // the bytes in between are already zero (padding)
  for (const c of data.classes) {
    if (half) {
      const h = float32ToHalfArray(c.vectors);
      writeU16s(bytes, view, p, h);
      p += h.length * 2;
    } else {
      writeF32s(bytes, view, p, c.vectors);
      p += c.vectors.length * 4;
    }
  }
  view.setUint32(p, crc32(bytes.subarray(0, p)), true);
  return bytes;
}

export function decodeGallery(bytes: Uint8Array): GalleryData {
  if (!(bytes instanceof Uint8Array)) throw fmt(`expected bytes (Uint8Array), got ${typeof bytes}`);
  if (bytes.length < HEADER_SIZE + CHECKSUM_SIZE) {
    throw fmt(bytes.length === 0 ? 'the file is empty' : `only ${bytes.length} bytes: too short to be a skulens gallery (truncated?)`);
  }
  for (let i = 0; i < MAGIC.length; i++) {
    if (bytes[i] !== MAGIC[i]) throw fmt('not a skulens gallery (wrong magic bytes at the start of the file)');
  }
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const version = view.getUint16(8, true);
  if (version > FORMAT_VERSION) {
    throw fmt(
      `format version ${version} was written by a newer skulens; this one reads versions up to ${FORMAT_VERSION}. Upgrade skulens to read it.`,
    );
  }
  if (version < 1) throw fmt(`invalid format version ${version}`);
  const total = view.getBigUint64(24, true);
  if (total !== BigInt(bytes.length)) {
    throw fmt(
      total > BigInt(bytes.length)
        ? `truncated: the header says ${total} bytes but there are only ${bytes.length}`
        : `the header says ${total} bytes but there are ${bytes.length} (trailing data)`,
    );
  }
  const end = bytes.length - CHECKSUM_SIZE;
  const stored = view.getUint32(end, true);
  const actual = crc32(bytes.subarray(0, end));
  if (stored !== actual) throw fmt(`checksum mismatch (stored ${hex(stored)}, computed ${hex(actual)}): the file is corrupt`);

  // The checksum matched, so the rest was written by an encoder; still check every size.
  const metric = METRICS[view.getUint8(10)];
  if (!metric) throw fmt(`unknown metric code ${view.getUint8(10)}`);
  const dtype = DTYPES[view.getUint8(11)];
  if (!dtype) throw fmt(`unknown vector type code ${view.getUint8(11)}`);
  const dim = view.getUint32(12, true);
  const classCount = view.getUint32(16, true);
  const vectorCount = view.getUint32(20, true);
  const metaLength = view.getUint32(32, true);
  if (dim < 1) throw fmt('dimension 0');
  let p = HEADER_SIZE;
  const need = (n: number, what: string) => {
    if (p + n > end) throw fmt(`${what} runs past the end of the data`);
  };
  need(metaLength, 'the metadata block');
  let meta: GalleryMeta;
  try {
    meta = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(p, p + metaLength))) as GalleryMeta;
  } catch (err) {
    throw fmt(`the metadata block is not valid JSON (${(err as Error).message})`);
  }
  if (typeof meta !== 'object' || meta === null || Array.isArray(meta)) throw fmt('the metadata block is not a JSON object');
  checkMeta(meta);
  p += metaLength;
  const labelDecoder = new TextDecoder('utf-8', { fatal: true });
  const table: { label: string; refs: number; count: number }[] = [];
  let counted = 0;
  for (let i = 0; i < classCount; i++) {
    need(4, `class ${i}`);
    const len = view.getUint32(p, true);
    need(4 + len + 8, `class ${i}`);
    let label: string;
    try {
      label = labelDecoder.decode(bytes.subarray(p + 4, p + 4 + len));
    } catch {
      throw fmt(`the label of class ${i} is not valid UTF-8`);
    }
    const problem = labelProblem(label);
    if (problem) throw fmt(`class ${i}: ${problem}`);
    p += 4 + len;
    const refs = view.getUint32(p, true);
    const count = view.getUint32(p + 4, true);
    p += 8;
    table.push({ label, refs, count });
    counted += count;
  }
  if (counted !== vectorCount) throw fmt(`the class table lists ${counted} vectors but the header says ${vectorCount}`);
  const elem = dtype === 'float16' ? 2 : 4;
  const vectorsAt = align4(p);
  if (vectorsAt + vectorCount * dim * elem !== end) {
    throw fmt(`size mismatch: ${vectorCount} vectors of ${dim} ${dtype} need ${vectorCount * dim * elem} bytes, found ${end - vectorsAt}`);
  }
  if (new Set(table.map((t) => t.label)).size !== table.length) throw fmt('a label appears twice in the class table');
  p = vectorsAt;
  const classes = table.map((t) => {
    const n = t.count * dim;
    const vectors = dtype === 'float16' ? halfArrayToFloat32(readU16s(bytes, view, p, n)) : readF32s(bytes, view, p, n);
    p += n * elem;
    checkVectors(vectors, dim, metric, t.label);
    return { label: t.label, refs: t.refs, vectors };
  });
  return { metric, dim, meta, classes };
}

/**
 * Check the metadata fields this version interprets: the file is not trusted, so every
 * value that reaches the gallery's constructor, the HNSW index or a command must have
 * the type and range an encoder writes (see "Trust model" in docs/gallery-format.md).
 */
function checkMeta(meta: GalleryMeta): void {
  checkDepth(meta);
  const { clustersPerClass: k, seed, index, hnsw, threshold, embedder } = meta;
  if (k !== undefined && k !== 'all' && !is.int(k, 1, 0xffffffff)) {
    throw fmt(`clustersPerClass must be a positive integer or "all", got ${JSON.stringify(k)}`);
  }
  if (seed !== undefined && !is.int(seed, 0, 0xffffffff))
    throw fmt(`seed must be an integer from 0 to 2^32-1, got ${JSON.stringify(seed)}`);
  if (index !== undefined && !is.oneOf(index, ['auto', 'exact', 'hnsw']))
    throw fmt(`index must be "auto", "exact" or "hnsw", got ${JSON.stringify(index)}`);
  if (hnsw !== undefined) {
    if (!isPlainObject(hnsw)) throw fmt('hnsw must be an object');
    const problem = hnswParamsProblem(hnsw);
    if (problem) throw fmt(problem);
  }
  if (threshold !== undefined && !is.finite(threshold)) throw fmt(`threshold must be a number, got ${JSON.stringify(threshold)}`);
  if (embedder !== undefined) {
    if (!isPlainObject(embedder)) throw fmt('embedder must be an object');
    if (typeof embedder.fingerprint !== 'string' || !/^[0-9a-f]{1,64}$/.test(embedder.fingerprint))
      throw fmt('embedder.fingerprint must be a hex string');
    if (!isPlainObject(embedder.spec)) throw fmt('embedder.spec must be an object');
    for (const key of ['path', 'preset', 'output'] as const) {
      const v = embedder[key];
      if (v !== undefined && (typeof v !== 'string' || v.length === 0 || v.length > 4096 || hasForbiddenChars(v))) {
        throw fmt(`embedder.${key} must be a printable string, got ${JSON.stringify(v)}`);
      }
    }
  }
}

/**
 * NaN or infinity would make every score NaN (a query that is never "unknown" and never
 * right); a cosine gallery stores unit vectors, so any other length means damage.
 */
function checkVectors(vectors: Float32Array, dim: number, metric: Metric, label: string): void {
  for (let r = 0; r < vectors.length; r += dim) {
    let sq = 0;
    for (let i = r; i < r + dim; i++) {
      const x = vectors[i]!;
      if (!Number.isFinite(x)) throw fmt(`class "${label}" has a non-finite value (${x}) in vector ${r / dim}`);
      sq += x * x;
    }
    // float16 keeps ~3 digits: its unit vectors are within ~1e-3 of length 1.
    if (metric === 'cosine' && Math.abs(Math.sqrt(sq) - 1) > 1e-2) {
      throw fmt(`class "${label}" vector ${r / dim} has length ${Math.sqrt(sq).toPrecision(4)}, but a cosine gallery stores unit vectors`);
    }
  }
}

/** Refuse nesting deeper than MAX_META_DEPTH (an explicit stack: no recursion on untrusted depth). */
function checkDepth(root: unknown): void {
  const stack: [unknown, number][] = [[root, 1]];
  while (stack.length) {
    const [v, depth] = stack.pop()!;
    if (typeof v !== 'object' || v === null) continue;
    if (depth > MAX_META_DEPTH) throw fmt(`the metadata is nested more than ${MAX_META_DEPTH} levels deep`);
    for (const child of Object.values(v)) if (typeof child === 'object' && child !== null) stack.push([child, depth + 1]);
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function fmt(reason: string): SkulensError {
  return new SkulensError('E_GALLERY_FORMAT', reason);
}

function hex(n: number): string {
  return `0x${n.toString(16).padStart(8, '0')}`;
}

function align4(n: number): number {
  return (n + 3) & ~3;
}

// Typed-array copies are one memcpy on little-endian hosts; DataView keeps big-endian hosts correct.
function writeF32s(bytes: Uint8Array, view: DataView, at: number, v: Float32Array): void {
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
  else for (let i = 0; i < v.length; i++) view.setFloat32(at + i * 4, v[i]!, true);
}

function writeU16s(bytes: Uint8Array, view: DataView, at: number, v: Uint16Array): void {
  if (LITTLE_ENDIAN) bytes.set(new Uint8Array(v.buffer, v.byteOffset, v.byteLength), at);
  else for (let i = 0; i < v.length; i++) view.setUint16(at + i * 2, v[i]!, true);
}

function readF32s(bytes: Uint8Array, view: DataView, at: number, n: number): Float32Array {
  const out = new Float32Array(n);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + n * 4));
  else for (let i = 0; i < n; i++) out[i] = view.getFloat32(at + i * 4, true);
  return out;
}

function readU16s(bytes: Uint8Array, view: DataView, at: number, n: number): Uint16Array {
  const out = new Uint16Array(n);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(bytes.subarray(at, at + n * 2));
  else for (let i = 0; i < n; i++) out[i] = view.getUint16(at + i * 2, true);
  return out;
}

/** The lowest format version that holds this metadata. */
function formatVersionFor(meta: GalleryMeta): number {
  const calibration = meta.calibration as { cohortWeight?: number; guards?: unknown } | undefined;
  if (meta.negatives !== undefined || calibration?.guards !== undefined) return 4;
  if (calibration?.cohortWeight) return 3;
  return meta.adaptation !== undefined || calibration !== undefined ? 2 : 1;
}
