/** "1 image", "3 images", "0 queries": a count with its noun in the right number (English). */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
