"""A variational autoencoder (Kingma & Welling 2014) built from gankit's own G and D bodies.

The decoder p(x|z) is exactly the generator of the config (``build_generator``: MLP or DCGAN), so a
VAE checkpoint stores it as ``G`` / ``G_ema`` and ``gankit sample`` / ``gankit eval`` draw z ~ N(0, I)
and decode it like any GAN. The encoder q(z|x) = N(mu(x), diag(exp(logvar(x)))) is the body of the
config's discriminator (its layers up to the last hidden features, the final logit dropped) with one
linear head giving [mu, logvar]. Training minimises the negative ELBO (Kingma & Welling 2014, eq. 10)

    L(x) = E_{q(z|x)}[-log p(x|z)] + beta * KL(q(z|x) || N(0, I))

with one sample z = mu + exp(logvar / 2) * eps, eps ~ N(0, I) (the reparameterisation trick, their
section 2.4), and the KL in closed form (their Appendix B):

    KL = -1/2 * sum_j (1 + logvar_j - mu_j^2 - exp(logvar_j)).

Both terms are summed over pixels / latent coordinates and averaged over the minibatch, in nats.
No training loop lives here; ``gankit.train`` calls :func:`vae_loss` once per step.

Example:
    >>> import torch
    >>> from gankit.config import load_preset
    >>> from gankit.models import build_generator
    >>> from gankit.models.vae import build_encoder, vae_loss
    >>> cfg = load_preset("vae-mnist")
    >>> G, E = build_generator(cfg, (1, 28, 28)), build_encoder(cfg, (1, 28, 28))
    >>> loss, recon, kl = vae_loss(E, G, torch.zeros(4, 1, 28, 28), torch.randn(4, cfg.z_dim), cfg.vae)
    >>> tuple(E(torch.zeros(4, 1, 28, 28))[0].shape)
    (4, 64)
"""

from __future__ import annotations

import math

import torch
from torch import nn

from gankit.config import RunConfig, VAEConfig
from gankit.models.mlp import check_input


class Encoder(nn.Module):
    """E(x) -> (mu, logvar), each [N, z_dim]: a discriminator's body followed by a linear head."""

    def __init__(self, body: nn.Module, feat: int, z_dim: int, data_shape: tuple[int, ...], flatten: bool):
        super().__init__()
        self.z_dim, self.c_dim, self.data_shape, self.flatten = z_dim, 0, tuple(data_shape), flatten
        self.body = body
        self.head = nn.Linear(feat, 2 * z_dim)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        check_input("x", x, self.data_shape)
        h = self.body(x.flatten(1) if self.flatten else x)  # [N, feat]
        mu, logvar = self.head(h.float()).chunk(2, dim=1)  # [N, z_dim] each
        return mu, logvar


def build_encoder(cfg: RunConfig, data_shape: tuple[int, ...]) -> Encoder:
    """The encoder for ``cfg``: ``build_discriminator(cfg)``'s body (MLP, maxout, DCGAN or ResNet), its logit layer
    replaced by a head for mu and logvar. The body is initialised exactly as the discriminator's would be."""
    from gankit.models import build_discriminator

    D = build_discriminator(cfg, data_shape)
    if cfg.D.arch in ("dcgan", "resnet"):
        body, feat, flatten = D.body, D.head.in_features, False  # convolutions, then Flatten: [N, feat]
    else:
        body, feat, flatten = D.net[:-1], D.net[-1].in_features, True  # hidden layers of the MLP / maxout D
    return Encoder(body, feat, cfg.z_dim, data_shape, flatten)


def kl_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, diag exp(logvar)) || N(0, I)) per sample, [N]: Kingma & Welling (2014), Appendix B."""
    return -0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(1)


def reparameterise(mu: torch.Tensor, logvar: torch.Tensor, eps: torch.Tensor) -> torch.Tensor:
    """z = mu + sigma * eps with sigma = exp(logvar / 2): differentiable in mu and logvar (K&W 2014, sec. 2.4)."""
    return mu + torch.exp(0.5 * logvar) * eps


def recon_nll(x_hat: torch.Tensor, x: torch.Tensor, vae: VAEConfig) -> torch.Tensor:
    """-log p(x|z) per sample in nats, [N]; x and the decoder's output x_hat are on [-1, 1].

    bernoulli: each pixel's mean is p = (x_hat + 1) / 2 and its target (x + 1) / 2 in [0, 1] (the
    binary cross-entropy of K&W 2014, Appendix C.1, on grey levels as is usual for MNIST).
    gaussian: N(x; x_hat, sigma^2) per pixel with the fixed ``vae.sigma``.
    """
    x_hat, x = x_hat.float().flatten(1), x.float().flatten(1)  # [N, F]
    if vae.likelihood == "gaussian":
        s = vae.sigma
        return (0.5 * ((x - x_hat) / s).pow(2) + math.log(s) + 0.5 * math.log(2 * math.pi)).sum(1)
    p = ((x_hat + 1) / 2).clamp(1e-6, 1 - 1e-6)  # [N, F]; written out: F.binary_cross_entropy refuses autocast
    t = (x + 1) / 2
    return -(t * torch.log(p) + (1 - t) * torch.log1p(-p)).sum(1)


def vae_loss(E: nn.Module, G: nn.Module, x: torch.Tensor, eps: torch.Tensor,
             vae: VAEConfig) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(loss, recon, kl), each a scalar averaged over the batch: loss = recon + beta * kl is the negative
    ELBO for beta = 1. ``eps`` ([N, z_dim], N(0, I)) is drawn by the caller so its stream can be checkpointed."""
    mu, logvar = E(x)  # [N, z_dim] each
    z = reparameterise(mu, logvar, eps)  # [N, z_dim]
    recon = recon_nll(G(z), x, vae).mean()
    kl = kl_normal(mu.float(), logvar.float()).mean()
    return recon + vae.beta * kl, recon, kl
