/** True on little-endian hosts (all common ones): typed-array bytes are then the little-endian file bytes, copied as they are. */
export const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
