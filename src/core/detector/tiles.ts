/**
 * Tiled detection for high-resolution photos. A 1920×2560 shelf letterboxed into a 640 px
 * input shrinks each product to a few dozen pixels; cutting the photo into overlapping
 * tiles, each fed to the model at full input size, shows the products larger.
 *
 * The whole photo is always detected once as well: it finds the objects that are larger
 * than the tiles' overlap (which every tile cuts), and `'auto'` reads the size of its boxes
 * to decide whether tiles are worth running. Merging then has to avoid two kinds of
 * doubles: the same object seen whole in two tiles (or in a tile and the whole photo), and
 * an object cut by a tile edge, seen as a partial box beside its whole self.
 */
import type { Rect } from '../image.js';
import type { Detection } from './types.js';

/** `'auto'`: tile only when the whole-photo boxes are small for the model (see `autoTiles`); a number: tiles along the photo's longer side (1 = off); `'off'`. */
export type TilesOption = 'auto' | 'off' | number;

/** Share of a tile's side that it overlaps its neighbour by. */
export const TILE_OVERLAP = 0.2;
/** At most this many tiles along the longer side (`'auto'` and explicit numbers alike): 4 → up to 16 model runs. */
export const MAX_TILES = 4;
/**
 * `'auto'` tiles when the median whole-photo box is smaller than this many model-input
 * pixels on its longer side, and picks the fewest tiles that bring it to at least this size:
 * a few dozen input pixels is where one-shot detection starts to lose objects (docs/detector.md, "Tiled inference").
 */
export const AUTO_TILE_MIN_SIDE = 48;
/** `'auto'` needs at least this many whole-photo boxes to judge their size (fewer: no tiles). */
export const AUTO_TILE_MIN_BOXES = 8;
/** A cut tile box whose share of area inside a better box is at least this is part of that box. */
const CONTAINED = 0.6;

export interface Tile extends Rect {
  /** Which sides of the tile lie inside the photo (an object there may continue in the next tile). */
  inner: { left: boolean; top: boolean; right: boolean; bottom: boolean };
}

export interface TileGrid {
  tiles: Tile[];
  /** Overlap between neighbouring tiles, in image pixels, per axis. */
  overlapX: number;
  overlapY: number;
}

/**
 * Square-ish tiles (the model input's aspect ratio, `aspect` = width / height) covering a
 * `width`×`height` image: `n` along the longer side, as many as needed along the other,
 * neighbours overlapping by `TILE_OVERLAP` of a tile.
 */
export function tileGrid(width: number, height: number, n: number, aspect = 1): TileGrid {
  // Along the long axis: L = n·t − (n − 1)·o·t  →  t = L / (n − (n − 1)·o).
  const long = Math.max(width / aspect, height);
  const side = long / (n - (n - 1) * TILE_OVERLAP);
  const tw = Math.min(width, Math.round(side * aspect));
  const th = Math.min(height, Math.round(side));
  const xs = positions(width, tw);
  const ys = positions(height, th);
  const tiles: Tile[] = [];
  for (const y of ys) {
    for (const x of xs) {
      tiles.push({ x, y, width: tw, height: th, inner: { left: x > 0, top: y > 0, right: x + tw < width, bottom: y + th < height } });
    }
  }
  const overlap = (ps: number[], t: number) => (ps.length > 1 ? t - (ps[1]! - ps[0]!) : 0);
  return { tiles, overlapX: overlap(xs, tw), overlapY: overlap(ys, th) };
}

/** Tile starts along one axis: evenly spread from 0 to size − tile, overlapping by at least TILE_OVERLAP. */
function positions(size: number, tile: number): number[] {
  if (tile >= size) return [0];
  // Steps of at most (1 − overlap) tiles; the 1 % slack absorbs the rounding of the tile size.
  const n = Math.ceil((size - tile) / (tile * (1 - TILE_OVERLAP)) - 0.01) + 1;
  return Array.from({ length: n }, (_, i) => Math.round((i * (size - tile)) / (n - 1)));
}

/**
 * How many tiles `'auto'` runs, from the whole-photo pass: 1 (no tiles) unless its median
 * box is under AUTO_TILE_MIN_SIDE input pixels; then the fewest tiles (≤ MAX_TILES) that
 * enlarge it to that size. `scale` is input pixels per image pixel in the whole-photo pass.
 */
