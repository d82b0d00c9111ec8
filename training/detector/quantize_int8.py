"""Write the shelf detector as a static int8 ONNX model in QDQ form, the way training/pipeline/quantize.py
does for the embedder (and with its graph rewrite, quantize_graph): int8 per-channel conv weights
(7 bits, see there), int32 biases, uint8 activations. onnxruntime fuses DQ -> Conv -> Q into
QLinearConv and DQ,DQ -> Add -> Q into QLinearAdd.

Quantized activations: every Conv input, every ReLU6 output (exactly [0, 6]), every Add and Resize
output, and the Conv outputs that feed them. Left in float: the input normalisation (Sub, Div) and
the decoding after the five-channel head convs (those convs take int8 weights but write float: the
box distances go through exp, where an 8-bit step would move box edges by whole pixels).

Activation ranges come from synthetic shelves (synth.py, Grocery Store train/ photos; never a
SKU-110K photo), measured with onnxruntime-node on the float graph (calibrate.mjs).

Run: /usr/bin/python3 training/detector/quantize_int8.py [--checkpoint training/detector/cache/shelf.pt]
       [--out models/skulens-shelf.onnx] [--fp32 training/detector/cache/skulens-shelf-fp32.onnx] [--calib 32]
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile

import numpy as np
import onnx
import torch
from onnx import TensorProto, helper

import synth
from export_onnx import SIZE, export_float, load

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training", "pipeline"))
from quantize import quantize_graph, relu6_scale, uint8_params  # noqa: E402  (the embedder's QDQ rewrite)


def calibration_images(n, seed=777):
    """n synthetic 640 px shelves from the training photos, NCHW float32 in [0, 1]."""
    src = synth.Sources("train", limit=500)  # an evenly spaced fifth of the photos is variety enough
    rng = np.random.default_rng(seed)
    return np.stack([synth.sample(src, rng, SIZE)[0].transpose(2, 0, 1) for _ in range(n)]).astype(np.float32) / 255


def plan(g):
    """(tensors whose range must be measured, tensors quantized over exactly [0, 6])."""
    consumers = {}
    for node in g.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    measured, relu6 = set(), set()
    for node in g.node:
        if node.op_type == "Conv":
            measured.add(node.input[0])
            nxt = consumers.get(node.output[0], [])
            if len(nxt) == 1 and nxt[0].op_type == "Clip":
                relu6.add(nxt[0].output[0])
            elif any(c.op_type in ("Add", "Conv", "Resize") for c in nxt):
                measured.add(node.output[0])
        elif node.op_type in ("Add", "Resize"):
            measured.add(node.output[0])
    measured -= relu6
    return sorted(measured), relu6


def unshare_initializers(g):
    """The exporter stores identical constants once (e.g. the three heads' bias at initialisation);
    quantize_graph rewrites each Conv's weight and bias by name, so give every use its own copy."""
    inits = {t.name: t for t in g.initializer}
    # It also writes some as Identity(initializer): make those initializers of their own.
    for node in [n for n in g.node if n.op_type == "Identity" and n.input[0] in inits]:
        copy = onnx.TensorProto()
        copy.CopyFrom(inits[node.input[0]])
        copy.name = node.output[0]
        g.initializer.append(copy)
        inits[copy.name] = copy
        g.node.remove(node)
    seen = set()
    for node in g.node:
        if node.op_type != "Conv":
            continue
        for i in range(1, len(node.input)):
            name = node.input[i]
            if name in seen and name in inits:
                copy = onnx.TensorProto()
                copy.CopyFrom(inits[name])
                copy.name = f"{name}_{node.name or id(node)}"
                g.initializer.append(copy)
                node.input[i] = copy.name
            seen.add(node.input[i])


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "cache", "shelf.pt"))
    ap.add_argument("--out", default=os.path.join(ROOT, "models", "skulens-shelf.onnx"))
    ap.add_argument("--fp32", default=os.path.join(HERE, "cache", "skulens-shelf-fp32.onnx"), help="where the float export goes")
    ap.add_argument("--calib", type=int, default=32, help="synthetic shelves used to calibrate activation ranges")
    args = ap.parse_args()

    model, ckpt = load(args.checkpoint)
    export_float(model, ckpt, args.fp32)
    print(f"{args.fp32}: {os.path.getsize(args.fp32) / 1e6:.2f} MB float")
    m = onnx.load(args.fp32)
    g = m.graph
    unshare_initializers(g)
    measured, relu6 = plan(g)

    with tempfile.TemporaryDirectory() as tmp:
        probe = onnx.load(args.fp32)
        del probe.graph.output[:]
        probe.graph.output.extend(helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in measured)
        probe_path, images_path, ranges_path = (os.path.join(tmp, f) for f in ("probe.onnx", "images.bin", "ranges.json"))
        onnx.save(probe, probe_path)
        calibration_images(args.calib).tofile(images_path)
        subprocess.run(["node", os.path.join(HERE, "calibrate.mjs"), probe_path, images_path, str(args.calib), str(SIZE), ranges_path],
                       check=True, cwd=ROOT)
        with open(ranges_path) as f:
            ranges = json.load(f)

    act_params = {name: uint8_params(*ranges[name]) for name in measured}
    act_params.update({name: (relu6_scale(), 0) for name in relu6})
    # quantize_graph reads each Conv's input scale: every Conv input must have a pair.
    assert all(n.input[0] in act_params for n in g.node if n.op_type == "Conv")
    quantize_graph(m, act_params)
    entry = m.metadata_props.add()
    entry.key = "skulens.quantization"
    entry.value = json.dumps({"scheme": "static int8 QDQ (uint8 activations, int8 per-channel 7-bit conv weights)",
                              "calibration": f"{args.calib} synthetic shelves", "ranges": "mean per-image min/max"})
    onnx.checker.check_model(m)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    tmp_out = args.out + ".tmp"
    onnx.save(m, tmp_out)
    os.replace(tmp_out, args.out)
    convs = sum(n.op_type == "Conv" for n in g.node)
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB int8, {convs} Conv, {len(act_params)} activations quantized")
    # The training history saved in the checkpoint, as the table in docs/detector.md.
    print("| minutes | steps | loss | synthetic val AP50 | synthetic val best F1 |\n|---|---|---|---|---|")
    for h in ckpt["history"]:
        print(f"| {h['minutes']} | {h['step']} | {h['loss']:.2f} | {h['val_ap50']:.3f} | {h['val_f1']:.3f} |")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
