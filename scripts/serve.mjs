#!/usr/bin/env node
/**
 * A small static server for the browser example and the browser tests, with the
 * cross-origin-isolation headers that multi-threaded WebAssembly needs:
 *
 *   Cross-Origin-Opener-Policy: same-origin
 *   Cross-Origin-Embedder-Policy: require-corp
 *
 * Routes (all read-only, no directory listings, nothing outside these folders):
 *   /            examples/browser/      the example page
 *   /dist/       dist/                  the built library (dist/browser.js)
 *   /ort/        node_modules/onnxruntime-web/dist/   ort's .mjs and .wasm files
 *   /test/       test/browser/          browser test pages
 *   /shared/     $SKULENS_SHARED or ../shared  test models and photos (dev only, never shipped)
 *
 * Usage: node scripts/serve.mjs [--port 8080] [--host 127.0.0.1] [--no-isolation] [--example]
 * Also importable: `startServer({ port, mounts, isolate })` (used by the browser tests).
 */
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer } from 'node:http';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const SHARED = resolve(process.env.SKULENS_SHARED ?? join(REPO_ROOT, '..', 'shared'));

const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.wasm': 'application/wasm', // needed for WebAssembly.instantiateStreaming
  '.onnx': 'application/octet-stream',
  '.bin': 'application/octet-stream',
  '.skg': 'application/octet-stream',
  '.rgb': 'application/octet-stream',
  '.jpg': 'image/jpeg',
  '.jpeg': 'image/jpeg',
  '.png': 'image/png',
  '.webp': 'image/webp',
  '.gif': 'image/gif',
  '.svg': 'image/svg+xml',
  '.csv': 'text/csv; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.names': 'text/plain; charset=utf-8',
};

export function defaultMounts() {
  return {
    '/dist/': join(REPO_ROOT, 'dist'),
    '/ort/': join(REPO_ROOT, 'node_modules', 'onnxruntime-web', 'dist'),
    '/test/': join(REPO_ROOT, 'test', 'browser'),
    '/models/': join(REPO_ROOT, 'models'), // the built-in embedder, where dist/browser.js looks for it
    '/shared/': SHARED,
    '/': join(REPO_ROOT, 'examples', 'browser'),
  };
}

/**
 * Start the server. `mounts` maps URL prefixes (ending in "/") to folders; the longest
 * matching prefix wins. Resolves to { url, port, close() }.
 */
export function startServer({ port = 0, host = '127.0.0.1', mounts = defaultMounts(), isolate = true, log = false } = {}) {
  const prefixes = Object.keys(mounts).sort((a, b) => b.length - a.length);
  const server = createServer((req, res) => {
    const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' };
    if (isolate) {
      headers['Cross-Origin-Opener-Policy'] = 'same-origin';
      headers['Cross-Origin-Embedder-Policy'] = 'require-corp';
      headers['Cross-Origin-Resource-Policy'] = 'same-origin';
    }
    const fail = (status, text) => {
      // Plain text, never an HTML fallback page: a missing .wasm must fail loudly.
      res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' });
      res.end(`${status} ${text}\n`);
      if (log) console.error(`${status} ${req.method} ${req.url}`);
    };
    if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405, 'method not allowed');
    let pathname;
    try {
      pathname = decodeURIComponent(new URL(req.url ?? '/', 'http://x').pathname);
    } catch {
      return fail(400, 'bad url');
    }
    const prefix = prefixes.find((p) => pathname.startsWith(p));
    if (!prefix) return fail(404, 'not found');
    const root = resolve(mounts[prefix]);
    let file = resolve(root, '.' + sep + pathname.slice(prefix.length));
    if (file !== root && !file.startsWith(root + sep)) return fail(403, 'forbidden');
    if (existsSync(file) && statSync(file).isDirectory()) file = join(file, 'index.html');
    if (!existsSync(file) || !statSync(file).isFile()) return fail(404, `not found: ${pathname}`);
    const size = statSync(file).size;
    res.writeHead(200, {
      ...headers,
      'Content-Type': TYPES[extname(file).toLowerCase()] ?? 'application/octet-stream',
      'Content-Length': size,
    });
    if (req.method === 'HEAD') return res.end();
    createReadStream(file).pipe(res);
    if (log) console.error(`200 ${req.method} ${req.url}`);
  });
  return new Promise((resolvePromise, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      const address = server.address();
      const url = `http://${host === '0.0.0.0' ? 'localhost' : host}:${address.port}`;
      resolvePromise({
        url,
        port: address.port,
        close: () =>
          new Promise((r) => {
            server.closeAllConnections?.();
            server.close(() => r());
          }),
      });
    });
  });
}

const isMain = process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  const value = (flag, fallback) => {
    const i = args.indexOf(flag);
    return i >= 0 && args[i + 1] ? args[i + 1] : fallback;
  };
  const port = Number(value('--port', process.env.PORT ?? 8080));
  const host = value('--host', '127.0.0.1');
  const isolate = !args.includes('--no-isolation');
  if (!existsSync(join(REPO_ROOT, 'dist', 'browser.js'))) console.error('dist/browser.js is missing: run `npx tsup` first.');
  if (!existsSync(SHARED)) console.error(`(no shared models/photos at ${SHARED}: pick your own files in the page)`);
  const { url } = await startServer({ port, host, isolate, log: args.includes('--log') });
  console.log(
    `skulens ${args.includes('--example') ? 'browser example' : 'static server'}: ${url}/  (COOP/COEP ${isolate ? 'on: wasm threads available' : 'OFF: single-threaded wasm'})`,
  );
  if (existsSync(SHARED)) {
    console.log(`  dev files from ${SHARED}: e.g. ${url}/?model=/shared/models/mobilenetv2-12-int8-embed.onnx&preset=imagenet`);
  }
  console.log('  Ctrl+C to stop.');
}
