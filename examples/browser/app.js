// skulens browser example: the built-in shelf detector (or another YOLO model, or none),
// optionally an embedder + gallery to name what it finds, on a photo or the live camera,
// with a box-and-label overlay and FPS. Everything runs on this device; once the models
// are loaded nothing goes over the network.
import * as skulens from 'skulens';

const { ReferenceGallery, Detector, Recognizer, configure, runtimeInfo, loadImage, fetchBinary } = skulens;
const $ = (id) => document.getElementById(id);
const params = new URLSearchParams(location.search);

// ---- runtime set-up: before the first model loads ---------------------------------------
const backend = params.get('backend') ?? 'wasm';
$('backend').value = backend;
const threadsOn = self.crossOriginIsolated === true && typeof SharedArrayBuffer === 'function';
configure({
  executionProviders: backend === 'webgpu' ? ['webgpu', 'wasm'] : ['wasm'],
  numThreads: threadsOn ? Math.min(4, navigator.hardwareConcurrency || 1) : 1,
  proxy: params.get('proxy') === '1',
});
// Changing the backend needs a fresh page (one onnxruntime build per page).
$('backend').addEventListener('change', () => {
  params.set('backend', $('backend').value);
  location.search = params.toString();
});

function showEnv() {
  const info = runtimeInfo();
  const chip = (text, on) => `<span class="${on === undefined ? '' : on ? 'on' : 'off'}">${text}</span>`;
  $('env').innerHTML = [
    chip(`threads: ${threadsOn ? `on (${info.numThreads || 'auto'})` : 'off — page is not cross-origin isolated (COOP/COEP)'}`, threadsOn),
    chip(`crossOriginIsolated: ${self.crossOriginIsolated}`, self.crossOriginIsolated),
    chip(`SharedArrayBuffer: ${typeof SharedArrayBuffer === 'function' ? 'yes' : 'no'}`, typeof SharedArrayBuffer === 'function'),
    chip(`WebGPU: ${info.webgpuAvailable ? 'available' : 'not available'}`, info.webgpuAvailable),
    chip(`backend: ${info.executionProviders.join(' → ')} (${info.build})`),
    chip(`${navigator.onLine ? 'online' : 'offline'}`),
  ].join('');
}
showEnv();
addEventListener('online', showEnv);
addEventListener('offline', showEnv);

// ---- state shared with the browser test (window.example) --------------------------------
const state = { ready: false, busy: false, embedder: null, gallery: null, detector: null, last: null, error: null, fps: 0 };
window.example = state;

function status(text, isError = false) {
  $('status').textContent = text;
  $('status').classList.toggle('error', isError);
  if (isError) state.error = text;
}

/** A file picked in `input`, else the URL in the query parameter `param`. */
async function bytesFrom(input, param) {
  const file = $(input).files?.[0];
  if (file) return { bytes: new Uint8Array(await file.arrayBuffer()), name: file.name };
  const url = params.get(param);
  if (url) return { bytes: await fetchBinary(url), name: url };
  return null;
}

/** Which detector: the select, unless the URL names one (`skulens:shelf`, `none` or a model URL). */
function detectorChoice() {
  const p = params.get('detector');
  if (p === 'none' || p === 'skulens:shelf') return p;
  if (p) return 'url';
  return $('detectorChoice').value;
}

async function loadDetector() {
  const choice = detectorChoice();
  if (choice === 'none') return { detector: null, name: 'none' };
  status('Loading detector…');
  const options = { confidence: Number(params.get('confidence') ?? $('confidence').value), classAgnostic: true, maxDetections: 1000 };
  if (choice === 'skulens:shelf')
    return { detector: await Detector.create({ ...options, model: 'skulens:shelf' }), name: 'skulens:shelf (built-in)' };
  const d = await bytesFrom('detectorFile', 'detector');
  if (!d) throw new Error('Pick a detector file (or choose the built-in one).');
  const format = params.get('format') ?? $('detectorFormat').value;
  return { detector: await Detector.create({ ...options, model: d.bytes, format }), name: d.name };
}

