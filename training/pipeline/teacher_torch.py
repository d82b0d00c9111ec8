"""The MobileNetV2 teacher as a float PyTorch module, for online distillation.

teacher-views.ts embeds a fixed set of crops once through onnxruntime and caches the
vectors; that rules out "function matching" (mixup/cutmix and fresh augmentations every
step), where the teacher must see exactly the image the student sees. This file rebuilds
the teacher, /work/shared/models/mobilenetv2-12-int8-embed.onnx (ONNX model zoo
MobileNetV2-1.0, int8), as torchvision's mobilenet_v2 with dequantized weights, so it
can run inside a torch training loop on any batch.

The ONNX file is a QOperator int8 graph (uint8 activations, symmetric int8 weights):
QuantizeLinear on the input, 52 QLinearConv (BatchNorm folded in, per-output-channel
weight scales, int32 biases), 10 QLinearAdd residuals, then QLinearGlobalAveragePool +
QLinearMatMul + QLinearAdd for the logits, and a float GlobalAveragePool on the
dequantized last feature map for the `embedding` output. There is no activation node:
ReLU6 exists only as the output range of a QLinearConv (zero point 0, top <= 6), and the
linear bottleneck projections are the convs whose output zero point is not 0.

load_teacher() maps the k-th QLinearConv (graph order) onto the k-th Conv2d of
torchvision's mobilenet_v2().features, BatchNorm replaced by Identity, with
    weight = w_int8 * w_scale              (per output channel; zero points are 0)
    bias   = b_int32 * x_scale * w_scale
asserting shape, groups, stride and padding, that ReLU6 follows exactly the convs with a
zero-point-0 output, and that the residual adds sit where torchvision has them.

Float vs int8: this float module does not quantize activations. Against onnxruntime on
32 grocery photos the embedding cosine is ~0.97 min / ~0.984 mean. That is the int8
graph's own noise level, not a mapping error: in the deep layers the int8 graph is
chaotic (moving 1% of the input pixels by one grey level moves its embedding to cosine
~0.986 with itself), so only an exact replay can match it closer. load_teacher(int8=True)
returns Int8Teacher, which replays the integer arithmetic bit-exactly (cosine 1.0000) at
about the same speed, but is not differentiable and is tied to onnxruntime's x86 kernels.
For distillation the float module is the smoother target; the int8 replay is the exact
function behind the cached teacher-views vectors (same pixels in, same vector out).

    from teacher_torch import load_teacher
    teacher = load_teacher()          # eval mode, requires_grad False
    with torch.no_grad():
        e = teacher(x)                # x: [N,3,224,224] ImageNet-normalised -> [N,1280]
        logits = teacher.logits(x)    # [N,1000], the model's ImageNet head (float only)

Self-check:  /usr/bin/python3 training/pipeline/teacher_torch.py [--n 32]
(runs training/pipeline/teacher-onnx.mjs through node for the onnxruntime reference).
"""
import argparse
import os
import subprocess
import tempfile
import time

import numpy as np
import onnx
import torch
import torch.nn as nn
import torch.nn.functional as F
from onnx import numpy_helper
from PIL import Image
from torchvision.models import mobilenet_v2
from torchvision.ops.misc import Conv2dNormActivation
from torchvision.models.mobilenetv2 import InvertedResidual

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "..", "shared")))
TEACHER = os.path.join(SHARED, "models", "mobilenetv2-12-int8-embed.onnx")
DATA = os.path.join(SHARED, "data", "grocery-store")
MEAN = np.array([0.485, 0.456, 0.406], np.float32)
STD = np.array([0.229, 0.224, 0.225], np.float32)