export function autoTiles(boxes: readonly Rect[], scale: number, width: number, height: number, inputSide: number): number {
  if (boxes.length < AUTO_TILE_MIN_BOXES || Math.max(width, height) <= inputSide) return 1;
  const sides = boxes.map((b) => Math.max(b.width, b.height) * scale).sort((a, b) => a - b);
  const median = sides[sides.length >> 1]!;
  if (median >= AUTO_TILE_MIN_SIDE) return 1;
  for (let n = 2; n < MAX_TILES; n++) {
    // n tiles along the long side enlarge it by n − (n − 1)·overlap compared with the whole photo.
    if (median * (n - (n - 1) * TILE_OVERLAP) >= AUTO_TILE_MIN_SIDE) return n;
  }
  return MAX_TILES;
}

/** The detections of one model run: on the whole photo (`tile` undefined) or on one tile. */
export interface TilePass {
  tile?: Tile;
  detections: Detection[];
}

export interface MergeOptions {
  iou: number;
  classAgnostic: boolean;
  maxDetections: number;
  /** Overlap between neighbouring tiles, image pixels. */
  overlapX: number;
  overlapY: number;
}

interface Entry {
  d: Detection;
  /** 0 whole in its tile, 1 from the whole-photo pass, 2 cut by a tile edge: the order in which boxes are trusted. */
  rank: number;
  cut: { left: boolean; top: boolean; right: boolean; bottom: boolean };
}

/**
 * Merge the whole-photo pass and the tile passes into one set of boxes, best first.
 *
 * 1. A tile box that touches an inner tile edge is a cut object. If it is narrower (across
 *    that edge) than the overlap, the neighbouring tile saw the object whole: drop it.
 * 2. Two cut boxes that meet across the same edge from both sides are the two halves of
 *    one object too large for the overlap: join them.
 * 3. Greedy NMS with a fixed trust order — boxes whole in their tile (seen at the highest
 *    resolution), then the whole-photo boxes (for objects that every tile cuts), then what
 *    is left of the cut boxes — by score within each group. A box is dropped when it
 *    overlaps a kept one by more than `iou` (of the same class unless class-agnostic), and
 *    a cut box also when most of it lies inside a kept box.
 */
export function mergeTiles(passes: readonly TilePass[], options: MergeOptions): Detection[] {
  const whole: Entry[] = [];
  const cut: Entry[] = [];
  for (const pass of passes) {
    const tile = pass.tile;
    for (const d of pass.detections) {
      if (!tile) {
        whole.push({ d, rank: 1, cut: NO_CUT });
        continue;
      }
      const box = clipTo(d.box, tile);
      if (!box) continue;
      const edges = cutEdges(box, tile);
      const sides = { ...d, box };
      if (!edges) {
        whole.push({ d: sides, rank: 0, cut: NO_CUT });
        continue;
      }
      // Seen whole by a neighbour when it fits inside the overlap along every cut axis.
      const tolX = edgeTolerance(tile.width);
      const tolY = edgeTolerance(tile.height);
      const fitsX = !(edges.left || edges.right) || box.width <= options.overlapX - 2 * tolX;
      const fitsY = !(edges.top || edges.bottom) || box.height <= options.overlapY - 2 * tolY;
      if (fitsX && fitsY) continue;
      cut.push({ d: sides, rank: 2, cut: edges });
    }
  }
  const joined = joinHalves(cut, options.classAgnostic);
  const entries = [...whole, ...joined].sort((a, b) => a.rank - b.rank || b.d.score - a.d.score);

  const kept: Entry[] = [];
  for (const e of entries) {
    if (kept.length >= options.maxDetections) break;
    const area = e.d.box.width * e.d.box.height;
    const suppressed = kept.some((k) => {
      if (!options.classAgnostic && k.d.classId !== e.d.classId) return false;
      const inter = intersection(k.d.box, e.d.box);
      if (inter <= 0) return false;
      const union = area + k.d.box.width * k.d.box.height - inter;
      return inter > options.iou * union || (e.rank === 2 && inter >= CONTAINED * area);
    });
    if (!suppressed) kept.push(e);
  }
  return kept.map((k) => k.d).sort((a, b) => b.score - a.score);
}

