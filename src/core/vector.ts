/** Small vector helpers shared by the Embedder and the gallery. */

/** Scale to unit length in place; returns false (and leaves it) for a zero or non-finite vector. */
export function normalizeInPlace(v: Float32Array): boolean {
  let s = 0;
  for (let i = 0; i < v.length; i++) s += v[i]! * v[i]!;
  if (!(s > 0) || !Number.isFinite(s)) return false;
  const inv = 1 / Math.sqrt(s);
  for (let i = 0; i < v.length; i++) v[i]! *= inv;
  return true;
}
