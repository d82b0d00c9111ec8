#!/usr/bin/env node
/**
 * Guards the module map of docs/architecture.md (run by `npm run lint`):
 *  1. no import cycles among the files in src/ (type-only imports count: a cycle of
 *     types is still two files that cannot be understood one after the other);
 *  2. imports point the documented way: core/ never reaches into node/, browser/ or
 *     cli/; node/ and browser/ never import each other; adapt/ never imports gallery/;
 *     only src/cli.ts imports cli/;
 *  3. no file in src/ is longer than MAX_LINES.
 * Exit 1 with one line per problem.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const SRC = join(ROOT, 'src');
const MAX_LINES = 500;

/** [importer pattern, imported pattern, why] — paths relative to src/. */
const FORBIDDEN = [
  [/^core\//, /^(node|browser|cli)\//, 'core/ is platform-free: the platform entries register what it needs (core/platform.ts)'],
  [/^node\//, /^browser\//, 'the Node and browser platforms are independent'],
  [/^browser\//, /^(node|cli)\//, 'the browser platform must not pull in Node code'],
  [/^core\/adapt\//, /^core\/gallery\//, 'adapt/ is maths the gallery uses, not the other way round'],
  [/^(?!cli\.ts$|cli\/)/, /^cli\//, 'only the CLI entry (src/cli.ts) uses the CLI modules'],
];

function listTs(dir) {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) => {
    const p = join(dir, e.name);
    if (e.isDirectory()) return listTs(p);
    return e.isFile() && p.endsWith('.ts') && !p.endsWith('.d.ts') ? [p] : [];
  });
}

const IMPORT = /(?:^|\n)\s*(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.[^'"]+)['"]|import\(\s*['"](\.[^'"]+)['"]\s*\)/g;

const files = listTs(SRC);
const rel = (p) => relative(SRC, p).split('\\').join('/');
const graph = new Map();
const problems = [];
for (const file of files) {
  const text = readFileSync(file, 'utf8');
  const lines = text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
  if (lines > MAX_LINES) problems.push(`${rel(file)}: ${lines} lines (at most ${MAX_LINES}: split it along its seams)`);
  const deps = new Set();
  for (const m of text.matchAll(IMPORT)) {
    const spec = m[1] ?? m[2];
    const target = resolve(dirname(file), spec.replace(/\.js$/, '.ts'));
    if (!target.startsWith(SRC)) continue;
    deps.add(target);
    const [from, to] = [rel(file), rel(target)];
    for (const [a, b, why] of FORBIDDEN) if (a.test(from) && b.test(to)) problems.push(`${from} imports ${to}: ${why}`);
  }
  graph.set(file, deps);
}

// Tarjan's strongly connected components: every component of more than one file is a cycle.
let counter = 0;
const index = new Map();
const low = new Map();
const stack = [];
const onStack = new Set();
function visit(v) {
  index.set(v, counter);
  low.set(v, counter++);
  stack.push(v);
  onStack.add(v);
  for (const w of graph.get(v) ?? []) {
    if (!graph.has(w)) continue;
    if (!index.has(w)) {
      visit(w);
      low.set(v, Math.min(low.get(v), low.get(w)));
    } else if (onStack.has(w)) low.set(v, Math.min(low.get(v), index.get(w)));
  }
  if (low.get(v) === index.get(v)) {
    const scc = [];
    let w;
    do {
      w = stack.pop();
      onStack.delete(w);
      scc.push(rel(w));
    } while (w !== v);
    if (scc.length > 1 || graph.get(v).has(v)) problems.push(`import cycle: ${scc.sort().join(' <-> ')}`);
  }
}
for (const f of files) if (!index.has(f)) visit(f);

if (problems.length) {
  for (const p of problems) console.error(p);
  process.exit(1);
}
console.log(
  `architecture: ${files.length} files in src/, no import cycles, imports point the documented way, none over ${MAX_LINES} lines`,
);
