/**
 * What a class label may be. Labels come from folder names, CSV cells and gallery files
 * made by someone else, and end up on terminals, in JSON and drawn into images, so
 * characters that control a terminal or do not survive UTF-8 are refused everywhere.
 */
import { SkulensError } from '../errors.js';

/** Longest accepted label, in UTF-16 code units. */
export const MAX_LABEL_LENGTH = 16384;

/**
 * Control characters (C0, DEL, C1: ESC starts terminal escape sequences), lone surrogates
 * (UTF-8 cannot hold them: the label would change on save), noncharacters (U+FFFE...),
 * line/paragraph separators and bidi overrides (they make a terminal show other text).
 */
const FORBIDDEN_CHARS = '\\p{Cc}\\p{Cs}\\p{Noncharacter_Code_Point}\\p{Zl}\\p{Zp}\\u202a-\\u202e\\u2066-\\u2069';
const FORBIDDEN = new RegExp(`[${FORBIDDEN_CHARS}]`, 'u');
const FORBIDDEN_ALL = new RegExp(`[${FORBIDDEN_CHARS}]`, 'gu');

/** `text` with every such character shown as an escape (\u{1b}), safe to print on a terminal. */
export function printable(text: string): string {
  return text.replace(FORBIDDEN_ALL, (c) => `\\u{${c.codePointAt(0)!.toString(16)}}`);
}

/** True when `text` holds any of the characters refused in labels. */
export function hasForbiddenChars(text: string): boolean {
  return FORBIDDEN.test(text);
}

/** Why `label` is not an acceptable label, or undefined when it is. */
export function labelProblem(label: unknown): string | undefined {
  if (typeof label !== 'string' || label.length === 0)
    return `a label must be a non-empty string, got ${JSON.stringify(label) ?? String(label)}`;
  if (label.length > MAX_LABEL_LENGTH) return `a label must be at most ${MAX_LABEL_LENGTH} characters (got ${label.length})`;
  const bad = FORBIDDEN.exec(label);
  if (bad) {
    const cp = bad[0].codePointAt(0)!;
    return `the label "${printable(label.slice(0, 40))}" contains the control or invalid character U+${cp.toString(16).toUpperCase().padStart(4, '0')} at ${bad.index}: rename the class`;
  }
  return undefined;
}

/** Throw E_INPUT when `label` is not acceptable. */
export function checkLabel(label: unknown): asserts label is string {
  const problem = labelProblem(label);
  if (problem)
    throw new SkulensError(
      'E_INPUT',
      `${problem[0]!.toUpperCase()}${problem.slice(1)}.`,
      typeof label === 'string' ? { input: printable(label.slice(0, 40)) } : undefined,
    );
}
