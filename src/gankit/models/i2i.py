"""Image-to-image networks shared by gankit's translation systems (:mod:`gankit.translate`).

- :class:`UNet`: encoder-decoder with skip connections, pix2pix's generator (Isola et al. 2017,
  section 3.2.1 and appendix 6.1.1: 4x4 stride-2 convolutions, LeakyReLU 0.2 down, ReLU up,
  dropout in the first decoder blocks, no norm on the outermost layers, tanh out).
- :class:`ResnetGenerator`: stride-2 downsampling, residual blocks, upsampling: CycleGAN's
  generator (Zhu et al. 2017, appendix 7.2, after Johnson et al. 2016). With ``n_down=0`` it keeps
  the resolution throughout, which is SimGAN's refiner (Shrivastava et al. 2017, section 4:
  a 3x3 convolution, ResNet blocks, a 1x1 convolution out).
- :class:`PatchDiscriminator`: the "PatchGAN" of pix2pix (section 3.2.2) and CycleGAN: a fully
  convolutional D that gives one logit per overlapping patch, ``[N, 1, h, w]``. Losses average
  over patches. SimGAN's local adversarial loss is the same idea (section 2.3).

Images are ``[N, C, H, W]`` in [-1, 1]. Sizes need not be powers of two: the U-Net pads its
input to a multiple of ``2**depth`` (replicate) and crops its output back.

Example:
    >>> import torch
    >>> G = UNet(1, 1, base=8, depth=3)
    >>> tuple(G(torch.zeros(2, 1, 28, 28)).shape)
    (2, 1, 28, 28)
    >>> tuple(PatchDiscriminator(2, base=8, n_layers=2)(torch.zeros(2, 2, 28, 28)).shape)
    (2, 1, 5, 5)
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError

__all__ = ["norm_layer", "UNet", "ResnetBlock", "ResnetGenerator", "PatchDiscriminator"]

NORMS = ("batch", "instance", "none")


def norm_layer(kind: str, channels: int) -> nn.Module:
    """A normalisation layer by name: "batch", "instance" (affine, no running stats) or "none"."""
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "none":
        return nn.Identity()
    raise ValueError(f"norm must be one of {NORMS}, got {kind!r}")


class UNet(nn.Module):
    """pix2pix's U-Net: ``depth`` stride-2 down blocks, as many up blocks, skips between mirrors.

    Args:
        in_ch, out_ch: channels of input and output.
        base: channels after the first down block; doubled per block, capped at ``8 * base``.
        depth: number of down (and up) blocks; the input is padded to a multiple of ``2**depth``.
        norm: "batch" (the paper's), "instance" or "none"; never on the outermost layers.
        dropout: dropout rate in the innermost up blocks (the paper's noise source, 0.5), applied
            in the first ``min(3, depth - 1)`` up blocks.
    """

    def __init__(self, in_ch: int, out_ch: int, base: int = 32, depth: int = 3, norm: str = "batch",
                 dropout: float = 0.0):
        super().__init__()
        norm_layer(norm, 1)  # validate the name early
        self.depth = depth
        widths = [min(base * 2 ** i, base * 8) for i in range(depth)]  # channels after each down block
        self.down = nn.ModuleList()
        prev = in_ch
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(prev, w, 4, 2, 1, bias=norm != "batch" or i == 0 or i == depth - 1))
            if 0 < i < depth - 1:
                layers.append(norm_layer(norm, w))
            self.down.append(nn.Sequential(*layers))
            prev = w
        self.up = nn.ModuleList()
        n_dropout = min(3, depth - 1)
        for j, i in enumerate(reversed(range(depth))):  # i: the down block this up block mirrors
            inner = widths[i] if j == 0 else widths[i] * 2  # the innermost takes no skip
            outer = widths[i - 1] if i > 0 else out_ch
            layers = [nn.ReLU(), nn.ConvTranspose2d(inner, outer, 4, 2, 1, bias=i == 0 or norm != "batch")]
            if i > 0:
                layers.append(norm_layer(norm, outer))
                if dropout > 0 and j < n_dropout:
                    layers.append(nn.Dropout(dropout))
            else:
                layers.append(nn.Tanh())
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h, w = x.shape[-2:]
        m = 2 ** self.depth
        ph, pw = (-h) % m, (-w) % m
        if ph or pw:
            x = F.pad(x, (0, pw, 0, ph), mode="replicate")
        skips = []
        for block in self.down:
            x = block(x)
            skips.append(x)
        for j, block in enumerate(self.up):
            if j > 0:
                x = torch.cat([x, skips[-1 - j]], dim=1)
            x = block(x)
        return x[..., :h, :w]


class ResnetBlock(nn.Module):
    """x + conv3x3-norm-ReLU-conv3x3-norm(x), reflection padding."""

    def __init__(self, ch: int, norm: str = "instance"):
        super().__init__()
        self.body = nn.Sequential(
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), norm_layer(norm, ch), nn.ReLU(),
            nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), norm_layer(norm, ch),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class ResnetGenerator(nn.Module):
    """CycleGAN's generator; with ``n_down=0`` SimGAN's resolution-keeping refiner.

    Args:
        in_ch, out_ch: channels of input and output.
        base: channels of the first convolution (doubled per down block).
        n_down: stride-2 down blocks (mirrored by up blocks); the size must divide by ``2**n_down``.
        n_blocks: residual blocks at the bottom.
        norm: "instance" (CycleGAN's), "batch" or "none".
        stem: kernel size of the first convolution (CycleGAN 7, SimGAN 3); the last is 1x1 when
            ``n_down`` is 0, else ``stem``.
    """

    def __init__(self, in_ch: int, out_ch: int, base: int = 32, n_down: int = 2, n_blocks: int = 6,
                 norm: str = "instance", stem: int = 7):
        super().__init__()
        self.n_down = n_down
        layers: list[nn.Module] = [nn.ReflectionPad2d(stem // 2), nn.Conv2d(in_ch, base, stem),
                                   norm_layer(norm, base), nn.ReLU()]
        ch = base
        for _ in range(n_down):
            layers += [nn.Conv2d(ch, ch * 2, 3, 2, 1), norm_layer(norm, ch * 2), nn.ReLU()]
            ch *= 2
        layers += [ResnetBlock(ch, norm) for _ in range(n_blocks)]
        for _ in range(n_down):
            layers += [nn.ConvTranspose2d(ch, ch // 2, 3, 2, 1, output_padding=1), norm_layer(norm, ch // 2), nn.ReLU()]
            ch //= 2
        last = stem if n_down else 1
        layers += [nn.ReflectionPad2d(last // 2), nn.Conv2d(ch, out_ch, last), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        m = 2 ** self.n_down
        if x.shape[-1] % m or x.shape[-2] % m:
            raise ValueError(
                f"ResnetGenerator with n_down={self.n_down} needs sizes divisible by {m}; got {list(x.shape[-2:])}"
            )
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: ``n_layers`` stride-2 4x4 convolutions, one stride-1, then a 1-channel logit map.

    Each output logit sees one patch of the input. Its receptive field is 16x16 pixels for
    ``n_layers=1``, 34x34 for 2 and 70x70 for 3: the paper's "70x70 PatchGAN". Input channels are
    the image's, plus the condition's for pix2pix, which concatenates input and output along
    channels.

    Returns logits ``[N, 1, h, w]``.
    """

    def __init__(self, in_ch: int, base: int = 64, n_layers: int = 3, norm: str = "batch"):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(in_ch, base, 4, 2, 1), nn.LeakyReLU(0.2)]
        ch = base
        for i in range(1, n_layers):
            nxt = min(ch * 2, base * 8)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1, bias=norm != "batch"), norm_layer(norm, nxt), nn.LeakyReLU(0.2)]
            ch = nxt
        nxt = min(ch * 2, base * 8)
        layers += [nn.Conv2d(ch, nxt, 4, 1, 1, bias=norm != "batch"), norm_layer(norm, nxt), nn.LeakyReLU(0.2),
                   nn.Conv2d(nxt, 1, 4, 1, 1)]
        self.net = nn.Sequential(*layers)

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The feature map before the last convolution, [N, C', h', w'] (unconditional: ``c`` must be None)."""
        if c is not None:
            raise UserError("a PatchDiscriminator takes no class labels; pix2pix conditions it through the channels")
        return self.net[:-1](x)

    def logits(self, feats: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The head: the last convolution, features -> logit map [N, 1, h, w]."""
        return self.net[-1](feats)

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.features(x, c), c)
