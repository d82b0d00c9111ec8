/**
 * A gallery and the embedder its vectors come from: whether an embedder makes
 * comparable vectors (same fingerprint), and re-opening the one a gallery recorded.
 */
import { isBuiltinModelId } from '../builtin-models.js';
import { Embedder, type EmbedderOptions } from '../embedder.js';
import { SkulensError, isSkulensError, messageOf } from '../errors.js';
import { specFromRecord, type PreprocessSpec } from '../preprocess.js';
import type { GalleryEmbedderInfo } from './types.js';

/** What a gallery needs to know about an embedder (an Embedder has it all). */
export type EmbedderIdentity = Pick<Embedder, 'fingerprint' | 'spec' | 'modelPath' | 'dim' | 'outputName'> & {
  preset?: string | undefined;
};

/**
 * Whether `embedder` makes vectors comparable with a gallery that recorded `recorded`
 * and holds `dim`-d vectors (`stored` of them). Throws E_FINGERPRINT / E_DIM_MISMATCH
 * when not; returns the record to adopt when the gallery has none yet, else undefined.
 */
export function checkEmbedder(
  recorded: GalleryEmbedderInfo | undefined,
  embedder: EmbedderIdentity,
  dim: number | undefined,
  stored: number,
): GalleryEmbedderInfo | undefined {
  // Same built-in id, other weights (of any width): the gallery predates this release's model.
  if (
    recorded &&
    recorded.fingerprint !== embedder.fingerprint &&
    recorded.path !== undefined &&
    recorded.path === embedder.modelPath &&
    isBuiltinModelId(recorded.path)
  ) {
    throw new SkulensError(
      'E_FINGERPRINT',
      `This gallery was built with an earlier version of the built-in model ${recorded.path} (embedder ${recorded.fingerprint}; this skulens ships ${embedder.fingerprint}). Its vectors cannot be compared with the new model's: rebuild the gallery from its reference photos (skulens gallery build).`,
    );
  }
  // Another recorded embedder is the cause even when the widths differ too: name it, not the width.
  if (recorded && recorded.fingerprint !== embedder.fingerprint) {
    const width = dim !== undefined && embedder.dim !== dim ? ` (it makes ${embedder.dim}-d vectors, the gallery holds ${dim}-d)` : '';
    throw new SkulensError(
      'E_FINGERPRINT',
      `This gallery was built with embedder ${recorded.fingerprint}${recorded.path ? ` (${recorded.path})` : ''} but the embedder given is ${embedder.fingerprint}${embedder.modelPath ? ` (${embedder.modelPath})` : ''}${width}: a different model or preprocessing makes incomparable vectors. Use the gallery's model and preset, or rebuild the gallery.`,
    );
  }
  if (dim !== undefined && embedder.dim !== dim) {
    throw new SkulensError('E_DIM_MISMATCH', `The embedder makes ${embedder.dim}-d vectors but this gallery holds ${dim}-d vectors.`);
  }
  if (recorded) return undefined;
  if (stored > 0) {
    throw new SkulensError(
      'E_FINGERPRINT',
      'This gallery holds vectors from an unrecorded embedder, so images cannot be added or compared safely. Rebuild it with addImages (or pass `embedder` to the constructor).',
    );
  }
  return {
    fingerprint: embedder.fingerprint,
    spec: JSON.parse(JSON.stringify(embedder.spec)) as Record<string, unknown>,
    ...(embedder.modelPath !== undefined ? { path: embedder.modelPath } : {}),
    ...(embedder.preset !== undefined ? { preset: embedder.preset } : {}),
    output: embedder.outputName,
  };
}

/** Options for ReferenceGallery.openEmbedder(): the recorded preprocessing and output are not negotiable. */
export type OpenEmbedderOptions = Omit<EmbedderOptions, keyof PreprocessSpec | 'preset' | 'output'>;

/**
 * Create the embedder `info` records (its model, or `options.model`; its preprocessing and
 * output) and hand it to `bind` (which checks the fingerprint); disposed again when refused.
 */
export async function openRecordedEmbedder(
  info: GalleryEmbedderInfo | undefined,
  options: OpenEmbedderOptions,
  bind: (e: Embedder) => void,
): Promise<Embedder> {
  if (!info)
    throw new SkulensError(
      'E_FINGERPRINT',
      'This gallery does not record its embedder, so images cannot be compared with it safely: rebuild it with addImages (skulens gallery build).',
    );
  const model = options.model ?? info.path;
  if (model === undefined) throw new SkulensError('E_INPUT', 'This gallery does not record where its model is: pass `model`.');
  // The file is not trusted: only its preprocessing keys, checked, reach Embedder.create (docs/gallery-format.md, Trust model).
  let spec: Partial<PreprocessSpec>;
  try {
    spec = specFromRecord(info.spec as Record<string, unknown>);
  } catch (err) {
    throw new SkulensError('E_GALLERY_FORMAT', `This gallery is not usable: its embedder preprocessing is invalid (${messageOf(err)}).`, {
      cause: err,
    });
  }
  let embedder: Embedder;
  try {
    embedder = await Embedder.create({ ...options, ...spec, model, ...(info.output ? { output: info.output } : {}) });
  } catch (err) {
    // The model loads but cannot take the recorded input size or has no recorded output: it is
    // not the model the gallery was built with, which is what the user needs to hear.
    if (!isSkulensError(err, 'E_MODEL_SHAPE')) throw err;
    const given = typeof model !== 'string' ? 'The model given' : model === info.path ? `The model now at ${model}` : model;
    throw new SkulensError(
      'E_FINGERPRINT',
      `${given} is not the embedder this gallery was built with (${info.path ?? 'no path recorded'}, ${describeRecorded(info)}, fingerprint ${info.fingerprint}): ${err.message} Use the gallery's model, or rebuild the gallery with this one.`,
      { cause: err, ...(typeof model === 'string' ? { input: model } : {}) },
    );
  }
  try {
    bind(embedder);
  } catch (err) {
    await embedder.dispose();
    throw err;
  }
  return embedder;
}

/** The recorded input size and output, in words, e.g. "160x160 input, output embedding". */
function describeRecorded(info: GalleryEmbedderInfo): string {
  const { width, height } = info.spec;
  const size = typeof width === 'number' && typeof height === 'number' ? `${width}x${height} input` : 'its own input size';
  return `${size}, output ${info.output ?? '(first)'}`;
}
