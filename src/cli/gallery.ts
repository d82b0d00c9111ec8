/**
 * `skulens gallery build <refs> -o <file> --embedder <model.onnx>` and
 * `skulens gallery info <file>`, plus the helpers `classify` and `eval` share: opening a
 * gallery together with the embedder it remembers, and embedding a list of images with
 * a progress bar, skipping (and reporting) the ones that cannot be read.
 */
import { InvalidArgumentError, type Command } from 'commander';
import { Embedder, type EmbedderOptions } from '../core/embedder.js';
import { SkulensError, messageOf } from '../core/errors.js';
import { DEFAULT_CLUSTERS, DEFAULT_K, DEFAULT_THRESHOLD, ReferenceGallery } from '../core/gallery/gallery.js';
import type { Metric } from '../core/vector-index.js';
import type { DatasetItem } from '../node/dataset.js';
import { EMBEDDER_HELP, action, embedderSource, out, parsePositiveInt, readLabelledImages, warnDefaultSpec } from './common.js';
import { embedInChunks } from './embed.js';

export function registerGallery(program: Command): void {
  const gallery = program.command('gallery').description('build and inspect reference galleries');

  gallery
    .command('build')
    .description('embed reference images (class folders or a path,label CSV) into a gallery file')
    .argument('<refs>', 'folder with one sub-folder per label, or a CSV manifest with a path,label header')
    .requiredOption('-o, --output <file>', 'gallery file to write (atomically)')
    .option('--embedder <model.onnx>', EMBEDDER_HELP)
    .option('--preset <name>', 'preprocessing preset: imagenet, nvidia-retail, clip')
    .option('--embedding-output <name>', 'model output holding the embedding, when the model has several (recorded in the gallery)')
    .option('--clusters <K>', `k-means centroids kept per class, or "all" (default ${DEFAULT_CLUSTERS})`, parseClusters)
    .option('--metric <metric>', 'cosine or l2', parseMetric, 'cosine' as Metric)
    .option('--batch-size <n>', 'images per inference run', parsePositiveInt('--batch-size'), 16)
    .option('--threshold <s>', `default "unknown" threshold stored in the gallery (default ${DEFAULT_THRESHOLD}; or pick one with --calibrate)`, parseThreshold)
    .option('--float16', 'store vectors as float16 (half the file size)')
    .option('--adapt', 'learn a projection from the references that separates look-alike classes (docs/accuracy.md); stored in the gallery')
    .option('--calibrate', 'pick the "unknown" threshold from held-out references (docs/accuracy.md); ignored when --threshold is given')
    .action(
      action(async (refs: string, opts: { output: string; embedder?: string; preset?: string; embeddingOutput?: string; clusters?: number | 'all'; metric: Metric; batchSize: number; threshold?: number; float16?: boolean; adapt?: boolean; calibrate?: boolean }) => {
        const items = await readLabelledImages(refs, 'reference');
        const embedder = await Embedder.create({ model: embedderSource(opts.embedder), preset: opts.preset, output: opts.embeddingOutput, batchSize: opts.batchSize });
        warnDefaultSpec(embedder);
        try {
          const g = new ReferenceGallery({
            metric: opts.metric,
            clustersPerClass: opts.clusters ?? DEFAULT_CLUSTERS,
            ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
          });
          g.useEmbedder(embedder);
          const vectors = await embedItems(embedder, items, 'embedding references');
          // Group by label, then add each class once (one k-means run per class).
          const byLabel = new Map<string, Float32Array[]>();
          items.forEach((item, i) => {
            const v = vectors[i];
            if (!v) return;
            if (!byLabel.has(item.label)) byLabel.set(item.label, []);
            byLabel.get(item.label)!.push(v);
          });
          const labels = [...new Set(items.map((i) => i.label))];
          for (const label of labels) {
            const vs = byLabel.get(label);
            if (vs) g.add(label, vs);
            else process.stderr.write(`skulens: class "${label}" has no usable images: skipped\n`);
          }
          if (g.size === 0) throw new SkulensError('E_IMAGE_DECODE', `None of the ${items.length} reference images could be embedded.`);
          if (opts.adapt) {
            const a = g.adapt();
            process.stderr.write(
              a.method === 'lda'
                ? `skulens: adapted: ${a.inDim}-d → ${a.outDim}-d from ${a.references} references in ${(a.fitMs / 1000).toFixed(1)} s\n`
                : `skulens: not adapted: ${a.reason}\n`,
            );
          }
          if (opts.calibrate && opts.threshold === undefined) {
            const c = g.calibrate();
            process.stderr.write(`skulens: calibrated threshold ${c.threshold.toFixed(4)} from ${c.heldOut} held-out references (${c.folds} folds, ${(c.ms / 1000).toFixed(1)} s)\n`);
          } else if (opts.adapt && opts.threshold !== undefined) {
            g.setThreshold(opts.threshold);
          }
          await g.save(opts.output, { float16: opts.float16 === true });
          const added = vectors.filter(Boolean).length;
          process.stderr.write(
            `skulens: wrote ${opts.output}: ${g.labels.length} labels, ${added} references → ${g.size} vectors (${g.dim}-d, ${g.metric}, clusters ${g.clustersPerClass})\n`,
          );
        } finally {
          await embedder.dispose();
        }
      }),
    );

  gallery
    .command('info')
    .description('describe a gallery file: embedder, metric, labels and counts')
    .argument('<file>', 'gallery file')
    .option('--json', 'print one JSON object')
    .action(
      action(async (file: string, opts: { json?: boolean }) => {
        const g = await ReferenceGallery.load(file);
        const classes = g.classInfo();
        const info = {
          file,
          labels: classes.length,
          references: classes.reduce((s, c) => s + c.references, 0),
          vectors: g.size,
          dim: g.dim,
          metric: g.metric,
          clustersPerClass: g.clustersPerClass,
          threshold: g.threshold,
          adaptation: g.adaptationInfo ?? null,
          calibration: g.calibrationInfo ? { rejectRate: g.calibrationInfo.rejectRate, folds: g.calibrationInfo.folds, stale: g.calibrationInfo.stale === true } : null,
          index: g.indexChoice,
          hnsw: g.hnsw,
          embedder: g.embedder ?? null,
          classes,
        };
        if (opts.json) return out(JSON.stringify(info) + '\n');
        const e = g.embedder;
        const lines = [
          `${file}`,
          `  ${info.labels} labels, ${info.references} references → ${info.vectors} vectors, ${info.dim}-d, ${info.metric}, clusters per class: ${info.clustersPerClass}, threshold ${info.threshold}`,
          ...(info.adaptation ? [`  adaptation: ${info.adaptation.method === 'lda' ? `LDA ${info.adaptation.inDim}-d → ${info.adaptation.outDim}-d (power ${info.adaptation.power}, shrinkage ${info.adaptation.shrinkage})` : `none (${info.adaptation.reason ?? 'identity'})`}`] : []),
          ...(info.calibration ? [`  calibrated: threshold on similarity minus per-label offset (${info.calibration.folds} folds, reject rate ${info.calibration.rejectRate})${info.calibration.stale ? ' — STALE: classes changed since, re-calibrate' : ''}`] : []),
          `  index: ${info.index} (HNSW M=${g.hnsw.M} efConstruction=${g.hnsw.efConstruction} ef=${g.hnsw.ef})`,
          e ? `  embedder: ${e.path ?? '(no path)'}${e.preset ? ` preset ${e.preset}` : ''}, output ${e.output ?? '?'}, fingerprint ${e.fingerprint}` : '  embedder: not recorded',
          `  label                                    references  vectors`,
          ...classes.map((c) => `  ${c.label.padEnd(40)} ${String(c.references).padStart(10)}  ${String(c.vectors).padStart(7)}`),
        ];
        await out(lines.join('\n') + '\n');
      }),
    );
}