class Teacher(nn.Module):
    """torchvision MobileNetV2 without BatchNorm (folded into conv biases)."""

    def __init__(self):
        super().__init__()
        self.features = mobilenet_v2(weights=None).features
        for name, m in list(self.features.named_modules()):
            if isinstance(m, nn.BatchNorm2d):
                parent, _, child = name.rpartition(".")
                setattr(self.features.get_submodule(parent), child, nn.Identity())
        self.classifier = nn.Linear(1280, 1000)

    def forward(self, x):
        """[N,3,224,224] ImageNet-normalised -> [N,1280] pooled features (not normalised)."""
        return self.features(x).mean((2, 3))

    def logits(self, x):
        return self.classifier(self.forward(x))

    def convs(self):
        """(conv, followed_by_relu6, residual_output) for every Conv2d, in graph order."""
        out = []
        for f in self.features:
            if isinstance(f, Conv2dNormActivation):
                out.append((f[0], True, False))
            else:
                assert isinstance(f, InvertedResidual)
                for layer in f.conv:
                    if isinstance(layer, Conv2dNormActivation):
                        out.append((layer[0], True, False))
                    elif isinstance(layer, nn.Conv2d):
                        out.append((layer, False, f.use_res_connect))
        return out


def _read(path):
    graph = onnx.load(path).graph
    return list(graph.node), {t.name: numpy_helper.to_array(t) for t in graph.initializer}


def _conv(n, init):
    """One QLinearConv: its raw int8/int32 tensors, scales, zero points and attributes."""
    names = ("x_scale", "x_zp", "w", "w_scale", "w_zp", "y_scale", "y_zp", "b")
    p = {k: init[n.input[i]] for k, i in zip(names, range(1, 9))}
    p.update({a.name: onnx.helper.get_attribute_value(a) for a in n.attribute})
    assert p["y_zp"].dtype == np.uint8 and not p["w_zp"].any(), "expected uint8 activations, symmetric weights"
    return p


def load_teacher(path=TEACHER, int8=False):
    """The ONNX teacher as a torch module (eval mode, requires_grad False).

    int8=False: float MobileNetV2 with the dequantized weights (smooth, differentiable).
    int8=True:  Int8Teacher, a bit-exact replay of the int8 graph (see there)."""
    if int8:
        model = Int8Teacher(path)
    else:
        model = Teacher()
        nodes, init = _read(path)
        residual = {n.input[3] for n in nodes if n.op_type == "QLinearAdd"}  # 2nd operand of each add
        convs = [(n, _conv(n, init)) for n in nodes if n.op_type == "QLinearConv"]
        mine = model.convs()
        assert len(convs) == len(mine), (len(convs), len(mine))
        for k, ((n, p), (conv, relu6, res)) in enumerate(zip(convs, mine)):
            w_scale = p["w_scale"].astype(np.float32)
            w = p["w"].astype(np.float32) * w_scale.reshape(-1, 1, 1, 1)
            b = p["b"].astype(np.float32) * (p["x_scale"] * w_scale)
            assert w.shape == tuple(conv.weight.shape) and p["group"] == conv.groups, k
            assert tuple(p["strides"]) == conv.stride and tuple(p["pads"]) == 2 * conv.padding, k
            # ReLU6 in the graph = an output range starting at 0 (zero point 0)
            assert (int(p["y_zp"]) == 0) == relu6 and (n.output[0] in residual) == res, k
            conv.weight = nn.Parameter(torch.from_numpy(w))
            conv.bias = nn.Parameter(torch.from_numpy(b))
        # head: QLinearMatMul [1280,1000] int8 per-column, then QLinearAdd of a uint8 bias
        wq, ws, wz, bq, bs, bz = (init[f"classifier.1.{t}_{k}"] for t in ("weight", "bias")
                                  for k in ("quantized", "scale", "zero_point"))
        fc_w = (wq.astype(np.float32) - wz.astype(np.float32)) * ws
        model.classifier.weight = nn.Parameter(torch.from_numpy(np.ascontiguousarray(fc_w.T)))
        model.classifier.bias = nn.Parameter(torch.from_numpy((bq.astype(np.float32) - float(bz)) * bs))
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    return model


