"""Build G and D from a config. Every model has the same call:

``G(z, c=None) -> x`` with x of shape [N, *data_shape], and ``D(x, c=None) -> logits`` of shape
[N]; both expose ``z_dim``, ``c_dim`` (0 = unconditional) and ``data_shape``, and G its prior
``z_dist``. Every D splits into ``D.features(x, c)`` (the penultimate features phi(x), what
inversion, anomaly scores and feature losses compare) and its head ``D.logits(phi, c)``, with
``D(x, c) == D.logits(D.features(x, c), c)``; nothing outside this package needs to know which
architecture it holds.

Example:
    >>> import torch
    >>> from gankit.config import load_preset
    >>> from gankit.models import build_generator, build_discriminator
    >>> cfg = load_preset("quick-mlp")
    >>> G, D = build_generator(cfg, (1, 28, 28)), build_discriminator(cfg, (1, 28, 28))
    >>> x = G(torch.randn(4, G.z_dim)); tuple(x.shape), tuple(D(x).shape)
    ((4, 1, 28, 28), (4,))
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import RunConfig
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator
from gankit.models.mlp import MinibatchDiscrimination, MLPDiscriminator, MLPGenerator, init_uniform
from gankit.models.resnet import ResNetDiscriminator, ResNetGenerator

__all__ = ["build_generator", "build_discriminator", "apply_spectral_norm", "sample_z",
           "MLPGenerator", "MLPDiscriminator", "MinibatchDiscrimination"]


def build_generator(cfg: RunConfig, data_shape: tuple[int, ...], x_mean: torch.Tensor | None = None) -> nn.Module:
    """The generator named by ``cfg.G`` for data of shape ``data_shape`` (no batch axis).

    ``x_mean`` (the data's mean sample) sets the output bias when ``cfg.G.init`` is "uniform",
    as the paper's reference code does.
    """
    g = cfg.G
    if g.arch == "dcgan":
        return DCGANGenerator(cfg.z_dim, tuple(data_shape), g.base_channels, c_dim=cfg.c_dim, z_dist=cfg.z_dist)
    if g.arch == "resnet":
        return ResNetGenerator(cfg.z_dim, tuple(data_shape), g.base_channels, blocks=g.blocks, c_dim=cfg.c_dim,
                               z_dist=cfg.z_dist)
    G = MLPGenerator(cfg.z_dim, tuple(data_shape), g.hidden, act=g.act, norm=g.norm, out=g.out, c_dim=cfg.c_dim,
                     z_dist=cfg.z_dist)
    if g.init == "uniform":
        init_uniform(G, g.init_range)
        if x_mean is not None:
            G.set_output_bias(x_mean)
    return G


def build_discriminator(cfg: RunConfig, data_shape: tuple[int, ...]) -> nn.Module:
    """The discriminator named by ``cfg.D`` for data of shape ``data_shape``."""
    d = cfg.D
    if d.arch == "dcgan":
        D = DCGANDiscriminator(tuple(data_shape), d.base_channels, norm=d.norm, c_dim=cfg.c_dim, cond=d.cond, pac=d.pac,
                               mbd=d.mbd, mbd_dim=d.mbd_dim)
    elif d.arch == "resnet":  # no normalisation layers: D.norm does not apply
        # Spectral norm would divide Fixup's zero-initialised last layers by a zero singular value: draw them instead.
        D = ResNetDiscriminator(tuple(data_shape), d.base_channels, blocks=d.blocks, c_dim=cfg.c_dim, cond=d.cond,
                                pac=d.pac, mbd=d.mbd, mbd_dim=d.mbd_dim, zero_last=not d.spectral_norm)
    else:
        D = MLPDiscriminator(tuple(data_shape), d.hidden, arch=d.arch, act=d.act, pieces=d.pieces, dropout=d.dropout,
                             dropout_input=d.dropout_input, c_dim=cfg.c_dim, cond=d.cond, pac=d.pac,
                             mbd=d.mbd, mbd_dim=d.mbd_dim)
    if d.init == "uniform":
        init_uniform(D, d.init_range)
    if d.spectral_norm:  # after init: the parametrization keeps the initialised weight as W_orig
        apply_spectral_norm(D)
    return D


def apply_spectral_norm(module: nn.Module) -> nn.Module:
    """Reparametrise every nn.Linear weight (maxout's inner one too) as W / sigma(W) in place.

    Miyato et al. (2018), "Spectral Normalization for GANs", eq. 8: sigma(W), the largest singular
    value, is estimated by one power iteration per forward pass in train mode (their Algorithm 1),
    so D is (at most) 1-Lipschitz per layer with 1-Lipschitz activations.
    """
    for m in list(module.modules()):
        if isinstance(m, (nn.Linear, nn.Conv2d)):
            torch.nn.utils.parametrizations.spectral_norm(m)  # W -> W / sigma(W), u and v as buffers
    return module


def sample_z(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None,
             device: torch.device | str = "cpu") -> torch.Tensor:
    """Noise for G: N(0, I), or U(-sqrt 3, sqrt 3) per coordinate (unit variance, as the
    reference code's ``uniform`` option). Returns [n, z_dim]."""
    if dist == "uniform":
        u = torch.rand(n, z_dim, generator=generator, device=device)  # [n, z_dim] in [0, 1)
        return (2 * u - 1) * 3 ** 0.5
    return torch.randn(n, z_dim, generator=generator, device=device)  # [n, z_dim]
