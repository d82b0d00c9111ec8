/**
 * Are onnxruntime's fast int8 kernels exact on this CPU? On x86 CPUs without VNNI they add
 * pairs of uint8×int8 products in saturating 16-bit arithmetic; `x64quantprecision` fixes
 * that but slows VNNI CPUs, which need no fix (docs/embedder.md, "Session options"). So
 * instead of guessing from CPU flags, ask the kernels: run one tiny MatMulInteger whose
 * every product pair overflows int16 and compare with the exact answer. MatMulInteger,
 * QLinearConv and QGemm share that uint8×int8 GEMM.
 */
import type { OrtModule, SessionLike } from './platform.js';

// A [M,K] uint8 input of 255s times a [K,N] int8 constant of 127s: every output is
// 255·127·K exactly; a saturating pairwise sum gives 32767·K/2 instead.
const M = 4;
const K = 64;
const N = 16;
const EXACT = 255 * 127 * K;

/** Protobuf wire encoding, just enough for one small ONNX ModelProto. */
function varint(value: number): number[] {
  const out: number[] = [];
  while (value > 127) {
    out.push((value & 127) | 128);
    value = Math.floor(value / 128);
  }
  out.push(value);
  return out;
}
const field = (no: number, bytes: ArrayLike<number>): number[] => [...varint(no * 8 + 2), ...varint(bytes.length), ...Array.from(bytes)];
const int = (no: number, value: number): number[] => [...varint(no * 8), ...varint(value)];
const text = (no: number, s: string): number[] => field(no, new TextEncoder().encode(s));

// ONNX TensorProto element types.
const UINT8 = 2;
const INT8 = 3;
const INT32 = 6;

/** ValueInfoProto: name, type.tensor_type { elem_type, shape { dim { dim_value } } }. */
function valueInfo(name: string, elemType: number, dims: number[]): number[] {
  const shape = dims.flatMap((d) => field(1, int(1, d)));
  return [...text(1, name), ...field(2, field(1, [...int(1, elemType), ...field(2, shape)]))];
}

/** The probe graph: y = MatMulInteger(a, b) with b a constant. */
export function probeModelBytes(): Uint8Array {
  const weights = [...int(1, K), ...int(1, N), ...int(2, INT8), ...text(8, 'b'), ...field(9, new Array<number>(K * N).fill(127))];
  const node = [...text(1, 'a'), ...text(1, 'b'), ...text(2, 'y'), ...text(4, 'MatMulInteger')];
  const graph = [
    ...field(1, node),
    ...text(2, 'int8-probe'),
    ...field(5, weights),
    ...field(11, valueInfo('a', UINT8, [M, K])),
    ...field(12, valueInfo('y', INT32, [M, N])),
  ];
  const opset = [...text(1, ''), ...int(2, 13)];
  return Uint8Array.from([...int(1, 7), ...field(7, graph), ...field(8, opset)]);
}

let probed: Promise<boolean> | undefined;

/**
 * True when this CPU's default int8 kernels compute uint8×int8 products exactly (asked
 * once per process). A probe that cannot run answers false, the safe side: then skulens
 * keeps asking onnxruntime for exact arithmetic.
 */
export function fastInt8IsExact(ort: OrtModule): Promise<boolean> {
  probed ??= (async () => {
    let session: SessionLike | undefined;
    try {
      session = await ort.InferenceSession.create(probeModelBytes());
      const input = new ort.Tensor('uint8', new Uint8Array(M * K).fill(255), [M, K]);
      const { y } = await session.run({ a: input }, ['y']);
      return Array.from(y!.data as Int32Array).every((v) => v === EXACT);
    } catch {
      return false;
    } finally {
      await session?.release().catch(() => {});
    }
  })();
  return probed;
}
