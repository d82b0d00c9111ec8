"""Synthetic dense shelves with exact product boxes, drawn from the MIT Grocery Store dataset only
(../shared/data/grocery-store): in-store photos give product "faces" and backgrounds, the studio
packshots give product silhouettes cut from their white background, and a third kind of product
is procedural (a coloured pack with label bands), so the detector sees shapes and textures that are
not all from one camera. No SKU-110K photo is read here.

A canvas is a crop of a shelf at the scale the detector sees at inference: a 1920x2560 photo
letterboxed to 640 px shows products ~20-90 px tall, a tiled one up to ~200 px. Rows of facings
stand on shelf boards with price labels; each product is repeated 1-7 times side by side
(identical facings touching, as on real shelves); then perspective, lighting, blur, noise and
JPEG act on the whole canvas and the boxes follow the geometry exactly.

Run `python3 synth.py --preview out.jpg` to look at a few canvases with their boxes.
"""
import argparse
import csv
import io
import math
import os
import random

import numpy as np
from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

HERE = os.path.dirname(os.path.abspath(__file__))
SHARED = os.environ.get("SKULENS_SHARED", os.path.join(HERE, "..", "..", "..", "shared"))
GROCERY = os.path.join(SHARED, "data", "grocery-store")


def load_photos(split, limit=None):
    """In-store photos of one split (train / val) as RGB uint8 arrays."""
    with open(os.path.join(GROCERY, f"{split}.csv")) as f:
        rows = [r["path"] for r in csv.DictReader(f)]
    if limit:
        rows = rows[:: max(1, len(rows) // limit)]
    return [np.asarray(Image.open(os.path.join(GROCERY, p)).convert("RGB")) for p in rows]


def load_packshots():
    """Studio packshots cut from their white background: (RGB array, alpha array) cropped to the product."""
    out = []
    for root, _dirs, files in os.walk(os.path.join(GROCERY, "iconic-images-and-descriptions")):
        for name in sorted(files):
            if not name.lower().endswith(".jpg"):
                continue
            rgb = np.asarray(Image.open(os.path.join(root, name)).convert("RGB")).astype(np.int16)
            # Background is near-white: product = any channel clearly below 235.
            mask = (rgb.min(axis=2) < 235).astype(np.uint8) * 255
            mask = np.asarray(Image.fromarray(mask).filter(ImageFilter.MaxFilter(3)).filter(ImageFilter.MinFilter(5)))
            ys, xs = np.nonzero(mask)
            if len(xs) < 100:
                continue
            y0, y1, x0, x1 = ys.min(), ys.max() + 1, xs.min(), xs.max() + 1
            out.append((rgb[y0:y1, x0:x1].astype(np.uint8), mask[y0:y1, x0:x1]))
    return out


class Sources:
    def __init__(self, split, limit=None):
        self.photos = load_photos(split, limit)
        self.packshots = load_packshots()


def rand_colour(rng, dark=False):
    if dark:
        return tuple(int(v) for v in rng.integers(0, 90, 3))
    # Mixed towards grey by a random amount: packaging is rarely pure saturated colour.
    c = rng.integers(0, 256, 3) * (1 - (m := rng.uniform(0, 0.6))) + m * rng.integers(40, 220)
    return tuple(int(v) for v in c)


def photo_face(src, rng, w, h):
    """A product face: a random crop of an in-store photo with the facing's aspect, resized to w x h."""
    photo = src.photos[rng.integers(len(src.photos))]
    ph, pw = photo.shape[:2]
    aspect = w / h
    ch = int(rng.uniform(0.35, 1.0) * ph)
    cw = int(min(pw, ch * aspect))
    ch = int(min(ph, cw / aspect))
    y = rng.integers(0, ph - ch + 1)
    x = rng.integers(0, pw - cw + 1)
    img = Image.fromarray(photo[y:y + ch, x:x + cw]).resize((w, h), Image.BILINEAR)
    if rng.random() < 0.5:
        # A printed band or cap: packaging rarely is one photo edge to edge.
        d = ImageDraw.Draw(img)
        by = int(rng.uniform(0, 0.8) * h)
        d.rectangle([0, by, w, by + max(1, int(rng.uniform(0.05, 0.25) * h))], fill=rand_colour(rng))
    return img, None


def packshot_face(src, rng, w, h):
    """A studio product cut from its white background; it keeps its own aspect inside the facing."""
    rgb, mask = src.packshots[rng.integers(len(src.packshots))]
    img, alpha = Image.fromarray(rgb), Image.fromarray(mask)
    return img.resize((w, h), Image.BILINEAR), alpha.resize((w, h), Image.BILINEAR)


def procedural_face(_src, rng, w, h):
    """A coloured pack: body colour, label bands, a logo blob and text-like strokes."""
    img = Image.new("RGB", (w, h), rand_colour(rng))
    d = ImageDraw.Draw(img)
    for _ in range(rng.integers(1, 4)):
        y = rng.uniform(0, h)
        d.rectangle([0, y, w, y + rng.uniform(0.05, 0.35) * h], fill=rand_colour(rng))
    if rng.random() < 0.7:
        cx, cy, r = rng.uniform(0.2, 0.8) * w, rng.uniform(0.2, 0.8) * h, rng.uniform(0.1, 0.35) * min(w, h)
        d.ellipse([cx - r, cy - r * rng.uniform(0.5, 1.5), cx + r, cy + r], fill=rand_colour(rng))
    for _ in range(rng.integers(0, 5)):
        y, x = rng.uniform(0.1, 0.9) * h, rng.uniform(0, 0.4) * w
        d.line([x, y, x + rng.uniform(0.2, 0.6) * w, y], fill=rand_colour(rng), width=max(1, int(h / 40)))
    alpha = None
    if rng.random() < 0.4:
        # Bottle / jar silhouette: a neck narrower than the body.
        alpha = Image.new("L", (w, h), 0)
        a = ImageDraw.Draw(alpha)
        neck = rng.uniform(0.15, 0.4) * h
        nw = rng.uniform(0.25, 0.6) * w
        a.rectangle([(w - nw) / 2, 0, (w + nw) / 2, neck], fill=255)
        a.rounded_rectangle([0, neck * 0.8, w - 1, h - 1], radius=int(min(w, h) * 0.15), fill=255)
    return img, alpha


FACES = (photo_face, packshot_face, procedural_face)
FACE_WEIGHTS = (0.5, 0.2, 0.3)


def shade(img, rng):
    """Per-product lighting: a vertical gradient (shelf above casts shadow) and a brightness change."""
    arr = np.asarray(img).astype(np.float32)
    h = arr.shape[0]
    top = rng.uniform(0.55, 1.0)
    grad = np.linspace(top, rng.uniform(0.9, 1.15), h, dtype=np.float32)[:, None, None]
    return Image.fromarray(np.clip(arr * grad * rng.uniform(0.75, 1.2), 0, 255).astype(np.uint8))


def background(src, rng, size):
    """The back of the shelf: a dark wall, a blurred store photo, or a flat colour."""
    r = rng.random()
    if r < 0.45:
        photo = src.photos[rng.integers(len(src.photos))]
        img = Image.fromarray(photo).resize((size, size), Image.BILINEAR).filter(ImageFilter.GaussianBlur(rng.uniform(0, 4)))
        return ImageEnhance.Brightness(img).enhance(rng.uniform(0.3, 0.9))
    return Image.new("RGB", (size, size), rand_colour(rng, dark=r < 0.8))


def price_labels(d, rng, y0, y1, width):
    """Small labels on the shelf edge: white/yellow tags with dark digits-like strokes."""
    x = rng.uniform(0, 60)
    tag_h = (y1 - y0) * rng.uniform(0.6, 0.95)
    while x < width:
        tw = rng.uniform(1.5, 3.5) * tag_h
        colour = (255, 255, 255) if rng.random() < 0.6 else (250, 220, int(rng.integers(0, 120)))
        ty = y0 + (y1 - y0 - tag_h) / 2
        d.rectangle([x, ty, x + tw, ty + tag_h], fill=colour)
        d.line([x + tw * 0.15, ty + tag_h * 0.5, x + tw * 0.7, ty + tag_h * 0.5], fill=(20, 20, 20), width=max(1, int(tag_h / 4)))
        x += tw + rng.uniform(20, 200)


def shelf(src, rng, size):
    """One canvas (PIL RGB, size x size) and its boxes, float array [K, 4] x1 y1 x2 y2."""
    canvas = background(src, rng, size)
    d = ImageDraw.Draw(canvas)
    boxes = []
    # Product height scale for this canvas: log-uniform 16-200 px, most around 30-90.
    base = math.exp(rng.uniform(math.log(18), math.log(160))) if rng.random() < 0.85 else rng.uniform(100, 220)
    board_colour = rand_colour(rng) if rng.random() < 0.3 else tuple([int(rng.integers(60, 250))] * 3)
    y = rng.uniform(-base, 0)  # the first row may start above the canvas
    while y < size:
        row_h = base * rng.uniform(1.05, 1.35)
        board_h = max(3.0, base * rng.uniform(0.08, 0.3))
        floor = y + row_h
        x = rng.uniform(-base, base * 0.5)
        while x < size:
            if rng.random() < 0.08:
                x += base * rng.uniform(0.3, 1.5)  # an empty slot
                continue
            h = int(base * rng.uniform(0.55, 1.0))
            aspect = math.exp(rng.uniform(math.log(0.3), math.log(1.6)))
            w = max(4, int(h * aspect))
            h = max(4, h)
            face = FACES[rng.choice(3, p=FACE_WEIGHTS)]
            img, alpha = face(src, rng, w, h)
            gap = rng.uniform(0, 0.06) * w if rng.random() < 0.7 else rng.uniform(0, 0.3) * w
            for _ in range(int(rng.integers(1, 8))):
                if x >= size:
                    break
                # Identical facings, each lit slightly differently; the last may stand a little forward.
                jitter = int(rng.integers(-1, 2))
                face_img = shade(img, rng)
                top = int(floor - h + jitter)
                canvas.paste(face_img, (int(x), top), alpha)
                if alpha is not None:
                    # The box is the opaque part of the silhouette.
                    bb = alpha.getbbox()
                    if bb is None:
                        x += w + gap
                        continue
                    boxes.append([x + bb[0], top + bb[1], x + bb[2], top + bb[3]])
                else:
                    boxes.append([x, top, x + w, top + h])
                x += w + gap
        # Shelf board (with price labels) under the row, drawn over the products' feet.
        d.rectangle([0, floor, size, floor + board_h], fill=board_colour)
        if rng.random() < 0.85:
            price_labels(d, rng, floor, floor + board_h, size)
        y = floor + board_h
    boxes = np.array(boxes, np.float32).reshape(-1, 4)
    return canvas, boxes


def occlude(canvas, boxes, rng, size):
    """A few occluders (a hand-held sign, a hanging tag, a clutter patch) over random spots."""
    d = ImageDraw.Draw(canvas)
    for _ in range(int(rng.integers(0, 3))):
        w, h = rng.uniform(0.05, 0.3) * size, rng.uniform(0.05, 0.3) * size
        x, y = rng.uniform(-w / 2, size), rng.uniform(-h / 2, size)
        d.rectangle([x, y, x + w, y + h], fill=rand_colour(rng))
        # Boxes mostly hidden by it are no longer visible products.
        ix = np.clip(np.minimum(boxes[:, 2], x + w) - np.maximum(boxes[:, 0], x), 0, None)
        iy = np.clip(np.minimum(boxes[:, 3], y + h) - np.maximum(boxes[:, 1], y), 0, None)
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
        boxes = boxes[ix * iy < 0.6 * area]
    return boxes


def warp(canvas, boxes, rng, size):
    """Perspective: a random homography close to identity; boxes become the bounds of their moved corners."""
    s = size
    jit = rng.uniform(0, 0.08) * s
    src = np.float32([[0, 0], [s, 0], [s, s], [0, s]])
    dst = src + rng.uniform(-jit, jit, (4, 2)).astype(np.float32)
    # Scale about the centre: zoom in or out (out leaves a border of background).
    dst = (dst - s / 2) * rng.uniform(0.85, 1.1) + s / 2
    H = homography(src, dst)
    Hinv = np.linalg.inv(H)
    fill = (114, 114, 114) if rng.random() < 0.5 else rand_colour(rng, dark=True)
    out = canvas.transform((s, s), Image.PERSPECTIVE, tuple((Hinv / Hinv[2, 2]).flatten()[:8]), Image.BILINEAR, fillcolor=fill)
    if len(boxes):
        corners = np.stack([boxes[:, [0, 1]], boxes[:, [2, 1]], boxes[:, [2, 3]], boxes[:, [0, 3]]], axis=1)  # K,4,2
        pts = np.concatenate([corners, np.ones(corners.shape[:2] + (1,), np.float32)], axis=2) @ H.T
        pts = pts[..., :2] / pts[..., 2:]
        boxes = np.concatenate([pts.min(axis=1), pts.max(axis=1)], axis=1).astype(np.float32)
    return out, boxes


def homography(src, dst):
    a = []
    for (x, y), (u, v) in zip(src, dst):
        a.append([x, y, 1, 0, 0, 0, -u * x, -u * y, -u])
        a.append([0, 0, 0, x, y, 1, -v * x, -v * y, -v])
    _, _, vt = np.linalg.svd(np.array(a, np.float64))
    return (vt[-1] / vt[-1, -1]).reshape(3, 3)


def letterbox_band(canvas, boxes, rng, size):
    """Sometimes a grey 114 band at a side, as the centred letterbox of a portrait photo leaves."""
    if rng.random() < 0.2:
        side = rng.integers(4)
        b = int(rng.uniform(0.05, 0.3) * size)
        d = ImageDraw.Draw(canvas)
        rect = [[0, 0, b, size], [size - b, 0, size, size], [0, 0, size, b], [0, size - b, size, size]][side]
        d.rectangle(rect, fill=(114, 114, 114))
        lo = np.array([b if side == 0 else 0, b if side == 2 else 0], np.float32)
        hi = np.array([size - b if side == 1 else size, size - b if side == 3 else size], np.float32)
        boxes = clip_boxes(boxes, lo, hi)
    return boxes


def clip_boxes(boxes, lo, hi, keep=0.45):
    """Clip to [lo, hi]; drop boxes with less than `keep` of their area left or under 3 px."""
    if not len(boxes):
        return boxes
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    c = boxes.copy()
    c[:, [0, 2]] = np.clip(c[:, [0, 2]], lo[0], hi[0])
    c[:, [1, 3]] = np.clip(c[:, [1, 3]], lo[1], hi[1])
    w, h = c[:, 2] - c[:, 0], c[:, 3] - c[:, 1]
    ok = (w >= 3) & (h >= 3) & (w * h >= keep * np.maximum(area, 1e-6))
    return c[ok]


def photometric(img, rng):
    """Camera: colour cast, contrast, blur, noise, JPEG."""
    arr = np.asarray(img).astype(np.float32)
    arr = arr * rng.uniform(0.8, 1.2, 3).astype(np.float32) + rng.uniform(-25, 25)
    mean = arr.mean()
    arr = (arr - mean) * rng.uniform(0.7, 1.3) + mean
    if rng.random() < 0.5:
        arr += rng.normal(0, rng.uniform(1, 8), arr.shape).astype(np.float32)
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))
    if rng.random() < 0.5:
        img = img.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.6)))
    if rng.random() < 0.6:
        buf = io.BytesIO()
        img.save(buf, "JPEG", quality=int(rng.integers(30, 95)))
        img = Image.open(io.BytesIO(buf.getvalue())).convert("RGB")
    return img


