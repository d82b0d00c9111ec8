"""Train the shelf detector on synthetic shelves (synth.py), rendered on the fly in a DataLoader
worker. The schedule runs on wall-clock time (--minutes): warm-up, then cosine decay of the
learning rate over the budget, so a run fits its slot on a shared CPU whatever the step speed.
A checkpoint (model, optimiser, elapsed time, step) is written every --ckpt-minutes and at the
end; run the same command again to resume from it. AP50 on a fixed synthetic val set (drawn
from the Grocery Store val/ photos, never the training ones) is logged at each checkpoint.

Run: /usr/bin/python3 training/detector/train.py --minutes 75 --out training/detector/cache/shelf.pt
"""
import argparse
import json
import os
import time

import numpy as np
import torch

import synth
from metrics import ap50, nms_rows
from detnet import ShelfDetector, backbone_batchnorms, imagenet_backbone, loss

HERE = os.path.dirname(os.path.abspath(__file__))
CACHE = os.path.join(HERE, "cache")


class Shelves(torch.utils.data.IterableDataset):
    def __init__(self, size, seed):
        self.size, self.seed = size, seed

    def __iter__(self):
        info = torch.utils.data.get_worker_info()
        wid = info.id if info else 0
        src = synth.Sources("train")
        rng = np.random.default_rng([*self.seed, wid])
        while True:
            img, boxes = synth.sample(src, rng, self.size)
            yield torch.from_numpy(img).permute(2, 0, 1).float() / 255, torch.from_numpy(boxes)


def collate(batch):
    return torch.stack([b[0] for b in batch]), [b[1] for b in batch]


def val_set(n, size, seed=12345):
    """Fixed synthetic val canvases from val/ photos, cached as npz."""
    path = os.path.join(CACHE, f"val-{n}-{size}-{seed}.npz")
    if not os.path.exists(path):
        src = synth.Sources("val")
        rng = np.random.default_rng(seed)
        imgs, boxes = zip(*(synth.sample(src, rng, size) for _ in range(n)))
        np.savez_compressed(path + ".tmp.npz", imgs=np.stack(imgs), boxes=np.array(boxes, dtype=object))
        os.replace(path + ".tmp.npz", path)
    data = np.load(path, allow_pickle=True)
    return data["imgs"], list(data["boxes"])


def evaluate(model, imgs, boxes):
    model.eval()
    dets = []
    with torch.no_grad():
        for i in range(0, len(imgs), 4):
            x = torch.from_numpy(imgs[i:i + 4]).permute(0, 3, 1, 2).float() / 255
            for rows in model(x):
                dets.append(nms_rows(rows))
    model.train()
    freeze_backbone_bn(model)
    return ap50(dets, boxes)


def freeze_backbone_bn(model):
    # Batches of 8 are too small for batch statistics; the backbone keeps ImageNet's (folded) ones.
    for bn in backbone_batchnorms(model):
        bn.eval()


def lr_at(frac, base, warm=0.03):
    if frac < warm:
        return base * frac / warm
    return base * (0.02 + 0.98 * 0.5 * (1 + np.cos(np.pi * min(1.0, (frac - warm) / (1 - warm)))))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--minutes", type=float, default=75, help="wall-clock training budget (the LR schedule follows it)")
    ap.add_argument("--freeze", type=int, default=4, help="first MobileNetV2 blocks kept at their ImageNet weights (stride 4 and finer: the costliest backward)")
    ap.add_argument("--size", type=int, default=320, help="training canvas side (products at inference scale)")
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--backbone-lr", type=float, default=0.5, help="backbone LR as a fraction of --lr")
    ap.add_argument("--weight-decay", type=float, default=1e-4)
    ap.add_argument("--workers", type=int, default=1, help="DataLoader processes drawing shelves")
    ap.add_argument("--ckpt-minutes", type=float, default=10)
    ap.add_argument("--val", type=int, default=16, help="synthetic val canvases (640 px)")
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--out", default=os.path.join(CACHE, "shelf.pt"))
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(args.seed)
    os.makedirs(CACHE, exist_ok=True)

    model = ShelfDetector()
    imagenet_backbone(model)
    for p in model.c3[:args.freeze].parameters():
        p.requires_grad_(False)
    backbone = [p for part in (model.c3, model.c4, model.c5) for p in part.parameters() if p.requires_grad]
    ids = {id(p) for p in backbone}
    rest = [p for p in model.parameters() if id(p) not in ids and p.requires_grad]
    opt = torch.optim.AdamW([{"params": backbone, "scale": args.backbone_lr}, {"params": rest, "scale": 1.0}],
                            lr=args.lr, weight_decay=args.weight_decay)
    elapsed, step, history = 0.0, 0, []
    if os.path.exists(args.out):
        ckpt = torch.load(args.out, map_location="cpu")
        model.load_state_dict(ckpt["model"])
        opt.load_state_dict(ckpt["opt"])
        elapsed, step, history = ckpt["elapsed"], ckpt["step"], ckpt["history"]
        print(f"resumed from {args.out}: step {step}, {elapsed / 60:.1f} of {args.minutes} min")
    budget = args.minutes * 60
    if elapsed >= budget:
        print("budget already spent; nothing to do")
        return
    val_imgs, val_boxes = val_set(args.val, 640)

    def save():
        tmp = args.out + ".tmp"
        torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "elapsed": elapsed, "step": step,
                    "history": history, "args": vars(args)}, tmp)
        os.replace(tmp, args.out)

    # A resumed run draws fresh shelves (seed offset by the step), not the ones it already saw.
    data = torch.utils.data.DataLoader(Shelves(args.size, [args.seed, step]), batch_size=args.batch, collate_fn=collate,
                                       num_workers=args.workers, persistent_workers=args.workers > 0,
                                       prefetch_factor=4 if args.workers > 0 else None)
    model.train()
    freeze_backbone_bn(model)
    last_ckpt = elapsed
    t_prev = time.time()
    run = {"loss": 0.0, "obj": 0.0, "box": 0.0, "n": 0}
    for x, boxes in data:
        frac = elapsed / budget
        for g in opt.param_groups:
            g["lr"] = lr_at(frac, args.lr) * g["scale"]
        total, lo, lb = loss(model.raw(x), boxes, x.shape[2], x.shape[3])
        opt.zero_grad()
        total.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 10.0)
        opt.step()
        step += 1
        now = time.time()
        elapsed += now - t_prev
        t_prev = now
        run["loss"] += float(total); run["obj"] += lo; run["box"] += lb; run["n"] += 1
        done = elapsed >= budget
        if elapsed - last_ckpt >= args.ckpt_minutes * 60 or done:
            n = max(1, run["n"])
            t0 = time.time()
            ap, f1 = evaluate(model, val_imgs, val_boxes)
            entry = {"step": step, "minutes": round(elapsed / 60, 1), "lr": lr_at(frac, args.lr), "loss": run["loss"] / n,
                     "obj": run["obj"] / n, "box": run["box"] / n, "val_ap50": round(ap, 4), "val_f1": round(f1, 4)}
            history.append(entry)
            print(json.dumps(entry), flush=True)
            run = {"loss": 0.0, "obj": 0.0, "box": 0.0, "n": 0}
            save()
            last_ckpt = elapsed
            # Evaluation time counts against the budget: the run must end on time on a shared machine.
            del t0
        elif step % 20 == 0:
            print(f"step {step} {elapsed / 60:.1f} min loss {float(total):.3f} (obj {lo:.3f} box {lb:.3f})", flush=True)
        if done:
            break
    print(f"done: {step} steps in {elapsed / 60:.1f} min")


if __name__ == "__main__":
    main()
