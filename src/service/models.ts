/**
 * What a service runs (gallery, detector, optional embedder override) and the Pipeline
 * that runs it. Workers on other machines get the same files from a shared location
 * (a path they can read, or an http(s) URL) and check each one against the SHA-256 the
 * service published, so a worker never answers with a different gallery or detector.
 */
import { createHash } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import type { DetectorOptions } from '../core/detector/detector.js';
import { Detector } from '../core/detector/detector.js';
import { Embedder, type EmbedderOptions } from '../core/embedder.js';
import { SkulensError, messageOf } from '../core/errors.js';
import { ReferenceGallery } from '../core/gallery/gallery.js';
import { isBuiltinModelId, modelLocation } from '../core/builtin-models.js';
import { Recognizer, type Recognition } from '../core/recognizer.js';

/**
 * Codes that come from the photo or the models, not the service: the server answers them
 * with 422 Unprocessable and the worker does not retry them (the same input cannot succeed).
 */
export const INPUT_ERROR_CODES: ReadonlySet<string> = new Set([
  'E_IMAGE_DECODE',
  'E_INPUT',
  'E_MODEL_LOAD',
  'E_MODEL_SHAPE',
  'E_PREPROCESS',
  'E_DIM_MISMATCH',
  'E_GALLERY_FORMAT',
  'E_FINGERPRINT',
  'E_EMPTY',
]);

/** Detector settings that travel to workers (everything but the model, which is `source`). */
export type DetectorSettings = Pick<
  DetectorOptions,
  'format' | 'inputSize' | 'confidence' | 'iou' | 'maxDetections' | 'classAgnostic' | 'classes' | 'labels' | 'tiles'
>;

export interface ServiceModels {
  /** Gallery file: a path or an http(s) URL. */
  gallery: string;
  /** Detector: a path, an http(s) URL or a built-in id (`skulens:NAME`). */
  detector: string;
  detectorOptions?: DetectorSettings;
  /** Embedder to use instead of the one the gallery records (path, URL or built-in id; fingerprint checked). */
  embedder?: string;
  /**
   * Photos with more pixels are refused (E_IMAGE_DECODE, 422) before they are decoded
   * (default DEFAULT_MAX_PIXELS). Published with the models, so workers apply it too.
   */
  maxPixels?: number;
}

/** ServiceModels plus the SHA-256 of the gallery and detector bytes: what `publish` stores in Redis. */
export interface PublishedModels extends ServiceModels {
  gallerySha256: string;
  detectorSha256: string;
}

/** Largest gallery or model file read from a source (a bigger one is E_IO, not an out-of-memory). */
const MAX_FILE_BYTES = 1 << 30;

/** The bytes at a path, http(s) URL or built-in id. */
export async function readSource(source: string, what: string): Promise<Uint8Array> {
  try {
    if (/^https?:\/\//i.test(source)) {
      const res = await fetch(source);
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const length = Number(res.headers.get('content-length') ?? 0);
      if (length > MAX_FILE_BYTES) throw new Error(`${length} bytes is over the ${MAX_FILE_BYTES}-byte limit`);
      return new Uint8Array(await res.arrayBuffer());
    }
    return new Uint8Array(await readFile(isBuiltinModelId(source) ? modelLocation(source) : source));
  } catch (err) {
    if (err instanceof SkulensError) throw err;
    throw new SkulensError(
      'E_IO',
      `Cannot read the ${what} "${source}": ${messageOf(err)}. Workers read it from the location the service names: make it reachable from every worker (a shared path or an http(s) URL).`,
      { cause: err, input: source },
    );
  }
}

