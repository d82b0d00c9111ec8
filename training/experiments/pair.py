"""Experiment, not part of run.sh: two exported embedders side by side in one ONNX file.
Both graphs read the same input; each output is L2-normalised and scaled by 1/sqrt(2), and
the two are concatenated, so cosine in the pair's space is the mean of the two cosines.
The first file's metadata (its skulens.preprocess included) is kept, but for its
skulens.descriptor, which describes one branch only: both must have been trained for the
same input. training/NOTES.md, "Next steps", has what the pair measured.

Run: /usr/bin/python3 training/experiments/pair.py --first a.onnx --second b.onnx --out pair.onnx
"""
import argparse

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper


def branch(model, prefix, input_name):
    """The graph of `model` with every name prefixed, reading the shared input `input_name`.
    Returns (nodes, initializers, name of its output)."""
    graph = onnx.compose.add_prefix(model, prefix).graph
    own_input = prefix + model.graph.input[0].name
    nodes = list(graph.node)
    for node in nodes:
        node.input[:] = [input_name if name == own_input else name for name in node.input]
    return nodes, list(graph.initializer), graph.output[0].name


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--first", required=True)
    ap.add_argument("--second", required=True)
    ap.add_argument("--out", required=True)
    args = ap.parse_args()
    first, second = onnx.load(args.first), onnx.load(args.second)
    image = first.graph.input[0]
    if first.graph.input[0].type != second.graph.input[0].type:
        raise SystemExit("the two models take different inputs")

    nodes, inits = [], [numpy_helper.from_array(np.array([1 / np.sqrt(2)], np.float32), "pair_scale")]
    halves, width = [], 0
    for prefix, model in (("first_", first), ("second_", second)):
        branch_nodes, branch_inits, out = branch(model, prefix, image.name)
        nodes += branch_nodes
        inits += branch_inits
        nodes += [
            helper.make_node("ReduceL2", [out], [prefix + "norm"], axes=[1], keepdims=1),
            helper.make_node("Div", [out, prefix + "norm"], [prefix + "unit"]),
            helper.make_node("Mul", [prefix + "unit", "pair_scale"], [prefix + "half"]),
        ]
        halves.append(prefix + "half")
        width += model.graph.output[0].type.tensor_type.shape.dim[1].dim_value
    nodes.append(helper.make_node("Concat", halves, ["embedding"], axis=1))
    output = helper.make_tensor_value_info("embedding", TensorProto.FLOAT, ["batch", width])
    pair = helper.make_model(helper.make_graph(nodes, "pair", [image], [output], inits), opset_imports=first.opset_import)
    pair.ir_version = first.ir_version
    for prop in first.metadata_props:
        if prop.key != "skulens.descriptor":
            pair.metadata_props.append(prop)
    onnx.checker.check_model(pair)
    onnx.save(pair, args.out)
    print(f"{args.out}: input {[d.dim_value or d.dim_param for d in image.type.tensor_type.shape.dim]}, output [batch, {width}]")


if __name__ == "__main__":
    main()
