"""Optional step after export: write the trained student as a static int8 ONNX model in
QDQ form (QuantizeLinear/DequantizeLinear pairs around float ops). onnxruntime's CPU
provider fuses DQ -> Conv -> Q into QLinearConv and DQ,DQ -> Add -> Q into QLinearAdd, so
the int8 network is ~3.3x smaller (the float whitening after it is not shrunk) and ~2x faster in onnxruntime-node, with embeddings close to
the float export (cosine > 0.999). The default --out replaces the float export in models/.

There is no python onnxruntime (and so no onnxruntime.quantization) here, so the graph
surgery is done by hand with `onnx` + numpy, and activation ranges come from running the
PyTorch model on real training photos (forward hooks):
  - weights: int8, symmetric, per output channel; conv bias int32 at input_scale * weight_scale.
    Conv weights use 7 bits (-63..63): on x86 CPUs without VNNI (AVX2 only, e.g. this AMD
    EPYC) onnxruntime's u8s8 kernels sum pairs of uint8 x int8 products in int16
    (VPMADDUBSW), which saturates with full-range weights: 255*127*2 > 32767. Measured on the
    first shipped model (8-bit): held-out 1-NN top-1 0.780 with the fused kernels against
    0.791 for the same weights unfused, embedding cosine down to 0.983; with 7 bits both
    agree (cosine 1.0000). On VNNI CPUs 7 bits cost nothing measurable.
  - activations: uint8, asymmetric, from calibrated ranges; ReLU6 (Clip 0..6) outputs use
    scale 6/255 and zero point 0, so onnxruntime can drop the Clip into the QuantizeLinear;
    the input range is the exact one of normalised [0, 1] pixels
  - the global mean and the final Gemm compute in float (tiny); the Gemm weights are stored
    int8 (weight only) because they are a fifth of the network's parameters
  - the whitening after the descriptor (Sub, MatMul) stays float: its matrix has a wide range
Input/output names, dynamic batch and the skulens metadata are those of export.py.

Run: /usr/bin/python3 training/pipeline/quantize.py [--checkpoint training/cache/student.pt]
       [--out models/skulens-retail-160.onnx] [--calib 200] [--percentile 99.99]
       [--mid-level-block 9] [--mid-level-weight 0.5] [--whitening-ridge 0.1] [--whitening-nuisance 0]
"""
import argparse
import json
import os
import tempfile

import numpy as np
import onnx
import torch
from onnx import helper, numpy_helper

from export import add_descriptor_args, export_float, load_student
from model import InvertedResidual
from monitor import MEAN, STD, load_photos, training_class_photos

HERE = os.path.dirname(os.path.abspath(__file__))
RELU6_SCALE = np.float32(6 / 255)
CONV_WEIGHT_LEVELS = 63  # 7-bit conv weights, see the top


