/**
 * Builds models/skulens-mobilenetv2.onnx, the built-in `skulens:mobilenetv2` embedder: the
 * ONNX model zoo's int8 MobileNetV2 with its pooled-feature output (../shared's
 * mobilenetv2-12-int8-embed.onnx, Apache-2.0, see models/NOTICE), unchanged except for
 * metadata entries appended to the protobuf: its preprocessing (the `imagenet` preset, so
 * no preset is needed), a name and its licence. Re-run after changing the spec:
 *
 *   npx tsx scripts/make-mobilenetv2.ts [--shared ../shared]
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { PREPROCESS_METADATA_KEY } from '../src/core/embedder.js';
import { encodeOnnxMetadataEntry, readOnnxMetadata } from '../src/core/onnx-metadata.js';
import { PRESETS } from '../src/core/preprocess.js';

const { values } = parseArgs({
  options: { shared: { type: 'string', default: process.env.SKULENS_SHARED ?? join(import.meta.dirname, '..', '..', 'shared') } },
});
const source = join(resolve(values.shared!), 'models', 'mobilenetv2-12-int8-embed.onnx');
const out = join(import.meta.dirname, '..', 'models', 'skulens-mobilenetv2.onnx');

const bytes = readFileSync(source);
if (PREPROCESS_METADATA_KEY in readOnnxMetadata(bytes)) throw new Error(`${source} already declares ${PREPROCESS_METADATA_KEY}`);
// The imagenet preset as data: resize the short side to 256 (224 / 0.875), centre-crop 224, ImageNet statistics, RGB.
const { width, height, resize, cropFraction, mean, std } = PRESETS.imagenet;
const entries: [string, string][] = [
  [PREPROCESS_METADATA_KEY, JSON.stringify({ width, height, resize, cropFraction, mean, std })],
  ['skulens.model', 'skulens-mobilenetv2'],
  [
    'skulens.source',
    `ONNX model zoo MobileNetV2-12 int8, with the global-average-pooled last feature map as the "embedding" output; sha256 of that file ${createHash('sha256').update(bytes).digest('hex')}`,
  ],
  ['license', 'Apache-2.0 (see LICENSE-APACHE-2.0 and NOTICE in the skulens package)'],
];
const parts = [bytes, ...entries.map(([k, v]) => encodeOnnxMetadataEntry(k, v))];
writeFileSync(out, Buffer.concat(parts));
console.log(`wrote ${out} (${entries.map(([k]) => k).join(', ')})`);
