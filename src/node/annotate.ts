/**
 * Draw boxes and labels onto a copy of an image (Node): the boxes become an SVG overlay
 * that sharp composites over the decoded pixels, then encodes as JPEG or PNG. Dense
 * shelves (hundreds of boxes) get a legend beside the photo instead of tags on it, so no
 * text covers the products.
 */
import { printable } from '../core/gallery/label.js';
import { mkdir } from 'node:fs/promises';
import { dirname } from 'node:path';
import sharp from 'sharp';
import { SkulensError, messageOf } from '../core/errors.js';
import type { Rect } from '../core/image.js';
import { writeFileAtomic } from './atomic-write.js';
import { loadImage, type NodeImageInput } from './image-loader.js';
import { plural } from '../core/plural.js';

/** Anything with a box: detections, recognised items. */
export interface AnnotateItem {
  box: Rect;
  label?: string | null;
  score?: number;
  /** Recognised items the gallery could not name: grey dashed outline, tagged "unknown" without a number. */
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
  /** Append the score to the tag of each named item (default true; unknown items never show one). */
  showScore?: boolean;
  /** Box outline width in pixels (default: scaled to the image, ~0.2% of its larger side, thinner on dense shelves, at least 1). */
  lineWidth?: number;
  /** Label font size in pixels (default: scaled to the image, at least 12). */
  fontSize?: number;
  /**
   * Where the names go. `'tags'`: a tag above each box. `'legend'`: no text on the photo —
   * boxes are tinted in their label's colour and a panel to the right of the photo lists
   * each colour's label and facings (the output is wider than the photo). `'auto'`
   * (default): the legend when tags would cover the products (more than 40 boxes, or
   * boxes narrower than their tags).
   */
  labels?: 'auto' | 'tags' | 'legend';
  /** Refuse images with more pixels than this, before decoding (default DEFAULT_MAX_PIXELS, 64 MP), as `loadImage`. */
  maxPixels?: number;
}

/** Above this many boxes `labels: 'auto'` draws a legend instead of tags. */
const DENSE_BOXES = 40;
const FONT = 'DejaVu Sans, Arial, sans-serif';
const UNKNOWN_COLOUR = '#b0b0b0';

/**
 * Draw `items` over `image` (path, encoded bytes or raw pixels; EXIF orientation applied,
 * as for detection, so boxes land where they were found) and return the encoded bytes.
 */