def calibration_images(n, size):
    """n training photos preprocessed exactly like export.py's skulens.preprocess, NCHW."""
    # Training classes only: the held-out ones stay unseen, even by calibration.
    rows = training_class_photos(("train",))
    # train.csv is sorted by class: take evenly spaced rows so calibration sees every class.
    return load_photos([rows[i * len(rows) // n][0] for i in range(n)], size)


class Range:
    """Running [low, high] of a tensor over the calibration set. With percentile p < 100 the
    ends are the exact p-th / (100-p)-th percentiles: keeping the k most extreme values on
    each side is enough, k = (1 - p/100) * total count."""

    def __init__(self, total_per_image, images, percentile):
        self.k = max(1, int(np.ceil((1 - percentile / 100) * total_per_image * images)))
        self.top = self.bottom = None

    def update(self, t):
        t = t.detach().flatten()
        top = torch.topk(t, min(self.k, t.numel())).values
        bottom = -torch.topk(-t, min(self.k, t.numel())).values
        if self.top is not None:
            top = torch.topk(torch.cat([self.top, top]), min(self.k, len(self.top) + len(top))).values
            bottom = -torch.topk(-torch.cat([self.bottom, bottom]), min(self.k, len(self.bottom) + len(bottom))).values
        self.top, self.bottom = top, bottom

    def get(self):
        return float(self.bottom.max()), float(self.top.min())


def calibrate(model, images, percentile, batch=20):
    """Ranges of every BatchNorm output (= every ONNX Conv output, BN being folded into the
    Conv) in module order, and of every residual add output in module order."""
    n = len(images)
    ranges = {"bn": [], "add": []}
    hooks = []

    def watch(module, kind):
        def hook(_m, _inp, out):
            if not hasattr(hook, "range"):
                hook.range = Range(out[0].numel(), n, percentile)
                ranges[kind].append(hook.range)
            # Read now: a ReLU6(inplace=True) overwrites the BatchNorm output right after.
            hook.range.update(out)
        hooks.append(module.register_forward_hook(hook))

    for m in model.modules():
        if isinstance(m, torch.nn.BatchNorm2d):
            watch(m, "bn")
        elif isinstance(m, InvertedResidual) and m.residual:
            watch(m, "add")
    with torch.no_grad():
        for i in range(0, n, batch):
            model(images[i:i + batch])
    for h in hooks:
        h.remove()
    return [r.get() for r in ranges["bn"]], [r.get() for r in ranges["add"]]


def uint8_params(low, high):
    """Asymmetric uint8 scale/zero point covering [low, high]; 0 stays exactly representable."""
    low, high = min(low, 0.0), max(high, 0.0)
    scale = np.float32((high - low) / 255)
    zero_point = int(np.clip(round(-low / scale), 0, 255))
    return scale, zero_point


def relu6_scale():
    # onnxruntime drops Clip(0, 6) before a QuantizeLinear only if the Q range 255 * scale
    # does not exceed 6 by more than float epsilon; step down an ulp if rounding overshoots.
    scale = RELU6_SCALE
    while np.float32(scale * np.float32(255)) > np.float32(6) + np.finfo(np.float32).eps:
        scale = np.nextafter(scale, np.float32(0))
    return scale


def int8_rows(w, floor=0, levels=127):
    """Symmetric int8 per output channel (axis 0) in -levels..levels, scale at least `floor`.
    Returns (q, scale, zero_point)."""
    scale = np.maximum(np.abs(w.reshape(len(w), -1)).max(axis=1) / levels, floor).astype(np.float32)
    scale[scale == 0] = 1
    q = np.clip(np.round(w / scale.reshape((-1,) + (1,) * (w.ndim - 1))), -levels, levels).astype(np.int8)
    return q, scale, np.zeros(len(w), np.int8)


def quantize_graph(model, act_params):
    """Rewrite the float graph in place into QDQ form. act_params: tensor name -> (scale, zp)
    for every activation that gets a QuantizeLinear -> DequantizeLinear pair."""
    g = model.graph
    inits = {t.name: t for t in g.initializer}
    consumers = {}
    for node in g.node:
        for i, name in enumerate(node.input):
            consumers.setdefault(name, []).append((node, i))
    new_inits, weight_nodes, after, dq_scale = [], [], {}, {}

    def const(name, array):
        new_inits.append(numpy_helper.from_array(array, name))
        return name

    # Activations: one Q per tensor, one DQ per consumer (each fused node unit gets its own DQ).
    for name, (scale, zp) in act_params.items():
        s = const(name + "_scale", np.array(scale, np.float32))
        z = const(name + "_zero_point", np.array(zp, np.uint8))
        q = name + "_quantized"
        nodes = [helper.make_node("QuantizeLinear", [name, s, z], [q], name=name + "_QuantizeLinear")]
        for j, (node, i) in enumerate(consumers[name]):
            dq = f"{name}_dequantized_{j}"
            nodes.append(helper.make_node("DequantizeLinear", [q, s, z], [dq], name=f"{name}_DequantizeLinear_{j}"))
            node.input[i] = dq
            dq_scale[dq] = np.float32(scale)
        after[name] = nodes

    def dequantized(node, idx, q, scale, zero_point=None):
        """Replace float initializer input `idx` of `node` by DequantizeLinear(q) along axis 0."""
        base = node.input[idx]
        ins = [const(base + "_quantized", q), const(base + "_scale", scale)]
        if zero_point is not None:
            ins.append(const(base + "_zero_point", zero_point))
        weight_nodes.append(helper.make_node("DequantizeLinear", ins, [base + "_dequantized"], name=base + "_DequantizeLinear", axis=0))
        node.input[idx] = base + "_dequantized"

    for node in g.node:
        if node.op_type == "Conv":
            # int8 weights, int32 bias at x_scale * w_scale: the form QLinearConv consumes.
            x_scale = dq_scale[node.input[0]]  # every Conv input has a Q/DQ pair by construction
            w = numpy_helper.to_array(inits.pop(node.input[1]))
            b = numpy_helper.to_array(inits.pop(node.input[2]))
            # 7-bit weights: no int16 saturation in the AVX2 u8s8 kernels (see the top).
            # Floor the weight scale so the int32 bias cannot overflow.
            wq, w_scale, w_zp = int8_rows(w, floor=np.abs(b) / (x_scale * 2.0 ** 30), levels=CONV_WEIGHT_LEVELS)
            b_scale = (x_scale * w_scale).astype(np.float32)
            dequantized(node, 1, wq, w_scale, w_zp)
            # No zero point input for the bias: it defaults to 0, and int32 zeros would cost 3% of the file.
            dequantized(node, 2, np.round(b / b_scale).astype(np.int32), b_scale)
        elif node.op_type == "Gemm":
            # Weight-only int8 for the 640 -> dim projection: a fifth of the network's parameters, so it
            # matters for file size; the Gemm itself runs in float (a DQ of 164k values per run).
            assert [(a.name, a.i) for a in node.attribute if a.name == "transB"] == [("transB", 1)]
            dequantized(node, 1, *int8_rows(numpy_helper.to_array(inits.pop(node.input[1]))))

    # Keep a topological order: weight DQs first, each activation's Q/DQ right after its producer.
    order = list(weight_nodes) + after.pop(g.input[0].name, [])
    for node in g.node:
        order.append(node)
        for out in node.output:
            order.extend(after.pop(out, []))
    assert not after
    del g.node[:]
    g.node.extend(order)
    kept = list(inits.values())
    del g.initializer[:]
    g.initializer.extend(kept + new_inits)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "..", "cache", "student.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "skulens-retail-160.onnx"))
    ap.add_argument("--calib", type=int, default=200, help="training photos used to calibrate activation ranges")
    ap.add_argument("--percentile", type=float, default=99.99, help="range percentile for unbounded activations (100 = min/max)")
    add_descriptor_args(ap)
    args = ap.parse_args()

    student, train_args = load_student(args.checkpoint)
    with tempfile.TemporaryDirectory() as tmp:
        float_path = os.path.join(tmp, "float.onnx")
        export_float(student, train_args, float_path, args.mid_level_block, args.mid_level_weight, args.whitening_ridge,
                     args.whitening_nuisance)
        model = onnx.load(float_path)
    g = model.graph
    producers = {out: node for node in g.node for out in node.output}
    consumers = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)

    bn_ranges, add_ranges = calibrate(student, calibration_images(args.calib, train_args["size"]), args.percentile)
    convs = [n for n in g.node if n.op_type == "Conv"]
    adds = [n for n in g.node if n.op_type == "Add"]
    bns = [m for m in student.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    # The exporter folds each BatchNorm into the Conv before it and keeps module order.
    assert not any(n.op_type == "BatchNormalization" for n in g.node), "BatchNorm was not folded"
    assert len(convs) == len(bn_ranges) and len(adds) == len(add_ranges), (len(convs), len(bn_ranges), len(adds), len(add_ranges))
    out_channels = {t.name: t.dims[0] for t in g.initializer}
    assert all(out_channels[c.input[1]] == bn.num_features for c, bn in zip(convs, bns)), "Conv/BatchNorm order differs"

    def clip_bounds(node):
        return [float(numpy_helper.to_array(producers[name].attribute[0].t)) for name in node.input[1:]]

    # Normalised pixels span exactly [(0 - mean) / std, (1 - mean) / std]: no need to calibrate.
    act_params = {g.input[0].name: uint8_params(float((-MEAN / STD).min()), float(((1 - MEAN) / STD).max()))}
    for conv, rng in zip(convs, bn_ranges):
        nxt = consumers[conv.output[0]]
        if len(nxt) == 1 and nxt[0].op_type == "Clip":
            # ReLU6: quantize after the Clip over exactly [0, 6]; no pair between Conv and Clip.
            assert clip_bounds(nxt[0]) == [0.0, 6.0], clip_bounds(nxt[0])
            act_params[nxt[0].output[0]] = (relu6_scale(), 0)
        else:
            act_params[conv.output[0]] = uint8_params(*rng)
    for add, rng in zip(adds, add_ranges):
        act_params[add.output[0]] = uint8_params(*rng)

    quantize_graph(model, act_params)
    entry = model.metadata_props.add()
    entry.key = "skulens.quantization"
    entry.value = json.dumps({"scheme": "static int8 QDQ (uint8 activations, int8 per-channel weights)",
                              "calibration_images": args.calib, "percentile": args.percentile})
    onnx.checker.check_model(model)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp_out = args.out + ".tmp"
    onnx.save(model, tmp_out)
    os.replace(tmp_out, args.out)
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB, {len(convs)} Conv + {len(adds)} Add quantized, "
          f"activation ranges from {args.calib} training photos")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