def sample(src, rng, size):
    """One training canvas: (uint8 HWC array, float32 boxes [K, 4] in pixels)."""
    canvas, boxes = shelf(src, rng, size)
    boxes = clip_boxes(boxes, np.zeros(2, np.float32), np.full(2, size, np.float32))
    boxes = occlude(canvas, boxes, rng, size)
    if rng.random() < 0.8:
        canvas, boxes = warp(canvas, boxes, rng, size)
        boxes = clip_boxes(boxes, np.zeros(2, np.float32), np.full(2, size, np.float32))
    if rng.random() < 0.5:
        canvas = canvas.transpose(Image.FLIP_LEFT_RIGHT)
        boxes = boxes[:, [2, 1, 0, 3]] * np.float32([-1, 1, -1, 1]) + np.float32([size, 0, size, 0])
    boxes = letterbox_band(canvas, boxes, rng, size)
    return np.asarray(photometric(canvas, rng)), boxes


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--preview", default="/tmp/synth-preview.jpg")
    ap.add_argument("--n", type=int, default=6)
    ap.add_argument("--size", type=int, default=384)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    import time
    src = Sources("val")
    rng = np.random.default_rng(args.seed)
    tiles, t0, count = [], time.time(), 0
    for _ in range(args.n):
        arr, boxes = sample(src, rng, args.size)
        count += len(boxes)
        img = Image.fromarray(arr)
        d = ImageDraw.Draw(img)
        for b in boxes:
            d.rectangle(list(b), outline=(0, 255, 0))
        tiles.append(img)
    print(f"{(time.time() - t0) / args.n * 1000:.0f} ms per canvas, {count / args.n:.0f} boxes per canvas")
    cols = 3
    sheet = Image.new("RGB", (cols * args.size, math.ceil(len(tiles) / cols) * args.size))
    for i, t in enumerate(tiles):
        sheet.paste(t, ((i % cols) * args.size, (i // cols) * args.size))
    sheet.save(args.preview)


if __name__ == "__main__":
    main()
