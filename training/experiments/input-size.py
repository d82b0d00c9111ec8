"""Re-declare an exported embedder's input size without retraining (an experiment: does the
160 px network do better on larger inputs? training/NOTES.md, "Next steps"). The convolutions
and the global pooling work at any size; only the graph's input shape and the
skulens.preprocess metadata name it.

Run: /usr/bin/python3 training/experiments/input-size.py --model models/skulens-retail-160.onnx --size 192 --out cache/r192.onnx
"""
import argparse
import json

import onnx


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--model", required=True)
    ap.add_argument("--size", type=int, required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    m = onnx.load(args.model)
    dims = m.graph.input[0].type.tensor_type.shape.dim
    dims[2].dim_value = dims[3].dim_value = args.size
    del m.graph.value_info[:]  # inferred shapes of the old size
    for prop in m.metadata_props:
        if prop.key == "skulens.preprocess":
            spec = json.loads(prop.value)
            spec["width"] = spec["height"] = args.size
            prop.value = json.dumps(spec)
    onnx.save(m, args.out)
    print(f"{args.out}: input {args.size}x{args.size}")


if __name__ == "__main__":
    main()
