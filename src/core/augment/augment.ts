/**
 * Reference augmentation: synthetic views of a reference photo, so that one catalogue
 * packshot also covers how the product looks on a shelf photo — a different framing and
 * angle, another white balance, blur, JPEG artefacts, and other products behind it
 * instead of a white studio background. Pure functions of the pixels and a seed (no
 * platform code, no randomness outside the seeded generator): the same image, view count
 * and seed always give the same views, in Node and in the browser.
 */
import { Rng } from '../adapt/rng.js';
import type { RawImage } from '../image.js';

/** `augment` option of `addImages` / `gallery build --augment [N]`. */
export interface AugmentOptions {
  /** Synthetic views per reference image, stored besides the original (default DEFAULT_AUGMENT_VIEWS). */
  views?: number;
  /** Seed of the views (default: the gallery's seed); mixed with the label and the image's position. */
  seed?: number;
}

export const DEFAULT_AUGMENT_VIEWS = 10;
/** Views are made at most this large (longest side): embedders look at ~160–224 px anyway. */
const WORK_SIZE = 384;

/** A white (or transparent) studio background that can be swapped: shares of the border and of the image it must cover. */
const PACKSHOT_BORDER_SHARE = 0.6;
const PACKSHOT_AREA_SHARE = 0.08;

interface Rgb {
  data: Float32Array;
  width: number;
  height: number;
}

/**
 * `views` synthetic views of one image (the original is not among them). Each view is one
 * random draw of: background change (packshots on white or transparent backgrounds only),
 * crop/zoom with a small perspective tilt, colour cast and white balance, brightness,
 * contrast and saturation, and, half the time each, blur and JPEG compression.
 */
export function augmentImage(image: RawImage, views: number, seed: number): RawImage[] {
  const src = toWorkImage(image);
  const background = packshotBackground(src, image);
  const rng = new Rng(seed);
  const out: RawImage[] = [];
  for (let v = 0; v < views; v++) {
    let img = src;
    if (background && rng.next() < 0.8) img = replaceBackground(img, background, rng);
    img = warp(img, rng);
    colour(img, rng);
    if (rng.next() < 0.5) blur(img, 1 + rng.int(Math.max(1, Math.round(Math.max(img.width, img.height) / 160))));
    if (rng.next() < 0.5) jpegArtefacts(img, 15 + rng.int(50));
    out.push(toRaw(img));
  }
  return out;
}

/** A 32-bit seed from the gallery's seed, a label and an index (FNV-1a over the label). */
export function viewSeed(seed: number, label: string, index: number): number {
  let h = 0x811c9dc5 ^ (seed >>> 0);
  for (let i = 0; i < label.length; i++) h = Math.imul(h ^ label.charCodeAt(i), 0x01000193);
  return Math.imul(h ^ index, 0x01000193) >>> 0;
}

// ---- pixels ----

/** RGB floats (0–255), shrunk to WORK_SIZE; transparent pixels composited over white. */
function toWorkImage(image: RawImage): Rgb {
  const { width: W, height: H, channels: C, data } = image;
  const k = Math.min(1, WORK_SIZE / Math.max(W, H));
  const w = Math.max(1, Math.round(W * k));
  const h = Math.max(1, Math.round(H * k));
  const out = new Float32Array(w * h * 3);
  // Box filter: each output pixel averages the source pixels it covers (no aliasing when shrinking).
  for (let y = 0; y < h; y++) {
    const y0 = Math.floor((y * H) / h);
    const y1 = Math.max(y0 + 1, Math.floor(((y + 1) * H) / h));
    for (let x = 0; x < w; x++) {
      const x0 = Math.floor((x * W) / w);
      const x1 = Math.max(x0 + 1, Math.floor(((x + 1) * W) / w));
      let r = 0;
      let g = 0;
      let b = 0;
      for (let sy = y0; sy < y1; sy++) {
        for (let sx = x0; sx < x1; sx++) {
          const i = (sy * W + sx) * C;
          const a = C === 4 ? data[i + 3]! / 255 : 1;
          r += data[i]! * a + 255 * (1 - a);
          g += data[i + 1]! * a + 255 * (1 - a);
          b += data[i + 2]! * a + 255 * (1 - a);
        }
      }
      const n = (y1 - y0) * (x1 - x0);
      const o = (y * w + x) * 3;
      out[o] = r / n;
      out[o + 1] = g / n;
      out[o + 2] = b / n;
    }
  }
  return { data: out, width: w, height: h };
}

