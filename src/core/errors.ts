/**
 * One error family for the whole library: every failure carries a stable `code`
 * that callers can switch on, and a message that says what to do about it.
 */
export type SkulensErrorCode =
  | 'E_IMAGE_DECODE' // an image could not be read or decoded
  | 'E_INPUT' // an argument is missing or of the wrong kind
  | 'E_MODEL_LOAD' // the ONNX model file could not be read or parsed
  | 'E_MODEL_SHAPE' // the model's inputs/outputs are not what skulens expects
  | 'E_INFERENCE' // running the model failed (the runtime's reason is in the message)
  | 'E_PREPROCESS' // the preprocessing spec is invalid
  | 'E_DIM_MISMATCH' // a vector has the wrong dimension
  | 'E_GALLERY_FORMAT' // a gallery file is truncated, foreign or corrupt
  | 'E_FINGERPRINT' // vectors from a different embedder than the gallery's
  | 'E_EMPTY' // an operation needs data that is not there (empty gallery, empty folder)
  | 'E_IO' // a file could not be read or written
  | 'E_BUSY' // the service cannot take the work now (queue full, Redis or PostgreSQL unreachable): retry later
  | 'E_AUTH' // a service request without the right bearer token
  | 'E_PLATFORM'; // the platform cannot do it (e.g. HNSW in a browser), or no platform entry was loaded

export class SkulensError extends Error {
  readonly code: SkulensErrorCode;
  /** The input (path, label, index...) the error is about, when there is one. */
  readonly input?: string;

  constructor(code: SkulensErrorCode, message: string, options?: { cause?: unknown; input?: string }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.name = 'SkulensError';
    this.code = code;
    if (options?.input !== undefined) this.input = options.input;
  }
}

export function isSkulensError(err: unknown, code?: SkulensErrorCode): err is SkulensError {
  return err instanceof SkulensError && (code === undefined || err.code === code);
}

/** The message of any thrown value, for wrapping foreign errors. */
export function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
