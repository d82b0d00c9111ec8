/** `skulens recognize <image...> [--detector <model.onnx|skulens:shelf>] --gallery <file> [--json] [--annotate <out.jpg>]` */
import type { Command } from 'commander';
import { DEFAULT_K, Recognizer, SkulensError, annotate, type RecognizeTimings } from '../index.js';
import { expandImageArgs } from '../node/dataset.js';
import { plural } from '../core/plural.js';
import { action, annotationPaths, forEachImage, noneUsable, out, round, roundBox } from './common.js';
import {
  THRESHOLD_HELP,
  addDetectorOptions,
  createDetectorFromFlags,
  openGallery,
  parsePositiveInt,
  parseThreshold,
  type DetectorFlags,
} from './options.js';

type Flags = DetectorFlags & {
  gallery: string;
  embedder?: string;
  batchSize: number;
  k?: number;
  threshold?: number;
  json?: boolean;
  annotate?: string;
};

const STAGES = ['decode', 'detect', 'embed', 'search', 'total'] as const;

export function registerRecognize(program: Command): void {
  addDetectorOptions(
    program
      .command('recognize')
      .description('detect products, name each box with a reference gallery and count facings per label')
      .argument('<images...>', 'image files, folders or path,label CSV manifests'),
  )
    .requiredOption('--gallery <file>', 'gallery file (from "skulens gallery build")')
    .option('--embedder <model.onnx>', 'use this model file instead of the path stored in the gallery (fingerprint checked)')
    .option('--batch-size <n>', 'crops per embedder run', parsePositiveInt('--batch-size'), 32)
    .option('--k <n>', `neighbours that vote (default ${DEFAULT_K})`, parsePositiveInt('--k'))
    .option('--threshold <s>', THRESHOLD_HELP, parseThreshold)
    .option(
      '--json',
      'print [{ image, width, height, tiles, items: [{ box, score, label, guess, similarity, unknownScore, unknown }], counts, unknown, shelf: [{ label, facings, facingShare, areaShare }], timings }]',
    )
    .option(
      '--annotate <out.jpg>',
      'draw the named boxes: one image → that file; several → <out>-<image name>.jpg each; a folder → <folder>/<image name>.jpg',
    )
    .action(
      action(async (inputs: string[], opts: Flags) => {
        const items = await expandImageArgs(inputs);
        if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
        const paths = items.map((i) => i.path);
        const targets = opts.annotate ? await annotationPaths(opts.annotate, paths) : [];
        const { gallery, embedder } = await openGallery(opts.gallery, opts.embedder, opts.batchSize, opts.maxPixels);
        let recognizer: Recognizer;
        try {
          const detector = await createDetectorFromFlags(opts);
          recognizer = new Recognizer({
            detector,
            embedder,
            gallery,
            ...(opts.k ? { k: opts.k } : {}),
            ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}),
          });
        } catch (err) {
          await embedder.dispose();
          throw err;
        }

        const results: unknown[] = [];
        const timings: RecognizeTimings[] = [];
        let boxes = 0;
        try {
          await forEachImage(
            paths,
            'recognizing',
            (path) => recognizer.recognize(path),
            async (r, path, i) => {
              timings.push(r.timings);
              boxes += r.items.length;
              const t = Object.fromEntries(STAGES.map((s) => [s, round(r.timings[s])]));
              if (opts.json) {
                const items = r.items.map((it) => ({
                  box: roundBox(it.box),
                  score: round(it.score, 4),
                  label: it.label,
                  guess: it.guess,
                  similarity: round(it.similarity, 4),
                  unknownScore: round(it.unknownScore, 4),
                  unknown: it.unknown,
                }));
                const shelf = r.shelf.map((s) => ({
                  label: s.label,
                  facings: s.facings,
                  facingShare: round(s.facingShare, 4),
                  areaShare: round(s.areaShare, 4),
                }));
                results.push({
                  image: path,
                  width: r.width,
                  height: r.height,
                  tiles: r.tiles,
                  items,
                  counts: r.counts,
                  unknown: r.unknown,
                  shelf,
                  timings: t,
                });
              } else {
                const counts = Object.entries(r.counts)
                  .sort((a, b) => b[1] - a[1])
                  .map(([label, n]) => `${label}×${n}`);
                if (r.unknown) counts.push(`unknown×${r.unknown}`);
                const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
                const share = r.shelf.map((s) => `${s.label ?? 'unknown'} ${pct(s.facingShare)} / ${pct(s.areaShare)}`);
                await out(
                  `${path}\t${r.width}x${r.height}\t${plural(r.items.length, 'item')}\t${counts.join(', ') || '-'}\n` +
                    (share.length ? `  share of shelf (facings / box area): ${share.join(', ')}\n` : '') +
                    `  timings ms: ${STAGES.map((s) => `${s} ${t[s]}`).join(', ')}\n`,
                );
              }
              if (opts.annotate) {
                // A tag's number is the one compared with the threshold, as in the JSON's unknownScore.
                const drawn = r.items.map((it) => ({ box: it.box, label: it.guess, score: it.unknownScore, unknown: it.unknown }));
                await annotate(path, drawn, { file: targets[i]!, ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}) });
                process.stderr.write(`skulens: wrote ${targets[i]}\n`);
              }
            },
          );
        } finally {
          await recognizer.dispose();
        }
        if (timings.length === 0) throw noneUsable(paths.length);
        if (opts.json) await out(JSON.stringify(results, null, 1) + '\n');
        else {
          const median = (s: (typeof STAGES)[number]) => {
            const v = timings.map((t) => t[s]).sort((a, b) => a - b);
            return round(v[v.length >> 1]!);
          };
          await out(
            `${plural(timings.length, 'image')}, ${plural(boxes, 'box', 'boxes')}; median ms per image: ${STAGES.map((s) => `${s} ${median(s)}`).join(', ')}\n`,
          );
        }
      }),
    );
}
