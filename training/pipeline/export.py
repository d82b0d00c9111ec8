"""Step 3 of the training pipeline: write the trained student as an ONNX file skulens can
load with no preset — opset 13, dynamic batch, input "image" [N,3,S,S] float32, output
"embedding" [N,D] (the student's descriptor: its dim-d embedding and a pooled mid-level
feature side by side, see model.py, then whitened by the training classes' within-class
covariance, see whitening.py), and the preprocessing it was trained with in the model's
`skulens.preprocess` metadata.

Run: /usr/bin/python3 training/pipeline/export.py [--checkpoint training/cache/student.pt] [--out models/skulens-retail-160.onnx]
       [--mid-level-block 9] [--mid-level-weight 0.5] [--whitening-ridge 0.1] [--whitening-nuisance 0]
"""
import argparse
import json
import os

import onnx
import torch

from model import MID_LEVEL_BLOCK, MID_LEVEL_WEIGHT, WHITENING_RIDGE, Descriptor, RetailEmbedder
from whitening import fit_whitening

HERE = os.path.dirname(os.path.abspath(__file__))


def load_student(checkpoint):
    """The trained RetailEmbedder (eval mode) and the args train.py saved with it."""
    ckpt = torch.load(checkpoint, map_location="cpu")
    train_args = ckpt["args"]
    model = RetailEmbedder(width=train_args["width"], dim=train_args["dim"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, train_args


def descriptor_width(descriptor, size):
    with torch.no_grad():
        return descriptor(torch.zeros(1, 3, size, size)).shape[1]


def add_descriptor_args(ap):
    """export.py's and quantize.py's flags for the descriptor (experiments; defaults in model.py)."""
    ap.add_argument("--mid-level-block", type=int, default=MID_LEVEL_BLOCK, help="block whose pooled depthwise output joins the embedding")
    ap.add_argument("--mid-level-weight", type=float, default=MID_LEVEL_WEIGHT, help="its weight next to the unit-length embedding")
    ap.add_argument("--whitening-ridge", type=float, default=WHITENING_RIDGE, help="ridge of the within-class whitening (0: no whitening)")
    ap.add_argument("--whitening-nuisance", type=float, default=0.0, help="experiment: weight of the colour-cast and zoom scatter in the whitening (whitening.py; 0: off)")


def export_float(model, train_args, out, block=MID_LEVEL_BLOCK, weight=MID_LEVEL_WEIGHT, ridge=WHITENING_RIDGE, nuisance=0.0):
    """Export the descriptor of student `model` to `out` as the float ONNX skulens loads
    (also used by quantize.py); ridge > 0 adds the within-class whitening."""
    size = train_args["size"]
    descriptor = Descriptor(model, block, weight)
    whitening_info = None
    if ridge > 0:
        mean, whiten, whitening_info = fit_whitening(descriptor, size, ridge, nuisance)
        descriptor = Descriptor(model, block, weight, (mean, whiten))
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    torch.onnx.export(
        descriptor,
        torch.zeros(1, 3, size, size),
        tmp,
        opset_version=13,
        input_names=["image"],
        output_names=["embedding"],
        dynamic_axes={"image": {0: "batch"}, "embedding": {0: "batch"}},
        do_constant_folding=True,
    )
    graph = onnx.load(tmp)
    # The exporter names the concatenated width symbolically; declare the number.
    graph.graph.output[0].type.tensor_type.shape.dim[1].dim_value = descriptor_width(descriptor, size)
    # Exactly what train.py fed the network: the whole crop stretched to size x size, ImageNet statistics.
    # antialias off: plain bilinear taps. skulens' antialiased path (several taps per output
    # pixel when shrinking > 2x, as from 348 px photos) halved throughput from pixels, with
    # no loss on the held-out classes' val rows.
    spec = {"width": size, "height": size, "resize": "stretch", "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225], "antialias": False}
    for key, value in {
        "skulens.preprocess": json.dumps(spec),
        "skulens.model": "skulens-retail-160",
        "skulens.training": json.dumps({k: train_args[k] for k in ("epochs", "seed", "width", "dim", "size")}),
        "skulens.descriptor": json.dumps({"embedding": train_args["dim"], "midLevelBlock": block, "midLevelWeight": weight, "whitening": whitening_info}),
        "license": "MIT (weights trained by the skulens project on the MIT-licensed Grocery Store Dataset)",
    }.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = "skulens/training"
    onnx.checker.check_model(graph)
    onnx.save(graph, out)
    os.remove(tmp)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "..", "cache", "student.pt"))
    ap.add_argument("--out", default=os.path.join(HERE, "..", "..", "models", "skulens-retail-160.onnx"))
    add_descriptor_args(ap)
    args = ap.parse_args()

    model, train_args = load_student(args.checkpoint)
    export_float(model, train_args, args.out, args.mid_level_block, args.mid_level_weight, args.whitening_ridge, args.whitening_nuisance)
    width = onnx.load(args.out).graph.output[0].type.tensor_type.shape.dim[1].dim_value
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB, input [N,3,{train_args['size']},{train_args['size']}], output [N,{width}]")


if __name__ == "__main__":
    main()
