/** Helpers for option objects. */

/** The options actually given: a key set to `undefined` must not hide a default when spread over it. */
export function definedOnly<T extends object>(options: T): Partial<T> {
  return Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)) as Partial<T>;
}
