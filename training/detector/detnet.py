"""The shelf detector: MobileNetV2 backbone (ImageNet weights from the shared Apache-2.0
mobilenetv2-12-int8.onnx), a small FPN+PAN neck at strides 8/16/32 and an anchor-free head
(one cell = one candidate: objectness + left/top/right/bottom distances from the cell centre,
FCOS-style). The exported graph decodes itself into Ultralytics YOLOv5 rows
[1, N, 6] = cx, cy, w, h (input pixels), objectness, class score (one class, always 1), so the
library's Detector reads it with its `yolo` preset and no special case.
"""
import os

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
STRIDES = (8, 16, 32)
NECK = 64  # channels of every pyramid level: the head is cheap next to the backbone
# Objects go to the level whose range holds their longer side (input pixels), FCOS-style.
LEVEL_LIMITS = ((0, 64), (64, 128), (128, 1e9))
MAX_LOG = 7.0  # exp(7) strides: the largest box distance the head can express


def conv_bn(cin, cout, k=1, stride=1, groups=1, act=True):
    layers = [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
    if act:
        layers.append(nn.ReLU6(inplace=True))
    return nn.Sequential(*layers)


def sep(cin, cout, stride=1):
    """Depthwise 3x3 then pointwise: the MobileNet way to get a 3x3 field cheaply."""
    return nn.Sequential(conv_bn(cin, cin, 3, stride, groups=cin), conv_bn(cin, cout, 1))


class ShelfDetector(nn.Module):
    def __init__(self):
        super().__init__()
        features = torchvision.models.mobilenet_v2().features
        self.register_buffer("mean", torch.tensor([0.485, 0.456, 0.406]).reshape(1, 3, 1, 1))
        self.register_buffer("std", torch.tensor([0.229, 0.224, 0.225]).reshape(1, 3, 1, 1))
        # The 1x1 conv to 1280 channels is for classification: dropped (a third of the stride-32 cost).
        self.c3, self.c4, self.c5 = features[:7], features[7:14], features[14:18]
        self.lat3, self.lat4, self.lat5 = conv_bn(32, NECK), conv_bn(96, NECK), conv_bn(320, NECK)
        self.td4, self.td3 = sep(NECK, NECK), sep(NECK, NECK)
        self.down3, self.down4 = conv_bn(NECK, NECK, 3, 2, groups=NECK), conv_bn(NECK, NECK, 3, 2, groups=NECK)
        self.bu4, self.bu5 = sep(NECK, NECK), sep(NECK, NECK)
        self.heads = nn.ModuleList(nn.Sequential(sep(NECK, NECK), nn.Conv2d(NECK, 5, 1)) for _ in STRIDES)
        for head in self.heads:
            # Start with objectness ~0.01 so the many empty cells do not swamp the first steps (focal-loss prior).
            nn.init.constant_(head[-1].bias[4], -4.6)
            nn.init.normal_(head[-1].weight, std=0.01)
            nn.init.constant_(head[-1].bias[:4], 0.5)

    def raw(self, x):
        """Per level: [B, 5, H, W] logits (4 log-distances in strides, objectness). x: RGB in [0, 1]
        (the Detector's `yolo` preset); the ImageNet normalisation the backbone was trained with
        happens here, inside the graph."""
        x = (x - self.mean) / self.std
        c3 = self.c3(x)
        c4 = self.c4(c3)
        c5 = self.c5(c4)
        p5 = self.lat5(c5)
        p4 = self.td4(self.lat4(c4) + F.interpolate(p5, scale_factor=2.0, mode="nearest"))
        p3 = self.td3(self.lat3(c3) + F.interpolate(p4, scale_factor=2.0, mode="nearest"))
        n4 = self.bu4(p4 + self.down3(p3))
        n5 = self.bu5(p5 + self.down4(n4))
        return [head(p) for head, p in zip(self.heads, (p3, n4, n5))]

    def forward(self, x):
        """Decoded rows [B, N, 6]: cx, cy, w, h in input pixels, objectness, class score."""
        rows = []
        for out, s in zip(self.raw(x), STRIDES):
            b, _, h, w = out.shape
            gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
            cx, cy = (gx + 0.5) * s, (gy + 0.5) * s
            d = torch.exp(out[:, :4].clamp(max=MAX_LOG)) * s  # l, t, r, b
            x1, y1, x2, y2 = cx - d[:, 0], cy - d[:, 1], cx + d[:, 2], cy + d[:, 3]
            obj = torch.sigmoid(out[:, 4])
            level = torch.stack([(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1, obj, torch.ones_like(obj)], dim=-1)
            rows.append(level.reshape(b, h * w, 6))
        return torch.cat(rows, dim=1)


def imagenet_backbone(model):
    """Load the shared Apache-2.0 ImageNet MobileNetV2 (int8 ONNX, BatchNorm folded into its convs)
    into the torchvision layout: dequantized weights into each Conv, the folded bias into the
    BatchNorm after it (scale 1, running mean 0, variance 1)."""
    import onnx
    from onnx import numpy_helper

    g = onnx.load(os.path.join(SHARED, "models", "mobilenetv2-12-int8.onnx")).graph
    init = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    convs = []
    for node in g.node:
        if node.op_type != "QLinearConv":
            continue
        x_s, w, w_s, w_zp, bias = (init[node.input[i]] for i in (1, 3, 4, 5, 8))
        shape = (-1,) + (1,) * (w.ndim - 1)
        wf = (w.astype(np.float32) - w_zp.astype(np.float32).reshape(shape)) * w_s.astype(np.float32).reshape(shape)
        bf = bias.astype(np.float32) * x_s.astype(np.float32) * w_s.astype(np.float32)
        convs.append((wf, bf))
    pairs = []
    for part in (model.c3, model.c4, model.c5):
        mods = list(part.modules())
        for i, m in enumerate(mods):
            if isinstance(m, nn.Conv2d):
                bn = next(x for x in mods[i + 1:] if isinstance(x, nn.BatchNorm2d))
                pairs.append((m, bn))
    assert len(pairs) <= len(convs)
    for (conv, bn), (wf, bf) in zip(pairs, convs):
        assert tuple(conv.weight.shape) == wf.shape, (conv.weight.shape, wf.shape)
        with torch.no_grad():
            conv.weight.copy_(torch.from_numpy(wf))
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(bf))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # so that 1/sqrt(var + eps) is exactly 1
    return len(pairs)


def backbone_batchnorms(model):
    return [m for part in (model.c3, model.c4, model.c5) for m in part.modules() if isinstance(m, nn.BatchNorm2d)]


def cell_centres(size_h, size_w, device="cpu"):
    """Per level: centres [H*W, 2] and the level's stride, in the order the rows are concatenated."""
    out = []
    for s in STRIDES:
        h, w = -(-size_h // s), -(-size_w // s)
        gy, gx = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
        out.append((torch.stack([(gx.flatten() + 0.5) * s, (gy.flatten() + 0.5) * s], 1).to(device), s))
    return out


def assign(boxes, centres, radius=1.5):
    """Targets for one image. boxes [M, 4] x1y1x2y2. Returns per cell (all levels concatenated)
    the index of its box or -1. A box is positive at its level's cells whose centre is inside
    the box and within radius*stride of its centre (centre sampling: the edges of touching
    facings are ambiguous); the cell nearest the centre always counts, so tiny boxes get one.
    A cell claimed by several boxes takes the smallest."""
    idx = []
    side = torch.maximum(boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1])
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    bc = (boxes[:, :2] + boxes[:, 2:]) / 2
    for (c, s), (lo, hi) in zip(centres, LEVEL_LIMITS):
        n = len(c)
        if len(boxes) == 0:
            idx.append(torch.full((n,), -1, dtype=torch.long))
            continue
        at_level = (side > lo) & (side <= hi)
        inside = (c[:, None, 0] > boxes[None, :, 0]) & (c[:, None, 0] < boxes[None, :, 2]) & \
                 (c[:, None, 1] > boxes[None, :, 1]) & (c[:, None, 1] < boxes[None, :, 3])
        near = ((c[:, None, :] - bc[None]).abs() <= radius * s).all(-1)
        pos = inside & near
        # The cell containing the centre, even if no cell centre falls inside the box.
        w = int(round(c[:, 0].max().item() / s + 0.5))
        cell = (bc[:, 1] / s).long().clamp(0, n // w - 1) * w + (bc[:, 0] / s).long().clamp(0, w - 1)
        pos[cell, torch.arange(len(boxes))] = True
        pos &= at_level[None]
        cost = torch.where(pos, area[None].expand_as(pos), torch.full_like(pos, float("inf"), dtype=torch.float32))
        best, arg = cost.min(1)
        idx.append(torch.where(torch.isfinite(best), arg, torch.full_like(arg, -1)))
    return torch.cat(idx)


def giou(a, b):
    """Generalised IoU of matched x1y1x2y2 rows; also returns the plain IoU."""
    ix1, iy1 = torch.maximum(a[:, 0], b[:, 0]), torch.maximum(a[:, 1], b[:, 1])
    ix2, iy2 = torch.minimum(a[:, 2], b[:, 2]), torch.minimum(a[:, 3], b[:, 3])
    inter = (ix2 - ix1).clamp(min=0) * (iy2 - iy1).clamp(min=0)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    union = area_a + area_b - inter + 1e-7
    iou = inter / union
    cx1, cy1 = torch.minimum(a[:, 0], b[:, 0]), torch.minimum(a[:, 1], b[:, 1])
    cx2, cy2 = torch.maximum(a[:, 2], b[:, 2]), torch.maximum(a[:, 3], b[:, 3])
    hull = (cx2 - cx1) * (cy2 - cy1) + 1e-7
    return iou - (hull - union) / hull, iou


def loss(raw, targets, size_h, size_w, box_weight=5.0):
    """raw: the model's per-level outputs; targets: list of [M, 4] box tensors.
    Objectness: BCE on every cell, target 1 at positives, 0 elsewhere (YOLOX); boxes: GIoU at
    positives. Both normalised by the number of positives."""
    centres = cell_centres(size_h, size_w)
    b = raw[0].shape[0]
    flat = torch.cat([o.reshape(b, 5, -1) for o in raw], dim=2).permute(0, 2, 1)  # B, N, 5
    strides = torch.cat([torch.full((len(c),), float(s)) for c, s in centres])
    xy = torch.cat([c for c, _ in centres])
    obj_t = torch.zeros(b, flat.shape[1])
    pred_boxes, true_boxes = [], []
    for i, boxes in enumerate(targets):
        idx = assign(boxes, centres)
        pos = idx >= 0
        obj_t[i, pos] = 1.0
        if pos.any():
            d = torch.exp(flat[i, pos, :4].clamp(max=MAX_LOG)) * strides[pos, None]
            c = xy[pos]
            pred_boxes.append(torch.stack([c[:, 0] - d[:, 0], c[:, 1] - d[:, 1], c[:, 0] + d[:, 2], c[:, 1] + d[:, 3]], 1))
            true_boxes.append(boxes[idx[pos]])
    n_pos = max(1, int(obj_t.sum()))
    obj_loss = F.binary_cross_entropy_with_logits(flat[..., 4], obj_t, reduction="sum") / n_pos
    if pred_boxes:
        g, _ = giou(torch.cat(pred_boxes), torch.cat(true_boxes))
        box_loss = (1 - g).sum() / n_pos
    else:
        box_loss = flat.sum() * 0
    return obj_loss + box_weight * box_loss, float(obj_loss), float(box_loss)
