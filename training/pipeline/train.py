"""Step 2 of the training pipeline: train skulens' own compact retail embedder.

A MobileNetV2-style network of our own sizing, trained from random weights on the crops
cached by teacher-views.ts, against three terms:

  * feature distillation  - a training-only linear head maps the student's embedding to
    the teacher's 1280-d space; loss 1 - cos(head(e), teacher);
  * relational distillation - within the batch, the student's cosine-similarity rows,
    as softmax distributions, match the teacher's (KL). This is what a gallery search
    uses: who is close to whom;
  * a proxy loss (normalised softmax over learned class proxies) on the 61 training
    classes, so that look-alike products are pulled apart.

Only the training classes are used (teacher-views.ts drops classes with id = 3 mod 4);
grocery-store test/ is never read here. Fixed schedule, no model selection: the last
epoch is what export.py writes.

Run (Debian python3-torch 1.13):  /usr/bin/python3 training/pipeline/train.py [--epochs 40] [--seed 1]
"""
import argparse
import json
import math
import os
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from PIL import Image
from torchvision.ops import roi_align

from model import RetailEmbedder

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "..", "cache")
SHARED = os.path.abspath(os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "..", "shared")))
DATA = os.path.join(SHARED, "data", "grocery-store")

MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
STORE = 224  # images are kept in memory at this size (stretched), crops are sampled from it


def load_rows(folder):
    """The image list of a teacher-views cache: index, path, class name, class id, width, height."""
    return [line.rstrip("\n").split("\t") for line in open(os.path.join(folder, "images.tsv"))]


def load_cache(folder):
    meta = json.load(open(os.path.join(folder, "meta.json")))
    n, v, dim = meta["images"], meta["views"], meta["dim"]
    rows = load_rows(folder)
    views = np.fromfile(os.path.join(folder, "views.f32"), dtype=np.float32).reshape(n, v, 5)
    teacher = np.fromfile(os.path.join(folder, "teacher.f16"), dtype=np.float16).reshape(n, v, dim)
    return meta, rows, torch.from_numpy(views), torch.from_numpy(teacher.astype(np.float32))


def load_pixels(rows):
    """All training images, stretched to STORE x STORE, uint8 NCHW (about 340 MB)."""
    out = torch.empty((len(rows), 3, STORE, STORE), dtype=torch.uint8)
    for i, row in enumerate(rows):
        path = row[1] if os.path.isabs(row[1]) else os.path.join(DATA, row[1])
        img = Image.open(path).convert("RGB").resize((STORE, STORE), Image.BILINEAR, reducing_gap=None)
        out[i] = torch.from_numpy(np.asarray(img).copy()).permute(2, 0, 1)
    return out


def make_batch(pixels, views, idx, view_idx, size, gen):
    """Crop each sampled view (the rectangles the teacher saw; it saw their central 87.5 %),
    resize, jitter colours."""
    imgs = pixels[idx].float()
    box = views[idx, view_idx]  # x, y, w, h (fractions), mirrored
    mirrored = box[:, 4] > 0.5
    imgs[mirrored] = imgs[mirrored].flip(-1)
    x0 = box[:, 0] * STORE
    y0 = box[:, 1] * STORE
    rois = torch.stack([torch.arange(len(idx), dtype=torch.float32), x0, y0, x0 + box[:, 2] * STORE, y0 + box[:, 3] * STORE], 1)
    crops = roi_align(imgs, rois, output_size=(size, size), spatial_scale=1.0, sampling_ratio=2, aligned=True)
    # Photometric jitter the teacher did not see: the student must be invariant to it.
    return (color_jitter(crops, gen) - MEAN) / STD


def color_jitter(crops, gen):
    """Random brightness, contrast and saturation (each x[0.8, 1.2]) of 0-255 crops; returns 0-1."""
    b = len(crops)
    bright = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.4
    contrast = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.4
    sat = 1 + (torch.rand(b, 1, 1, 1, generator=gen) - 0.5) * 0.4
    crops = crops * bright
    mean = crops.mean(dim=(1, 2, 3), keepdim=True)
    crops = (crops - mean) * contrast + mean
    gray = crops.mean(dim=1, keepdim=True)
    crops = (crops - gray) * sat + gray
    return crops.clamp(0, 255) / 255.0


