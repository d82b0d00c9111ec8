// Activation ranges for quantize_int8.py, measured with onnxruntime-node (there is no Python
// onnxruntime here): run the float model, whose listed tensors were made graph outputs, on the
// calibration images and average each tensor's per-image min and max over the images (the
// "moving average" min/max calibration: a single outlier image does not set the range).
//   node training/detector/calibrate.mjs model.onnx images.bin N size out.json
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [modelPath, imagesPath, n, size, outPath] = process.argv.slice(2);
const count = Number(n);
const side = Number(size);
const session = await ort.InferenceSession.create(modelPath, { intraOpNumThreads: 2 });
const bytes = readFileSync(imagesPath);
const pixels = new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const per = 3 * side * side;
const sums = {};
for (let i = 0; i < count; i++) {
  const input = new ort.Tensor('float32', pixels.slice(i * per, (i + 1) * per), [1, 3, side, side]);
  const out = await session.run({ [session.inputNames[0]]: input });
  for (const name of session.outputNames) {
    const data = out[name].data;
    let lo = Infinity;
    let hi = -Infinity;
    for (let j = 0; j < data.length; j++) {
      const v = data[j];
      if (v < lo) lo = v;
      if (v > hi) hi = v;
    }
    const s = (sums[name] ??= [0, 0]);
    s[0] += lo / count;
    s[1] += hi / count;
  }
}
writeFileSync(outPath, JSON.stringify(sums));