class Int8Teacher(nn.Module):
    """The int8 graph replayed exactly as onnxruntime's x86 CPU kernels (MLAS) compute it.

    Activations are kept as integer-valued float32 tensors (0..255). Conv accumulators are
    exact in float32 (every |partial sum| < 2^24 for these weights, checked); then, like
    MLAS, acc * float32(x_scale * w_scale / y_scale), round half to even, + zero point,
    saturate. QLinearAdd follows the AVX2 kernel: two fused multiply-adds on the raw uint8
    values. Bit-identical to onnxruntime-node 1.30 on this machine (all 52 conv outputs);
    other kernels (wasm, ARM) round differently in places. Not differentiable."""

    def __init__(self, path=TEACHER):
        super().__init__()
        nodes, init = _read(path)
        pool = next(n for n in nodes if n.op_type == "GlobalAveragePool")
        deq = next(n for n in nodes if n.output[0] == pool.input[0])  # DequantizeLinear
        self.out, self.out_scale, self.out_zp = deq.input[0], float(init[deq.input[1]]), float(init[deq.input[2]])
        self.steps = []
        for n in nodes:
            i, f32 = n.input, np.float32
            if n.op_type == "QuantizeLinear":
                self.steps.append(("quant", i[0], n.output[0], float(init[i[1]]), float(init[i[2]])))
            elif n.op_type == "QLinearConv":
                p, k = _conv(n, init), len(self.steps)
                assert self._acc_bound(p) < 2 ** 24
                self.register_buffer(f"w{k}", torch.from_numpy(p["w"].astype(f32)))
                self.register_buffer(f"b{k}", torch.from_numpy(p["b"].astype(f32)))
                m = (f32(p["x_scale"]) * p["w_scale"].astype(f32)) / f32(p["y_scale"])
                self.register_buffer(f"m{k}", torch.from_numpy(m).view(1, -1, 1, 1))
                conv = dict(stride=p["strides"], padding=p["pads"][:2], groups=p["group"])
                self.steps.append(("conv", i[0], n.output[0], k, float(p["x_zp"]), float(p["y_zp"]), conv))
            elif n.op_type == "QLinearAdd":
                (sa, za), (sb, zb), (sc, zc) = ((f32(init[i[j]]), f32(init[i[j + 1]])) for j in (1, 4, 6))
                rac, rbc = sa / sc, sb / sc
                fixed = zc - (rac * za + rbc * zb)  # float32 arithmetic, as in MLAS
                self.steps.append(("add", (i[0], i[3]), n.output[0], float(rac), float(rbc), float(fixed)))
            else:
                raise ValueError(f"Int8Teacher: unexpected {n.op_type} before the embedding")
            if self.out in n.output:
                break
        # drop each activation after the step that reads it last
        last = {}
        for op, src, dst, *_ in self.steps:
            for name in (src if op == "add" else (src,)):
                last[name] = dst
        self.free = {dst: [k for k, v in last.items() if v == dst and k != "input"] for _, _, dst, *_ in self.steps}

    @staticmethod
    def _acc_bound(p):
        zx, w = int(p["x_zp"]), np.abs(p["w"].astype(np.int64)).reshape(len(p["w"]), -1)
        return (max(zx, 255 - zx) * w.sum(1) + np.abs(p["b"].astype(np.int64))).max()

    def forward(self, x):
        """[N,3,224,224] ImageNet-normalised -> [N,1280], as the ONNX `embedding` output."""
        env = {}
        for op, src, dst, *a in self.steps:
            if op == "quant":  # x / scale (a true division, not * 1/scale), round, + zp
                s, z = a
                q = (x / torch.full_like(x, s)).clamp_(-z, 255 - z).round_().add_(z)
            elif op == "conv":
                k, zx, zy, conv = a
                acc = F.conv2d(env[src] - zx, getattr(self, f"w{k}"), getattr(self, f"b{k}"), **conv)
                q = acc.mul_(getattr(self, f"m{k}")).round_().clamp_(-zy, 255 - zy).add_(zy)
            else:  # fma(a, rac, fma(b, rbc, fixed)); float64 holds each product-sum exactly
                rac, rbc, fixed = a
                t = (env[src[1]].double() * rbc + fixed).float().double()
                q = (env[src[0]].double() * rac + t).float().round_().clamp_(0, 255)
            env[dst] = q
            for name in self.free[dst]:
                del env[name]
        return ((env[self.out] - self.out_zp) * self.out_scale).mean((2, 3))