def relational_kd(student, teacher, tau=0.1):
    s = F.normalize(student, dim=1)
    t = F.normalize(teacher, dim=1)
    eye = torch.eye(len(s), dtype=torch.bool)
    ss = (s @ s.t() / tau).masked_fill(eye, -1e4)
    tt = (t @ t.t() / tau).masked_fill(eye, -1e4)
    return F.kl_div(F.log_softmax(ss, 1), F.log_softmax(tt, 1), log_target=True, reduction="batchmean")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--size", type=int, default=160)
    ap.add_argument("--width", type=float, default=1.0)
    ap.add_argument("--dim", type=int, default=256)
    ap.add_argument("--proxy-weight", type=float, default=0.3)
    ap.add_argument("--rel-weight", type=float, default=1.0)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and stop")
    ap.add_argument("--views", default=os.path.join(CACHE, "views-16"), help="a folder written by teacher-views.ts")
    ap.add_argument("--init", help="start from this checkpoint's network weights (a second, longer stage)")
    ap.add_argument("--out", default=os.path.join(CACHE, "student.pt"))
    args = ap.parse_args()

    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)

    meta, rows, views, teacher = load_cache(args.views)
    n, v = meta["images"], meta["views"]
    labels_by_name = sorted({r[2] for r in rows})
    labels = torch.tensor([labels_by_name.index(r[2]) for r in rows])
    t0 = time.time()
    pixels = load_pixels(rows)
    print(f"{n} images x {v} views, {len(labels_by_name)} classes; decoded in {time.time() - t0:.0f} s", flush=True)

    model = RetailEmbedder(width=args.width, dim=args.dim)
    if args.init:
        model.load_state_dict(torch.load(args.init, map_location="cpu")["model"])
        print(f"starting from {args.init}", flush=True)
    # channels_last: PyTorch's CPU depthwise convolutions run much faster in NHWC.
    model = model.to(memory_format=torch.channels_last)
    distill_head = nn.Linear(args.dim, teacher.shape[-1])
    proxies = nn.Parameter(torch.randn(len(labels_by_name), args.dim) * 0.01)
    params = list(model.parameters()) + list(distill_head.parameters()) + [proxies]
    print(f"student: {sum(p.numel() for p in model.parameters()) / 1e6:.2f} M parameters, input {args.size} px", flush=True)

    steps_per_epoch = n // args.batch
    total = args.epochs * steps_per_epoch
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=5e-4)
    warmup = steps_per_epoch * 2
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / total)))
    )

    step = 0
    t_start = time.time()
    for epoch in range(args.epochs):
        model.train()
        order = torch.randperm(n, generator=gen)
        sums = np.zeros(4)
        for b in range(steps_per_epoch):
            idx = order[b * args.batch : (b + 1) * args.batch]
            view_idx = torch.randint(0, v, (len(idx),), generator=gen)
            x = make_batch(pixels, views, idx, view_idx, args.size, gen)
            t = teacher[idx, view_idx]
            e = model(x.contiguous(memory_format=torch.channels_last))
            l_feat = (1 - F.cosine_similarity(distill_head(e), t, dim=1)).mean()
            l_rel = relational_kd(e, t)
            logits = 16.0 * F.normalize(e, dim=1) @ F.normalize(proxies, dim=1).t()
            l_proxy = F.cross_entropy(logits, labels[idx])
            loss = l_feat + args.rel_weight * l_rel + args.proxy_weight * l_proxy
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            sums += [loss.item(), l_feat.item(), l_rel.item(), l_proxy.item()]
            if args.bench and step >= args.bench:
                dt = time.time() - t_start
                print(f"{step} steps in {dt:.1f} s: {dt / step:.3f} s/step, {args.batch * step / dt:.0f} img/s; "
                      f"{args.epochs} epochs would take {dt / step * total / 60:.0f} min", flush=True)
                return
        sums /= steps_per_epoch
        print(f"epoch {epoch + 1}/{args.epochs}  loss {sums[0]:.4f}  feat {sums[1]:.4f}  rel {sums[2]:.4f}  "
              f"proxy {sums[3]:.3f}  lr {sched.get_last_lr()[0]:.2e}  {(time.time() - t_start) / 60:.1f} min", flush=True)
        torch.save({"model": model.state_dict(), "args": vars(args), "epoch": epoch + 1}, args.out)
    print(f"trained in {(time.time() - t_start) / 60:.1f} min -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
