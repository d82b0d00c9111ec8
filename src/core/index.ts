/**
 * The platform-free public API, re-exported by both entries (src/index.ts for Node,
 * src/browser.ts for browsers) after they register their platform. Internals (index
 * implementations, decoders, NMS, the tensor writer) stay importable only from their
 * modules, so the published surface stays small.
 */
export { SkulensError, isSkulensError } from './errors.js';
export type { SkulensErrorCode } from './errors.js';
export { DEFAULT_MAX_PIXELS } from './image.js';
export type { RawImage, Rect, ImageInput, DrawableImage, BlobLike, NdArrayImage, ImageLoadOptions } from './image.js';
export { PRESETS, resolveSpec } from './preprocess.js';
export type { PreprocessSpec, PresetName, ResizeMode, ChannelOrder, TensorLayout, InputDType, Placement } from './preprocess.js';
export { Embedder, EmbedError, PREPROCESS_METADATA_KEY } from './embedder.js';
export { DEFAULT_DETECTOR, DEFAULT_EMBEDDER, MOBILENETV2_EMBEDDER, RETAIL160_EMBEDDER, SHELF_DETECTOR } from './builtin-models.js';
export type { ModelSource } from './model.js';
export type { EmbedderOptions, EmbedInput, EmbedOptions, EmbedProgress, EmbedFailure, EmbedSettledResult } from './embedder.js';
export { ReferenceGallery } from './gallery/gallery.js';
export { DEFAULT_K, DEFAULT_THRESHOLD, DEFAULT_CLUSTERS, DEFAULT_HNSW } from './gallery/types.js';
export type {
  ReferenceGalleryOptions,
  ClassifyOptions,
  Classification,
  LabelScore,
  Neighbor,
  ClassInfo,
  GalleryEmbedderInfo,
  IndexChoice,
  AddImagesResult,
  AdaptationInfo,
  CalibrationInfo,
} from './gallery/types.js';
export type { AdaptOptions } from './adapt/lda.js';
export type { CalibrateOptions } from './adapt/calibrate.js';
export type { Metric, HnswParams } from './vector-index.js';
export { FORMAT_VERSION as GALLERY_FORMAT_VERSION } from './gallery/format.js';
export type { EncodeOptions as GalleryEncodeOptions } from './gallery/format.js';
export { Detector, DETECTOR_FORMATS } from './detector/index.js';
export type {
  DetectorOptions,
  Detection,
  DetectResult,
  DetectTimings,
  DetectorFormat,
  FormatSource,
  TilesOption,
} from './detector/index.js';
export { Recognizer, shelfShare } from './recognizer.js';
export type { RecognizerOptions, RecognizedItem, Recognition, RecognizeTimings, ShelfShare } from './recognizer.js';
