/**
 * transformers.js' `image-feature-extraction` pipeline on the same ONNX model and the same
 * preprocessing as an Embedder, for bench:embed's comparison row.
 *
 * transformers.js loads a model folder (config.json, preprocessor_config.json,
 * onnx/model.onnx) and feeds the graph by name: `pixel_values` in, `pooler_output` out
 * with `pool: true`. So the folder is written to a temporary directory with a copy of the
 * model whose input and embedding output carry those names (nothing else changes), and
 * remote models are disabled: nothing is downloaded.
 */
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import onnxProto from 'onnx-proto';
import type { PreprocessSpec } from '../src/core/preprocess.js';

const { onnx } = onnxProto;

/** The model's bytes with its input renamed `pixel_values` and `embeddingOutput` renamed `pooler_output`. */
function renameForTransformers(bytes: Uint8Array, inputName: string, embeddingOutput: string): Uint8Array {
  const model = onnx.ModelProto.decode(bytes);
  const graph = model.graph!;
  const rename = (name: string) => (name === inputName ? 'pixel_values' : name === embeddingOutput ? 'pooler_output' : name);
  for (const v of [...(graph.input ?? []), ...(graph.output ?? []), ...(graph.valueInfo ?? [])]) v.name = rename(v.name!);
  for (const node of graph.node ?? []) {
    node.input = (node.input ?? []).map(rename);
    node.output = (node.output ?? []).map(rename);
  }
  return onnx.ModelProto.encode(model).finish();
}

/** transformers.js' image processor settings for what `spec` does (resize, crop, normalise). */
function processorConfig(spec: PreprocessSpec): Record<string, unknown> {
  if (spec.channelOrder !== 'rgb' || spec.layout !== 'nchw' || spec.resize === 'letterbox') {
    throw new Error('transformers.js comparison: only RGB NCHW stretch / center-crop specs are mapped');
  }
  const crop = spec.resize === 'center-crop';
  return {
    image_processor_type: 'MobileNetV2ImageProcessor',
    do_resize: true,
    size: crop
      ? { shortest_edge: Math.round(Math.min(spec.width, spec.height) / spec.cropFraction) }
      : { width: spec.width, height: spec.height },
    resample: 2, // bilinear
    do_center_crop: crop,
    crop_size: { width: spec.width, height: spec.height },
    do_rescale: true,
    rescale_factor: spec.scale,
    do_normalize: true,
    image_mean: spec.mean,
    image_std: spec.std,
  };
}

export interface TransformersJsPipeline {
  /** Embeds files in batches of `batch`; returns how many vectors came back. */
  embed(files: string[], batch: number): Promise<number>;
  dispose(): Promise<void>;
}

/** Build the model folder and open transformers.js' pipeline on it, offline. */
export async function transformersJsPipeline(
  modelBytes: Uint8Array,
  inputName: string,
  outputName: string,
  spec: PreprocessSpec,
): Promise<TransformersJsPipeline> {
  const { env, pipeline } = await import('@huggingface/transformers');
  const root = await mkdtemp(join(tmpdir(), 'skulens-tjs-'));
  const dir = join(root, 'model');
  await mkdir(join(dir, 'onnx'), { recursive: true });
  await writeFile(join(dir, 'onnx', 'model.onnx'), renameForTransformers(modelBytes, inputName, outputName));
  // mobilenet_v2 makes AutoModel a plain encoder that runs the graph as it is.
  await writeFile(join(dir, 'config.json'), JSON.stringify({ model_type: 'mobilenet_v2', architectures: ['MobileNetV2Model'] }));
  await writeFile(join(dir, 'preprocessor_config.json'), JSON.stringify(processorConfig(spec)));
  env.allowRemoteModels = false;
  env.allowLocalModels = true;
  env.localModelPath = root;
  env.useFSCache = false;
  const extractor = await pipeline('image-feature-extraction', 'model', { dtype: 'fp32', device: 'cpu' });
  return {
    async embed(files, batch) {
      let n = 0;
      for (let i = 0; i < files.length; i += batch) {
        const out = await extractor(files.slice(i, i + batch), { pool: true });
        n += out.dims[0]!;
      }
      return n;
    },
    async dispose() {
      await extractor.dispose();
      await rm(root, { recursive: true, force: true });
    },
  };
}
