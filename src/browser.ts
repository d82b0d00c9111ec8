/**
 * skulens — browser entry, selected by the `browser` export condition. Importing it
 * registers onnxruntime-web (wasm, or webgpu on request), canvas image decoding, fetch
 * and WebCrypto with the platform-free core, then exposes the same public API as the
 * Node entry where it makes sense (no file-system helpers, no HNSW: galleries use the
 * exact flat index; see docs/browser.md).
 */
import './browser/platform.js';

export * from './core/index.js';
export { loadImage } from './browser/image-loader.js';
export type { LoadImageOptions, BrowserImageInput } from './browser/image-loader.js';
export { configure, runtimeInfo } from './browser/runtime.js';
export type { BrowserConfig, RuntimeInfo } from './browser/runtime.js';
export { fetchBinary } from './browser/platform.js';
