"""The skulens default embedder: a small MobileNetV2-style network (inverted residual
blocks, depthwise 3x3 convolutions, ReLU6), global average pooling, and a linear
projection to a `dim`-d embedding. Sized for 160 px inputs on phone-class CPUs.

Training optimises that embedding; the exported model outputs the `descriptor`: the
embedding and a mid-level pooled feature side by side (see RetailEmbedder.descriptor)."""
import torch
import torch.nn as nn
import torch.nn.functional as F


def _round(channels, width):
    return max(8, int(channels * width + 4) // 8 * 8)


class ConvBN(nn.Sequential):
    def __init__(self, cin, cout, kernel=3, stride=1, groups=1, act=True):
        layers = [nn.Conv2d(cin, cout, kernel, stride, kernel // 2, groups=groups, bias=False), nn.BatchNorm2d(cout)]
        if act:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class InvertedResidual(nn.Module):
    def __init__(self, cin, cout, stride, expand):
        super().__init__()
        hidden = cin * expand
        layers = [] if expand == 1 else [ConvBN(cin, hidden, 1)]
        layers += [ConvBN(hidden, hidden, 3, stride, groups=hidden), ConvBN(hidden, cout, 1, act=False)]
        self.block = nn.Sequential(*layers)
        self.residual = stride == 1 and cin == cout

    def forward(self, x):
        y = self.block(x)
        return x + y if self.residual else y


# (expansion, output channels, repeats, first stride): 160 px in -> 5 x 5 at the end.
STAGES = [(1, 16, 1, 1), (4, 24, 2, 2), (4, 32, 3, 2), (4, 64, 3, 2), (4, 96, 2, 1), (4, 160, 2, 2)]
# features[9]: the last block of the 64-channel stage, whose depthwise output (256 channels,
# post-ReLU6, 10 x 10 at 160 px) the descriptor pools.
MID_LEVEL_BLOCK = 9
# Its weight in the descriptor. adapt() whitens each direction, so at low shrinkage it hardly
# sees this scale; plain cosine search does, and there the trained embedding should dominate
# (on held-out photos w = 1 cost plain search 2 points with 5 references per class, 0.5 none).
MID_LEVEL_WEIGHT = 0.5
# Ridge of the within-class whitening written after the descriptor (whitening.py), as a
# fraction of the mean variance: the largest of the values probed within one query of the
# best on held-out photos with 5 references per class (training/NOTES.md, "Whitening").
WHITENING_RIDGE = 0.1


class RetailEmbedder(nn.Module):
    def __init__(self, width=1.0, dim=256, last=640):
        super().__init__()
        cin = _round(32, width)
        layers = [ConvBN(3, cin, 3, 2)]
        for expand, channels, repeats, stride in STAGES:
            cout = _round(channels, width)
            for r in range(repeats):
                layers.append(InvertedResidual(cin, cout, stride if r == 0 else 1, expand))
                cin = cout
        layers.append(ConvBN(cin, last, 1))
        self.features = nn.Sequential(*layers)
        self.embed = nn.Linear(last, dim)

    def forward(self, x, frozen=0):
        """The embedding. The first `frozen` feature modules run without gradient
        (function_matching.py --freeze: their backward pass at 80 and 40 px is most of a step)."""
        if frozen:
            with torch.no_grad():
                x = self.features[:frozen](x)
            x = self.features[frozen:](x)
        else:
            x = self.features(x)  # whole, so the exported graph keeps its node names
        return self.embed(x.mean(dim=(2, 3)))

    def descriptor(self, x, block=MID_LEVEL_BLOCK, weight=MID_LEVEL_WEIGHT):
        """The descriptor: [L2(embedding), weight x L2(mean of `block`'s
        depthwise output)], dim + 256 values at width 1 for block 9. No loss looks at the
        mid-level feature (a 10 x 10 grid at 160 px: local texture and colour, before the last
        stride); it costs one mean, and next to the embedding it gives adapt() more to separate
        unseen look-alike products with (training/NOTES.md, "The descriptor"). The exported
        model outputs it whitened (Descriptor, whitening.py)."""
        pooled = []
        hook = self.features[block].block[1].register_forward_hook(lambda _m, _i, out: pooled.append(out.mean(dim=(2, 3))))
        try:
            embedding = self(x)
        finally:
            hook.remove()
        return torch.cat([F.normalize(embedding, dim=1), F.normalize(pooled[0], dim=1) * weight], dim=1)


class Descriptor(nn.Module):
    """A RetailEmbedder whose forward is its descriptor: the module export.py writes.
    block and weight are flags of export.py/quantize.py for experiments only. With
    `whitening` = (mean, W) from whitening.py, the output is (descriptor - mean) @ W."""

    def __init__(self, student, block=MID_LEVEL_BLOCK, weight=MID_LEVEL_WEIGHT, whitening=None):
        super().__init__()
        self.student, self.block, self.weight = student, block, weight
        mean, whiten = whitening if whitening is not None else (None, None)
        self.register_buffer("mean", mean)
        self.register_buffer("whiten", whiten)

    def forward(self, x):
        d = self.student.descriptor(x, self.block, self.weight)
        return d if self.whiten is None else (d - self.mean) @ self.whiten