function toRaw(img: Rgb): RawImage {
  const data = new Uint8Array(img.data.length);
  for (let i = 0; i < data.length; i++) data[i] = Math.round(Math.min(255, Math.max(0, img.data[i]!)));
  return { data, width: img.width, height: img.height, channels: 3 };
}

/**
 * The studio background as a mask (1 = background), or undefined when the image does not
 * look like a packshot: near-white pixels connected to the border (or transparent ones),
 * covering most of the border and a fair share of the image.
 */
function packshotBackground(img: Rgb, original: RawImage): Uint8Array | undefined {
  const { width: w, height: h, data } = img;
  const white = (p: number) => {
    const r = data[p * 3]!;
    const g = data[p * 3 + 1]!;
    const b = data[p * 3 + 2]!;
    return Math.min(r, g, b) >= 230 && Math.max(r, g, b) - Math.min(r, g, b) <= 20;
  };
  if (original.channels !== 3 && original.channels !== 4) return undefined;
  const mask = new Uint8Array(w * h);
  const stack: number[] = [];
  let border = 0;
  let borderWhite = 0;
  const seedAt = (p: number) => {
    border++;
    if (white(p)) {
      borderWhite++;
      if (!mask[p]) {
        mask[p] = 1;
        stack.push(p);
      }
    }
  };
  for (let x = 0; x < w; x++) {
    seedAt(x);
    seedAt((h - 1) * w + x);
  }
  for (let y = 1; y < h - 1; y++) {
    seedAt(y * w);
    seedAt(y * w + w - 1);
  }
  if (borderWhite < PACKSHOT_BORDER_SHARE * border) return undefined;
  let area = 0;
  while (stack.length) {
    const p = stack.pop()!;
    area++;
    const x = p % w;
    const y = (p - x) / w;
    for (const q of [x > 0 ? p - 1 : -1, x < w - 1 ? p + 1 : -1, y > 0 ? p - w : -1, y < h - 1 ? p + w : -1]) {
      if (q >= 0 && !mask[q] && white(q)) {
        mask[q] = 1;
        stack.push(q);
      }
    }
  }
  // Too little background to swap, or nothing left of the product.
  if (area < PACKSHOT_AREA_SHARE * w * h || area > 0.95 * w * h) return undefined;
  return mask;
}

/**
 * A copy with the background replaced. Most often by smaller copies of the product itself
 * around and behind it — what a shelf (facings of the same product) or a pile of fruit
 * looks like — on a plain, darker backdrop; otherwise by vertical bands of other colours
 * (neighbouring products) or a gradient.
 */
function replaceBackground(img: Rgb, mask: Uint8Array, rng: Rng): Rgb {
  const { width: w, height: h } = img;
  const data = img.data.slice();
  const colourOf = () => [40 + rng.int(200), 40 + rng.int(200), 40 + rng.int(200)];
  const fill = new Float32Array(w * h * 3);
  const kind = rng.next();
  if (kind < 0.6) {
    const base = [20 + rng.int(120), 20 + rng.int(120), 20 + rng.int(120)];
    for (let p = 0; p < w * h; p++) for (let c = 0; c < 3; c++) fill[p * 3 + c] = base[c]!;
    pasteCopies(img, mask, fill, rng);
  } else if (kind < 0.8) {
    // Bands 10–40 % of the width, each its own colour with a vertical shading.
    let x = 0;
    while (x < w) {
      const bw = Math.max(2, Math.round(w * (0.1 + 0.3 * rng.next())));
      const c = colourOf();
      const shade = 0.6 + 0.4 * rng.next();
      for (let xx = x; xx < Math.min(w, x + bw); xx++) {
        for (let y = 0; y < h; y++) {
          const t = 1 - (1 - shade) * (y / h);
          const o = (y * w + xx) * 3;
          fill[o] = c[0]! * t;
          fill[o + 1] = c[1]! * t;
          fill[o + 2] = c[2]! * t;
        }
      }
      x += bw;
    }
  } else {
    const a = colourOf();
    const b = colourOf();
    for (let y = 0; y < h; y++) {
      for (let x = 0; x < w; x++) {
        const t = (x / w + y / h) / 2;
        const o = (y * w + x) * 3;
        for (let c = 0; c < 3; c++) fill[o + c] = a[c]! * (1 - t) + b[c]! * t;
      }
    }
  }
  const noise = 4 + 8 * rng.next();
  for (let p = 0; p < w * h; p++) {
    if (!mask[p]) continue;
    for (let c = 0; c < 3; c++) data[p * 3 + c] = fill[p * 3 + c]! + noise * (rng.next() * 2 - 1);
  }
  return { data, width: w, height: h };
}

