// The detector's public names (core/index.ts); decoding and NMS stay importable only from their modules.
export { Detector } from './detector.js';
export type { DetectorOptions, Detection, DetectResult, DetectTimings, FormatSource } from './detector.js';
export { DETECTOR_FORMATS } from './decode.js';
export type { DetectorFormat } from './decode.js';
export type { TilesOption } from './tiles.js';
