/** Small galleries of grocery photos for the service tests (built-in embedder, a few references per class). */
import { join } from 'node:path';
import '../../src/node/platform.js';
import { Embedder } from '../../src/core/embedder.js';
import { ReferenceGallery } from '../../src/core/gallery/gallery.js';
import { grocery } from './shared.js';

export const FRUIT: Record<string, string> = {
  Banana: 'train/Fruit/Banana',
  Orange: 'train/Fruit/Orange',
  'Granny-Smith': 'train/Fruit/Apple/Granny-Smith',
};
export const MORE_FRUIT: Record<string, string> = { ...FRUIT, Kiwi: 'train/Fruit/Kiwi', Lemon: 'train/Fruit/Lemon' };

/** Save a gallery of `perClass` references per label, embedded with `embedder` (default: the built-in one). */
export async function saveGallery(
  file: string,
  classes: Record<string, string>,
  perClass = 6,
  embedderOptions?: Parameters<typeof Embedder.create>[0],
): Promise<void> {
  const embedder = await Embedder.create(embedderOptions);
  try {
    const g = new ReferenceGallery();
    for (const [label, dir] of Object.entries(classes)) {
      const name = dir.split('/').pop()!;
      const images = Array.from({ length: perClass }, (_, i) => join(grocery, dir, `${name}_${String(i + 1).padStart(3, '0')}.jpg`));
      await g.addImages(embedder, label, images);
    }
    await g.save(file);
  } finally {
    await embedder.dispose();
  }
}

export const photos = {
  banana: join(grocery, 'test/Fruit/Banana/Banana_013.jpg'),
  orange: join(grocery, 'test/Fruit/Orange/Orange_027.jpg'),
  kiwi: join(grocery, 'test/Fruit/Kiwi/Kiwi_003.jpg'),
};
