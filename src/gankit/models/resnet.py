"""Residual, normalisation-free G and D for small images, in the manner of R3GAN.

Huang et al. (2024), "The GAN is dead; long live the GAN! A Modern GAN Baseline", section 4 (the
roadmap to their config E): both nets are stacks of residual blocks with no normalisation layer at all; each
block is an inverted bottleneck (1x1 conv widening the stream, a grouped 3x3 conv, a 1x1 conv
back to the stream's width) with leaky ReLUs between; the resolution changes between stages by
interpolation, with a 1x1 conv where the width changes; the blocks start as the identity through
fix-up initialisation (below). The nets here are that design cut down to 28/32/64-pixel images
and CPU budgets; all code is our own.

Initialisation (``init_fixup``) follows Fixup, Zhang et al. (2019), "Fixup Initialization:
Residual Learning Without Normalization", section 3, the scheme R3GAN's nets use too: with L residual branches of
m = 3 layers each, the last layer of every branch starts at zero and the other two are drawn from
He's normal init (gain sqrt(2 / (1 + 0.2^2)) for the leaky ReLU that follows) scaled by
L^(-1/(2m - 2)) = L^(-1/4). So at initialisation every block is exactly the identity and each
net is a shallow conv net around its residual stream. Layers no activation follows (stems,
width changes, G's output, D's head) use gain 1: N(0, 1 / fan_in).

Sizes: a square image of 1 or 3 channels whose side halves down to 3..7 pixels (28 -> 14 -> 7,
32 -> ... -> 4, 64 -> ... -> 4). There is one stage of blocks per resolution from s0 up to half
the image's side, with the DCGAN nets' widths (``base_channels`` at half the side, doubling at
each halving below it). The image's own resolution has no blocks, only G's output conv (after a
bilinear 2x up) and D's stem (a 4x4 stride-2 conv, DCGAN's first layer): with blocks there too,
a training step at 28x28 and base 32 cost 13x the FLOPs of the DCGAN pair's (gankit bench's count;
docs/models.md), more than a CPU preset can afford.
"""

from __future__ import annotations

import math

import torch
from torch import nn
from torch.nn import functional as F

from gankit.errors import UserError
from gankit.models.dcgan import ConvDiscriminatorBase, levels
from gankit.models.mlp import MinibatchDiscrimination, check_input, check_labels

SLOPE = 0.2  # leaky ReLU slope (DCGAN's D uses 0.2, as do StyleGAN2 and R3GAN)
EXPANSION = 2  # the bottleneck's inner width / the stream's width (R3GAN widens its blocks too; our choice of 2)
# channels per group of the grouped 3x3 conv (R3GAN groups it too; our choice of 16); one group when the inner
# width is not a multiple of it
GROUP_WIDTH = 16
BRANCH_LAYERS = 3  # m of Fixup: layers in each residual branch


def _act(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, SLOPE)


def _check_shape(data_shape: tuple[int, ...], blocks: int) -> tuple[int, int, int]:
    """(channels, n, s0) for a valid image shape: n factor-2 resamplings down to side s0."""
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[0] not in (1, 3):
        raise UserError(
            f"the resnet nets need square images of shape [1 or 3, S, S]; the data has shape {list(data_shape)}"
        )
    if blocks < 1:
        raise UserError(f"config keys 'G.blocks' and 'D.blocks' must be positive integers (resnet); got {blocks}")
    n, s0 = levels(data_shape[1], nets="resnet")
    return data_shape[0], n, s0


def _he(weight: torch.Tensor, gain: float) -> None:
    """weight ~ N(0, gain^2 / fan_in) in place (He et al. 2015 with gain sqrt(2 / (1 + slope^2)))."""
    fan_in = weight[0].numel()
    with torch.no_grad():
        weight.normal_(0.0, gain / math.sqrt(fan_in))


