/**
 * `skulens gallery build <refs> -o <file> --embedder <model.onnx>` and
 * `skulens gallery info <file>`, plus the helpers `classify` and `eval` share: opening a
 * gallery together with the embedder it remembers, and embedding a list of images with
 * a progress bar, skipping (and reporting) the ones that cannot be read.
 */
import type { Command } from 'commander';
import { DEFAULT_CLUSTERS, DEFAULT_THRESHOLD, Embedder, ReferenceGallery, SkulensError, type Metric } from '../index.js';
import { action, embedItems, out, readLabelledImages, warnDefaultSpec } from './common.js';
import { EMBEDDER_HELP, embedderSource, parseClusters, parseMetric, parsePositiveInt, parseThreshold } from './options.js';

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
          g.bindEmbedder(embedder);
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