async function load() {
  $('load').disabled = true;
  try {
    const t0 = performance.now();
    const g = await bytesFrom('galleryFile', 'gallery');
    if (!g) {
      // No gallery: find and count products with the detector alone.
      const { detector, name } = await loadDetector();
      if (!detector) throw new Error('Without a gallery there is nothing to name: choose a detector, or pick a gallery file.');
      Object.assign(state, { embedder: null, gallery: null, detector, recognizer: null, ready: true });
      $('photo').disabled = false;
      $('camera').disabled = false;
      showEnv();
      status(
        `Ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: detector ${name} (${detector.format}, input ${detector.spec.width}x${detector.spec.height}); no gallery: products are found and counted, not named.`,
      );
      return;
    }
    status('Loading gallery…');
    const gallery = ReferenceGallery.fromBytes(g.bytes);

    status('Loading embedder…');
    // The gallery records its embedder (model, preprocessing, output): re-open that one. A
    // built-in model (skulens:…) loads from models/ beside dist/; a model file of yours must be
    // picked or given as ?model=. A different model stops with E_FINGERPRINT.
    const m = await bytesFrom('embedderFile', 'model');
    const recordedPath = gallery.embedder?.path;
    if (!m && recordedPath && !recordedPath.startsWith('skulens:')) {
      throw new Error(`This gallery was built with the model file ${recordedPath}: pick that .onnx file (or pass ?model=<its URL>).`);
    }
    const embedder = await gallery.openEmbedder({ ...(m ? { model: m.bytes } : {}), batchSize: 16 });
    gallery.buildIndex();
    $('threshold').placeholder = `the gallery's: ${gallery.threshold.toFixed(3)}`;

    const { detector, name: detectorName } = await loadDetector();
    Object.assign(state, { embedder, gallery, detector, recognizer: null, ready: true });
    $('photo').disabled = false;
    $('camera').disabled = false;
    showEnv();
    status(
      `Ready in ${((performance.now() - t0) / 1000).toFixed(1)} s: embedder ${m ? m.name : embedder.modelPath} (${embedder.dim}-d, ${embedder.specSource}), ` +
        `gallery ${g.name} (${gallery.labels?.length ?? '?'} labels, ${gallery.size} vectors, unknown below ${gallery.threshold.toFixed(3)}, ${gallery.thresholdSource}), ` +
        `${detector ? `detector ${detectorName} (${detector.format})` : 'no detector: the whole picture is classified'}.`,
    );
  } catch (err) {
    status(`${err.code ? `${err.code}: ` : ''}${err.message}`, true);
    console.error(err);
  } finally {
    $('load').disabled = false;
  }
}

/** The unknown threshold typed (negative ones too: calibrated scores can be), or undefined: the gallery's own. */
function threshold() {
  const text = ($('threshold').value || params.get('threshold') || '').trim();
  if (text === '') return undefined;
  const t = Number(text);
  if (!Number.isFinite(t)) throw new Error(`The unknown threshold must be a number, got "${text}".`);
  return t;
}
const withThreshold = (options) => {
  const t = threshold();
  return t === undefined ? options : { ...options, threshold: t };
};

/**
 * With a detector and a gallery: skulens' Recognizer (detect → crops of the original
 * pixels → batched embed → one classifyBatch). A detector alone: boxes, no names. A
 * gallery alone: the whole picture is embedded and classified.
 */
async function recognize(source) {
  const { embedder, gallery, detector } = state;
  let t = performance.now();
  const image = await loadImage(source); // decode once, here, so the overlay shows exactly these pixels
  const decode = performance.now() - t;
  if (detector && !gallery) {
    t = performance.now();
    const found = await detector.detect(image);
    const detect = performance.now() - t;
    const items = found.map((d) => ({ box: d.box, score: d.score, label: d.label ?? 'product', unknown: false, detectionOnly: true }));
    return { image, items, times: { decode, detect } };
  }
  if (detector) {
    state.recognizer ??= new Recognizer(withThreshold({ detector, embedder, gallery }));
    const r = await state.recognizer.recognize(image);
    const items = r.items.map((it) => ({
      box: it.box,
      score: it.score,
      label: it.guess,
      similarity: it.similarity,
      unknownScore: it.unknownScore,
      unknown: it.unknown,
    }));
    const { detect, embed, search } = r.timings;
    return { image, items, times: { decode, detect, embed, search } };
  }
  t = performance.now();
  const [vector] = await embedder.embed([image]);
  const embed = performance.now() - t;
  t = performance.now();
  const c = gallery.classify(vector, withThreshold({}));
  const search = performance.now() - t;
  const items = [
    {
      box: { x: 0, y: 0, width: image.width, height: image.height },
      score: 1,
      label: c.label,
      similarity: c.score,
      unknownScore: c.unknownScore,
      unknown: c.unknown,
    },
  ];
  return { image, items, times: { decode, embed, search } };
}
$('threshold').addEventListener('change', () => (state.recognizer = null));

