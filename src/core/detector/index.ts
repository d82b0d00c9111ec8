export { Detector, ultralyticsNames } from './detector.js';
export type { DetectorOptions, Detection, DetectResult, DetectTimings, FormatSource } from './detector.js';
export { DETECTOR_FORMATS, resolveLayout, decodeOutput, Candidates, gridCells } from './decode.js';
export type { DetectorFormat, OutputLayout, DecodeOptions } from './decode.js';
export { nms } from './nms.js';
export type { NmsOptions } from './nms.js';
export { tileGrid, mergeTiles, autoTiles, TILE_OVERLAP, MAX_TILES } from './tiles.js';
export type { TilesOption, Tile, TileGrid, TilePass, MergeOptions } from './tiles.js';
