"""Within-class covariance normalisation (WCCN) of the exported descriptor, learned from the
training classes' photos and written into the ONNX graph as its last two ops:

    y = (d - mean) @ W,   W = (S + ridge * trace(S) / dim * I) ^ -1/2

S is the within-class covariance of the descriptor over the training classes' train and
val rows (never a held-out class, never test/); mean is their overall mean. Directions in
which photos of one product vary (light, angle, the untrained mid-level feature's noise)
are shrunk and those in which they hardly vary are stretched, so plain cosine search on
unseen products improves, and adapt()'s shrinkage toward the identity becomes shrinkage
toward what 61 classes taught about within-class variation (training/README, "Whitening").
"""
import csv
import os

import numpy as np
import torch
from PIL import Image

from monitor import DATA, MEAN, STD, held_out_classes


def training_class_photos():
    """(path, class) of every train and val row of the training classes."""
    held_out = held_out_classes()
    rows = []
    for split in ("train", "val"):
        with open(os.path.join(DATA, f"{split}.csv")) as f:
            rows += [(r["path"], r["label"]) for r in csv.DictReader(f) if r["label"] not in held_out]
    return rows


def fit_whitening(descriptor, size, ridge, batch=64):
    """(mean, W) for `descriptor` (a module: images -> [N, D]) from the training classes'
    photos, stretched to size x size with PIL's bilinear resize as quantize.py's calibration
    photos are (PIL smooths when shrinking, skulens' declared preprocessing does not; the
    whitening is fitted on the float descriptor and applied to the int8 one)."""
    rows = training_class_photos()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            pixels = [np.asarray(Image.open(os.path.join(DATA, path)).convert("RGB").resize((size, size), Image.BILINEAR)) for path, _ in rows[start : start + batch]]
            x = torch.from_numpy(np.stack(pixels)).permute(0, 3, 1, 2).float() / 255
            outputs.append(descriptor((x - MEAN) / STD).double())
    d = torch.cat(outputs)
    labels = [label for _, label in rows]
    residual = d.clone()
    for label in set(labels):
        members = torch.tensor([i for i, l in enumerate(labels) if l == label])
        residual[members] -= d[members].mean(0)
    scatter = residual.T @ residual / len(rows)
    dim = scatter.shape[0]
    values, vectors = torch.linalg.eigh(scatter + ridge * scatter.trace() / dim * torch.eye(dim, dtype=scatter.dtype))
    whiten = vectors @ torch.diag(values.rsqrt()) @ vectors.T
    return d.mean(0).float(), whiten.float(), {"ridge": ridge, "classes": len(set(labels)), "photos": len(rows)}
