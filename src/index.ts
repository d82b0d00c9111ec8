/**
 * skulens — Node entry. Importing it registers onnxruntime-node (inference in a worker
 * thread), sharp decoding, hnswlib-node and the file system with the platform-free core,
 * then exposes the public API.
 */
import './node/platform.js';

export * from './core/index.js';
export { loadImage } from './node/image-loader.js';
export type { LoadImageOptions, NodeImageInput } from './node/image-loader.js';
export { annotate } from './node/annotate.js';
export type { AnnotateItem, AnnotateOptions } from './node/annotate.js';