class ResidualBlock(nn.Module):
    """x + W3 act(W2 act(W1 x)): 1x1 widen, grouped 3x3, 1x1 back; [N, C, H, W] -> [N, C, H, W]."""

    def __init__(self, width: int):
        super().__init__()
        inner = width * EXPANSION
        groups = inner // GROUP_WIDTH if inner % GROUP_WIDTH == 0 else 1
        self.widen = nn.Conv2d(width, inner, 1)
        self.mix = nn.Conv2d(inner, inner, 3, padding=1, groups=groups)
        self.narrow = nn.Conv2d(inner, width, 1)  # the branch's last layer: zero at init (Fixup)

    def branch(self, x: torch.Tensor) -> torch.Tensor:
        return self.narrow(_act(self.mix(_act(self.widen(x)))))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.branch(x)


def init_fixup(module: nn.Module, zero_last: bool = True) -> None:
    """Fixup (Zhang et al. 2019, section 3) over every :class:`ResidualBlock` in ``module``.

    With L blocks (branches of m = 3 layers): ``widen`` and ``mix`` ~ He init x L^(-1/(2m-2)),
    ``narrow`` = 0, biases 0. ``zero_last=False`` draws ``narrow`` like the other two instead
    (spectral norm divides a zero weight by a zero singular value). Only the blocks are touched.
    """
    blocks = [m for m in module.modules() if isinstance(m, ResidualBlock)]
    scale = max(len(blocks), 1) ** (-1.0 / (2 * BRANCH_LAYERS - 2))
    gain = math.sqrt(2.0 / (1.0 + SLOPE ** 2))  # a leaky ReLU follows widen and mix
    for b in blocks:
        _he(b.widen.weight, gain * scale)
        _he(b.mix.weight, gain * scale)
        if zero_last:
            nn.init.zeros_(b.narrow.weight)
        else:
            _he(b.narrow.weight, scale)
        for conv in (b.widen, b.mix, b.narrow):
            nn.init.zeros_(conv.bias)


def _init_linear(layer: nn.Module) -> None:
    """A layer no activation follows: N(0, 1 / fan_in), zero bias."""
    _he(layer.weight, 1.0)
    if layer.bias is not None:
        nn.init.zeros_(layer.bias)