# ---------------------------------------------------------------- self-check helpers

def sample_paths(n=32):
    """n rows spread evenly over grocery-store train.csv (absolute paths)."""
    with open(os.path.join(DATA, "train.csv")) as f:
        rows = [line.split(",")[0] for line in f.read().splitlines()[1:] if line]
    return [os.path.join(DATA, rows[i]) for i in np.linspace(0, len(rows) - 1, n).round().astype(int)]


def preprocess(paths, size=224):
    """Stretch-resize to size x size (bilinear), ImageNet-normalise, float32 NCHW."""
    imgs = [np.asarray(Image.open(p).convert("RGB").resize((size, size), Image.BILINEAR)) for p in paths]
    x = (np.stack(imgs).astype(np.float32) / 255 - MEAN) / STD
    return np.ascontiguousarray(x.transpose(0, 3, 1, 2))


def onnx_reference(x, path=TEACHER):
    """Run the ONNX teacher through onnxruntime-node (training/pipeline/teacher-onnx.mjs): (embedding, logits)."""
    script = os.path.join(HERE, "teacher-onnx.mjs")
    with tempfile.TemporaryDirectory() as tmp:
        x.astype(np.float32).tofile(os.path.join(tmp, "x.bin"))
        subprocess.run(["node", script, path, os.path.join(tmp, "x.bin"), str(len(x)), os.path.join(tmp, "y")],
                       check=True, cwd=os.path.join(HERE, "..", ".."), stdout=subprocess.DEVNULL)
        read = lambda name, d: np.fromfile(os.path.join(tmp, f"y.{name}.bin"), np.float32).reshape(len(x), d)
        return read("embedding", 1280), read("output", 1000)


def cosine(a, b):
    return (a * b).sum(1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=32)
    args = ap.parse_args()
    torch.set_num_threads(1)

    x = preprocess(sample_paths(args.n))
    ref_e, ref_l = onnx_reference(x)
    print(f"{args.n} images, cosine to onnxruntime's `embedding` (min / mean), torch forward at batch {args.n}, 1 thread:")
    for int8 in (False, True):
        teacher = load_teacher(int8=int8)
        with torch.no_grad():
            xt = torch.from_numpy(x)
            teacher(xt[:2])  # warm-up
            t0 = time.perf_counter()
            e = teacher(xt)
            dt = time.perf_counter() - t0
        c = cosine(e.numpy(), ref_e)
        print(f"  {'int8 replay' if int8 else 'float      '}  {c.min():.4f} / {c.mean():.4f}   {dt:.2f} s ({1000 * dt / len(x):.0f} ms/image)")
    with torch.no_grad():
        logits = load_teacher().logits(torch.from_numpy(x)).numpy()
    c = cosine(logits, ref_l)
    print(f"  float logits {c.min():.4f} / {c.mean():.4f}   top-1 agreement {(logits.argmax(1) == ref_l.argmax(1)).mean():.3f}")
    # how much the int8 graph itself moves when 1% of the pixels change by one grey level
    rng = np.random.default_rng(0)
    nudge = (rng.random(x.shape) < 0.01) * rng.choice([-1.0, 1.0], x.shape) / 255 / STD.reshape(1, 3, 1, 1)
    c = cosine(onnx_reference((x + nudge).astype(np.float32))[0], ref_e)
    print(f"  onnx vs onnx, 1% of pixels +-1 grey level: {c.min():.4f} / {c.mean():.4f}")