function colorOf(label) {
  let h = 0;
  for (const ch of label) h = (h * 31 + ch.charCodeAt(0)) % 360;
  return `hsl(${h} 85% 50%)`;
}

/** Grey for unknown boxes, as in the CLI's --annotate (src/node/annotate.ts). */
const UNKNOWN_COLOR = '#b0b0b0';

/**
 * The tag over a box, worded as the CLI's --annotate: a named box shows its label and the
 * score compared with the unknown threshold (unknownScore: after --adapt/--calibrate it is
 * not the raw similarity); an unknown box shows no number, since its score is not a
 * confidence in any label. Detector-only boxes show the detector's score.
 */
function tagOf(it) {
  if (it.unknown) return 'unknown';
  return `${it.label} ${(it.detectionOnly ? it.score : it.unknownScore).toFixed(2)}`;
}

function draw(result) {
  const { image, items } = result;
  const canvas = $('view');
  if (canvas.width !== image.width || canvas.height !== image.height) {
    canvas.width = image.width;
    canvas.height = image.height;
  }
  const ctx = canvas.getContext('2d');
  const pixels = image.channels === 4 && image.data instanceof Uint8ClampedArray ? image.data : toRgba(image);
  ctx.putImageData(new ImageData(pixels, image.width, image.height), 0, 0);
  const scale = Math.max(1, image.width / 640);
  ctx.lineWidth = 2 * scale;
  ctx.font = `${Math.round(13 * scale)}px system-ui, sans-serif`;
  ctx.textBaseline = 'top';
  const dense = items.length > 40 || items.some((it) => it.detectionOnly);
  for (const it of items) {
    const { x, y, width, height } = it.box;
    const color = it.unknown ? UNKNOWN_COLOR : colorOf(it.label);
    ctx.strokeStyle = color;
    // Unknown: dashed and grey, so it reads as "not named" at a glance.
    ctx.setLineDash(it.unknown ? [6 * scale, 4 * scale] : []);
    ctx.strokeRect(x, y, width, height);
    // Dense shelves: boxes only (a tag per box would cover the products); the counts are listed below.
    it.tag = dense ? null : tagOf(it);
    if (!it.tag) continue;
    ctx.font = `${it.unknown ? 'italic ' : ''}${Math.round(13 * scale)}px system-ui, sans-serif`;
    const w = ctx.measureText(it.tag).width + 6 * scale;
    const h = 17 * scale;
    const ty = y >= h ? y - h : y;
    ctx.fillStyle = it.unknown ? '#fff' : color;
    ctx.fillRect(x, ty, w, h);
    if (it.unknown) {
      ctx.setLineDash([]);
      ctx.lineWidth = 1;
      ctx.strokeRect(x, ty, w, h);
      ctx.lineWidth = 2 * scale;
    }
    ctx.fillStyle = '#000';
    ctx.fillText(it.tag, x + 3 * scale, ty + 2 * scale);
  }
  ctx.setLineDash([]);
  // Facings per label.
  const counts = new Map();
  for (const it of items) if (!it.unknown) counts.set(it.label, (counts.get(it.label) ?? 0) + 1);
  $('results').innerHTML =
    [...counts.entries()]
      .sort((a, b) => b[1] - a[1])
      .map(([label, n]) => `<li style="border-left: 6px solid ${colorOf(label)}; padding-left: .3rem">${escapeHtml(label)} × ${n}</li>`)
      .join('') +
    (items.some((i) => i.unknown)
      ? `<li class="unknown">unknown (not in the gallery) × ${items.filter((i) => i.unknown).length}</li>`
      : '');
}

