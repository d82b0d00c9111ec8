// Page-side helpers for the browser tests (plain JS, loaded by harness.html after dist/browser.js).
// Vectors travel back to Node as plain arrays.
const s = () => window.skulens;
let embedder;
let detector;
let embedded;

const toArrays = (vectors) => vectors.map((v) => Array.from(v));

async function fetchRaw({ url, width, height, channels }) {
  const data = new Uint8Array(await (await fetch(url)).arrayBuffer());
  return { data, width, height, channels };
}

export const harness = {
  async createEmbedder(options) {
    if (embedder) await embedder.dispose();
    const t0 = performance.now();
    embedder = await s().Embedder.create(options);
    return {
      ms: performance.now() - t0,
      dim: embedder.dim,
      fingerprint: embedder.fingerprint,
      batchSize: embedder.batchSize,
      runtime: s().runtimeInfo(),
    };
  },

  /** Embed inputs (URLs, or raw-pixel descriptors when `raw`); `reps` timed repetitions after one warm-up. */
  async embed(inputs, { raw = false, reps = 0 } = {}) {
    const resolved = raw ? await Promise.all(inputs.map(fetchRaw)) : inputs;
    const vectors = await embedder.embed(resolved);
    const times = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await embedder.embed(resolved);
      times.push(performance.now() - t0);
    }
    return { vectors: toArrays(vectors), times };
  },

  /** Create a Detector (options as for Detector.create; none = the built-in skulens:shelf). */
  async createDetector(options) {
    if (detector) await detector.dispose();
    const t0 = performance.now();
    detector = await s().Detector.create(options);
    return { ms: performance.now() - t0, modelPath: detector.modelPath, format: detector.format, spec: detector.spec };
  },

  /** Detect in one input (URL, or a raw-pixel descriptor when `raw`); `reps` timed repetitions after the first call. */
  async detect(input, { raw = false, reps = 0 } = {}) {
    const resolved = raw ? await fetchRaw(input) : input;
    const first = await detector.detectDetailed(resolved);
    const times = [];
    for (let r = 0; r < reps; r++) {
      const t0 = performance.now();
      await detector.detect(resolved);
      times.push(performance.now() - t0);
    }
    return { detections: first.detections, width: first.width, height: first.height, tiles: first.tiles, timings: first.timings, times };
  },

  /** Browser decode of `url` vs Node's decoded RGB pixels of the same file. */
  async pixelDiff(url, rawDescriptor) {
    const mine = await s().loadImage(url);
    const node = await fetchRaw(rawDescriptor);
    if (mine.width !== node.width || mine.height !== node.height)
      return { sizeMismatch: [mine.width, mine.height, node.width, node.height] };
    let sum = 0,
      max = 0,
      differing = 0;
    const n = mine.width * mine.height;
    for (let i = 0; i < n; i++) {
      for (let c = 0; c < 3; c++) {
        const d = Math.abs(mine.data[i * mine.channels + c] - node.data[i * 3 + c]);
        sum += d;
        if (d > max) max = d;
        if (d) differing++;
      }
    }
    return { meanAbs: sum / (3 * n), max, differingShare: differing / (3 * n) };
  },

  /** The same photo through every kind of browser image input. */
  async inputKinds(url) {
    const blob = await (await fetch(url)).blob();
    const bytes = new Uint8Array(await blob.arrayBuffer());
    const img = new Image();
    img.src = url;
    await img.decode();
    const bitmap = await createImageBitmap(blob, { imageOrientation: 'from-image' });
    const canvas = document.createElement('canvas');
    canvas.width = bitmap.width;
    canvas.height = bitmap.height;
    canvas.getContext('2d').drawImage(bitmap, 0, 0);
    const offscreen = new OffscreenCanvas(bitmap.width, bitmap.height);
    offscreen.getContext('2d').drawImage(bitmap, 0, 0);
    const imageData = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height);
    const file = new File([blob], 'photo.jpg', { type: 'image/jpeg' });
    // ndarray views (duck-typed): contiguous, transposed (stored x-major, as get-pixels keeps pixels), float 0–1
    const { width: w, height: h, data: rgba } = imageData;
    const xMajor = new Uint8Array(rgba.length);
    for (let y = 0; y < h; y++)
      for (let x = 0; x < w; x++) for (let c = 0; c < 4; c++) xMajor[(x * h + y) * 4 + c] = rgba[(y * w + x) * 4 + c];
    const kinds = {
      url,
      urlObject: new URL(url, location.href),
      blob,
      file,
      bytes,
      arrayBuffer: bytes.buffer,
      htmlImage: img,
      imageBitmap: bitmap,
      htmlCanvas: canvas,
      offscreenCanvas: offscreen,
      imageData,
      rawImage: { data: imageData.data, width: imageData.width, height: imageData.height, channels: 4 },
      ndarray: { data: rgba, shape: [h, w, 4], stride: [w * 4, 4, 1], offset: 0 },
      ndarrayTransposed: { data: xMajor, shape: [h, w, 4], stride: [4, h * 4, 1], offset: 0 },
      ndarrayFloat: { data: Float32Array.from(rgba, (v) => v / 255), shape: [h, w, 4], stride: [w * 4, 4, 1], offset: 0 },
      crop: { image: url, crop: { x: 0, y: 0, width: bitmap.width, height: bitmap.height } },
    };
    const names = Object.keys(kinds);
    const vectors = await embedder.embed(names.map((k) => kinds[k]));
    return Object.fromEntries(names.map((k, i) => [k, Array.from(vectors[i])]));
  },

  /**
   * Open a gallery file by URL, check it against the current embedder, embed `urls` and
   * classify them; also re-encode the gallery to compare bytes with the file.
   */
  async classifyWithGallery(galleryUrl, urls, options = {}) {
    const fileBytes = await s().fetchBinary(galleryUrl);
    let t0 = performance.now();
    const gallery = await s().ReferenceGallery.load(galleryUrl);
    const loadMs = performance.now() - t0;
    gallery.useEmbedder(embedder);
    // Several galleries of one embedder answer the same photos: embed them once.
    const key = `${embedder.fingerprint} ${urls.join(' ')}`;
    if (embedded?.key !== key) embedded = { key, vectors: await embedder.embed(urls) };
    const vectors = embedded.vectors;
    gallery.classify(vectors[0], options); // builds the index
    t0 = performance.now();
    const reps = 5;
    let classes;
    for (let r = 0; r < reps; r++) classes = gallery.classifyBatch(vectors, options);
    const searchMs = (performance.now() - t0) / reps / urls.length;
    const reencoded = gallery.toBytes();
    const hex = async (b) =>
      [...new Uint8Array(await crypto.subtle.digest('SHA-256', b))].map((x) => x.toString(16).padStart(2, '0')).join('');
    return {
      labels: classes.map((c) => c.label),
      scores: classes.map((c) => c.score),
      unknownScores: classes.map((c) => c.unknownScore),
      unknown: classes.map((c) => c.unknown),
      threshold: gallery.threshold,
      size: gallery.size,
      dim: gallery.dim,
      classes: gallery.labels.length,
      indexKind: gallery.indexKind,
      embedder: gallery.embedder,
      loadMs,
      searchMs,
      fileSha: await hex(fileBytes),
      reencodedSha: await hex(reencoded),
      fileLength: fileBytes.length,
    };
  },

  /** The error a gallery gives for an embedder with other preprocessing. */
  async galleryMismatch(galleryUrl, modelUrl) {
    const gallery = await s().ReferenceGallery.load(galleryUrl);
    const other = await s().Embedder.create({ model: modelUrl, preset: 'clip' });
    try {
      return await this.errorOf(() => gallery.useEmbedder(other));
    } finally {
      await other.dispose();
    }
  },

  /** The error for a truncated gallery file. */
  async truncatedGallery(galleryUrl) {
    const bytes = await s().fetchBinary(galleryUrl);
    return this.errorOf(() => s().ReferenceGallery.fromBytes(bytes.subarray(0, bytes.length - 100)));
  },

  /** Decode one image and report its size (for orientation checks). */
  async decodedSize(url) {
    const img = await s().loadImage(url);
    return { width: img.width, height: img.height, channels: img.channels };
  },

  /** Error code + message of a failing call, for error-path checks. */
  async errorOf(fn, ...args) {
    try {
      await fn(...args);
      return null;
    } catch (err) {
      return { code: err.code, message: err.message };
    }
  },
  async loadImageError(input) {
    return this.errorOf((x) => s().loadImage(x), input);
  },
  async modelError(url) {
    return this.errorOf((x) => s().Embedder.create({ model: x, preset: 'imagenet' }), url);
  },
};
