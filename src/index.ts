/**
 * skulens — Node entry. Importing it registers onnxruntime-node, sharp and the file
 * system with the platform-free core, then exposes the public API.
 */
import './node/platform.js';

export { SkulensError, isSkulensError } from './core/errors.js';
export type { SkulensErrorCode } from './core/errors.js';
export type { RawImage, Rect, ImageInput } from './core/image.js';
export { PRESETS, resolveSpec, writeImageToTensor, computePlacement } from './core/preprocess.js';
export type { PreprocessSpec, PresetName, ResizeMode, ChannelOrder, TensorLayout, InputDType, Placement } from './core/preprocess.js';
export { Embedder, EmbedError, l2normalize, PREPROCESS_METADATA_KEY } from './core/embedder.js';
export type { EmbedderOptions, EmbedInput, EmbedOptions, EmbedProgress, EmbedFailure, EmbedSettledResult } from './core/embedder.js';
export { loadImage, DEFAULT_MAX_PIXELS } from './node/image-loader.js';
export type { LoadImageOptions, NodeImageInput } from './node/image-loader.js';
export { ReferenceGallery, voteNeighbors, DEFAULT_K, DEFAULT_THRESHOLD, DEFAULT_CLUSTERS, DEFAULT_HNSW, AUTO_HNSW_MIN_SIZE } from './core/gallery/gallery.js';
export type { ReferenceGalleryOptions, ClassifyOptions, Classification, LabelScore, Neighbor, ClassInfo, GalleryEmbedderInfo, IndexChoice, AddImagesResult } from './core/gallery/gallery.js';
export type { AdaptOptions, AdaptationInfo, CalibrateOptions, CalibrationInfo } from './core/gallery/gallery.js';
export type { Metric, HnswParams, VectorIndex, SearchHit } from './core/gallery/vector-index.js';
export { ExactIndex } from './core/gallery/exact-index.js';
export { FORMAT_VERSION as GALLERY_FORMAT_VERSION } from './core/gallery/format.js';
export type { EncodeOptions as GalleryEncodeOptions } from './core/gallery/format.js';
export { Detector, DETECTOR_FORMATS, nms, Candidates, resolveLayout, decodeOutput } from './core/detector/index.js';
export type { DetectorOptions, Detection, DetectResult, DetectTimings, DetectorFormat, FormatSource, OutputLayout, NmsOptions } from './core/detector/index.js';
export { Recognizer } from './core/recognizer.js';
export type { RecognizerOptions, RecognizedItem, Recognition, RecognizeTimings } from './core/recognizer.js';
export { annotate, overlaySvg } from './node/annotate.js';
export type { AnnotateItem, AnnotateOptions } from './node/annotate.js';
