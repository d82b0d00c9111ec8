/**
 * Recognizer: detector → crops → embedder → gallery, for a whole shelf photo. The image
 * is decoded once; every crop is cut from the original pixels (not the letterboxed
 * detector input, which would lose detail); crops are embedded in the embedder's
 * batches and all of them are classified in one batch.
 */
import type { Detector } from './detector/detector.js';
import type { Embedder } from './embedder.js';
import { SkulensError } from './errors.js';
import type { ReferenceGallery } from './gallery/gallery.js';
import { decodeImage, type ImageInput, type Rect } from './image.js';
import { plural } from './plural.js';

export interface RecognizerOptions {
  detector: Detector;
  embedder: Embedder;
  /** Must have been built with `embedder` (same fingerprint), else E_FINGERPRINT. */
  gallery: ReferenceGallery;
  /** Neighbours that vote (default 10, as ReferenceGallery.classify). */
  k?: number;
  /** Unknown score below this → `unknown` (default: the gallery's threshold). */
  threshold?: number;
}

export interface RecognizedItem {
  /** In the original image's pixels. */
  box: Rect;
  /** The detector's confidence. */
  score: number;
  /** The detector's class (0 for single-class shelf detectors). */
  classId: number;
  /** The gallery's label, or null when the crop is unknown (nothing similar enough). */
  label: string | null;
  /** The nearest label even when unknown. */
  guess: string;
  /** Best similarity of `guess`'s references to the crop. */
  similarity: number;
  /** The number compared with the threshold (Classification.unknownScore): `unknown` when below it. */
  unknownScore: number;
  unknown: boolean;
}

/** Milliseconds per stage of one `recognize` call. */
export interface RecognizeTimings {
  /** Reading and decoding the image. */
  decode: number;
  /** Detector preprocessing, inference and NMS. */
  detect: number;
  /** Cropping and embedding every box. */
  embed: number;
  /** Gallery search and voting. */
  search: number;
  total: number;
}

/** One line of the shelf report: a label's (or the unknown items') share of the shelf. */
export interface ShelfShare {
  /** The gallery's label, or null for the items it could not name. */
  label: string | null;
  /** Boxes (facings) with this label. */
  facings: number;
  /** facings / all boxes. */
  facingShare: number;
  /** Summed box area of this label / summed box area of all boxes (larger packs count more). */
  areaShare: number;
}

export interface Recognition {
  items: RecognizedItem[];
  /** Facings per label (known items only). */
  counts: Record<string, number>;
  /** Items the gallery could not name. */
  unknown: number;
  /**
   * Share of shelf per label, most facings first, unknown items last (label null); each
   * share column sums to 1 over the list. Empty when nothing was detected.
   */
  shelf: ShelfShare[];
  /** Tiles the detector cut the photo into besides the whole-photo pass (0: none; see the detector's `tiles`). */
  tiles: number;
  /** Size of the image the boxes refer to. */
  width: number;
  height: number;
  timings: RecognizeTimings;
}

export class Recognizer {
  readonly detector: Detector;
  readonly embedder: Embedder;
  readonly gallery: ReferenceGallery;
  private readonly classify: { k?: number; threshold?: number };

  constructor(options: RecognizerOptions) {
    const { detector, embedder, gallery, k, threshold } = options ?? ({} as RecognizerOptions);
    if (!detector || !embedder || !gallery) throw new SkulensError('E_INPUT', 'Recognizer needs { detector, embedder, gallery }.');
    if (gallery.size === 0) throw new SkulensError('E_EMPTY', 'The gallery is empty: add reference images before recognizing.');
    // Same dimension and fingerprint, or a clear error now rather than wrong labels later.
    gallery.bindEmbedder(embedder);
    gallery.buildIndex(); // now, so the first image's search time is the search alone
    this.detector = detector;
    this.embedder = embedder;
    this.gallery = gallery;
    this.classify = { ...(k !== undefined ? { k } : {}), ...(threshold !== undefined ? { threshold } : {}) };
  }

  /** Detect, name and count the products in one image (path, encoded bytes or raw pixels). */
  async recognize(image: ImageInput): Promise<Recognition> {
    const t0 = performance.now();
    const raw = await decodeImage(image, { maxPixels: this.detector.maxPixels }); // the detector's limit: it sees the whole photo
    const t1 = performance.now();
    const { detections, tiles } = await this.detector.detectDetailed(raw);
    const t2 = performance.now();
    const { vectors, failures } = await this.embedder.embedSettled(detections.map((d) => ({ image: raw, crop: d.box })));
    if (failures.length) {
      const f = failures[0]!;
      throw new SkulensError(
        f.error.code,
        `Embedding ${failures.length} of ${plural(detections.length, 'crop')} failed: ${f.error.message}`,
        {
          cause: f.error,
        },
      );
    }
    const t3 = performance.now();
    const results = detections.length ? this.gallery.classifyBatch(vectors as Float32Array[], this.classify) : [];
    const t4 = performance.now();

    const counts: Record<string, number> = {};
    let unknown = 0;
    const items = detections.map((d, i): RecognizedItem => {
      const r = results[i]!;
      if (r.unknown) unknown++;
      else counts[r.label] = (counts[r.label] ?? 0) + 1;
      return {
        box: d.box,
        score: d.score,
        classId: d.classId,
        label: r.unknown ? null : r.label,
        guess: r.label,
        similarity: r.score,
        unknownScore: r.unknownScore,
        unknown: r.unknown,
      };
    });
    return {
      items,
      counts,
      unknown,
      shelf: shelfShare(items),
      tiles,
      width: raw.width,
      height: raw.height,
      timings: { decode: t1 - t0, detect: t2 - t1, embed: t3 - t2, search: t4 - t3, total: t4 - t0 },
    };
  }

  /** Release the detector's and embedder's sessions (and the gallery's index memory). */
  async dispose(): Promise<void> {
    await Promise.all([this.detector.dispose(), this.embedder.dispose()]);
    this.gallery.dispose();
  }
}

/** The shelf report of recognised items: facings, share of facings and share of box area per label (unknown: label null). */
export function shelfShare(items: readonly Pick<RecognizedItem, 'box' | 'label'>[]): ShelfShare[] {
  const groups = new Map<string | null, { facings: number; area: number }>();
  let area = 0;
  for (const it of items) {
    const a = Math.max(0, it.box.width) * Math.max(0, it.box.height);
    const g = groups.get(it.label) ?? { facings: 0, area: 0 };
    g.facings++;
    g.area += a;
    groups.set(it.label, g);
    area += a;
  }
  const rows = [...groups].map(([label, g]) => ({
    label,
    facings: g.facings,
    facingShare: g.facings / items.length,
    // Zero-area boxes only (degenerate input): fall back to the facing share so the column still sums to 1.
    areaShare: area > 0 ? g.area / area : g.facings / items.length,
  }));
  return rows.sort(
    (a, b) =>
      Number(a.label === null) - Number(b.label === null) ||
      b.facings - a.facings ||
      b.areaShare - a.areaShare ||
      String(a.label).localeCompare(String(b.label)),
  );
}