/** Paste 4–12 scaled copies (35–80 %) of the product (its non-background pixels) at random places into `fill`. */
function pasteCopies(img: Rgb, mask: Uint8Array, fill: Float32Array, rng: Rng): void {
  const { width: w, height: h, data } = img;
  let x0 = w;
  let y0 = h;
  let x1 = -1;
  let y1 = -1;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      if (mask[y * w + x]) continue;
      if (x < x0) x0 = x;
      if (x > x1) x1 = x;
      if (y < y0) y0 = y;
      if (y > y1) y1 = y;
    }
  }
  if (x1 < x0) return;
  const bw = x1 - x0 + 1;
  const bh = y1 - y0 + 1;
  const copies = 4 + rng.int(9);
  for (let k = 0; k < copies; k++) {
    const s = 0.35 + 0.45 * rng.next();
    const cw = Math.max(1, Math.round(bw * s));
    const ch = Math.max(1, Math.round(bh * s));
    const ox = Math.round(rng.next() * w - cw / 2);
    const oy = Math.round(rng.next() * h - ch / 2);
    const shade = 0.7 + 0.3 * rng.next();
    for (let y = Math.max(0, oy); y < Math.min(h, oy + ch); y++) {
      const sy = y0 + Math.min(bh - 1, Math.floor(((y - oy) * bh) / ch));
      for (let x = Math.max(0, ox); x < Math.min(w, ox + cw); x++) {
        const sx = x0 + Math.min(bw - 1, Math.floor(((x - ox) * bw) / cw));
        const sp = sy * w + sx;
        if (mask[sp]) continue;
        const o = (y * w + x) * 3;
        for (let c = 0; c < 3; c++) fill[o + c] = data[sp * 3 + c]! * shade;
      }
    }
  }
}

/**
 * Crop/zoom with a small perspective: the view's corners sample a random quadrilateral of
 * the source (a crop of 40–100 % of the area, aspect 3:4–4:3, each corner moved by up to
 * 6 % of the size), by bilinear interpolation through the homography between them.
 */
function warp(img: Rgb, rng: Rng): Rgb {
  const { width: W, height: H } = img;
  const area = 0.4 + 0.6 * rng.next();
  const aspect = Math.exp((rng.next() * 2 - 1) * Math.log(4 / 3));
  const cw = Math.min(W, Math.sqrt(area * W * H * aspect));
  const ch = Math.min(H, Math.sqrt((area * W * H) / aspect));
  const x0 = rng.next() * (W - cw);
  const y0 = rng.next() * (H - ch);
  const j = () => (rng.next() * 2 - 1) * 0.06;
  const quad: [number, number][] = [
    [x0 + j() * W, y0 + j() * H],
    [x0 + cw + j() * W, y0 + j() * H],
    [x0 + cw + j() * W, y0 + ch + j() * H],
    [x0 + j() * W, y0 + ch + j() * H],
  ].map(([x, y]) => [Math.min(W - 1, Math.max(0, x!)), Math.min(H - 1, Math.max(0, y!))]);
  const w = Math.max(1, Math.round(cw));
  const h = Math.max(1, Math.round(ch));
  const m = homography(
    [
      [0, 0],
      [w - 1, 0],
      [w - 1, h - 1],
      [0, h - 1],
    ],
    quad,
  );
  const out = new Float32Array(w * h * 3);
  const src = img.data;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const d = m[6]! * x + m[7]! * y + 1;
      const sx = Math.min(W - 1, Math.max(0, (m[0]! * x + m[1]! * y + m[2]!) / d));
      const sy = Math.min(H - 1, Math.max(0, (m[3]! * x + m[4]! * y + m[5]!) / d));
      const ix = Math.min(W - 2, Math.floor(sx));
      const iy = Math.min(H - 2, Math.floor(sy));
      const fx = W > 1 ? sx - ix : 0;
      const fy = H > 1 ? sy - iy : 0;
      const i00 = (Math.max(0, iy) * W + Math.max(0, ix)) * 3;
      const i01 = W > 1 ? i00 + 3 : i00;
      const i10 = H > 1 ? i00 + W * 3 : i00;
      const i11 = H > 1 ? i01 + W * 3 : i01;
      const o = (y * w + x) * 3;
      for (let c = 0; c < 3; c++) {
        out[o + c] = (src[i00 + c]! * (1 - fx) + src[i01 + c]! * fx) * (1 - fy) + (src[i10 + c]! * (1 - fx) + src[i11 + c]! * fx) * fy;
      }
    }
  }
  return { data: out, width: w, height: h };
}

