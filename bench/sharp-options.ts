/**
 * Does any of sharp's options lower its per-call JPEG decoding cost? (docs/embedder.md)
 *
 * Decodes the same 512 Grocery Store test photos (348×348 and 348×464) from memory the way
 * loadImage() does, with 4 decodes in flight, under each setting; prints CPU and wall time
 * per image, median of 3 passes. Settings that change global sharp state run last.
 *
 * Run: npx tsx bench/sharp-options.ts [--n 512]
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import sharp, { type SharpOptions } from 'sharp';
import { readLabelledSet } from '../src/node/dataset.js';
import { DEFAULT_MAX_PIXELS } from '../src/core/image.js';
import { sharpToRgb } from '../src/node/image-loader.js';
import { GROCERY } from '../tools/grocery.js';

const { values } = parseArgs({ options: { n: { type: 'string', default: '512' } } });
const items = (await readLabelledSet(join(GROCERY, 'test.csv'))).items.slice(0, Number(values.n));
const jpegs = await Promise.all(items.map((i) => readFile(i.path)));

/** loadImage's own pipeline, with extra input options. */
const decode = (input: Buffer | Buffer[], options: SharpOptions = {}) =>
  sharpToRgb(input, { limitInputPixels: DEFAULT_MAX_PIXELS, ...options }).toBuffer({ resolveWithObject: true });

/** Runs `job` over groups of `group` images, 4 jobs in flight; CPU and wall ms per image. */
async function measure(job: (batch: Buffer[]) => Promise<unknown>, group = 1): Promise<{ cpu: number; wall: number }> {
  const passes: { cpu: number; wall: number }[] = [];
  for (let pass = 0; pass < 3; pass++) {
    const cpu0 = process.cpuUsage();
    const t0 = performance.now();
    let next = 0;
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        while (next < jpegs.length) {
          const batch = jpegs.slice(next, next + group);
          next += group;
          await job(batch);
        }
      }),
    );
    const cpu = process.cpuUsage(cpu0);
    passes.push({ cpu: (cpu.user + cpu.system) / 1000 / jpegs.length, wall: (performance.now() - t0) / jpegs.length });
  }
  passes.sort((a, b) => a.cpu - b.cpu);
  return passes[1]!;
}

const settings: [string, () => Promise<{ cpu: number; wall: number }>][] = [
  ['loadImage as shipped', () => measure(([b]) => decode(b!))],
  ["failOn: 'none'", () => measure(([b]) => decode(b!, { failOn: 'none' }))],
  ['sequentialRead: false', () => measure(([b]) => decode(b!, { sequentialRead: false }))],
  ['4 JPEGs joined into one pipeline', () => measure((bs) => decode(bs, { join: { across: 1 } }), 4)],
  ['16 JPEGs joined into one pipeline', () => measure((bs) => decode(bs, { join: { across: 1 } }), 16)],
  ['sharp.cache(false)', () => (sharp.cache(false), measure(([b]) => decode(b!)))],
  ['sharp.cache(false) + sharp.concurrency(1)', () => (sharp.concurrency(1), measure(([b]) => decode(b!)))],
];
await measure(([b]) => decode(b!)); // warm-up
console.log(`${jpegs.length} JPEGs decoded from memory, 4 in flight, median of 3 passes`);
console.log('| setting | CPU ms / image | wall ms / image |\n|---|---:|---:|');
for (const [name, run] of settings) {
  const { cpu, wall } = await run();
  console.log(`| ${name} | ${cpu.toFixed(2)} | ${wall.toFixed(2)} |`);
}