/**
 * Load a gallery and re-create the embedder it was built with (from its stored path and
 * preprocessing, or from `override`). A different model or spec stops with E_FINGERPRINT.
 */
export async function openGallery(file: string, override?: string, batchSize = 16): Promise<{ gallery: ReferenceGallery; embedder: Embedder }> {
  const gallery = await ReferenceGallery.load(file);
  const info = gallery.embedder;
  if (!info) {
    throw new SkulensError('E_FINGERPRINT', `Gallery "${file}" does not record its embedder, so images cannot be compared with it safely. Rebuild it with "skulens gallery build".`);
  }
  const model = override ?? info.path;
  if (!model) throw new SkulensError('E_INPUT', `Gallery "${file}" does not record its model path: pass --embedder <model.onnx>.`);
  let embedder: Embedder;
  try {
    embedder = await Embedder.create({ ...(info.spec as Partial<EmbedderOptions>), model: embedderSource(model), ...(info.output ? { output: info.output } : {}), batchSize });
  } catch (err) {
    const hint = override ? '' : ` (the path stored in the gallery; pass --embedder to use the model from elsewhere)`;
    if (err instanceof SkulensError) throw new SkulensError(err.code, `${err.message}${hint}`, { cause: err, input: model });
    throw new SkulensError('E_MODEL_LOAD', `Cannot open the gallery's embedder "${model}"${hint}: ${messageOf(err)}`, { cause: err, input: model });
  }
  try {
    gallery.useEmbedder(embedder);
  } catch (err) {
    await embedder.dispose();
    throw err;
  }
  return { gallery, embedder };
}

/** Embed items in chunks with a progress bar; failures are reported on stderr and come back as null. */
export async function embedItems(embedder: Embedder, items: readonly DatasetItem[], label: string): Promise<(Float32Array | null)[]> {
  const vectors: (Float32Array | null)[] = [];
  for await (const chunk of embedInChunks(embedder, items, label)) vectors.push(...chunk.vectors);
  return vectors;
}

function parseClusters(value: string): number | 'all' {
  if (value === 'all') return 'all';
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new InvalidArgumentError('expected a positive integer or "all".');
  return n;
}

function parseMetric(value: string): Metric {
  if (value !== 'cosine' && value !== 'l2') throw new InvalidArgumentError('expected cosine or l2.');
  return value;
}

/** Options shared by the verbs that query a gallery with embedded images (classify, eval). */
export function addGalleryQueryOptions(command: Command): Command {
  return command
    .requiredOption('--gallery <file>', 'gallery file (from "skulens gallery build")')
    .option('--k <n>', `neighbours that vote (default ${DEFAULT_K})`, parsePositiveInt('--k'))
    .option('--threshold <s>', `score below this answers "unknown" (default: the gallery's threshold; the score is the best similarity, or the calibrated score on a calibrated gallery)`, parseThreshold)
    .option('--embedder <model.onnx>', 'use this model file instead of the path stored in the gallery (must be the same model: fingerprint checked)')
    .option('--batch-size <n>', 'images per inference run', parsePositiveInt('--batch-size'), 16);
}

export function parseThreshold(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new InvalidArgumentError('expected a number.');
  return n;
}
