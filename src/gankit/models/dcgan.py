"""DCGAN (Radford et al. 2015): transposed convolutions up, strided convolutions down.

Following the paper's guidelines (section 3): no pooling (strided convolutions in D, fractionally
strided ones in G), BatchNorm in both nets except G's output and D's input layer, ReLU in G with a
tanh output, LeakyReLU(0.2) in D, weights ~ N(0, 0.02) (section 4). Any square image whose side
halves down to 3..7 pixels works (28, 32, 64, ...), with 1 or 3 channels.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.errors import UserError
from gankit.models.mlp import MinibatchDiscrimination, check_input, check_labels


def levels(size: int, nets: str = "DCGAN") -> tuple[int, int]:
    """(n, s0): the number of factor-2 resamplings and the smallest side, e.g. 28 -> (2, 7), 64 -> (4, 4).

    ``nets`` names the architecture in the error message."""
    n = 0
    while size % 2 == 0 and size // 2 >= 3:
        size //= 2
        n += 1
        if size <= 7:
            break
    if n == 0 or size > 7:
        raise UserError(f"the {nets} nets need square images whose side halves down to 3..7 pixels (28, 32, 64, ...); "
                        f"got side {size * 2 ** n}")
    return n, size


def init_dcgan(module: nn.Module) -> None:
    """Radford et al. 2015, section 4: weights ~ N(0, 0.02); BatchNorm scale ~ N(1, 0.02), shift 0."""
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear, nn.Embedding)):
            nn.init.normal_(m.weight, 0.0, 0.02)
            if getattr(m, "bias", None) is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)


def _check_image_shape(data_shape: tuple[int, ...]) -> tuple[int, int]:
    if len(data_shape) != 3 or data_shape[1] != data_shape[2] or data_shape[0] not in (1, 3):
        raise UserError(
            f"the DCGAN nets need square images of shape [1 or 3, S, S]; the data has shape {list(data_shape)}"
        )
    return data_shape[0], data_shape[1]


class DCGANGenerator(nn.Module):
    """z (+ label embedding) -> project to [C0, s0, s0] -> n x (ConvT stride 2, BN, ReLU) -> tanh image."""

    def __init__(self, z_dim: int, data_shape: tuple[int, ...], base_channels: int = 64, c_dim: int = 0,
                 z_dist: str = "normal"):
        super().__init__()
        channels, size = _check_image_shape(tuple(data_shape))
        n, s0 = levels(size)
        self.z_dim, self.c_dim, self.data_shape = z_dim, c_dim, tuple(data_shape)
        self.z_dist = z_dist  # the prior G was trained with: "normal" or "uniform" (gankit.models.sample_z)
        self.embed = nn.Embedding(c_dim, c_dim) if c_dim else None
        widths = [base_channels * 2 ** (n - 1 - i) for i in range(n)]  # e.g. 28x28: [128, 64]
        self.s0, self.c0 = s0, widths[0]
        self.project = nn.Sequential(nn.Linear(z_dim + c_dim, widths[0] * s0 * s0, bias=False))
        self.bn0 = nn.BatchNorm2d(widths[0])
        ups: list[nn.Module] = []
        for a, b in zip(widths[:-1], widths[1:]):
            ups += [nn.ConvTranspose2d(a, b, 4, 2, 1, bias=False), nn.BatchNorm2d(b), nn.ReLU()]
        ups += [nn.ConvTranspose2d(widths[-1], channels, 4, 2, 1), nn.Tanh()]
        self.ups = nn.Sequential(*ups)
        init_dcgan(self)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        check_input("z", z, (self.z_dim,))
        check_labels(self, c, len(z))
        if self.embed is not None:
            z = torch.cat([z, self.embed(c)], dim=1)  # [N, z_dim + c_dim]
        h = self.project(z).view(-1, self.c0, self.s0, self.s0)  # [N, C0, s0, s0]
        return self.ups(torch.relu(self.bn0(h)))  # [N, C, S, S] in [-1, 1]


class ConvDiscriminatorBase(nn.Module):
    """What the convolutional discriminators share (DCGAN's and the residual one, :mod:`gankit.models.resnet`):
    packing and label planes in front of ``self.body``, the head after it (minibatch discrimination, a linear
    logit, the projection term). A subclass builds ``body``, ``mbd``, ``head``, ``embed`` and sets
    ``data_shape``, ``c_dim``, ``cond`` and ``pac``."""

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """phi(x): ``self.body``'s output [N / pac, feat] (DCGAN: the flattened last convolution block).

        Per sample (or pack): minibatch discrimination belongs to the head (:meth:`logits`). A
        ``cond="concat"`` D sees the label as constant one-hot planes, as in training.
        """
        check_input("x", x, self.data_shape)
        check_labels(self, c, len(x))
        if self.pac > 1:
            if len(x) % self.pac:
                raise UserError(
                    f"D.pac = {self.pac} packs samples in groups: the batch ({len(x)}) must be a multiple of it"
                )
            x = x.reshape(len(x) // self.pac, -1, *x.shape[2:])  # [N / pac, pac * C, S, S]
        if self.c_dim and self.cond == "concat":
            planes = nn.functional.one_hot(c, self.c_dim).to(x.dtype)[:, :, None, None]  # [N, c_dim, 1, 1]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return self.body(x)  # [N / pac, feat]: phi(x)

    def logits(self, feats: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The head: features [N / pac, feat] (from :meth:`features`) -> logits [N / pac]."""
        if self.mbd is not None:
            feats = self.mbd(feats)  # [N, feat + B]: Salimans et al. 2016, 3.2
        logit = self.head(feats).squeeze(1)
        if self.embed is not None:  # projection discriminator, Miyato & Koyama 2018
            logit = logit + (self.embed(c) * feats).sum(1)
        return logit  # [N / pac]

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.features(x, c), c)


class DCGANDiscriminator(ConvDiscriminatorBase):
    """n x (Conv stride 2, BN except the first, LeakyReLU 0.2) -> linear logit [N]."""

    def __init__(self, data_shape: tuple[int, ...], base_channels: int = 64, norm: str = "batch",
                 c_dim: int = 0, cond: str = "concat", pac: int = 1, mbd: int = 0, mbd_dim: int = 5):
        super().__init__()
        channels, size = _check_image_shape(tuple(data_shape))
        n, s0 = levels(size)
        self.z_dim, self.c_dim, self.data_shape, self.cond, self.pac = 0, c_dim, tuple(data_shape), cond, pac
        concat = c_dim if c_dim and cond == "concat" else 0  # labels enter as constant one-hot planes
        widths = [base_channels * 2 ** i for i in range(n)]  # e.g. 28x28: [64, 128]
        layers: list[nn.Module] = [nn.Conv2d(channels * pac + concat, widths[0], 4, 2, 1), nn.LeakyReLU(0.2)]
        for a, b in zip(widths[:-1], widths[1:]):
            layers += [nn.Conv2d(a, b, 4, 2, 1, bias=norm != "batch")]
            if norm == "batch":
                layers.append(nn.BatchNorm2d(b))
            layers.append(nn.LeakyReLU(0.2))
        self.body = nn.Sequential(*layers, nn.Flatten())
        feat = widths[-1] * s0 * s0
        self.mbd = MinibatchDiscrimination(feat, mbd, mbd_dim) if mbd else None
        self.head = nn.Linear(feat + mbd, 1)
        self.embed = nn.Embedding(c_dim, feat + mbd) if c_dim and cond == "projection" else None
        init_dcgan(self)
