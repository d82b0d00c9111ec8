"""The skulens default embedder: a small MobileNetV2-style network (inverted residual
blocks, depthwise 3x3 convolutions, ReLU6), global average pooling, and a linear
projection to a `dim`-d embedding. Sized for 160 px inputs on phone-class CPUs."""
import torch
import torch.nn as nn


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

    def forward(self, x):
        x = self.features(x).mean(dim=(2, 3))
        return self.embed(x)