/** The 3×3 homography (h33 = 1, row-major, 8 values + 1) mapping 4 points `from` onto `to`. */
function homography(from: [number, number][], to: [number, number][]): number[] {
  const A: number[][] = [];
  for (let i = 0; i < 4; i++) {
    const [x, y] = from[i]!;
    const [u, v] = to[i]!;
    A.push([x, y, 1, 0, 0, 0, -u * x, -u * y, u]);
    A.push([0, 0, 0, x, y, 1, -v * x, -v * y, v]);
  }
  // Gauss–Jordan with partial pivoting on the 8×9 augmented matrix.
  for (let c = 0; c < 8; c++) {
    let p = c;
    for (let r = c + 1; r < 8; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[p]![c]!)) p = r;
    [A[c], A[p]] = [A[p]!, A[c]!];
    const piv = A[c]![c]!;
    if (Math.abs(piv) < 1e-12) return [1, 0, 0, 0, 1, 0, 0, 0]; // degenerate (a 1-pixel view): identity
    for (let k = c; k < 9; k++) A[c]![k] = A[c]![k]! / piv;
    for (let r = 0; r < 8; r++) {
      if (r === c) continue;
      const f = A[r]![c]!;
      if (f !== 0) for (let k = c; k < 9; k++) A[r]![k] = A[r]![k]! - f * A[c]![k]!;
    }
  }
  return A.map((row) => row[8]!);
}

/** Colour cast (per-channel gains, like another white balance), brightness, contrast and saturation. */
function colour(img: Rgb, rng: Rng): void {
  const gains = [0, 1, 2].map(() => Math.exp(0.1 * rng.normal()));
  const brightness = Math.exp(0.2 * rng.normal());
  const contrast = 0.75 + 0.5 * rng.next();
  const saturation = 0.6 + 0.7 * rng.next();
  const d = img.data;
  for (let i = 0; i < d.length; i += 3) {
    let r = d[i]! * gains[0]! * brightness;
    let g = d[i + 1]! * gains[1]! * brightness;
    let b = d[i + 2]! * gains[2]! * brightness;
    const grey = 0.299 * r + 0.587 * g + 0.114 * b;
    r = grey + (r - grey) * saturation;
    g = grey + (g - grey) * saturation;
    b = grey + (b - grey) * saturation;
    d[i] = 128 + (r - 128) * contrast;
    d[i + 1] = 128 + (g - 128) * contrast;
    d[i + 2] = 128 + (b - 128) * contrast;
  }
}

/** Two passes of a separable box blur of `radius` pixels (close to a Gaussian). */
function blur(img: Rgb, radius: number): void {
  const { width: w, height: h } = img;
  const tmp = new Float32Array(img.data.length);
  for (let pass = 0; pass < 2; pass++) {
    boxPass(img.data, tmp, w, h, 3, w * 3, radius); // along rows
    boxPass(tmp, img.data, h, w, w * 3, 3, radius); // along columns
  }
}

/** A 1-D box filter along `lines` lines of `n` RGB samples (`step` apart; lines `lineStep` apart). */
function boxPass(src: Float32Array, dst: Float32Array, n: number, lines: number, step: number, lineStep: number, r: number): void {
  for (let l = 0; l < lines; l++) {
    const base = l * lineStep;
    for (let c = 0; c < 3; c++) {
      for (let i = 0; i < n; i++) {
        let s = 0;
        const lo = Math.max(0, i - r);
        const hi = Math.min(n - 1, i + r);
        for (let t = lo; t <= hi; t++) s += src[base + t * step + c]!;
        dst[base + i * step + c] = s / (hi - lo + 1);
      }
    }
  }
}