export async function annotate(image: NodeImageInput, items: readonly AnnotateItem[], options: AnnotateOptions = {}): Promise<Uint8Array> {
  const raw = await loadImage(image, options.maxPixels !== undefined ? { maxPixels: options.maxPixels } : {});
  const format = options.format ?? (options.file && /\.png$/i.test(options.file) ? 'png' : 'jpeg');
  if (options.file && !/\.(jpe?g|png)$/i.test(options.file)) {
    throw new SkulensError('E_INPUT', `Cannot write "${options.file}": annotated images are .jpg, .jpeg or .png.`, { input: options.file });
  }
  const overlay = drawOverlay(raw.width, raw.height, items, options);
  let pipeline = sharp(raw.data, { raw: { width: raw.width, height: raw.height, channels: raw.channels } });
  if (overlay.panelWidth > 0)
    pipeline = sharp(await pipeline.extend({ right: overlay.panelWidth, background: '#ffffff' }).raw().toBuffer(), {
      raw: { width: raw.width + overlay.panelWidth, height: raw.height, channels: raw.channels },
    });
  pipeline = pipeline.composite([{ input: Buffer.from(overlay.svg), top: 0, left: 0 }]);
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

/** The overlay as SVG (the legend, when drawn, widens it by a panel on the right). */
export function overlaySvg(width: number, height: number, items: readonly AnnotateItem[], options: AnnotateOptions = {}): string {
  return drawOverlay(width, height, items, options).svg;
}

function nameOf(item: AnnotateItem): string {
  // Labels may come from a model's metadata or a labels file: control characters would break the SVG (and say nothing).
  return item.unknown ? 'unknown' : printable(item.label ?? (item.classId !== undefined ? `class ${item.classId}` : ''));
}

function drawOverlay(
  width: number,
  height: number,
  items: readonly AnnotateItem[],
  options: AnnotateOptions,
): { svg: string; panelWidth: number } {
  const side = Math.max(width, height);
  const widths = items.map((i) => i.box.width).sort((a, b) => a - b);
  const typical = widths.length ? widths[widths.length >> 1]! : side;
  // Scaled to the image, but kept below the typical box width so tags stay near their boxes.
  const font = options.fontSize ?? Math.max(12, Math.round(Math.min(side / 60, typical / 6)));
  const showScore = options.showScore ?? true;
  const tagText = (item: AnnotateItem) =>
    item.unknown ? 'unknown' : [nameOf(item), showScore && item.score !== undefined ? item.score.toFixed(2) : ''].filter(Boolean).join(' ');
  const tooNarrow = items.filter((i) => tagText(i).length * font * 0.6 + 6 > i.box.width * 1.5).length > items.length / 2;
  // Boxes all of one name (a class-agnostic detector's "product") learn nothing from a tag each.
  const oneName = !showScore && new Set(items.map(tagText)).size === 1;
  const mode = options.labels ?? 'auto';
  const legend = mode === 'legend' || (mode === 'auto' && items.length > 0 && (items.length > DENSE_BOXES || tooNarrow || oneName));
  const line = options.lineWidth ?? Math.max(1, Math.round(side / (legend ? 800 : 500)));

  // Colours: on a legend, well-separated hues in legend order (most facings first); with tags, a stable hue per label.
  const names = new Map<string, number>();
  for (const it of items) if (!it.unknown) names.set(nameOf(it), (names.get(nameOf(it)) ?? 0) + 1);
  const order = [...names].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const colours = new Map(order.map(([name], i) => [name, legend ? spacedColour(i) : colourFor(name)]));
  const colourOf = (it: AnnotateItem) => (it.unknown ? UNKNOWN_COLOUR : colours.get(nameOf(it))!);

  const parts: string[] = [];
  // Weakest first, so the strongest boxes and their tags end up on top.
  const sorted = [...items].sort((a, b) => (a.score ?? 0) - (b.score ?? 0));
  for (const item of sorted) {
    const { x, y, width: w, height: h } = item.box;
    const colour = colourOf(item);
    // Unknown items: dashed, and never filled, so they read as "not named" at a glance.
    const dash = item.unknown ? ` stroke-dasharray="${line * 3},${line * 2}"` : '';
    // A light tint groups the boxes of a label at a glance; with one label it says nothing and only muddies the photo.
    const fill = legend && !item.unknown && order.length > 1 ? `fill="${colour}" fill-opacity="0.18"` : 'fill="none"';
    parts.push(`<rect x="${r(x)}" y="${r(y)}" width="${r(w)}" height="${r(h)}" ${fill} stroke="${colour}" stroke-width="${line}"${dash}/>`);
    if (legend) continue;
    const text = tagText(item);
    if (!text) continue;
    // Tag above the box, or inside its top edge when the box touches the image top.
    const tagW = Math.ceil(text.length * font * 0.6) + 6;
    const tagH = Math.round(font * 1.25);
    const tx = Math.min(Math.max(0, x), Math.max(0, width - tagW));
    const ty = y - tagH >= 0 ? y - tagH : y;
    const tagFill = item.unknown ? `fill="#ffffff" stroke="${UNKNOWN_COLOUR}" stroke-width="1"` : `fill="${colour}"`;
    parts.push(`<rect x="${r(tx)}" y="${r(ty)}" width="${tagW}" height="${tagH}" ${tagFill}/>`);
    parts.push(
      `<text x="${r(tx + 3)}" y="${r(ty + font)}" font-family="${FONT}" font-size="${font}" fill="#000"${item.unknown ? ' font-style="italic"' : ''}>${escapeXml(text)}</text>`,
    );
  }

  let panelWidth = 0;
  if (legend) {
    const unknown = items.filter((i) => i.unknown).length;
    const entries = order.map(([name, n]) => ({ text: `${name} ×${n}`, colour: colours.get(name)!, unknown: false }));
    if (unknown) entries.push({ text: `unknown (not in the gallery) ×${unknown}`, colour: UNKNOWN_COLOUR, unknown: true });
    const title = plural(items.length, 'box', 'boxes');
    // One column; the font shrinks (to 10 px) so that every entry fits the photo's height.
    const lf = Math.max(10, Math.min(Math.round(side / 70), Math.floor(height / ((entries.length + 2) * 1.5))));
    const rowH = Math.round(lf * 1.5);
    const longest = Math.max(title.length, ...entries.map((e) => e.text.length));
    panelWidth = Math.ceil(Math.min(longest, 48) * lf * 0.6 + lf * 3);
    const px = width + lf;
    parts.push(
      `<text x="${px}" y="${rowH}" font-family="${FONT}" font-size="${lf}" font-weight="bold" fill="#000">${escapeXml(title)}</text>`,
    );
    entries.forEach((e, i) => {
      const ey = rowH * (i + 2);
      const dash = e.unknown ? ` stroke-dasharray="3,2"` : '';
      const fill = e.unknown ? 'fill="none"' : `fill="${e.colour}" fill-opacity="0.35"`;
      parts.push(`<rect x="${px}" y="${ey - lf + 2}" width="${lf}" height="${lf}" ${fill} stroke="${e.colour}" stroke-width="2"${dash}/>`);
      const text = e.text.length > 48 ? `${e.text.slice(0, 47)}…` : e.text;
      parts.push(`<text x="${px + lf * 1.5}" y="${ey}" font-family="${FONT}" font-size="${lf}" fill="#000">${escapeXml(text)}</text>`);
    });
  }
  const total = width + panelWidth;
  return { svg: `<svg xmlns="http://www.w3.org/2000/svg" width="${total}" height="${height}">${parts.join('')}</svg>`, panelWidth };
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

/** The i-th of a sequence of well-separated colours (golden-angle hues, two lightness levels). */
function spacedColour(i: number): string {
  return hslHex((i * 137.508 + 20) % 360, 0.85, i % 2 ? 0.42 : 0.55);
}

/** HSL → #rrggbb (hex, which every SVG renderer understands). */
function hslHex(hue: number, s: number, l: number): string {
  const a = s * Math.min(l, 1 - l);
  const f = (n: number) => {
    const k = (n + hue / 30) % 12;
    const v = l - a * Math.max(-1, Math.min(k - 3, 9 - k, 1));
    return Math.round(v * 255)
      .toString(16)
      .padStart(2, '0');
  };
  return `#${f(0)}${f(8)}${f(4)}`;
}

function escapeXml(s: string): string {
  return s.replace(/[<>&"']/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;', '"': '&quot;', "'": '&apos;' })[c]!);
}
