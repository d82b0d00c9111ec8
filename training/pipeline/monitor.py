"""Watch a checkpoint on the held-out classes without touching test/: gallery = the
held-out classes' train rows (class means), queries = their val rows. The network never
trained on these classes; this is the validation figure the schedule was chosen with.

Only 72 val rows exist (one query = 1.4 points), too few to rank two runs of the same
recipe, so a second line splits the held-out classes' *train* rows instead: per class,
the first half of its photos (in file order, which keeps burst shots of one item
together) is the gallery and the second half the queries (347 queries).

It measures the embedding that training optimises (every figure in training/NOTES.md before
the descriptor was shipped); --descriptor measures what the exported model outputs instead
(model.py). training/evaluation/select.ts measures exported ONNX files through skulens itself.

Run: /usr/bin/python3 training/pipeline/monitor.py [--checkpoint training/cache/student.pt] [--descriptor]
"""
import argparse
import csv
import os

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from model import Descriptor, RetailEmbedder

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.path.abspath(os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "..", "shared")))
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


def training_class_photos(splits=("train", "val")):
    """(path, class) of every row of `splits` whose class is a training class, in file order."""
    held_out = held_out_classes()
    rows = []
    for split in splits:
        with open(os.path.join(DATA, f"{split}.csv")) as f:
            rows += [(r["path"], r["label"]) for r in csv.DictReader(f) if r["label"] not in held_out]
    return rows


def open_photo(path):
    """A photo (path relative to DATA) as an RGB PIL image."""
    return Image.open(os.path.join(DATA, path)).convert("RGB")


def stretched(image, size, box=None):
    """`image` (or its `box` region) stretched to size x size with PIL's bilinear resize, as
    float32 HWC pixels 0-255."""
    return np.asarray(image.resize((size, size), Image.BILINEAR, box=box)).astype(np.float32)


def normalise(pixels):
    """A list of HWC 0-255 pixel arrays as an ImageNet-normalised float32 NCHW batch."""
    return (torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2) / 255 - MEAN) / STD


def load_photos(paths, size):
    """Photos (paths relative to DATA) stretched to size x size, ImageNet-normalised, as a
    float32 NCHW batch: what every training-side measurement feeds."""
    return normalise([stretched(open_photo(p), size) for p in paths])


def embed(model, rows, size):
    out = []
    for start in range(0, len(rows), 64):
        x = load_photos([r[0] for r in rows[start : start + 64]], size)
        with torch.no_grad():
            out.append(F.normalize(model(x), dim=1))
    return torch.cat(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=os.path.join(HERE, "..", "cache", "student.pt"))
    ap.add_argument("--descriptor", action="store_true", help="measure the exported descriptor, not the training embedding")
    args = ap.parse_args()
    torch.set_num_threads(1)
    ckpt = torch.load(args.checkpoint, map_location="cpu")
    a = ckpt["args"]
    model = RetailEmbedder(width=a["width"], dim=a["dim"])
    model.load_state_dict(ckpt["model"])
    model.eval()
    if args.descriptor:
        model = Descriptor(model)
    refs, queries = held_out_rows("train"), held_out_rows("val")
    r, q = embed(model, refs, a["size"]), embed(model, queries, a["size"])
    ref_labels, query_labels = [row[1] for row in refs], [row[1] for row in queries]
    print(f"epoch {ckpt['epoch']}: held-out classes, val queries ({len(queries)}): "
          f"top-1 class mean {top1(r, ref_labels, q, query_labels, True):.3f}, 1-NN {top1(r, ref_labels, q, query_labels, False):.3f}")

    # Split-half of the held-out train rows, per class in file order: first half = gallery.
    by_class = {}
    for i, label in enumerate(ref_labels):
        by_class.setdefault(label, []).append(i)
    gallery = [i for idx in by_class.values() for i in idx[: len(idx) // 2]]
    held = [i for idx in by_class.values() for i in idx[len(idx) // 2 :]]
    g_labels, h_labels = [ref_labels[i] for i in gallery], [ref_labels[i] for i in held]
    print(f"epoch {ckpt['epoch']}: held-out classes, train split-half ({len(held)} queries): "
          f"top-1 class mean {top1(r[gallery], g_labels, r[held], h_labels, True):.3f}, "
          f"1-NN {top1(r[gallery], g_labels, r[held], h_labels, False):.3f}")


def top1(refs, ref_labels, queries, query_labels, by_mean):
    """Top-1 of `queries` against `refs` (L2-normalised rows): nearest class mean, or 1-NN."""
    if by_mean:
        classes = sorted(set(ref_labels))
        means = F.normalize(torch.stack([refs[[i for i, l in enumerate(ref_labels) if l == c]].mean(0) for c in classes]), dim=1)
        guesses = [classes[p] for p in (queries @ means.t()).argmax(1).tolist()]
    else:
        guesses = [ref_labels[p] for p in (queries @ refs.t()).argmax(1).tolist()]
    return float(np.mean([g == t for g, t in zip(guesses, query_labels)]))

if __name__ == "__main__":
    main()
