"""Experimental stage 3: fine-tune a trained student by *function matching* against the
teacher queried online (Beyer et al., "Knowledge distillation: a good teacher is patient
and consistent", 2022).

train.py distils from cached teacher vectors of fixed crops, and jitters the student's
colours without showing the teacher the jittered image. Here every step draws fresh
random-resized crops, colour jitter and mixup of image pairs, and the float teacher
(teacher_torch.py) embeds exactly the pixels the student sees (the student at its own
160 px, resized from the teacher's 224 px crop). Losses as in train.py: feature
distillation through a linear head, relational distillation, and a proxy loss on the
training classes (mixed labels for mixed images).

Same data rule as train.py: the training classes' train/val rows and iconic images only
(the rows of a teacher-views cache), never test/.

Run: /usr/bin/python3 training/pipeline/function_matching.py --init cache/student.pt --steps 1200 --out cache/fm.pt
"""
import argparse
import math
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
from torchvision.ops import roi_align

from model import RetailEmbedder
from teacher_torch import load_teacher
from train import MEAN, STD, STORE, color_jitter, load_pixels, load_rows, relational_kd


def random_boxes(n, gen, min_area):
    """Random-resized-crop rectangles (fractions of the image): area in [min_area, 1],
    aspect ratio log-uniform in [3/4, 4/3]."""
    area = min_area + (1 - min_area) * torch.rand(n, generator=gen)
    ratio = torch.exp((torch.rand(n, generator=gen) - 0.5) * 2 * math.log(4 / 3))
    w = torch.sqrt(area * ratio).clamp(max=1.0)
    h = torch.sqrt(area / ratio).clamp(max=1.0)
    x = torch.rand(n, generator=gen) * (1 - w)
    y = torch.rand(n, generator=gen) * (1 - h)
    return x, y, w, h


def white_balance(crops, gen, strength):
    """Scale red and blue by exp(U(-strength, strength)) each, green fixed: the colour cast of
    another light or camera, which brightness/contrast/saturation jitter never produces."""
    gains = torch.exp((torch.rand(len(crops), 3, generator=gen) * 2 - 1) * strength)
    gains[:, 1] = 1.0
    return crops * gains.view(-1, 3, 1, 1)


