/**
 * Argument checks in one place (in the manner of sharp's lib/is.js): small predicates,
 * and one error builder so that every bad option reads the same way:
 * `<name> must be <expected>, got <actual>.` with a skulens error code.
 */
import { SkulensError, type SkulensErrorCode } from './errors.js';

export const is = {
  /** A number that is not NaN (±Infinity allowed: thresholds use them). */
  number: (v: unknown): v is number => typeof v === 'number' && !Number.isNaN(v),
  finite: (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v),
  positiveInt: (v: unknown): v is number => Number.isInteger(v) && (v as number) >= 1,
  /** An integer with lo ≤ v ≤ hi. */
  int: (v: unknown, lo = -Infinity, hi = Infinity): v is number => Number.isInteger(v) && (v as number) >= lo && (v as number) <= hi,
  /** lo ≤ v ≤ hi; `open` excludes the ends named ('lo', 'hi' or 'both'). */
  inRange: (v: unknown, lo: number, hi: number, open?: 'lo' | 'hi' | 'both'): v is number =>
    typeof v === 'number' && (open === 'lo' || open === 'both' ? v > lo : v >= lo) && (open === 'hi' || open === 'both' ? v < hi : v <= hi),
  oneOf: <T>(v: unknown, values: readonly T[]): v is T => values.includes(v as T),
};

/** `name must be expected, got actual.` (strings quoted, so an empty or spaced value is visible). */
export function invalidParameter(name: string, expected: string, actual: unknown, code: SkulensErrorCode = 'E_INPUT'): SkulensError {
  const shown = typeof actual === 'string' ? JSON.stringify(actual) : Array.isArray(actual) ? JSON.stringify(actual) : String(actual);
  return new SkulensError(code, `${name} must be ${expected}, got ${shown}.`);
}

/** Throw invalidParameter() unless `ok`. */
export function check(ok: boolean, name: string, expected: string, actual: unknown): void {
  if (!ok) throw invalidParameter(name, expected, actual);
}
