/**
 * Detect every product on a shelf photo, name each one with a gallery, count facings
 * and write an annotated copy.
 *
 *   npx tsx examples/node/recognize-shelf.ts <shelf.jpg> <detector.onnx> <gallery.skg> [out.jpg]
 *
 * The gallery remembers the embedder it was built with (path + fingerprint), so the
 * embedder is re-opened from it; a different model would be refused (E_FINGERPRINT).
 */
import { annotate, Detector, Recognizer, ReferenceGallery } from 'skulens';

const [shelf, detectorModel, galleryFile, out = 'annotated.jpg'] = process.argv.slice(2);
if (!shelf || !detectorModel || !galleryFile) {
  console.error('usage: recognize-shelf.ts <shelf.jpg> <detector.onnx> <gallery.skg> [out.jpg]');
  process.exit(1);
}

const gallery = await ReferenceGallery.load(galleryFile);
const embedder = await gallery.openEmbedder();
// A single-class shelf detector (e.g. YOLOv8 trained on SKU-110K) wants class-agnostic NMS
// and room for hundreds of boxes.
const detector = await Detector.create({ model: detectorModel, classAgnostic: true, maxDetections: 1000 });
const recognizer = new Recognizer({ detector, embedder, gallery });

const result = await recognizer.recognize(shelf);
console.log(`${result.items.length} products, ${result.unknown} unknown`);
console.table(result.counts);
console.log('timings (ms):', result.timings);
await annotate(shelf, result.items, { file: out });
console.log(`wrote ${out}`);
