/** Registers the browser runtime (onnxruntime-web, canvas decoding, fetch, WebCrypto) with the core. */
import { SkulensError, messageOf } from '../core/errors.js';
import type { Platform } from '../core/platform.js';
import { setPlatform } from '../core/platform.js';
import { loadImage, type BrowserImageInput } from './image-loader.js';
import { browserOrt } from './runtime.js';
import { sha256Hex } from './sha256.js';

/**
 * Fetch a binary file (model, gallery). Refuses an HTML page in its place: a dev server's
 * 404 fallback or an SPA's index.html would otherwise surface later as an obscure parse error.
 */
export async function fetchBinary(source: string | URL, init?: RequestInit): Promise<Uint8Array> {
  const url = String(source);
  let response: Response;
  try {
    response = await fetch(url, init);
  } catch (err) {
    throw new SkulensError('E_IO', `Cannot fetch ${url}: ${messageOf(err)} (offline, CORS, or a wrong URL?).`, { cause: err, input: url });
  }
  if (!response.ok) throw new SkulensError('E_IO', `Cannot fetch ${url}: HTTP ${response.status} ${response.statusText}.`, { input: url });
  const bytes = new Uint8Array(await response.arrayBuffer());
  const type = response.headers.get('content-type') ?? '';
  if (/text\/html/i.test(type) || looksLikeHtml(bytes)) {
    throw new SkulensError(
      'E_IO',
      `Fetching ${url} returned an HTML page (${type || 'starts with "<"'}), not the binary file: the server has no such file and answered with a fallback page. Check the URL and what your server or bundler serves.`,
      { input: url },
    );
  }
  return bytes;
}

function looksLikeHtml(bytes: Uint8Array): boolean {
  let i = 0;
  while (
    i < bytes.length &&
    i < 64 &&
    (bytes[i] === 0x20 ||
      bytes[i] === 0x0a ||
      bytes[i] === 0x0d ||
      bytes[i] === 0x09 ||
      bytes[i] === 0xef ||
      bytes[i] === 0xbb ||
      bytes[i] === 0xbf)
  )
    i++;
  if (bytes[i] !== 0x3c) return false; // '<'
  const head = new TextDecoder().decode(bytes.subarray(i, i + 15)).toLowerCase();
  return (
    head.startsWith('<!doctype') ||
    head.startsWith('<html') ||
    head.startsWith('<head') ||
    head.startsWith('<body') ||
    head.startsWith('<!--')
  );
}

export const browserPlatform: Platform = {
  name: 'browser',
  ort: browserOrt,
  loadImage: (input, options) => loadImage(input as BrowserImageInput, options),
  readBinary: (source) => fetchBinary(source),
  // A static `new URL(..., import.meta.url)` so that bundlers (Vite, webpack 5, Parcel) copy the file as an asset.
  builtinModelLocation: (file) => {
    if (file === 'skulens-retail-160.onnx') return new URL('../models/skulens-retail-160.onnx', import.meta.url).href;
    if (file === 'skulens-shelf.onnx') return new URL('../models/skulens-shelf.onnx', import.meta.url).href;
    if (file === 'skulens-mobilenetv2.onnx') return new URL('../models/skulens-mobilenetv2.onnx', import.meta.url).href;
    throw new SkulensError('E_MODEL_LOAD', `Unknown built-in model file ${file}.`);
  },
  sha256Hex,
};

setPlatform(browserPlatform);