export function sha256(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** The short form of a SHA-256 that results record and logs print. */
export function shortFingerprint(sha: string): string {
  return sha.slice(0, 16);
}

export interface RecognizeRequestOptions {
  k?: number;
  threshold?: number;
}

export interface ClassifyRequestOptions extends RecognizeRequestOptions {
  top?: number;
}

/** Share of shelf of one label: facings, their share, and share of the boxes' total area (both sum to 1 with unknown). */
export interface ShelfShare {
  facings: number;
  share: number;
  areaShare: number;
}

/** What /v1/recognize answers and a worker stores. */
export interface RecognizeResult {
  kind: 'recognize';
  width: number;
  height: number;
  items: {
    box: { x: number; y: number; width: number; height: number };
    score: number;
    label: string | null;
    guess: string;
    similarity: number;
    unknownScore: number;
    unknown: boolean;
  }[];
  counts: Record<string, number>;
  unknown: number;
  /** Per label, and `"unknown"` for the items the gallery could not name. */
  shareOfShelf: Record<string, ShelfShare>;
  /** Tiles cut besides the whole-photo pass (0: none; `--tiles`). */
  tiles: number;
  timings: Record<string, number>;
  gallery: string;
  detector: string;
}

/** What /v1/classify answers: the whole photo is one product. */
export interface ClassifyResult {
  kind: 'classify';
  label: string | null;
  guess: string;
  score: number;
  /** The number compared with the threshold (Classification.unknownScore). */
  unknownScore: number;
  unknown: boolean;
  labels: { label: string; score: number; votes: number }[];
  gallery: string;
}

export type ServiceResult = RecognizeResult | ClassifyResult;

const r2 = (v: number) => Math.round(v * 100) / 100;
const r4 = (v: number) => Math.round(v * 1e4) / 1e4;

/** Facings and box area per label ("unknown" included), as shares of the photo's items. */
export function shareOfShelf(r: Recognition): Record<string, ShelfShare> {
  const acc: Record<string, { facings: number; area: number }> = {};
  let area = 0;
  for (const it of r.items) {
    const key = it.unknown ? 'unknown' : it.label!;
    const a = it.box.width * it.box.height;
    (acc[key] ??= { facings: 0, area: 0 }).facings++;
    acc[key].area += a;
    area += a;
  }
  const n = r.items.length;
  return Object.fromEntries(
    Object.entries(acc).map(([k, v]) => [k, { facings: v.facings, share: r4(v.facings / n), areaShare: r4(area > 0 ? v.area / area : 0) }]),
  );
}

/**
 * Detector + embedder + gallery opened from ServiceModels, answering with plain JSON.
 * `expected` (from a publish) makes it refuse files whose bytes changed since.
 */
export class Pipeline {
  readonly galleryFingerprint: string;
  readonly detectorFingerprint: string;
  private readonly recognizer: Recognizer;

  private constructor(recognizer: Recognizer, gallerySha: string, detectorSha: string) {
    this.recognizer = recognizer;
    this.galleryFingerprint = shortFingerprint(gallerySha);
    this.detectorFingerprint = shortFingerprint(detectorSha);
  }

  static async open(models: ServiceModels, expected?: Pick<PublishedModels, 'gallerySha256' | 'detectorSha256'>): Promise<Pipeline> {
    const [galleryBytes, detectorBytes] = await Promise.all([
      readSource(models.gallery, 'gallery'),
      readSource(models.detector, 'detector'),
    ]);
    const gallerySha = sha256(galleryBytes);
    const detectorSha = sha256(detectorBytes);
    if (expected && (gallerySha !== expected.gallerySha256 || detectorSha !== expected.detectorSha256)) {
      const which = gallerySha !== expected.gallerySha256 ? `gallery "${models.gallery}"` : `detector "${models.detector}"`;
      throw new SkulensError(
        'E_FINGERPRINT',
        `The ${which} is not the file that was published (its SHA-256 differs): publish it again (skulens gallery publish, or restart skulens serve) after changing it.`,
        { input: models.gallery },
      );
    }
    const gallery = ReferenceGallery.fromBytes(galleryBytes);
    const info = gallery.embedder;
    const embedderModel = models.embedder ?? info?.path;
    if (!info || !embedderModel)
      throw new SkulensError(
        'E_FINGERPRINT',
        `Gallery "${models.gallery}" does not record its embedder: rebuild it with "skulens gallery build".`,
        { input: models.gallery },
      );
    const embedderSource = isBuiltinModelId(embedderModel) ? embedderModel : await readSource(embedderModel, 'embedder');
    const maxPixels = models.maxPixels !== undefined ? { maxPixels: models.maxPixels } : {};
    const embedder = await Embedder.create({
      ...(info.spec as Partial<EmbedderOptions>),
      model: embedderSource,
      ...(info.output ? { output: info.output } : {}),
      ...maxPixels,
    });
    let detector: Detector | undefined;
    try {
      // The Recognizer decodes each photo under the detector's limit; /v1/classify under the embedder's.
      detector = await Detector.create({ ...models.detectorOptions, model: detectorBytes, ...maxPixels });
      // Checks the embedder's fingerprint against the gallery's (E_FINGERPRINT) before any photo.
      return new Pipeline(new Recognizer({ detector, embedder, gallery }), gallerySha, detectorSha);
    } catch (err) {
      await Promise.all([embedder.dispose(), detector?.dispose()]);
      throw err;
    }
  }

  async recognize(image: Uint8Array, options: RecognizeRequestOptions = {}): Promise<RecognizeResult> {
    // A per-request threshold/k needs its own Recognizer view; the sessions are shared.
    const rec =
      options.k !== undefined || options.threshold !== undefined
        ? new Recognizer({
            detector: this.recognizer.detector,
            embedder: this.recognizer.embedder,
            gallery: this.recognizer.gallery,
            ...options,
          })
        : this.recognizer;
    const r = await rec.recognize(image);
    return {
      kind: 'recognize',
      width: r.width,
      height: r.height,
      items: r.items.map((it) => ({
        box: { x: r2(it.box.x), y: r2(it.box.y), width: r2(it.box.width), height: r2(it.box.height) },
        score: r4(it.score),
        label: it.label,
        guess: it.guess,
        similarity: r4(it.similarity),
        unknownScore: r4(it.unknownScore),
        unknown: it.unknown,
      })),
      counts: r.counts,
      unknown: r.unknown,
      shareOfShelf: shareOfShelf(r),
      tiles: r.tiles,
      timings: Object.fromEntries(Object.entries(r.timings).map(([k, v]) => [k, r2(v)])),
      gallery: this.galleryFingerprint,
      detector: this.detectorFingerprint,
    };
  }

  async classify(image: Uint8Array, options: ClassifyRequestOptions = {}): Promise<ClassifyResult> {
    const [vector] = await this.recognizer.embedder.embed([image]);
    const c = this.recognizer.gallery.classify(vector!, options);
    return {
      kind: 'classify',
      label: c.unknown ? null : c.label,
      guess: c.label,
      score: r4(c.score),
      unknownScore: r4(c.unknownScore),
      unknown: c.unknown,
      labels: c.labels.map((l) => ({ label: l.label, score: r4(l.score), votes: r4(l.votes) })),
      gallery: this.galleryFingerprint,
    };
  }

  run(kind: 'recognize' | 'classify', image: Uint8Array, options: ClassifyRequestOptions): Promise<ServiceResult> {
    return kind === 'classify' ? this.classify(image, options) : this.recognize(image, options);
  }

  dispose(): Promise<void> {
    return this.recognizer.dispose();
  }
}
