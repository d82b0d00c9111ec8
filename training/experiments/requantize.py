"""Rewrite the conv weights of a QDQ int8 model (as quantize.py writes it) with fewer bits.

The first shipped built-in model was quantized with full-range int8 conv weights
(-127..127). On x86 CPUs without VNNI, onnxruntime's fused uint8 x int8 kernels saturate
with such weights (see quantize.py), and its `x64quantprecision` option does not reach
the convolutions it fuses from QDQ pairs: on an AVX2-only EPYC that model's held-out 1-NN
top-1 was 0.780 instead of 0.791. quantize.py now writes 7-bit conv weights; this script
applied the same rule to the already-trained model without retraining it:

    w = q * scale                        (per output channel, as stored)
    scale' = max|w| / levels             (floored so the int32 bias cannot overflow)
    q' = round(w / scale'),  bias' = round(bias_float / (x_scale * scale'))

Run: /usr/bin/python3 training/experiments/requantize.py IN.onnx OUT.onnx [--levels 63]
"""
import argparse
import os
import sys

import numpy as np
import onnx
from onnx import numpy_helper

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "pipeline"))
from quantize import CONV_WEIGHT_LEVELS, int8_rows  # noqa: E402


def requantize(model, levels):
    g = model.graph
    inits = {i.name: i for i in g.initializer}
    producer = {out: n for n in g.node for out in n.output}
    read = lambda name: numpy_helper.to_array(inits[name])
    write = lambda name, a: inits[name].CopyFrom(numpy_helper.from_array(a, name))
    done = 0
    for node in g.node:
        if node.op_type != "Conv":
            continue
        x_scale = read(producer[node.input[0]].input[1])
        w_dq, b_dq = producer[node.input[1]], producer[node.input[2]]
        q, scale = read(w_dq.input[0]), read(w_dq.input[1])
        w = q.astype(np.float32) * scale.reshape((-1,) + (1,) * (q.ndim - 1))
        bias = read(b_dq.input[0]).astype(np.float64) * read(b_dq.input[1])
        # quantize.py's own rule, bias floor included.
        new_q, new_scale, _ = int8_rows(w, floor=np.abs(bias) / (x_scale * 2.0 ** 30), levels=levels)
        write(w_dq.input[0], new_q)
        write(w_dq.input[1], new_scale)
        bias_scale = (x_scale * new_scale).astype(np.float32)
        write(b_dq.input[0], np.round(bias / bias_scale).astype(np.int32))
        write(b_dq.input[1], bias_scale)
        done += 1
    return done


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("src")
    ap.add_argument("out")
    ap.add_argument("--levels", type=int, default=CONV_WEIGHT_LEVELS, help="weights in -levels..levels (63 = 7 bits)")
    args = ap.parse_args()
    model = onnx.load(args.src)
    n = requantize(model, args.levels)
    onnx.save(model, args.out)
    print(f"{args.out}: {n} conv weight tensors in -{args.levels}..{args.levels}")


if __name__ == "__main__":
    main()
