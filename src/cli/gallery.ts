/**
 * `skulens gallery build <refs> -o <file> --embedder <model.onnx>` and
 * `skulens gallery info <file>`, plus the helpers `classify` and `eval` share: opening a
 * gallery together with the embedder it remembers, and embedding a list of images with
 * a progress bar, skipping (and reporting) the ones that cannot be read.
 */
import { type Command, InvalidArgumentError } from 'commander';
import { mkdir } from 'node:fs/promises';
import { dirname, resolve } from 'node:path';
import { messageOf } from '../core/errors.js';
import { is } from '../core/is.js';
import { DEFAULT_CLUSTERS, DEFAULT_THRESHOLD, Embedder, ReferenceGallery, SkulensError, type Metric } from '../index.js';
import { DEFAULT_AUGMENT_VIEWS } from '../core/augment/augment.js';
import { expandImageArgs, type DatasetItem } from '../node/dataset.js';
import { plural } from '../core/plural.js';
import { action, embedItems, noneUsable, out, readLabelledImages, warnDefaultSpec, warnSkipped } from './common.js';
import {
  EMBEDDER_HELP,
  MAX_PIXELS_HELP,
  checkPreset,
  embedderSource,
  parseMaxPixels,
  parseClusters,
  parseMetric,
  parsePositiveInt,
  parseThreshold,
} from './options.js';
import { createProgress } from './progress.js';

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
    .option('--max-pixels <n>', MAX_PIXELS_HELP, parseMaxPixels)
    .option(
      '--threshold <s>',
      `default "unknown" threshold stored in the gallery (default: measured per built-in embedder, else ${DEFAULT_THRESHOLD}; or pick one with --calibrate)`,
      parseThreshold,
    )
    .option('--float16', 'store vectors as float16 (half the file size)')
    .option('--adapt', 'learn a projection from the references that separates look-alike classes (docs/accuracy.md); stored in the gallery')
    .option(
      '--calibrate',
      'pick the "unknown" threshold from held-out references (docs/accuracy.md); with --threshold, that threshold applies to the calibrated score instead',
    )
    .option(
      '--augment [N]',
      `store N synthetic views of every reference besides it: crop, perspective, colour, blur, JPEG, background (default N ${DEFAULT_AUGMENT_VIEWS}; docs/gallery.md)`,
      parseViews,
    )
    .option(
      '--negatives <dir|csv>',
      'images of products that are NOT targets (a folder, searched at any depth, or a path,label CSV whose labels are ignored): never named, they count against naming (docs/gallery.md)',
    )
    .action(
      action(
        async (
          refs: string,
          opts: {
            output: string;
            embedder?: string;
            preset?: string;
            embeddingOutput?: string;
            clusters?: number | 'all';
            metric: Metric;
            batchSize: number;
            threshold?: number;
            float16?: boolean;
            adapt?: boolean;
            calibrate?: boolean;
            augment?: number | true;
            negatives?: string;
            maxPixels?: number;
          },
        ) => {
          checkPreset(opts.embedder, opts.preset);
          const items = await readLabelledImages(refs, 'reference');
          const negatives = opts.negatives !== undefined ? await readNegatives(opts.negatives) : [];
          // Create the output's folder now, so a bad -o fails before the (long) embedding, not after.
          await mkdir(dirname(resolve(opts.output)), { recursive: true }).catch((err: unknown) => {
            throw new SkulensError('E_IO', `Cannot create the folder of "${opts.output}": ${messageOf(err)}. Choose another -o path.`, {
              cause: err,
              input: opts.output,
            });
          });
          const embedder = await Embedder.create({
            model: embedderSource(opts.embedder),
            preset: opts.preset,
            output: opts.embeddingOutput,
            batchSize: opts.batchSize,
            maxPixels: opts.maxPixels,
          });
          warnDefaultSpec(embedder);
          try {
            const g = new ReferenceGallery({
              metric: opts.metric,
              clustersPerClass: opts.clusters ?? DEFAULT_CLUSTERS,
              ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
            });
            g.bindEmbedder(embedder);
            const views = opts.augment === undefined ? 0 : opts.augment === true ? DEFAULT_AUGMENT_VIEWS : opts.augment;
            const vectors =
              views > 0 ? await embedAugmented(g, embedder, items, views) : await embedItems(embedder, items, 'embedding references');
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
            if (g.size === 0) throw noneUsable(items.length, 'embedded', 'reference image');
            if (negatives.length) {
              const nv = (await embedItems(embedder, negatives, 'embedding negatives')).filter((v): v is Float32Array => v !== null);
              if (nv.length === 0) throw noneUsable(negatives.length, 'embedded', 'negative image');
              g.addNegatives(nv);
            }
            if (opts.adapt) adaptGallery(g);
            if (opts.calibrate) calibrateGallery(g);
            // adapt() and calibrate() set thresholds of their own; one given explicitly wins, on the score they leave.
            if (opts.threshold !== undefined) {
              if (g.thresholdSource === 'calibrated')
                note(
                  `--threshold ${opts.threshold} replaces the calibrated threshold ${g.threshold.toFixed(4)}: it applies to the calibrated score`,
                );
              g.setThreshold(opts.threshold);
            }
            if (g.thresholdSource === 'adapted')
              note('--adapt without --calibrate: this gallery never answers "unknown" (its threshold is -1); add --calibrate for that');
            await g.save(opts.output, { float16: opts.float16 === true });
            const added = vectors.filter(Boolean).length;
            process.stderr.write(
              `skulens: wrote ${opts.output}: ${plural(g.labels.length, 'label')}, ${plural(added, 'reference')}${views ? ` (+${plural(views, 'view')} each)` : ''} → ${plural(g.size, 'vector')} (${g.dim}-d, ${g.metric}, clusters ${g.clustersPerClass})${g.negativeCount ? `, ${plural(g.negativeCount, 'negative')}` : ''}, threshold ${g.threshold} (${describeThresholdSource(g)})\n`,
            );
          } finally {
            await embedder.dispose();
          }
        },
      ),
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
          thresholdSource: g.thresholdSource,
          negatives: g.negativeCount,
          adaptation: g.adaptationInfo ?? null,
          calibration: g.calibrationInfo
            ? {
                rejectRate: g.calibrationInfo.rejectRate,
                folds: g.calibrationInfo.folds,
                stale: g.calibrationInfo.stale === true,
                rawThreshold: g.calibrationInfo.guards?.raw?.threshold ?? null,
                negatives: g.calibrationInfo.guards?.negatives ?? null,
              }
            : null,
          index: g.indexChoice,
          hnsw: g.hnsw,
          embedder: g.embedder ?? null,
          classes,
        };
        if (opts.json) return out(JSON.stringify(info) + '\n');
        const e = g.embedder;
        const lines = [
          `${file}`,
          `  ${plural(info.labels, 'label')}, ${plural(info.references, 'reference')} → ${plural(info.vectors, 'vector')}, ${info.dim}-d, ${info.metric}, clusters per class: ${info.clustersPerClass}`,
          `  threshold ${info.threshold} (${describeThresholdSource(g)})`,
          ...(info.negatives ? [`  negative references: ${info.negatives}`] : []),
          ...(info.adaptation
            ? [
                `  adaptation: ${info.adaptation.method === 'lda' ? `LDA ${info.adaptation.inDim}-d → ${info.adaptation.outDim}-d (power ${info.adaptation.power}, shrinkage ${info.adaptation.shrinkage})` : `none (${info.adaptation.reason ?? 'identity'})`}`,
              ]
            : []),
          ...(info.calibration
            ? [
                `  calibrated: threshold on similarity minus per-label offset (${plural(info.calibration.folds, 'fold')}, reject rate ${info.calibration.rejectRate})${info.calibration.stale ? ' — STALE: classes or negatives changed since, re-calibrate' : ''}`,
              ]
            : []),
          ...(info.calibration?.rawThreshold != null ? [`  raw-space guard: threshold ${info.calibration.rawThreshold}`] : []),
          ...(info.calibration?.negatives
            ? [
                `  negative guard: threshold ${info.calibration.negatives.threshold}, ${(100 * info.calibration.negatives.falseNameRate).toFixed(1)}% of ${plural(info.calibration.negatives.heldOut, 'held-out negative')} named`,
              ]
            : []),
          `  index: ${info.index} (HNSW M=${g.hnsw.M} efConstruction=${g.hnsw.efConstruction} ef=${g.hnsw.ef})`,
          e
            ? `  embedder: ${e.path ?? '(no path)'}${e.preset ? ` preset ${e.preset}` : ''}, output ${e.output ?? '?'}, fingerprint ${e.fingerprint}`
            : '  embedder: not recorded',
          `  label                                    references  vectors`,
          ...classes.map((c) => `  ${c.label.padEnd(40)} ${String(c.references).padStart(10)}  ${String(c.vectors).padStart(7)}`),
        ];
        await out(lines.join('\n') + '\n');
      }),
    );
}