def make_views(pixels, idx, gen, mix_alpha, min_area, wb_gen=None, wb_strength=0.0, crop_samples=2):
    """The teacher's 224 px view and the student's 160 px view of the same augmented,
    mixed images, plus the mixing weights and partners. The white-balance draws come from
    their own generator so that turning them on leaves every other random draw unchanged."""
    imgs = pixels[idx].float()
    n = len(idx)
    flip = torch.rand(n, generator=gen) < 0.5
    imgs[flip] = imgs[flip].flip(-1)
    x, y, w, h = random_boxes(n, gen, min_area)
    rois = torch.stack([torch.arange(n, dtype=torch.float32), x * STORE, y * STORE, (x + w) * STORE, (y + h) * STORE], 1)
    crops = roi_align(imgs, rois, output_size=(224, 224), spatial_scale=1.0, sampling_ratio=crop_samples, aligned=True)
    # Colour jitter, seen by both networks (consistent teaching).
    if wb_strength > 0:
        crops = white_balance(crops, wb_gen, wb_strength)
    crops = color_jitter(crops, gen)
    # Mixup with a shuffled partner; lambda ~ Beta(alpha, alpha) per image.
    lam = torch.distributions.Beta(mix_alpha, mix_alpha).sample((n,)) if mix_alpha > 0 else torch.ones(n)
    partner = torch.randperm(n, generator=gen)
    crops = lam.view(n, 1, 1, 1) * crops + (1 - lam.view(n, 1, 1, 1)) * crops[partner]
    teacher_x = (crops - MEAN) / STD
    student_x = (F.interpolate(crops, size=(160, 160), mode="bilinear", align_corners=False, antialias=True) - MEAN) / STD
    return teacher_x, student_x, lam, partner


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--init", required=True, help="a checkpoint written by train.py")
    ap.add_argument("--views", default="cache/views-16", help="a teacher-views cache; only its image list is used")
    ap.add_argument("--steps", type=int, default=1200)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--mix-alpha", type=float, default=1.0)
    ap.add_argument("--proxy-weight", type=float, default=0.1)
    ap.add_argument("--min-area", type=float, default=0.25, help="smallest crop, as a fraction of the photo's area")
    ap.add_argument("--white-balance", type=float, default=0.0, help="colour-cast jitter: red and blue gains exp(U(-x, x)); 0 = off")
    ap.add_argument("--freeze", type=int, default=0, help="keep the first N feature modules fixed (weights and BatchNorm statistics)")
    ap.add_argument("--crop-samples", type=int, default=2, help="roi_align taps per output pixel and side (1: plain bilinear)")
    ap.add_argument("--fast-teacher", action="store_true", help="run the teacher through torch.jit.optimize_for_inference (same outputs to ~1e-5)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--bench", type=int, default=0, help="time this many steps and stop")
    ap.add_argument("--out", default="cache/fm.pt")
    args = ap.parse_args()

    torch.set_num_threads(2)
    torch.manual_seed(args.seed)
    gen = torch.Generator().manual_seed(args.seed)
    wb_gen = torch.Generator().manual_seed(args.seed + 1000)

    rows = load_rows(args.views)
    names = sorted({r[2] for r in rows})
    labels = torch.tensor([names.index(r[2]) for r in rows])
    pixels = load_pixels(rows)
    n = len(rows)

    ckpt = torch.load(args.init, map_location="cpu")
    a = ckpt["args"]
    model = RetailEmbedder(width=a["width"], dim=a["dim"])
    model.load_state_dict(ckpt["model"])
    # channels_last: PyTorch's CPU depthwise convolutions run 2-3x faster in NHWC.
    model = model.to(memory_format=torch.channels_last)
    teacher = load_teacher().to(memory_format=torch.channels_last)
    if args.fast_teacher:
        teacher = torch.jit.optimize_for_inference(torch.jit.trace(teacher.eval(), torch.zeros(2, 3, 224, 224)))
    for p in model.features[: args.freeze].parameters():
        p.requires_grad_(False)
    head = nn.Linear(a["dim"], 1280)
    proxies = nn.Parameter(torch.randn(len(names), a["dim"]) * 0.01)
    params = [p for p in model.parameters() if p.requires_grad] + list(head.parameters()) + [proxies]
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=5e-4)
    warmup = 50
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup) * 0.5 * (1 + math.cos(math.pi * min(1.0, s / args.steps)))
    )
    print(f"{n} images, {len(names)} classes; from {args.init}; {args.steps} steps of {args.batch}", flush=True)

    t_start = time.time()
    sums = np.zeros(4)
    order = torch.randperm(n, generator=gen)
    cursor = 0
    model.train()
    model.features[: args.freeze].eval()
    for step in range(1, args.steps + 1):
        if cursor + args.batch > n:
            order, cursor = torch.randperm(n, generator=gen), 0
        idx = order[cursor : cursor + args.batch]
        cursor += args.batch
        teacher_x, student_x, lam, partner = make_views(pixels, idx, gen, args.mix_alpha, args.min_area, wb_gen, args.white_balance, args.crop_samples)
        with torch.no_grad():
            t = teacher(teacher_x.contiguous(memory_format=torch.channels_last))
        e = model(student_x.contiguous(memory_format=torch.channels_last), args.freeze)
        l_feat = (1 - F.cosine_similarity(head(e), t, dim=1)).mean()
        l_rel = relational_kd(e, t)
        logits = 16.0 * F.normalize(e, dim=1) @ F.normalize(proxies, dim=1).t()
        y = labels[idx]
        l_proxy = (lam * F.cross_entropy(logits, y, reduction="none") + (1 - lam) * F.cross_entropy(logits, y[partner], reduction="none")).mean()
        loss = l_feat + l_rel + args.proxy_weight * l_proxy
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        sums += [loss.item(), l_feat.item(), l_rel.item(), l_proxy.item()]
        if args.bench and step >= args.bench:
            dt = (time.time() - t_start) / step
            print(f"{dt:.2f} s/step; {args.steps} steps would take {dt * args.steps / 60:.0f} min", flush=True)
            return
        if step % 50 == 0 or step == args.steps:
            s = sums / 50
            sums[:] = 0
            print(f"step {step}/{args.steps}  loss {s[0]:.4f}  feat {s[1]:.4f}  rel {s[2]:.4f}  proxy {s[3]:.3f}  "
                  f"lr {sched.get_last_lr()[0]:.2e}  {(time.time() - t_start) / 60:.1f} min", flush=True)
            torch.save({"model": model.state_dict(), "args": {**a, "function_matching": vars(args)}, "epoch": ckpt.get("epoch", 0)}, args.out)
    print(f"done in {(time.time() - t_start) / 60:.1f} min -> {args.out}", flush=True)


if __name__ == "__main__":
    main()