class ResNetGenerator(nn.Module):
    """z (+ label embedding) -> linear stem to [C0, s0, s0] -> per resolution up to S/2: blocks, then a
    1x1 conv where the width changes and bilinear 2x up -> leaky ReLU, 3x3 conv, tanh.
    [N, z_dim] -> [N, C, S, S] in [-1, 1]."""

    def __init__(self, z_dim: int, data_shape: tuple[int, ...], base_channels: int = 32, blocks: int = 1,
                 c_dim: int = 0, z_dist: str = "normal"):
        super().__init__()
        channels, n, s0 = _check_shape(tuple(data_shape), blocks)
        self.z_dim, self.c_dim, self.data_shape = z_dim, c_dim, tuple(data_shape)
        self.z_dist = z_dist  # the prior G was trained with: "normal" or "uniform" (gankit.models.sample_z)
        self.embed = nn.Embedding(c_dim, c_dim) if c_dim else None  # Mirza & Osindero 2014, as the DCGAN G
        # Width at resolution s0 * 2^i, i = 0..n-1: e.g. 28x28, base 32: [64, 32] at 7, 14 (as DCGAN's G).
        self.widths = [base_channels * 2 ** (n - 1 - i) for i in range(n)]
        self.s0 = s0
        self.stem = nn.Linear(z_dim + c_dim, self.widths[0] * s0 * s0)
        self.stages = nn.ModuleList(nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in self.widths)
        self.widths_change = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(self.widths[:-1], self.widths[1:]))
        self.out = nn.Conv2d(self.widths[-1], channels, 3, padding=1)
        for layer in [self.stem, *self.widths_change, self.out]:
            _init_linear(layer)
        init_fixup(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        check_input("z", z, (self.z_dim,))
        check_labels(self, c, len(z))
        if self.embed is not None:
            z = torch.cat([z, self.embed(c)], dim=1)  # [N, z_dim + c_dim]
        h = self.stem(z).view(len(z), self.widths[0], self.s0, self.s0)  # [N, C0, s0, s0]
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i < len(self.widths_change):  # the width changes at the low resolution, where it is cheaper
                h = self.widths_change[i](h)
            h = F.interpolate(h, scale_factor=2, mode="bilinear", align_corners=False)  # [N, C_i, 2 s, 2 s]
        return torch.tanh(self.out(_act(h)))  # [N, C, S, S] in [-1, 1]


class _Trunk(nn.Module):
    """D up to its features: 4x4 stride-2 conv stem -> per resolution from S/2 down: blocks, then 2x2
    average down and a 1x1 conv where the width changes -> leaky ReLU and a depthwise s0 x s0 conv.
    [N, C_in, S, S] -> phi [N, widths[-1]]."""

    def __init__(self, c_in: int, widths: list[int], blocks: int, s0: int):
        super().__init__()
        self.stem = nn.Conv2d(c_in, widths[0], 4, 2, 1)  # [N, C_in, S, S] -> [N, C0, S/2, S/2]
        self.stages = nn.ModuleList(nn.Sequential(*[ResidualBlock(w) for _ in range(blocks)]) for w in widths)
        self.widths_change = nn.ModuleList(nn.Conv2d(a, b, 1) for a, b in zip(widths[:-1], widths[1:]))
        feat = widths[-1]
        self.pool = nn.Conv2d(feat, feat, s0, groups=feat)  # [N, C, s0, s0] -> [N, C, 1, 1]: a learned weighting
        for layer in [self.stem, *self.widths_change, self.pool]:
            _init_linear(layer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.stem(x)  # [N, C0, S/2, S/2]
        for i, stage in enumerate(self.stages):
            h = stage(h)
            if i < len(self.widths_change):  # average 2x2 = bilinear at factor 1/2; then the (cheaper) 1x1 conv
                h = self.widths_change[i](F.avg_pool2d(h, 2))
        return self.pool(_act(h)).flatten(1)  # [N, feat]


class ResNetDiscriminator(ConvDiscriminatorBase):
    """The trunk (:class:`_Trunk`) gives phi(x), one value per channel of the last stage; the head is a
    linear logit (+ projection on the label). ``D.body`` and ``D.head`` are modules, as in the DCGAN D."""

    def __init__(self, data_shape: tuple[int, ...], base_channels: int = 32, blocks: int = 1, c_dim: int = 0,
                 cond: str = "concat", pac: int = 1, mbd: int = 0, mbd_dim: int = 5, zero_last: bool = True):
        super().__init__()
        channels, n, s0 = _check_shape(tuple(data_shape), blocks)
        self.z_dim, self.c_dim, self.data_shape, self.cond, self.pac = 0, c_dim, tuple(data_shape), cond, pac
        concat = c_dim if c_dim and cond == "concat" else 0  # labels enter as constant one-hot planes
        # Width at resolution S / 2^(i+1), i = 0..n-1: e.g. 28x28, base 32: [32, 64] at 14, 7 (as DCGAN's D).
        self.widths = [base_channels * 2 ** i for i in range(n)]
        self.body = _Trunk(channels * pac + concat, self.widths, blocks, s0)
        feat = self.widths[-1]
        self.mbd = MinibatchDiscrimination(feat, mbd, mbd_dim) if mbd else None
        self.head = nn.Linear(feat + mbd, 1)
        self.embed = nn.Embedding(c_dim, feat + mbd) if c_dim and cond == "projection" else None
        _init_linear(self.head)
        if self.embed is not None:
            nn.init.normal_(self.embed.weight, 0.0, 1.0 / math.sqrt(feat + mbd))
        init_fixup(self, zero_last=zero_last)