function note(text: string): void {
  process.stderr.write(`skulens: note: ${text}\n`);
}

/** Below this median of references per class, docs/accuracy.md has no figure for adapt(): say so. */
const ADAPT_MEASURED_FROM = 5;

/** --adapt: fit the projection and say what came of it; an identity fit is a note, not an error. */
function adaptGallery(g: ReferenceGallery): void {
  const a = g.adapt();
  if (a.method !== 'lda') {
    note(`not adapted: ${a.reason}`);
    return;
  }
  process.stderr.write(
    `skulens: adapted: ${a.inDim}-d → ${a.outDim}-d from ${plural(a.references, 'reference')} in ${(a.fitMs / 1000).toFixed(1)} s\n`,
  );
  const refs = g
    .classInfo()
    .map((c) => c.references)
    .sort((x, y) => x - y);
  const median = refs[refs.length >> 1]!;
  if (median < ADAPT_MEASURED_FROM) {
    note(
      `adapted from ${plural(median, 'reference')} per class (median): docs/accuracy.md measures adapt() from ${ADAPT_MEASURED_FROM} up, fewer are untested; compare with a gallery built without --adapt (skulens eval)`,
    );
  }
}

/** --calibrate: pick the threshold from held-out references, or say why there are none to hold out and build on without. */
function calibrateGallery(g: ReferenceGallery): void {
  const classes = g.classInfo();
  const why =
    classes.length < 2
      ? `calibration needs at least 2 classes (this gallery has ${classes.length})`
      : classes.every((c) => c.references < 2)
        ? 'calibration holds references out to test on, so it needs a class with at least 2 (each class has 1)'
        : undefined;
  if (why) {
    note(`not calibrated: ${why}; the threshold stays ${g.threshold} (${describeThresholdSource(g)})`);
    return;
  }
  const c = g.calibrate();
  process.stderr.write(
    `skulens: calibrated threshold ${c.threshold.toFixed(4)} from ${plural(c.heldOut, 'held-out reference')} (${plural(c.folds, 'fold')}, ${(c.ms / 1000).toFixed(1)} s)\n`,
  );
  if (c.rawThreshold !== undefined) process.stderr.write(`skulens: raw-space guard threshold ${c.rawThreshold.toFixed(4)}\n`);
  if (c.negatives) {
    const n = c.negatives;
    process.stderr.write(
      `skulens: negative guard threshold ${n.threshold.toFixed(4)}: ${(100 * n.falseNameRate).toFixed(1)}% of ${plural(n.heldOut, 'held-out negative')} still named, ${(100 * n.knownRejected).toFixed(1)}% of held-out references rejected by it\n`,
    );
  }
}

