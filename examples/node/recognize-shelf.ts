/**
 * Detect every product on a shelf photo, name each one with a gallery, count facings,
 * print the share of shelf and write an annotated copy.
 *
 *   npx tsx examples/node/recognize-shelf.ts <shelf.jpg> <gallery.skg> [out.jpg] [detector.onnx]
 *
 * Without a detector file the built-in shelf detector (skulens:shelf) is used. The gallery
 * remembers the embedder it was built with (built-in id or path + fingerprint), so the
 * embedder is re-opened from it; a different model would be refused (E_FINGERPRINT).
 */
import { annotate, Detector, Recognizer, ReferenceGallery } from 'skulens';

const [shelf, galleryFile, out = 'annotated.jpg', detectorModel] = process.argv.slice(2);
if (!shelf || !galleryFile) {
  console.error('usage: recognize-shelf.ts <shelf.jpg> <gallery.skg> [out.jpg] [detector.onnx]');
  process.exit(1);
}

const gallery = await ReferenceGallery.load(galleryFile);
const embedder = await gallery.openEmbedder();
// The built-in detector, or a single-class shelf detector of your own (e.g. YOLOv8 trained on
// SKU-110K), which wants class-agnostic NMS and room for hundreds of boxes (the default 1000).
const detector = await Detector.create(detectorModel ? { model: detectorModel, classAgnostic: true } : { model: 'skulens:shelf' });
const recognizer = new Recognizer({ detector, embedder, gallery });

const result = await recognizer.recognize(shelf);
console.log(`${result.items.length} product${result.items.length === 1 ? '' : 's'}, ${result.unknown} unknown`);
console.table(
  result.shelf.map((s) => ({
    label: s.label ?? '(unknown)',
    facings: s.facings,
    'share of facings': s.facingShare.toFixed(3),
    'share of box area': s.areaShare.toFixed(3),
  })),
);
console.log('timings (ms):', result.timings);
// Name each box by its nearest label; unknown items are drawn dashed, without a number.
await annotate(
  shelf,
  result.items.map((i) => ({ ...i, label: i.guess, score: i.unknownScore })),
  { file: out },
);
console.log(`wrote ${out}`);
await recognizer.dispose();
