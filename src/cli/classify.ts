/** `skulens classify <image...> --gallery <file> [--top K] [--json]` */
import type { Command } from 'commander';
import { SkulensError } from '../index.js';
import { expandImageArgs } from '../node/dataset.js';
import { action, embedItems, noneUsable, out } from './common.js';
import { addGalleryQueryOptions, openGallery, parsePositiveInt, type GalleryQueryFlags } from './options.js';

export function registerClassify(program: Command): void {
  addGalleryQueryOptions(
    program
      .command('classify')
      .description('name images with a reference gallery (kNN vote; "unknown" below the threshold)')
      .argument('<images...>', 'image files, folders or path,label CSV manifests'),
  )
    .option('--top <K>', 'labels to list per image', parsePositiveInt('--top'), 1)
    .option('--json', 'print one JSON line per image: { path, label, guess, score, unknownScore, unknown, labels }')
    .action(
      action(async (inputs: string[], opts: GalleryQueryFlags & { top: number; json?: boolean }) => {
        const items = await expandImageArgs(inputs);
        if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
        const { gallery, embedder } = await openGallery(opts.gallery, opts.embedder, opts.batchSize, opts.maxPixels);
        try {
          const vectors = await embedItems(embedder, items, 'classifying');
          const lines: string[] = [];
          const ok = vectors.flatMap((v, i) => (v ? [{ v, path: items[i]!.path }] : []));
          const answers = gallery.classifyBatch(
            ok.map((o) => o.v),
            { top: opts.top, ...(opts.k ? { k: opts.k } : {}), ...(opts.threshold !== undefined ? { threshold: opts.threshold } : {}) },
          );
          const threshold = opts.threshold ?? gallery.threshold;
          ok.forEach(({ path }, i) => {
            const r = answers[i]!;
            if (opts.json) {
              const json = {
                path,
                label: r.unknown ? null : r.label,
                guess: r.label,
                score: r.score,
                unknownScore: r.unknownScore,
                unknown: r.unknown,
                labels: r.labels.slice(0, opts.top),
              };
              lines.push(JSON.stringify(json));
            } else {
              // The score shown is the one compared with the threshold; the ranked labels keep their similarities.
              const decision = r.unknown
                ? `unknown\tscore ${r.unknownScore.toFixed(3)} < ${threshold} (nearest: ${r.label})`
                : `${r.label}\tscore ${r.unknownScore.toFixed(3)}`;
              const ranked =
                opts.top > 1
                  ? `\tsimilarity: ${r.labels
                      .slice(0, opts.top)
                      .map((l) => `${l.label} ${l.score.toFixed(3)}`)
                      .join(', ')}`
                  : '';
              lines.push(`${path}\t${decision}${ranked}`);
            }
          });
          if (lines.length) await out(lines.join('\n') + '\n');
          if (lines.length === 0) throw noneUsable(items.length);
        } finally {
          await embedder.dispose();
        }
      }),
    );
}
