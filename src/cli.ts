#!/usr/bin/env node
/** The `skulens` command line. Each verb lives in src/cli/<verb>.ts. */
import { Command } from 'commander';
import './node/platform.js';
import { registerEmbed } from './cli/embed.js';
import { registerDetect } from './cli/detect.js';

const program = new Command();
program.name('skulens').description('Few-shot retail product (SKU) recognition').version(process.env.SKULENS_VERSION ?? '0.1.0');
registerEmbed(program);
registerDetect(program);

await program.parseAsync(process.argv);
