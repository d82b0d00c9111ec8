/**
 * Child process for the "save killed half-way" test: builds a large gallery (the
 * vectors need not be meaningful) and saves it over the path given, printing "saving"
 * just before the write starts.
 */
import '../../src/node/platform.js';
import { ReferenceGallery } from '../../src/core/gallery/gallery.js';

const [path, countArg] = process.argv.slice(2);
const count = Number(countArg ?? 40000);
const dim = 1280;
const g = new ReferenceGallery({ dim, clustersPerClass: 'all', index: 'exact' });
const block = new Float32Array(1000 * dim);
for (let i = 0; i < block.length; i++) block[i] = Math.sin(i) + 1.5;
for (let c = 0; c < count / 1000; c++) g.add(`class-${c}`, block);
process.stdout.write('saving\n');
await g.save(path!);
process.stdout.write('saved\n');
