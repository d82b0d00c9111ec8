#!/usr/bin/env node
/** The `skulens` command line. Each verb lives in src/cli/<verb>.ts. */
import { createRequire } from 'node:module';
import { Command } from 'commander';
import './node/platform.js';
import { registerEmbed } from './cli/embed.js';
import { registerGallery } from './cli/gallery.js';
import { registerClassify } from './cli/classify.js';
import { registerEval } from './cli/eval.js';
import { registerDetect } from './cli/detect.js';
import { registerRecognize } from './cli/recognize.js';
import { registerService } from './cli/service.js';

// ../package.json from both src/cli.ts and dist/cli.js.
const { version } = createRequire(import.meta.url)('../package.json') as { version: string };
const program = new Command();
program.name('skulens').description('Few-shot retail product (SKU) recognition').version(version);
// commander's usage errors ("error: unknown option '--x'") in the shape of every other CLI
// error: "skulens: <message> [E_INPUT]". Set before the verbs, which inherit it.
program.configureOutput({
  outputError: (text, write) =>
    write(
      `skulens: ${text
        .trim()
        .replace(/^error: /, '')
        .replace(/\s*\n\s*/g, ' ')} [E_INPUT]\n`,
    ),
});
registerEmbed(program);
registerGallery(program);
registerClassify(program);
registerEval(program);
registerDetect(program);
registerRecognize(program);
registerService(program);

await program.parseAsync(process.argv);
