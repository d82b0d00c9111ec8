/**
 * The models shipped in the package's models/ folder (docs/models.md), by id. Galleries
 * record the id rather than a file path, so they keep working when the package is
 * reinstalled or moved. To ship another model, add one entry to BUILTIN_MODELS.
 */
import type { AdaptOptions } from './adapt/lda.js';
import { SkulensError } from './errors.js';
import { getPlatform } from './platform.js';

export interface BuiltinModel {
  /** File name inside the package's models/ folder. */
  file: string;
  kind: 'embedder' | 'detector';
  /**
   * adapt() defaults for galleries of this embedder, where its own training makes others
   * better than the general ones (explicit options still win).
   */
  adaptDefaults?: Readonly<AdaptOptions>;
}

/** The embedder used when none is given (160 px, 512-d; see docs/models.md). */
export const DEFAULT_EMBEDDER = 'skulens:retail-160';

export const BUILTIN_MODELS: Readonly<Record<string, BuiltinModel>> = {
  // The descriptor leaves the network already whitened by its training classes' within-class
  // covariance, so shrinking toward the identity is shrinking toward what those classes
  // taught: on held-out classes with 5 references each, shrinkage 0.4 answered 0.908
  // against 0.905 at 0.02-0.15 (docs/models.md).
  [DEFAULT_EMBEDDER]: { file: 'skulens-retail-160.onnx', kind: 'embedder', adaptDefaults: { shrinkage: 0.4 } },
};

/** True for ids of models shipped in the package (`skulens:…`), as opposed to paths and URLs. */
export function isBuiltinModelId(model: string): boolean {
  return model.startsWith('skulens:');
}

/** adapt() defaults for vectors of this model (a built-in id or a path): empty for models not shipped here. */
export function adaptDefaultsFor(model: string | undefined): AdaptOptions {
  return { ...(model !== undefined ? BUILTIN_MODELS[model]?.adaptDefaults : undefined) };
}

/** Where a model given as a string lives: a built-in id resolves through the platform. */
export function modelLocation(model: string): string {
  if (!isBuiltinModelId(model)) return model;
  const entry = BUILTIN_MODELS[model];
  if (!entry)
    throw new SkulensError(
      'E_MODEL_LOAD',
      `Unknown built-in model "${model}". Built-in models: ${Object.keys(BUILTIN_MODELS).join(', ')}.`,
      { input: model },
    );
  return getPlatform().builtinModelLocation(entry.file);
}
