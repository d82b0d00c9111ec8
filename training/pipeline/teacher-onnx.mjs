// Runs the int8 MobileNetV2 teacher on a preprocessed float32 NCHW tensor written by
// training/pipeline/teacher_torch.py and writes its outputs back as raw float32 files.
// Usage: node training/pipeline/teacher-onnx.mjs <model.onnx> <input.bin> <N> <out-prefix>
//   writes <out-prefix>.embedding.bin [N,1280] and <out-prefix>.output.bin [N,1000]
import { readFileSync, writeFileSync } from 'node:fs';
import ort from 'onnxruntime-node';

const [model, input, n, prefix] = process.argv.slice(2);
const N = Number(n);
const buf = readFileSync(input);
const data = new Float32Array(buf.buffer, buf.byteOffset, buf.byteLength / 4);
if (data.length !== N * 3 * 224 * 224) throw new Error(`expected ${N}x3x224x224 floats, got ${data.length}`);
const session = await ort.InferenceSession.create(model, { intraOpNumThreads: 1, interOpNumThreads: 1 });
const out = await session.run({ input: new ort.Tensor('float32', data, [N, 3, 224, 224]) });
for (const name of ['embedding', 'output']) {
  const t = out[name];
  writeFileSync(`${prefix}.${name}.bin`, Buffer.from(t.data.buffer, t.data.byteOffset, t.data.byteLength));
  console.log(name, t.dims.join('x'));
}
