/**
 * Why sharp (libvips) could not decode an image, in words a user can act on. libvips'
 * own text cannot be relied on: its error buffer is shared by the threads that decode,
 * so among concurrent decodes (an Embedder batch) a failure can carry another image's
 * text, or none at all (sharp then says "Unknown error"). The bytes themselves say which
 * format it is and, for JPEG, PNG, GIF and WebP, whether the file stops short.
 */
import { pixelLimitMessage } from '../core/image.js';

type Format = 'JPEG' | 'PNG' | 'GIF' | 'WebP' | 'TIFF' | 'AVIF';

/** The format the first bytes announce (the ones sharp decodes), or undefined. */
export function sniffFormat(b: Uint8Array): Format | undefined {
  const ascii = (from: number, to: number) => String.fromCharCode(...b.subarray(from, to));
  if (b[0] === 0xff && b[1] === 0xd8 && b[2] === 0xff) return 'JPEG';
  if (ascii(0, 8) === '\x89PNG\r\n\x1a\n') return 'PNG';
  if (ascii(0, 4) === 'GIF8') return 'GIF';
  if (ascii(0, 4) === 'RIFF' && ascii(8, 12) === 'WEBP') return 'WebP';
  if (ascii(0, 4) === 'II*\0' || ascii(0, 4) === 'MM\0*') return 'TIFF';
  // HEIF containers (mif1/msf1) are AVIF only when an avif brand is listed: HEIC shares them.
  if (
    ascii(4, 8) === 'ftyp' &&
    (/^(avif|avis)$/.test(ascii(8, 12)) || (/^(mif1|msf1)$/.test(ascii(8, 12)) && /avi[fs]/.test(ascii(16, 64))))
  )
    return 'AVIF';
  return undefined;
}

/** True when the file visibly stops before its format's end (end-of-image marker, IEND chunk, trailer, RIFF size). */
function endsEarly(b: Uint8Array, format: Format): boolean {
  let end = b.length;
  while (end > 0 && b[end - 1] === 0) end--; // some writers pad with zeros
  switch (format) {
    case 'JPEG':
      return !(b[end - 2] === 0xff && b[end - 1] === 0xd9);
    case 'PNG':
      return String.fromCharCode(...b.subarray(Math.max(0, end - 12), end)).indexOf('IEND') < 0;
    case 'GIF':
      return b[end - 1] !== 0x3b;
    case 'WebP':
      return b.length >= 8 && new DataView(b.buffer, b.byteOffset, 8).getUint32(4, true) + 8 > b.length;
    default:
      return false; // TIFF and AVIF keep their parts anywhere: no cheap test
  }
}

/** Lines of libvips' text that come from this format's loader (only those can be about this image). */
const LOADER: Record<Format, RegExp> = {
  JPEG: /^VipsJpeg:/i,
  PNG: /^(vipspng|libpng|spng|pngload)/i,
  GIF: /^gifload/i,
  WebP: /^(webp|VipsForeignLoadWebp)/i,
  TIFF: /^(tiff|VipsTiff)/i,
  AVIF: /^heif:/i,
};

/** The part of a libvips message worth showing: its distinct lines from `format`'s loader, at most two. */
function vipsDetail(message: string, format: Format): string | undefined {
  const lines = message
    .split('\n')
    .map((l) => l.replace(/^Input (buffer|file) has corrupt header:\s*/i, '').trim())
    .filter((l) => LOADER[format].test(l));
  const distinct = [...new Set(lines)];
  return distinct.length > 0 ? distinct.slice(0, 2).join('; ') : undefined;
}

/** The reason to show after "Cannot decode image <name>: ". */
export function explainDecodeFailure(bytes: Uint8Array, message: string, maxPixels: number): string {
  if (/exceeds pixel limit/i.test(message)) return pixelLimitMessage(maxPixels);
  const format = sniffFormat(bytes);
  // Every format sharp decodes here starts with a signature sniffFormat knows (SVG is dealt with before).
  if (format === undefined) return 'not a supported image format (JPEG, PNG, WebP, GIF, TIFF, AVIF).';
  const size = `${bytes.length.toLocaleString('en-US')} bytes`;
  if (endsEarly(bytes, format))
    return `truncated ${format} data: the file ends before the image does (${size}; an interrupted download or copy?).`;
  const detail = vipsDetail(message, format);
  return `truncated or corrupt ${format} data (${size}${detail ? `; ${detail}` : ''}).`;
}
