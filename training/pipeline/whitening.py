"""Within-class covariance normalisation (WCCN) of the exported descriptor, learned from the
training classes' photos and written into the ONNX graph as its last two ops:

    y = (d - mean) @ W,   W = (S + ridge * trace(S) / dim * I) ^ -1/2

S is the within-class covariance of the descriptor over the training classes' train and
val rows (never a held-out class, never test/); mean is their overall mean. Directions in
which photos of one product vary (light, angle, the untrained mid-level feature's noise)
are shrunk and those in which they hardly vary are stretched, so plain cosine search on
unseen products improves, and adapt()'s shrinkage toward the identity becomes shrinkage
toward what 61 classes taught about within-class variation (training/NOTES.md, "Whitening").
"""
import numpy as np
import torch

from monitor import normalise, open_photo, stretched, training_class_photos


def altered_photos(images, plain, size, gen, cast=0.2, zoom=(0.6, 0.9)):
    """Two altered copies of each photo (PIL `images`, `plain` their stretched pixels), as
    load_photos prepares them: a colour cast (red and blue gains exp(U(-cast, cast)) each)
    and a closer framing (the central square of side U(zoom) of the photo's sides) - the two
    changes shift.ts found the student most sensitive to."""
    cast_out, zoom_out = [], []
    for img, pixels in zip(images, plain):
        gains = np.exp((torch.rand(3, generator=gen).numpy() * 2 - 1) * cast)
        gains[1] = 1.0
        cast_out.append(np.clip(pixels * gains, 0, 255))
        side = zoom[0] + (zoom[1] - zoom[0]) * float(torch.rand(1, generator=gen))
        w, h = img.size
        zoom_out.append(stretched(img, size, (w * (1 - side) / 2, h * (1 - side) / 2, w * (1 + side) / 2, h * (1 + side) / 2)))
    return normalise(cast_out), normalise(zoom_out)


def fit_whitening(descriptor, size, ridge, nuisance=0.0, batch=64):
    """(mean, W) for `descriptor` (a module: images -> [N, D]) from the training classes'
    photos, stretched to size x size with PIL's bilinear resize as quantize.py's calibration
    photos are (PIL smooths when shrinking, skulens' declared preprocessing does not; the
    whitening is fitted on the float descriptor and applied to the int8 one).

    nuisance > 0 (an experiment, off by default) adds that multiple of the scatter of
    d(altered photo) - d(photo) over altered_photos()'s colour casts and zooms, so the
    directions those changes move are shrunk too (training/NOTES.md, "Experiments that did
    not ship")."""
    rows = training_class_photos()
    outputs = []
    nuisance_scatter = 0.0
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for start in range(0, len(rows), batch):
            images = [open_photo(path) for path, _ in rows[start : start + batch]]
            pixels = [stretched(img, size) for img in images]
            plain = descriptor(normalise(pixels)).double()
            outputs.append(plain)
            if nuisance > 0:
                for altered in altered_photos(images, pixels, size, gen):
                    moved = descriptor(altered).double() - plain
                    nuisance_scatter = nuisance_scatter + moved.T @ moved / (2 * len(rows))
    d = torch.cat(outputs)
    labels = [label for _, label in rows]
    residual = d.clone()
    for label in set(labels):
        members = torch.tensor([i for i, l in enumerate(labels) if l == label])
        residual[members] -= d[members].mean(0)
    scatter = residual.T @ residual / len(rows) + nuisance * nuisance_scatter
    dim = scatter.shape[0]
    values, vectors = torch.linalg.eigh(scatter + ridge * scatter.trace() / dim * torch.eye(dim, dtype=scatter.dtype))
    whiten = vectors @ torch.diag(values.rsqrt()) @ vectors.T
    info = {"ridge": ridge, "classes": len(set(labels)), "photos": len(rows)}
    if nuisance > 0:
        info["nuisance"] = nuisance
    return d.mean(0).float(), whiten.float(), info
