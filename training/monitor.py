"""Watch a checkpoint on the held-out classes without touching test/: gallery = the
held-out classes' train rows (class means), queries = their val rows. The network never
trained on these classes; this is the validation figure the schedule was chosen with.

Only 72 val rows exist (one query = 1.4 points), too few to rank two runs of the same
recipe, so a second line splits the held-out classes' *train* rows instead: per class,
the first half of its photos (in file order, which keeps burst shots of one item
together) is the gallery and the second half the queries (~320 queries).

Run: /usr/bin/python3 training/monitor.py [--checkpoint training/cache/student.pt]
"""
import argparse
import csv
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from model import RetailEmbedder

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "shared")))
DATA = os.path.join(SHARED, "data", "grocery-store")
MEAN = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
STD = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)


def held_out_classes():
    """Names of the classes kept out of training: id = 3 (mod 4), 20 of 81."""
    with open(os.path.join(DATA, "classes.csv")) as f:
        return {r[0] for r in list(csv.reader(f))[1:] if int(r[1]) % 4 == 3}


def held_out_rows(split):
    held = held_out_classes()
    return [r for r in list(csv.reader(open(os.path.join(DATA, f"{split}.csv"))))[1:] if r[1] in held]


def embed(model, rows, size):
    out = []
    for start in range(0, len(rows), 64):
        batch = [
            torch.from_numpy(np.asarray(Image.open(os.path.join(DATA, r[0])).convert("RGB").resize((size, size), Image.BILINEAR)).copy())
            for r in rows[start : start + 64]
        ]
        x = (torch.stack(batch).permute(0, 3, 1, 2).float() / 255 - MEAN) / STD
        with torch.no_grad():
            out.append(F.normalize(model(x), dim=1))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "cache", "student.pt"))
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = torch.load(args.checkpoint, map_location="cpu")
    a = ckpt["args"]
    model = RetailEmbedder(width=a["width"], dim=a["dim"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    refs, queries = held_out_rows("train"), held_out_rows("val")
    r, q = embed(model, refs, a["size"]), embed(model, queries, a["size"])
    labels = sorted({row[1] for row in refs})
    means = F.normalize(torch.stack([r[[i for i, row in enumerate(refs) if row[1] == c]].mean(0) for c in labels]), dim=1)
    by_mean = np.mean([labels[p] == row[1] for p, row in zip((q @ means.t()).argmax(1).tolist(), queries)])
    by_nn = np.mean([refs[p][1] == row[1] for p, row in zip((q @ r.t()).argmax(1).tolist(), queries)])
    print(f"epoch {ckpt['epoch']}: held-out classes, val queries ({len(queries)}): top-1 class mean {by_mean:.3f}, 1-NN {by_nn:.3f}")

    # Split-half of the held-out train rows: first half of each class = gallery.
    order = sorted(range(len(refs)), key=lambda i: (refs[i][1], refs[i][0]))
    by_class = {}
    for i in order:
        by_class.setdefault(refs[i][1], []).append(i)
    gallery = [i for idx in by_class.values() for i in idx[: len(idx) // 2]]
    held = [i for idx in by_class.values() for i in idx[len(idx) // 2 :]]
    print(f"epoch {ckpt['epoch']}: held-out classes, train split-half ({len(held)} queries): "
          f"top-1 class mean {top1(r, refs, gallery, held, labels, True):.3f}, 1-NN {top1(r, refs, gallery, held, labels, False):.3f}")


def top1(vectors, rows, gallery, queries, labels, by_mean):
    """Top-1 of `queries` (indices into rows) against `gallery`: class means or 1-NN."""
    g, q = vectors[gallery], vectors[queries]
    if by_mean:
        means = F.normalize(torch.stack([g[[j for j, i in enumerate(gallery) if rows[i][1] == c]].mean(0) for c in labels]), dim=1)
        guesses = [labels[p] for p in (q @ means.t()).argmax(1).tolist()]
    else:
        guesses = [rows[gallery[p]][1] for p in (q @ g.t()).argmax(1).tolist()]
    return float(np.mean([guess == rows[i][1] for guess, i in zip(guesses, queries)]))


if __name__ == "__main__":
    main()