function toRgba(image) {
  const n = image.width * image.height;
  const out = new Uint8ClampedArray(n * 4);
  for (let i = 0; i < n; i++) {
    out[i * 4] = image.data[i * image.channels];
    out[i * 4 + 1] = image.data[i * image.channels + 1];
    out[i * 4 + 2] = image.data[i * image.channels + 2];
    out[i * 4 + 3] = 255;
  }
  return out;
}

const escapeHtml = (s) => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]);
const ms = (times) =>
  Object.entries(times)
    .map(([k, v]) => `${k} ${v.toFixed(0)} ms`)
    .join(', ');

async function onPhoto() {
  const file = $('photo').files?.[0];
  if (!file || !state.ready) return;
  stopCamera();
  state.busy = true;
  try {
    status(`Recognizing ${file.name}…`);
    const result = await recognize(file);
    draw(result);
    state.last = {
      file: file.name,
      items: result.items.map(({ box, label, similarity, unknownScore, unknown, score, tag }) => ({
        box,
        label,
        similarity,
        unknownScore,
        unknown,
        score,
        tag,
      })),
      times: result.times,
    };
    state.photos = (state.photos ?? 0) + 1;
    status(`${file.name}: ${result.items.length} product${result.items.length === 1 ? '' : 's'} — ${ms(result.times)}`);
  } catch (err) {
    status(`${err.code ? `${err.code}: ` : ''}${err.message}`, true);
  } finally {
    state.busy = false;
  }
}

// ---- camera ----------------------------------------------------------------------------
let stream = null;
let running = false;

async function startCamera() {
  if (!navigator.mediaDevices?.getUserMedia) {
    status('No camera API here: getUserMedia needs a secure context (https or localhost).', true);
    return;
  }
  try {
    stream = await navigator.mediaDevices.getUserMedia({
      video: { facingMode: 'environment', width: { ideal: 640 }, height: { ideal: 480 } },
      audio: false,
    });
  } catch (err) {
    status(`Camera refused: ${err.message}`, true);
    return;
  }
  const video = $('video');
  video.srcObject = stream;
  await video.play();
  if (video.readyState < 2) await new Promise((r) => video.addEventListener('loadeddata', r, { once: true }));
  $('camera').textContent = 'Stop camera';
  $('fps').hidden = false;
  running = true;
  loop();
}

function stopCamera() {
  running = false;
  stream?.getTracks().forEach((t) => t.stop());
  stream = null;
  $('camera').textContent = 'Start camera';
  $('fps').hidden = true;
}

async function loop() {
  const stamps = [];
  state.frames = 0;
  while (running) {
    const t0 = performance.now();
    try {
      const result = await recognize($('video')); // one frame: decode, detect, embed, classify
      if (!running) break;
      draw(result);
      state.frames++;
      state.last = {
        file: 'camera',
        items: result.items.map(({ box, label, similarity, unknownScore, unknown, tag }) => ({
          box,
          label,
          similarity,
          unknownScore,
          unknown,
          tag,
        })),
        times: result.times,
      };
      stamps.push(performance.now());
      while (stamps.length > 10) stamps.shift();
      state.fps = stamps.length > 1 ? ((stamps.length - 1) * 1000) / (stamps.at(-1) - stamps[0]) : 1000 / (performance.now() - t0);
      $('fps').textContent = `${state.fps.toFixed(1)} FPS`;
      status(`camera: ${result.items.length} product${result.items.length === 1 ? '' : 's'} — ${ms(result.times)}`);
    } catch (err) {
      status(`${err.code ? `${err.code}: ` : ''}${err.message}`, true);
      stopCamera();
    }
    await new Promise((r) => requestAnimationFrame(r)); // let the page paint
  }
}

$('load').addEventListener('click', load);
$('photo').addEventListener('change', onPhoto);
$('camera').addEventListener('click', () => (running ? stopCamera() : startCamera()));
// Load at once when the URL says what to load (a gallery, or ?load=1 for the built-in detector alone).
if (params.get('gallery') || params.get('load') === '1') load();
