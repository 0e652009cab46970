"""Fully connected G and D: the paper's nets (ReLU G, maxout D with dropout) and the tutorial pair.

Goodfellow et al. (2014) trained on MNIST a generator of rectifier layers with a sigmoid output
and a discriminator of maxout layers (Goodfellow et al. 2013) with dropout; the exact sizes live
in the preset ``paper-mnist``. No training logic lives here.
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.errors import UserError


def _activation(name: str) -> nn.Module:
    return nn.LeakyReLU(0.2) if name == "leaky_relu" else nn.ReLU()


def init_uniform(module: nn.Module, half_width: float) -> None:
    """Weights ~ U(-half_width, half_width) and zero biases (pylearn2's ``irange``)."""
    for m in module.modules():
        if isinstance(m, nn.Linear):
            nn.init.uniform_(m.weight, -half_width, half_width)
            nn.init.zeros_(m.bias)


def check_input(name: str, t: torch.Tensor, shape: tuple[int, ...]) -> None:
    """Raise UserError unless ``t`` has shape [N, *shape]."""
    if t.dim() != len(shape) + 1 or tuple(t.shape[1:]) != tuple(shape):
        raise UserError(f"{name} must have shape [N, {', '.join(map(str, shape))}], got {list(t.shape)}")


def check_labels(module: nn.Module, c: torch.Tensor | None, n: int) -> None:
    """Conditioning contract: c is None iff c_dim == 0; else integer labels [N] in [0, c_dim)."""
    c_dim = module.c_dim
    if c_dim == 0:
        if c is not None:
            raise UserError(f"this {type(module).__name__} is unconditional (c_dim = 0) but a class label c was given")
        return
    if c is None:
        raise UserError(
            f"this {type(module).__name__} is conditional (c_dim = {c_dim}): pass class labels c of shape [N]"
        )
    if c.dim() != 1 or len(c) != n or c.dtype not in (torch.int64, torch.int32):
        raise UserError(f"class labels c must be integers of shape [{n}], got {c.dtype} {list(c.shape)}")
    # The range check reads values back to the host; on an accelerator that would stall every forward
    # pass, and the embedding's own index check catches bad labels there.
    if len(c) and c.device.type == "cpu" and (int(c.min()) < 0 or int(c.max()) >= c_dim):
        raise UserError(f"class labels must lie in [0, {c_dim - 1}], got values from {int(c.min())} to {int(c.max())}")


def pack(x: torch.Tensor, pac: int) -> torch.Tensor:
    """PacGAN (Lin et al. 2018): D judges ``pac`` samples at once. [N, F] -> [N / pac, pac * F]."""
    if x.shape[0] % pac:
        raise UserError(f"D.pac = {pac} packs samples in groups: the batch ({x.shape[0]}) must be a multiple of it")
    return x.reshape(x.shape[0] // pac, -1)


class MinibatchDiscrimination(nn.Module):
    """Minibatch discrimination (Salimans et al. 2016, "Improved Techniques for Training GANs", 3.2).

    Each sample's features f_i ([A]) are projected by a learned tensor T to M_i ([B, C]); for every
    kernel b, o_b(x_i) = sum_{j != i} exp(-||M_ib - M_jb||_1) measures how close the other samples of
    the batch are. The B values are appended to f_i, so D sees whether G's batch lacks variety: a
    collapsed G produces batches whose o is near N - 1 while real batches have o near 0.
    [N, A] -> [N, A + B]. The sum leaves out j = i, as the paper's reference code does.
    """

    def __init__(self, in_features: int, kernels: int, dim: int = 5):
        super().__init__()
        self.kernels, self.dim = kernels, dim
        self.T = nn.Linear(in_features, kernels * dim, bias=False)  # T as a Linear so spectral norm reaches it
        nn.init.normal_(self.T.weight, 0.0, 0.05)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        m = self.T(f).view(len(f), self.kernels, self.dim).transpose(0, 1)  # [B, N, C]
        dist = torch.cdist(m, m, p=1)  # [B, N, N]: L1 distances per kernel
        o = torch.exp(-dist).sum(2) - 1.0  # [B, N]; exp(-0) = 1 for j = i is removed
        return torch.cat([f, o.t()], dim=1)  # [N, A + B]


class MLPGenerator(nn.Module):
    """G(z) = out(W_L h_{L-1} + b), h_i = act(norm(W_i h_{i-1} + b_i)); returns [N, *data_shape]."""

    def __init__(self, z_dim: int, data_shape: tuple[int, ...], hidden: tuple[int, ...],
                 act: str = "relu", norm: str = "none", out: str = "tanh", c_dim: int = 0, z_dist: str = "normal"):
        super().__init__()
        self.z_dim, self.c_dim, self.data_shape, self.out = z_dim, c_dim, tuple(data_shape), out
        self.z_dist = z_dist  # the prior G was trained with: "normal" or "uniform" (gankit.models.sample_z)
        # Conditional G (Mirza & Osindero 2014): a learned label embedding concatenated to z.
        self.embed = nn.Embedding(c_dim, c_dim) if c_dim else None
        layers: list[nn.Module] = []
        width = z_dim + c_dim
        for i, h in enumerate(hidden):
            layers.append(nn.Linear(width, h))
            if norm == "batch" and i > 0:  # the tutorial G normalises every hidden layer but the first
                layers.append(nn.BatchNorm1d(h))
            layers.append(_activation(act))
            width = h
        layers.append(nn.Linear(width, math.prod(self.data_shape)))
        self.net = nn.Sequential(*layers)

    def set_output_bias(self, x_mean: torch.Tensor) -> None:
        """Start the output unit at the data's mean pixel (mnist.yaml's init_sigmoid_bias_from_marginals)."""
        last = self.net[-1]
        m = x_mean.reshape(-1).clamp(-0.998, 0.998)  # [-1, 1]; clamp keeps the inverse finite
        with torch.no_grad():
            if self.out == "sigmoid":  # 2 sigmoid(b) - 1 = m  <=>  b = logit((m + 1) / 2)
                last.bias.copy_(torch.logit((m + 1) / 2))
            elif self.out == "tanh":
                last.bias.copy_(torch.atanh(m))
            else:
                last.bias.copy_(m)

    def forward(self, z: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        check_input("z", z, (self.z_dim,))
        check_labels(self, c, len(z))
        if self.embed is not None:
            z = torch.cat([z, self.embed(c)], dim=1)  # [N, z_dim + c_dim]
        a = self.net(z)  # [N, prod(data_shape)]
        if self.out == "tanh":
            a = torch.tanh(a)
        elif self.out == "sigmoid":
            a = 2 * torch.sigmoid(a) - 1  # the paper's sigmoid on [0,1] pixels, expressed on [-1, 1]
        return a.view(-1, *self.data_shape)  # [N, *data_shape]


class Maxout(nn.Module):
    """h_j = max_k (W_jk x + b_jk) over ``pieces`` linear pieces (Goodfellow et al. 2013)."""

    def __init__(self, d_in: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces = units, pieces
        self.linear = nn.Linear(d_in, units * pieces)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.linear(x).view(-1, self.units, self.pieces).amax(dim=-1)  # [N, units]


class MLPDiscriminator(nn.Module):
    """D(x) -> one logit per sample ([N]); sigmoid(logit) is the probability that x is real."""

    def __init__(self, data_shape: tuple[int, ...], hidden: tuple[int, ...], arch: str = "mlp",
                 act: str = "leaky_relu", pieces: int = 5, dropout: float = 0.0,
                 dropout_input: float = 0.0, c_dim: int = 0, cond: str = "concat", pac: int = 1,
                 mbd: int = 0, mbd_dim: int = 5):
        super().__init__()
        self.z_dim, self.c_dim, self.data_shape, self.cond, self.pac = 0, c_dim, tuple(data_shape), cond, pac
        # Conditional D: the label embedding is concatenated to x (Mirza & Osindero 2014), or
        # projected onto D's last hidden features (Miyato & Koyama 2018, eq. 3).
        concat = c_dim if c_dim and cond == "concat" else 0
        width = math.prod(self.data_shape) * pac + concat
        feat = (hidden[-1] if hidden else width) + mbd  # width of phi(x), the input of the last linear layer
        self.embed = nn.Embedding(c_dim, concat or feat) if c_dim else None
        self.mbd = MinibatchDiscrimination(feat - mbd, mbd, mbd_dim) if mbd else None
        layers: list[nn.Module] = []
        for i, h in enumerate(hidden):
            p = dropout_input if i == 0 else dropout
            if p > 0:
                layers.append(nn.Dropout(p))
            if arch == "maxout":
                layers.append(Maxout(width, h, pieces))
            else:
                layers += [nn.Linear(width, h), _activation(act)]
            width = h
        if dropout > 0 and hidden:
            layers.append(nn.Dropout(dropout))
        layers.append(nn.Linear(width + mbd, 1))
        self.net = nn.Sequential(*layers)

    def features(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """phi(x): the penultimate features [N / pac, hidden[-1]], the input of the last linear layer.

        Per sample (or pack): minibatch discrimination, which compares samples, belongs to the head
        (:meth:`logits`). A ``cond="concat"`` D sees the label here, as in training.
        """
        check_input("x", x, self.data_shape)
        check_labels(self, c, len(x))
        h = pack(x.flatten(1), self.pac) if self.pac > 1 else x.flatten(1)  # [N / pac, pac * F]
        if self.embed is not None and self.cond == "concat":
            h = torch.cat([h, self.embed(c)], dim=1)  # [N, F + c_dim]
        return self.net[:-1](h)  # [N / pac, width]: phi(x)

    def logits(self, feats: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        """The head: features [N / pac, width] (from :meth:`features`) -> logits [N / pac]."""
        if self.mbd is not None:
            feats = self.mbd(feats)  # [N / pac, width + B]
        logit = self.net[-1](feats).squeeze(1)  # [N / pac] logits
        if self.embed is not None and self.cond == "projection":
            logit = logit + (self.embed(c) * feats).sum(1)  # psi(phi(x)) + <e(c), phi(x)>
        return logit

    def forward(self, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
        return self.logits(self.features(x, c), c)
