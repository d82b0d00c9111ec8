/**
 * Reads the `metadata_props` of an ONNX ModelProto straight from its protobuf bytes.
 * onnxruntime's JS API does not expose custom metadata, and a full protobuf decoder
 * would be a heavy dependency for one map of strings: ModelProto's top-level fields are
 * walked and everything but field 14 (metadata_props) is skipped by its length.
 */
import { SkulensError } from './errors.js';

const METADATA_PROPS = 14;

export function readOnnxMetadata(bytes: Uint8Array): Record<string, string> {
  const props: Record<string, string> = {};
  const decoder = new TextDecoder();
  let pos = 0;
  const varint = (limit: number): number => {
    let result = 0;
    let shift = 0;
    for (;;) {
      if (pos >= limit) throw new SkulensError('E_MODEL_LOAD', 'Truncated ONNX file: a protobuf varint runs past the end.');
      const byte = bytes[pos++]!;
      result += (byte & 0x7f) * 2 ** shift;
      if (!(byte & 0x80)) return result;
      shift += 7;
      if (shift > 63) throw new SkulensError('E_MODEL_LOAD', 'Not an ONNX file: malformed protobuf varint.');
    }
  };
  const skip = (wireType: number, limit: number): void => {
    if (wireType === 0) varint(limit);
    else if (wireType === 1) pos += 8;
    else if (wireType === 2) {
      const len = varint(limit); // read first: `pos += varint()` would add to the stale pos
      pos += len;
    } else if (wireType === 5) pos += 4;
    else throw new SkulensError('E_MODEL_LOAD', `Not an ONNX file: unsupported protobuf wire type ${wireType}.`);
  };

  while (pos < bytes.length) {
    const key = varint(bytes.length);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    if (field !== METADATA_PROPS || wireType !== 2) {
      skip(wireType, bytes.length);
      continue;
    }
    // StringStringEntryProto { key = 1; value = 2; }
    const len = varint(bytes.length);
    const end = pos + len;
    let k = '';
    let v = '';
    while (pos < end) {
      const entryKey = varint(end);
      if ((entryKey & 7) !== 2) {
        skip(entryKey & 7, end);
        continue;
      }
      const len = varint(end);
      const text = decoder.decode(bytes.subarray(pos, pos + len));
      pos += len;
      if (entryKey >>> 3 === 1) k = text;
      else if (entryKey >>> 3 === 2) v = text;
    }
    props[k] = v;
  }
  if (pos !== bytes.length) throw new SkulensError('E_MODEL_LOAD', 'Truncated ONNX file: the last protobuf field runs past the end.');
  return props;
}

/** Encode one metadata_props entry; appending it to a ModelProto adds the entry (protobuf merge rules). */
export function encodeOnnxMetadataEntry(key: string, value: string): Uint8Array {
  const enc = new TextEncoder();
  const field = (num: number, payload: Uint8Array) => [...varintBytes(num * 8 + 2), ...varintBytes(payload.length), ...payload];
  const entry = new Uint8Array([...field(1, enc.encode(key)), ...field(2, enc.encode(value))]);
  return new Uint8Array(field(METADATA_PROPS, entry));
}

function varintBytes(n: number): number[] {
  const out: number[] = [];
  while (n > 0x7f) {
    out.push((n % 128) | 0x80);
    n = Math.floor(n / 128);
  }
  out.push(n);
  return out;
}
