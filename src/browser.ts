/**
 * skulens — browser entry, selected by the `browser` export condition. Importing it
 * registers onnxruntime-web (wasm, or webgpu on request), canvas image decoding, fetch
 * and WebCrypto with the platform-free core, then exposes the same public API as the
 * Node entry where it makes sense (no file-system helpers, no HNSW: galleries use the
 * exact flat index; see docs/browser.md).
 */
import './browser/platform.js';

export { SkulensError, isSkulensError } from './core/errors.js';
export type { SkulensErrorCode } from './core/errors.js';
export type { RawImage, Rect, ImageInput } from './core/image.js';
export { PRESETS, resolveSpec, writeImageToTensor, computePlacement } from './core/preprocess.js';
export type { PreprocessSpec, PresetName, ResizeMode, ChannelOrder, TensorLayout, InputDType, Placement } from './core/preprocess.js';
export { Embedder, EmbedError, l2normalize, PREPROCESS_METADATA_KEY } from './core/embedder.js';
export type { EmbedderOptions, EmbedInput, EmbedOptions, EmbedProgress, EmbedFailure, EmbedSettledResult } from './core/embedder.js';
export { loadImage, DEFAULT_MAX_PIXELS } from './browser/image-loader.js';
export type { LoadImageOptions, BrowserImageInput } from './browser/image-loader.js';
export { configure, runtimeInfo } from './browser/runtime.js';
export type { BrowserConfig, RuntimeInfo } from './browser/runtime.js';
export { fetchBinary } from './browser/platform.js';
// Galleries: the exact flat index always (no HNSW in the browser; see docs/browser.md).
export { ReferenceGallery, voteNeighbors, DEFAULT_K, DEFAULT_THRESHOLD, DEFAULT_CLUSTERS, DEFAULT_HNSW, AUTO_HNSW_MIN_SIZE } from './core/gallery/gallery.js';
export type { ReferenceGalleryOptions, ClassifyOptions, Classification, LabelScore, Neighbor, ClassInfo, GalleryEmbedderInfo, IndexChoice, AddImagesResult } from './core/gallery/gallery.js';
export type { AdaptOptions, AdaptationInfo, CalibrateOptions, CalibrationInfo } from './core/gallery/gallery.js';
export type { Metric, HnswParams, VectorIndex, SearchHit } from './core/gallery/vector-index.js';
export { ExactIndex } from './core/gallery/exact-index.js';
export { FORMAT_VERSION as GALLERY_FORMAT_VERSION } from './core/gallery/format.js';
export type { EncodeOptions as GalleryEncodeOptions } from './core/gallery/format.js';
// Detection and the detect → embed → classify chain. (`annotate` is Node-only: it draws with
// sharp; in a page, draw boxes on a canvas as examples/browser/app.js does.)
export { Detector, DETECTOR_FORMATS, nms, Candidates, resolveLayout, decodeOutput } from './core/detector/index.js';
export type { DetectorOptions, Detection, DetectResult, DetectTimings, DetectorFormat, FormatSource, OutputLayout, NmsOptions } from './core/detector/index.js';
export { Recognizer } from './core/recognizer.js';
export type { RecognizerOptions, RecognizedItem, Recognition, RecognizeTimings } from './core/recognizer.js';
