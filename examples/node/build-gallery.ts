/**
 * Build a reference gallery from a folder with one sub-folder of photos per product,
 * then name a photo with it.
 *
 *   npx tsx examples/node/build-gallery.ts <refs-folder> <query.jpg> [gallery.skg] [embedder.onnx]
 *
 * The same as `skulens gallery build <refs> -o gallery.skg` followed by
 * `skulens classify query.jpg --gallery gallery.skg`, written with the API. Without an
 * embedder argument it uses the one built into skulens; a model file given is used with
 * the ImageNet preset.
 */
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Embedder, ReferenceGallery } from 'skulens';

const [refs, query, out = 'gallery.skg', model] = process.argv.slice(2);
if (!refs || !query) {
  console.error('usage: build-gallery.ts <refs-folder> <query.jpg> [gallery.skg] [embedder.onnx]');
  process.exit(1);
}

const embedder = await Embedder.create(model ? { model, preset: 'imagenet' } : {});
const gallery = new ReferenceGallery({ metric: 'cosine' });

for (const label of readdirSync(refs, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)) {
  const photos = readdirSync(join(refs, label)).map((f) => join(refs, label, f));
  const { added, failures } = await gallery.addImages(embedder, label, photos);
  for (const f of failures) console.warn(`skipped ${f.input}: ${f.error.message}`);
  console.log(`${label}: ${added} reference${added === 1 ? '' : 's'}`);
}
await gallery.save(out); // atomic: a crash never leaves a half-written file

const [vector] = await embedder.embed([query]);
const answer = gallery.classify(vector!, { k: 5 });
console.log(answer.unknown ? `unknown (closest: ${answer.label})` : `${answer.label} (similarity ${answer.score.toFixed(3)})`);
await embedder.dispose();
