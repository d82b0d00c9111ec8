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
  /**
   * Default "unknown" threshold of an uncalibrated, unadapted gallery of this embedder, in
   * place of the generic DEFAULT_THRESHOLD floor: measured on Grocery Store train → val only
   * (bench/thresholds.ts, rule in docs/accuracy.md), so that such a gallery rejects about 1 %
   * of the answers its nearest label gets right.
   */
  threshold?: number;
}

/**
 * The project's own compact embedder (160 px, 512-d, trained here on Grocery Store classes;
 * docs/models.md): about 4x faster than MobileNetV2, the choice for real-time use.
 */
export const RETAIL160_EMBEDDER = 'skulens:retail-160';

/**
 * The second built-in embedder: the ONNX model zoo's int8 MobileNetV2 (Apache-2.0, see
 * models/NOTICE) with its pooled features as output and the imagenet preprocessing in its
 * metadata (scripts/make-mobilenetv2.ts). Slower than retail-160 but trained on ImageNet:
 * it holds up better on shelf photos of products unlike the Grocery Store's (docs/models.md).
 */
export const MOBILENETV2_EMBEDDER = 'skulens:mobilenetv2';

/**
 * The embedder used when none is given. The rule (accuracy first on the store-domain
 * protocols, speed as the tie-break) picks MobileNetV2: docs/models.md, "Which built-in is the default".
 */
export const DEFAULT_EMBEDDER = MOBILENETV2_EMBEDDER;

/** The shelf detector that ships inside the package (models/skulens-shelf.onnx, see docs/detector.md). */
export const SHELF_DETECTOR = 'skulens:shelf';

/**
 * The detector `Detector.create()` and `detect`/`recognize` use when no model is given;
 * `undefined`: none, a model must be named. The rule makes skulens:shelf the default
 * once its AP50 against the SKU-110K reference (npm run bench:shelf) reaches 0.50; it is
 * below that (docs/detector.md), so it is opt-in. The one-line switch: `= SHELF_DETECTOR`.
 */
export const DEFAULT_DETECTOR: string | undefined = undefined;

export const BUILTIN_MODELS: Readonly<Record<string, BuiltinModel>> = {
  // The descriptor leaves the network already whitened by its training classes' within-class
  // covariance, so shrinking toward the identity is shrinking toward what those classes
  // taught: on held-out classes with 5 references each, shrinkage 0.4 answered 0.908
  // against 0.905 at 0.02-0.15 (docs/models.md), measured at power 0.75, which it keeps.
  [RETAIL160_EMBEDDER]: {
    file: 'skulens-retail-160.onnx',
    kind: 'embedder',
    adaptDefaults: { power: 0.75, shrinkage: 0.4 },
    threshold: 0.26,
  },
  [MOBILENETV2_EMBEDDER]: { file: 'skulens-mobilenetv2.onnx', kind: 'embedder', threshold: 0.67 },
  [SHELF_DETECTOR]: { file: 'skulens-shelf.onnx', kind: 'detector' },
};

/** The measured default threshold for a built-in model id (undefined for other models). */
export function defaultThresholdFor(model: string): number | undefined {
  return BUILTIN_MODELS[model]?.threshold;
}

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