// Luminance and chrominance quantisation tables of the JPEG standard (ITU-T T.81, Annex K).
const Q_LUMA = [
  16, 11, 10, 16, 24, 40, 51, 61, 12, 12, 14, 19, 26, 58, 60, 55, 14, 13, 16, 24, 40, 57, 69, 56, 14, 17, 22, 29, 51, 87, 80, 62, 18, 22,
  37, 56, 68, 109, 103, 77, 24, 35, 55, 64, 81, 104, 113, 92, 49, 64, 78, 87, 103, 121, 120, 101, 72, 92, 95, 98, 112, 100, 103, 99,
];
const Q_CHROMA = [
  17, 18, 24, 47, 99, 99, 99, 99, 18, 21, 26, 66, 99, 99, 99, 99, 24, 26, 56, 99, 99, 99, 99, 99, 47, 66, 99, 99, 99, 99, 99, 99, 99, 99,
  99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99, 99,
];
const COS = (() => {
  const t = new Float64Array(64);
  for (let x = 0; x < 8; x++)
    for (let u = 0; u < 8; u++) t[x * 8 + u] = ((u === 0 ? Math.SQRT1_2 : 1) * Math.cos(((2 * x + 1) * u * Math.PI) / 16)) / 2;
  return t;
})();

/**
 * JPEG's lossy step at `quality` (1–100, the usual IJG scaling of the standard tables):
 * YCbCr, 8×8 DCT, quantise, dequantise, inverse DCT. Gives the blocking and ringing of a
 * re-compressed photo without an encoder (no chroma subsampling, no entropy coding: they
 * lose nothing more that matters here).
 */
function jpegArtefacts(img: Rgb, quality: number): void {
  const { width: w, height: h, data } = img;
  const s = quality < 50 ? 5000 / quality : 200 - 2 * quality;
  const tables = [Q_LUMA, Q_CHROMA].map((q) => q.map((v) => Math.max(1, Math.floor((v * s + 50) / 100))));
  const ycc = new Float32Array(w * h * 3);
  for (let p = 0; p < w * h; p++) {
    const r = data[p * 3]!;
    const g = data[p * 3 + 1]!;
    const b = data[p * 3 + 2]!;
    ycc[p * 3] = 0.299 * r + 0.587 * g + 0.114 * b - 128;
    ycc[p * 3 + 1] = -0.168736 * r - 0.331264 * g + 0.5 * b;
    ycc[p * 3 + 2] = 0.5 * r - 0.418688 * g - 0.081312 * b;
  }
  const block = new Float64Array(64);
  const coef = new Float64Array(64);
  for (let by = 0; by < h; by += 8) {
    for (let bx = 0; bx < w; bx += 8) {
      for (let c = 0; c < 3; c++) {
        const q = tables[c === 0 ? 0 : 1]!;
        // Edge blocks repeat their last row/column, as encoders pad.
        for (let y = 0; y < 8; y++)
          for (let x = 0; x < 8; x++) block[y * 8 + x] = ycc[(Math.min(h - 1, by + y) * w + Math.min(w - 1, bx + x)) * 3 + c]!;
        dct8x8(block, coef, false);
        for (let i = 0; i < 64; i++) coef[i] = Math.round(coef[i]! / q[i]!) * q[i]!;
        dct8x8(coef, block, true);
        for (let y = 0; y < Math.min(8, h - by); y++)
          for (let x = 0; x < Math.min(8, w - bx); x++) ycc[((by + y) * w + bx + x) * 3 + c] = block[y * 8 + x]!;
      }
    }
  }
  for (let p = 0; p < w * h; p++) {
    const y = ycc[p * 3]! + 128;
    const cb = ycc[p * 3 + 1]!;
    const cr = ycc[p * 3 + 2]!;
    data[p * 3] = y + 1.402 * cr;
    data[p * 3 + 1] = y - 0.344136 * cb - 0.714136 * cr;
    data[p * 3 + 2] = y + 1.772 * cb;
  }
}

/** Separable 8×8 DCT-II (`inverse`: DCT-III) of a row-major block: rows, then columns. */
function dct8x8(src: Float64Array, dst: Float64Array, inverse: boolean): void {
  const tmp = new Float64Array(64);
  for (let r = 0; r < 8; r++) {
    for (let k = 0; k < 8; k++) {
      let s = 0;
      for (let i = 0; i < 8; i++) s += src[r * 8 + i]! * (inverse ? COS[k * 8 + i]! : COS[i * 8 + k]!);
      tmp[r * 8 + k] = s;
    }
  }
  for (let c = 0; c < 8; c++) {
    for (let k = 0; k < 8; k++) {
      let s = 0;
      for (let i = 0; i < 8; i++) s += tmp[i * 8 + c]! * (inverse ? COS[k * 8 + i]! : COS[i * 8 + k]!);
      dst[k * 8 + c] = s;
    }
  }
}
