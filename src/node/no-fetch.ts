/**
 * http(s) URLs given to the Node library: images, models and galleries are read from
 * files and bytes there, never fetched (the browser build fetches, being a browser; only
 * `skulens serve` fetches the gallery and detector locations it is given). Without this a
 * URL was taken for a file name and failed as "no such file", which sends the user looking
 * for a file.
 */
import { SkulensError } from '../core/errors.js';

export function isHttpUrl(source: string | URL): boolean {
  return source instanceof URL ? source.protocol === 'http:' || source.protocol === 'https:' : /^https?:\/\//i.test(source.trim());
}

const ADVICE = {
  file: 'skulens reads files here, not URLs: download it and pass its path.',
  image:
    'images are not fetched from URLs in Node: download it and pass its path, or fetch it yourself and pass the bytes (new Uint8Array(await res.arrayBuffer())); the browser build loads URLs.',
  gallery:
    'ReferenceGallery.load() does not fetch URLs in Node: download it and pass its path, or fetch it yourself and pass the bytes to ReferenceGallery.fromBytes(); the browser build loads URLs.',
  model:
    'models are not fetched from URLs in Node: download it and pass its path, or fetch it yourself and pass the bytes as `model`; the browser build loads URLs.',
} as const;

/** E_INPUT for an http(s) URL given where Node reads a file; `what` picks the advice. */
export function urlNotFetched(source: string | URL, what: keyof typeof ADVICE): SkulensError {
  const url = source instanceof URL ? source.href : source;
  return new SkulensError('E_INPUT', `Cannot read ${what === 'file' ? '' : `${what} `}"${url}": ${ADVICE[what]}`, { input: url });
}
