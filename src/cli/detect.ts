/** `skulens detect <image...> [--detector <model.onnx|skulens:shelf>] [--tiles auto|off|N] [--json] [--annotate <out.jpg>]` */
import type { Command } from 'commander';
import { SkulensError, annotate } from '../index.js';
import { expandImageArgs } from '../node/dataset.js';
import { plural } from '../core/plural.js';
import { action, annotationPaths, forEachImage, noneUsable, out, round, roundBox } from './common.js';
import { addDetectorOptions, createDetectorFromFlags, type DetectorFlags } from './options.js';

export function registerDetect(program: Command): void {
  addDetectorOptions(
    program
      .command('detect')
      .description('find products (built-in skulens:shelf) or objects (any YOLO ONNX detector); boxes in original image pixels')
      .argument('<images...>', 'image files, folders or path,label CSV manifests'),
  )
    .option('--json', 'print [{ image, width, height, tiles, detections: [{ box: {x,y,width,height}, score, classId, label }] }]')
    .option(
      '--annotate <out.jpg>',
      'draw the boxes: one image → that file; several → <out>-<image name>.jpg each; a folder → <folder>/<image name>.jpg',
    )
    .action(
      action(async (inputs: string[], opts: DetectorFlags & { json?: boolean; annotate?: string }) => {
        const items = await expandImageArgs(inputs);
        if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
        const paths = items.map((i) => i.path);
        const targets = opts.annotate ? await annotationPaths(opts.annotate, paths) : [];
        const detector = await createDetectorFromFlags(opts);
        const results: unknown[] = [];
        let ok = 0;
        try {
          ok = await forEachImage(
            paths,
            'detecting',
            (path) => detector.detectDetailed(path),
            async (r, path, i) => {
              const detections = r.detections.map((d) => ({
                box: roundBox(d.box),
                score: round(d.score, 4),
                classId: d.classId,
                label: d.label ?? null,
              }));
              if (opts.json) results.push({ image: path, width: r.width, height: r.height, tiles: r.tiles, detections });
              else {
                const tiles = r.tiles ? ` (whole photo + ${plural(r.tiles, 'tile')})` : '';
                const lines = [
                  `${path}\t${r.width}x${r.height}\t${plural(detections.length, 'detection')}\t${r.timings.inference.toFixed(0)} ms inference${tiles}`,
                ];
                for (const d of detections)
                  lines.push(
                    `  ${d.label ?? `class ${d.classId}`}\t${d.score.toFixed(3)}\t${d.box.x},${d.box.y},${d.box.width},${d.box.height}`,
                  );
                await out(lines.join('\n') + '\n');
              }
              if (opts.annotate) {
                await annotate(path, r.detections, {
                  file: targets[i]!,
                  ...(opts.maxPixels !== undefined ? { maxPixels: opts.maxPixels } : {}),
                });
                process.stderr.write(`skulens: wrote ${targets[i]}\n`);
              }
            },
          );
        } finally {
          await detector.dispose();
        }
        // Nothing read: an error, and no "[]" on stdout that a JSON reader would take for a result.
        if (ok === 0) throw noneUsable(paths.length);
        if (opts.json) await out(JSON.stringify(results, null, 1) + '\n');
      }),
    );
}
