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