const NO_CUT = { left: false, top: false, right: false, bottom: false };

/** How close to an inner tile edge a box side must be to count as cut by it: 1 % of the tile, at least 2 px. */
function edgeTolerance(side: number): number {
  return Math.max(2, side * 0.01);
}

function cutEdges(box: Rect, tile: Tile): Entry['cut'] | undefined {
  const tx = edgeTolerance(tile.width);
  const ty = edgeTolerance(tile.height);
  const edges = {
    left: tile.inner.left && box.x <= tile.x + tx,
    top: tile.inner.top && box.y <= tile.y + ty,
    right: tile.inner.right && box.x + box.width >= tile.x + tile.width - tx,
    bottom: tile.inner.bottom && box.y + box.height >= tile.y + tile.height - ty,
  };
  return edges.left || edges.top || edges.right || edges.bottom ? edges : undefined;
}

/**
 * Join pairs of cut boxes that continue each other across a tile edge: one cut on its
 * right (bottom) side, the other on its left (top) side, overlapping each other, and
 * lined up across the edge (their extents along it overlap by ≥ 60 % of the shorter).
 */
function joinHalves(cut: Entry[], classAgnostic: boolean): Entry[] {
  const byScore = [...cut].sort((a, b) => b.d.score - a.d.score);
  const used = new Uint8Array(byScore.length);
  const out: Entry[] = [];
  for (let i = 0; i < byScore.length; i++) {
    if (used[i]) continue;
    let a = byScore[i]!;
    for (let j = i + 1; j < byScore.length; j++) {
      if (used[j]) continue;
      const b = byScore[j]!;
      if (!classAgnostic && a.d.classId !== b.d.classId) continue;
      if (intersection(a.d.box, b.d.box) <= 0) continue;
      const horizontal = (a.cut.right && b.cut.left) || (a.cut.left && b.cut.right);
      const vertical = (a.cut.bottom && b.cut.top) || (a.cut.top && b.cut.bottom);
      const alignedY = overlap1d(a.d.box.y, a.d.box.height, b.d.box.y, b.d.box.height);
      const alignedX = overlap1d(a.d.box.x, a.d.box.width, b.d.box.x, b.d.box.width);
      if (!((horizontal && alignedY >= 0.6) || (vertical && alignedX >= 0.6))) continue;
      used[j] = 1;
      const box = union(a.d.box, b.d.box);
      const edges = {
        left: horizontal ? false : a.cut.left || b.cut.left,
        right: horizontal ? false : a.cut.right || b.cut.right,
        top: vertical ? false : a.cut.top || b.cut.top,
        bottom: vertical ? false : a.cut.bottom || b.cut.bottom,
      };
      const stillCut = edges.left || edges.right || edges.top || edges.bottom;
      a = { d: { ...a.d, box }, rank: stillCut ? 2 : 0, cut: edges };
    }
    out.push(a);
  }
  return out;
}

function clipTo(box: Rect, tile: Rect): Rect | undefined {
  const x1 = Math.max(box.x, tile.x);
  const y1 = Math.max(box.y, tile.y);
  const x2 = Math.min(box.x + box.width, tile.x + tile.width);
  const y2 = Math.min(box.y + box.height, tile.y + tile.height);
  return x2 > x1 && y2 > y1 ? { x: x1, y: y1, width: x2 - x1, height: y2 - y1 } : undefined;
}

function intersection(a: Rect, b: Rect): number {
  const w = Math.min(a.x + a.width, b.x + b.width) - Math.max(a.x, b.x);
  if (w <= 0) return 0;
  const h = Math.min(a.y + a.height, b.y + b.height) - Math.max(a.y, b.y);
  return h <= 0 ? 0 : w * h;
}

/** Overlap of two 1-D extents as a share of the shorter one. */
function overlap1d(a: number, la: number, b: number, lb: number): number {
  const o = Math.min(a + la, b + lb) - Math.max(a, b);
  return o <= 0 ? 0 : o / Math.min(la, lb);
}

function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, width: Math.max(a.x + a.width, b.x + b.width) - x, height: Math.max(a.y + a.height, b.y + b.height) - y };
}
