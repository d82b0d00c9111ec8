#!/usr/bin/env node
/**
 * Browser bundle report and guard (npm run size:browser).
 *
 * 1. Bundles src/browser.ts the way an app's bundler would (esbuild, platform "browser",
 *    minified, onnxruntime-web external) and reports its size, raw and gzipped. The
 *    onnxruntime-web JS and .wasm files are listed separately: they are not ours.
 * 2. Fails (exit 1) if the browser code pulls in a Node built-in or a Node-only package
 *    (fs, path, sharp, hnswlib-node, onnxruntime-node, ...): in the esbuild bundle's
 *    inputs, in its external imports, or in the shipped dist/browser.js.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { builtinModules } from 'node:module';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';
import { REPO_ROOT } from './serve.mjs';

const FORBIDDEN_PACKAGES = ['sharp', 'hnswlib-node', 'onnxruntime-node', 'commander'];
const ALLOWED_EXTERNAL = /^onnxruntime-web(\/(wasm|webgpu|all))?$/;
const isBuiltin = (s) => s.startsWith('node:') || builtinModules.includes(s) || builtinModules.includes(s.split('/')[0]);
const isForbidden = (s) => isBuiltin(s) || FORBIDDEN_PACKAGES.some((p) => s === p || s.startsWith(p + '/'));

const problems = [];
const kb = (n) => `${(n / 1024).toFixed(1)} kB`;

// 1. Minified bundle of our code.
let result;
try {
  result = await build({
    entryPoints: [process.argv[2] ?? join(REPO_ROOT, 'src', 'browser.ts')], // an argument: check another entry (self-test)
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    minify: true,
    write: false,
    metafile: true,
    logLevel: 'silent',
    external: ['onnxruntime-web', 'onnxruntime-web/*'],
    outfile: 'browser.min.js',
  });
} catch (err) {
  // platform "browser" cannot resolve Node built-ins: an import of one lands here.
  for (const e of err.errors ?? [err])
    problems.push(`esbuild: ${e.text ?? e.message}${e.location ? ` (${e.location.file}:${e.location.line})` : ''}`);
}

if (result) {
  const out = result.outputFiles[0];
  const min = out.contents.length;
  const gz = gzipSync(out.contents, { level: 9 }).length;
  const meta = Object.values(result.metafile.outputs)[0];
  const externals = [...new Set(meta.imports.filter((i) => i.external).map((i) => i.path))];
  for (const spec of externals) {
    if (isForbidden(spec)) problems.push(`the browser bundle imports "${spec}"`);
    else if (!ALLOWED_EXTERNAL.test(spec)) problems.push(`the browser bundle imports an unexpected external "${spec}"`);
  }
  for (const input of Object.keys(result.metafile.inputs)) {
    const pkg = FORBIDDEN_PACKAGES.find((p) => input.includes(`node_modules/${p}/`));
    if (pkg) problems.push(`the browser bundle contains ${input} (package ${pkg})`);
    if (/^src\/(node|cli)\b/.test(input) || input === 'src/index.ts')
      problems.push(`the browser bundle contains Node-only source ${input}`);
  }
  const ours = Object.entries(meta.inputs)
    .map(([file, v]) => [file, v.bytesInOutput])
    .sort((a, b) => b[1] - a[1]);
  console.log('skulens browser bundle (src/browser.ts, esbuild --minify, onnxruntime-web external)');
  console.log(`  minified: ${kb(min)}   gzip -9: ${kb(gz)}`);
  console.log(`  external imports: ${externals.join(', ') || '(none)'}`);
  console.log('  largest inputs:');
  for (const [file, bytes] of ours.slice(0, 8)) console.log(`    ${kb(bytes).padStart(9)}  ${file}`);
}

// 2. The shipped file.
const dist = join(REPO_ROOT, 'dist', 'browser.js');
if (existsSync(dist)) {
  const code = readFileSync(dist, 'utf8');
  const specs = new Set();
  // Static imports/re-exports start a line in esbuild output; strings in messages do not.
  for (const m of code.matchAll(/^\s*(?:import|export)\b(?:[\w*{}\s,$]*?\bfrom)?\s*["']([^"']+)["']/gm)) specs.add(m[1]);
  for (const m of code.matchAll(/\bimport\s*\(\s*["']([^"']+)["']\s*\)/g)) specs.add(m[1]);
  for (const m of code.matchAll(/\brequire\s*\(\s*["']([^"']+)["']\s*\)/g)) specs.add(m[1]);
  for (const spec of specs) {
    if (isForbidden(spec)) problems.push(`dist/browser.js imports "${spec}"`);
    else if (!spec.startsWith('.') && !ALLOWED_EXTERNAL.test(spec))
      problems.push(`dist/browser.js imports an unexpected package "${spec}"`);
  }
  console.log(`dist/browser.js (shipped, unminified): ${kb(statSync(dist).size)}; imports: ${[...specs].join(', ')}`);
} else {
  console.log('dist/browser.js not built (run `npx tsup`): only the source bundle was checked.');
}

// 3. What onnxruntime-web adds (not ours; fetched by the browser once, then cached).
const ortDist = join(REPO_ROOT, 'node_modules', 'onnxruntime-web', 'dist');
const size = (f) => (existsSync(join(ortDist, f)) ? statSync(join(ortDist, f)).size : NaN);
console.log('onnxruntime-web 1.30 files a page loads (for reference):');
console.log(
  `  wasm build:   ort.wasm.min.mjs ${kb(size('ort.wasm.min.mjs'))} + ort-wasm-simd-threaded.mjs ${kb(size('ort-wasm-simd-threaded.mjs'))} + .wasm ${kb(size('ort-wasm-simd-threaded.wasm'))}`,
);
console.log(
  `  webgpu build: ort.webgpu.min.mjs ${kb(size('ort.webgpu.min.mjs'))} + ort-wasm-simd-threaded.asyncify.mjs ${kb(size('ort-wasm-simd-threaded.asyncify.mjs'))} + .wasm ${kb(size('ort-wasm-simd-threaded.asyncify.wasm'))}`,
);

if (problems.length) {
  console.error(`\nFAIL: ${problems.length} problem(s) in the browser bundle:`);
  for (const p of problems) console.error(`  - ${p}`);
  process.exit(1);
}
console.log('\nPASS: no Node built-ins or Node-only packages (fs, path, sharp, hnswlib-node, onnxruntime-node) in the browser bundle.');
