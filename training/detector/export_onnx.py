"""Write a trained shelf detector as the float ONNX the library's Detector reads with no options:
input `images` f32 [1,3,640,640] (RGB /255, centred letterbox, pad 114: the `yolo` preset),
output `output0` f32 [1,8400,6] (cx, cy, w, h in input pixels, objectness, class score; the rows
of strides 8/16/32, 80x80 + 40x40 + 20x20), and Ultralytics-style metadata (`names`, `stride`,
`imgsz`) so format detection and class names work as for a YOLOv5 export.

Run: /usr/bin/python3 training/detector/export_onnx.py [--checkpoint training/detector/cache/shelf.pt]
       [--out training/detector/cache/skulens-shelf-fp32.onnx]
"""
import argparse
import json
import os

import onnx
import torch

from detnet import ShelfDetector

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache")
SIZE = 640


def load(checkpoint):
    ckpt = torch.load(checkpoint, map_location="cpu")
    model = ShelfDetector()
    model.load_state_dict(ckpt["model"])
    model.eval()
    return model, ckpt


def metadata(ckpt):
    train = {k: ckpt["args"][k] for k in ("minutes", "size", "batch", "lr", "freeze", "seed") if k in ckpt["args"]}
    train["steps"] = ckpt["step"]
    return {
        "names": "{0: 'product'}",
        "stride": "32",
        "imgsz": f"[{SIZE}, {SIZE}]",
        "description": "skulens-shelf: class-agnostic retail product detector (MobileNetV2 + FPN/PAN, anchor-free), "
                       "trained by skulens on synthetic shelves from the MIT Grocery Store dataset",
        "license": "MIT (backbone initialised from the ONNX Model Zoo MobileNetV2, Apache-2.0)",
        "skulens.model": "skulens-shelf",
        "skulens.training": json.dumps(train),
    }


def export_float(model, ckpt, out):
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    tmp = out + ".tmp"
    torch.onnx.export(model, torch.zeros(1, 3, SIZE, SIZE), tmp, opset_version=13, input_names=["images"],
                      output_names=["output0"], do_constant_folding=True)
    m = onnx.load(tmp)
    assert not any(n.op_type == "BatchNormalization" for n in m.graph.node), "BatchNorm was not folded"
    for key, value in metadata(ckpt).items():
        entry = m.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.checker.check_model(m)
    onnx.save(m, tmp)
    os.replace(tmp, out)
    return m


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(CACHE, "shelf.pt"))
    ap.add_argument("--out", default=os.path.join(CACHE, "skulens-shelf-fp32.onnx"))
    args = ap.parse_args()
    model, ckpt = load(args.checkpoint)
    export_float(model, ckpt, args.out)
    print(f"{args.out}: {os.path.getsize(args.out) / 1e6:.2f} MB (step {ckpt['step']}, {ckpt['elapsed'] / 60:.1f} min)")


if __name__ == "__main__":
    torch.set_num_threads(1)
    main()
