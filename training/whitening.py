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
import torch

from monitor import load_photos, training_class_photos


def fit_whitening(descriptor, size, ridge, batch=64):
    """(mean, W) for `descriptor` (a module: images -> [N, D]) from the training classes'
    photos, stretched to size x size with PIL's bilinear resize as quantize.py's calibration
    photos are (PIL smooths when shrinking, skulens' declared preprocessing does not; the
    whitening is fitted on the float descriptor and applied to the int8 one)."""
    rows = training_class_photos()
    outputs = []
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            outputs.append(descriptor(load_photos([path for path, _ in rows[start : start + batch]], size)).double())
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
