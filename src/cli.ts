#!/usr/bin/env node
/** The `skulens` command line. Each verb lives in src/cli/<verb>.ts. */
import { Command } from 'commander';
import './node/platform.js';
import { registerEmbed } from './cli/embed.js';
import { registerGallery } from './cli/gallery.js';
import { registerClassify } from './cli/classify.js';
import { registerEval } from './cli/eval.js';
import { registerDetect } from './cli/detect.js';
import { registerRecognize } from './cli/recognize.js';

const program = new Command();
program.name('skulens').description('Few-shot retail product (SKU) recognition').version(process.env.SKULENS_VERSION ?? '0.1.0');
registerEmbed(program);
registerGallery(program);
registerClassify(program);
registerEval(program);
registerDetect(program);
registerRecognize(program);

await program.parseAsync(process.argv);