/** Where the threshold comes from, in words (gallery build and info). */
function describeThresholdSource(g: ReferenceGallery): string {
  switch (g.thresholdSource) {
    case 'embedder':
      return `measured for the built-in ${g.embedder?.path ?? 'embedder'} on Grocery Store val; --calibrate fits one to this gallery`;
    case 'calibrated':
      return "calibrated on this gallery's held-out references";
    case 'adapted':
      return 'adapted and not calibrated: nothing is "unknown"; add --calibrate';
    case 'explicit':
      return 'set explicitly';
    case 'default':
      return `the generic default ${DEFAULT_THRESHOLD}: not measured for this embedder, use --calibrate`;
    default:
      return 'stored by an earlier skulens';
  }
}

/** Embed each class's images with N augmented views (ReferenceGallery.addImages), with one progress bar; failures reported and skipped. */
async function embedAugmented(
  g: ReferenceGallery,
  embedder: Embedder,
  items: readonly Required<DatasetItem>[],
  views: number,
): Promise<(Float32Array | null)[]> {
  const progress = createProgress(`embedding references (+${plural(views, 'view')} each)`, items.length);
  const ok = new Array<Float32Array | null>(items.length).fill(null);
  const labels = [...new Set(items.map((i) => i.label))];
  let done = 0;
  try {
    for (const label of labels) {
      const idx = items.flatMap((it, i) => (it.label === label ? [i] : []));
      const r = await g.addImages(
        embedder,
        label,
        idx.map((i) => items[i]!.path),
        { augment: views, onProgress: (p) => progress.update(done + p.done) },
      );
      const failed = new Set(r.failures.map((f) => f.index));
      for (const f of r.failures) warnSkipped(f.input, f.error.message);
      // Only success matters to the caller here (the vectors are in the gallery already).
      idx.forEach((i, j) => (ok[i] = failed.has(j) ? null : new Float32Array(0)));
      done += idx.length;
    }
  } finally {
    progress.done();
  }
  return ok;
}

/** The --negatives images: a folder (any depth) or a path,label CSV (labels ignored). */
async function readNegatives(source: string): Promise<DatasetItem[]> {
  const items = await expandImageArgs([source]);
  if (items.length === 0) throw new SkulensError('E_EMPTY', `No negative images found in "${source}".`, { input: source });
  return items;
}

function parseViews(value: string): number {
  const n = Number(value);
  if (!is.int(n, 1, 1000)) throw new InvalidArgumentError('expected a whole number of views from 1 to 1000.');
  return n;
}
