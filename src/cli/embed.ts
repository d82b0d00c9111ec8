/** `skulens embed <images | folder | manifest.csv> --embedder <model.onnx>` */
import type { Command } from 'commander';
import { Embedder } from '../core/embedder.js';
import { SkulensError } from '../core/errors.js';
import { expandImageArgs, type DatasetItem } from '../node/dataset.js';
import { EMBEDDER_HELP, action, embedderSource, out, parsePositiveInt, warnDefaultSpec, warnSkipped } from './common.js';
import { createProgress } from './progress.js';

/** Inputs embedded per call, so output streams and memory stays flat on big folders. */
const CHUNK = 256;

/**
 * Embed image files in chunks with a progress bar, reporting and skipping the ones that
 * cannot be read; yields each chunk with its vectors (null where an image was skipped).
 */
export async function* embedInChunks<T extends DatasetItem>(embedder: Embedder, items: readonly T[], label: string): AsyncGenerator<{ chunk: T[]; vectors: (Float32Array | null)[] }> {
  const progress = createProgress(label, items.length);
  for (let start = 0; start < items.length; start += CHUNK) {
    const chunk = items.slice(start, start + CHUNK);
    const { vectors, failures } = await embedder.embedSettled(
      chunk.map((i) => i.path),
      { onProgress: (p) => progress.update(start + p.done) },
    );
    for (const f of failures) warnSkipped(chunk[f.index]!.path, f.error.message);
    yield { chunk, vectors };
  }
  progress.done();
}

export function registerEmbed(program: Command): void {
  program
    .command('embed')
    .description('embed images with an ONNX model and print one vector per image')
    .argument('<inputs...>', 'image files, folders (class sub-folders give labels) or path,label CSV manifests')
    .option('--embedder <model.onnx>', EMBEDDER_HELP)
    .option('--preset <name>', 'preprocessing preset: imagenet, nvidia-retail, clip')
    .option('--output <name>', 'model output holding the embedding')
    .option('--batch-size <n>', 'images per inference run', parsePositiveInt('--batch-size'), 16)
    .option('--json', 'print JSON lines { path, label?, vector }')
    .action(
      action(async (inputs: string[], opts: { embedder?: string; preset?: string; output?: string; batchSize: number; json?: boolean }) => {
        const items = await expandImageArgs(inputs);
        if (items.length === 0) throw new SkulensError('E_EMPTY', 'No images found in the given inputs.');
        const embedder = await Embedder.create({ model: embedderSource(opts.embedder), preset: opts.preset, output: opts.output, batchSize: opts.batchSize });
        warnDefaultSpec(embedder);
        let ok = 0;
        for await (const { chunk, vectors } of embedInChunks(embedder, items, 'embedding')) {
          const lines: string[] = [];
          vectors.forEach((v, i) => {
            if (!v) return;
            ok++;
            const item = chunk[i]!;
            if (opts.json) lines.push(JSON.stringify({ path: item.path, ...(item.label !== undefined ? { label: item.label } : {}), vector: Array.from(v) }));
            else lines.push(`${item.path}\t${item.label ?? ''}\t[${Array.from(v.subarray(0, 4), (x) => x.toFixed(4)).join(', ')}, …] (${v.length}-d)`);
          });
          if (lines.length) await out(lines.join('\n') + '\n');
        }
        await embedder.dispose();
        if (ok === 0) throw new SkulensError('E_IMAGE_DECODE', `None of the ${items.length} images could be embedded.`);
      }),
    );
}
