/** `skulens embed <images | folder | manifest.csv> --embedder <model.onnx>` */
import type { Command } from 'commander';
import { Embedder, SkulensError } from '../index.js';
import { expandImageArgs } from '../node/dataset.js';
import { action, embedInChunks, noneUsable, out, warnDefaultSpec } from './common.js';
import { EMBEDDER_HELP, MAX_PIXELS_HELP, checkPreset, embedderSource, parseMaxPixels, parsePositiveInt } from './options.js';

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description('embed images with an ONNX model and print one vector per image')
    .argument('<inputs...>', 'image files, folders (class sub-folders give labels) or path,label CSV manifests')
    .option('--embedder <model.onnx>', EMBEDDER_HELP)
    .option('--preset <name>', 'preprocessing preset: imagenet, nvidia-retail, clip')
    .option('--output <name>', 'model output holding the embedding')
    .option('--batch-size <n>', 'images per inference run', parsePositiveInt('--batch-size'), 16)
    .option('--max-pixels <n>', MAX_PIXELS_HELP, parseMaxPixels)
    .option('--json', 'print JSON lines { path, label?, vector }')
    .action(
      action(
        async (
          inputs: string[],
          opts: { embedder?: string; preset?: string; output?: string; batchSize: number; maxPixels?: number; json?: boolean },
        ) => {
          checkPreset(opts.embedder, opts.preset);
          const items = await expandImageArgs(inputs);
          if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
          const embedder = await Embedder.create({
            model: embedderSource(opts.embedder),
            preset: opts.preset,
            output: opts.output,
            batchSize: opts.batchSize,
            maxPixels: opts.maxPixels,
          });
          warnDefaultSpec(embedder);
          let ok = 0;
          for await (const { chunk, vectors } of embedInChunks(embedder, items, 'embedding')) {
            const lines: string[] = [];
            vectors.forEach((v, i) => {
              if (!v) return;
              ok++;
              const item = chunk[i]!;
              if (opts.json)
                lines.push(
                  JSON.stringify({ path: item.path, ...(item.label !== undefined ? { label: item.label } : {}), vector: Array.from(v) }),
                );
              else
                lines.push(
                  `${item.path}\t${item.label ?? ''}\t[${Array.from(v.subarray(0, 4), (x) => x.toFixed(4)).join(', ')}, …] (${v.length}-d)`,
                );
            });
            if (lines.length) await out(lines.join('\n') + '\n');
          }
          await embedder.dispose();
          if (ok === 0) throw noneUsable(items.length, 'embedded');
        },
      ),
    );
}
