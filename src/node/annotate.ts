/**
 * Draw boxes and labels onto a copy of an image (Node): the boxes become an SVG overlay
 * that sharp composites over the decoded pixels, then encodes as JPEG or PNG.
 */
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { SkulensError, messageOf } from '../core/errors.js';
import type { Rect } from '../core/image.js';
import { printable } from '../core/gallery/label.js';
import { writeFileAtomic } from './gallery-file.js';
import { loadImage, type NodeImageInput } from './image-loader.js';

/** Anything with a box: detections, recognised items. */
export interface AnnotateItem {
  box: Rect;
  label?: string | null;
  score?: number;
  /** Recognised items the gallery could not name are drawn grey and dashed. */
  unknown?: boolean;
  classId?: number;
}

export interface AnnotateOptions {
  /** Output encoding (default: from `file`'s extension, else jpeg). */
  format?: 'jpeg' | 'png';
  /** JPEG quality 1–100 (default 85). */
  quality?: number;
  /** Also write the result here (atomically: temp file + rename, as gallery saves). */
  file?: string;
  /** Append the score to each label (default true). */
  showScore?: boolean;
  /** Box outline width in pixels (default: scaled to the image, ~0.2% of its larger side, at least 2). */
  lineWidth?: number;
  /** Label font size in pixels (default: scaled to the image, at least 12). */
  fontSize?: number;
}

/**
 * Draw `items` over `image` (path, encoded bytes or raw pixels; EXIF orientation applied,
 * as for detection, so boxes land where they were found) and return the encoded bytes.
 */
export async function annotate(image: NodeImageInput, items: readonly AnnotateItem[], options: AnnotateOptions = {}): Promise<Uint8Array> {
  const raw = await loadImage(image);
  const format = options.format ?? (options.file && /\.png$/i.test(options.file) ? 'png' : 'jpeg');
  if (options.file && !/\.(jpe?g|png)$/i.test(options.file)) {
    throw new SkulensError('E_INPUT', `Cannot write "${options.file}": annotated images are .jpg, .jpeg or .png.`, { input: options.file });
  }
  const svg = overlaySvg(raw.width, raw.height, items, options);
  let pipeline = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } }).composite([{ input: Buffer.from(svg), top: 0, left: 0 }]);
  pipeline = format === 'png' ? pipeline.png() : pipeline.jpeg({ quality: options.quality ?? 85 });
  const bytes = await pipeline.toBuffer();
  if (options.file) {
    try {
      await mkdir(dirname(options.file), { recursive: true });
    } catch (err) {
      throw new SkulensError('E_IO', `Cannot write "${options.file}": ${messageOf(err)}`, { cause: err, input: options.file });
    }
    await writeFileAtomic(options.file, bytes);
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength);
}

/** The overlay: one outlined rectangle per item and a filled tag with its label. */
export function overlaySvg(width: number, height: number, items: readonly AnnotateItem[], options: AnnotateOptions = {}): string {
  const side = Math.max(width, height);
  const line = options.lineWidth ?? Math.max(2, Math.round(side / 500));
  // Scaled to the image, but kept below the typical box width so dense shelves stay legible.
  const widths = items.map((i) => i.box.width).sort((a, b) => a - b);
  const typical = widths.length ? widths[widths.length >> 1]! : side;
  const font = options.fontSize ?? Math.max(12, Math.round(Math.min(side / 60, typical / 6)));
  const showScore = options.showScore ?? true;
  const parts: string[] = [];
  // Weakest first, so the strongest boxes and their tags end up on top.
  const sorted = [...items].sort((a, b) => (a.score ?? 0) - (b.score ?? 0));
  for (const item of sorted) {
    const { x, y, width: w, height: h } = item.box;
    // Labels may come from a model's metadata or a labels file: control characters would break the SVG (and say nothing).
    const name = item.unknown ? 'unknown' : printable(item.label ?? (item.classId !== undefined ? `class ${item.classId}` : ''));
    const text = [name, showScore && item.score !== undefined ? item.score.toFixed(2) : ''].filter(Boolean).join(' ');
    const colour = item.unknown ? '#9e9e9e' : colourFor(item.label ?? String(item.classId ?? ''));
    const dash = item.unknown ? ` stroke-dasharray="${line * 3},${line * 2}"` : '';
    parts.push(`<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${r(h)}" fill="none" stroke="${colour}" stroke-width="${line}"${dash}/>`);
    if (text) {
      // Tag above the box, or inside its top edge when the box touches the image top.
      const tagW = Math.ceil(text.length * font * 0.6) + 6;
      const tagH = Math.round(font * 1.25);
      const tx = Math.min(Math.max(0, x), Math.max(0, width - tagW));
      const ty = y - tagH >= 0 ? y - tagH : y;
      parts.push(`<rect x="${r(tx)}" y="${r(ty)}" width="${tagW}" height="${tagH}" fill="${colour}"/>`);
      parts.push(`<text x="${r(tx + 3)}" y="${r(ty + font)}" font-family="DejaVu Sans, Arial, sans-serif" font-size="${font}" fill="#000">${escapeXml(text)}</text>`);
    }
  }
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">${parts.join('')}</svg>`;
}

function r(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

/** A stable, bright colour per label (hue from a string hash). */
function colourFor(key: string): string {
  let h = 2166136261;
  for (let i = 0; i < key.length; i++) h = Math.imul(h ^ key.charCodeAt(i), 16777619);
  return hslHex((h >>> 0) % 360, 0.9, 0.55);
}

/** HSL → #rrggbb (hex, which every SVG renderer understands). */
function hslHex(hue: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + hue / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255).toString(16).padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
