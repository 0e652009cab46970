"""The ``vae`` system: the variational autoencoder baseline (Kingma & Welling 2014; gankit.models.vae).

Each step is one gradient step of the encoder E and the decoder G together on the negative ELBO of
a fresh minibatch. G is the decoder and E takes D's place in the checkpoint (as "E", "opt_E"), so
everything that samples from a run (``gankit sample``, ``eval``, the report) reads a VAE run as it
reads a GAN run. The data, the noise streams, G_ema, the grid and the checkpoint are the GAN
system's; only the networks' second half and the step differ.
"""

from __future__ import annotations

import torch
from torch import nn

from gankit.config import RunConfig
from gankit.errors import UserError
from gankit.models.vae import build_encoder, vae_loss
from gankit.systems.gan import GANSystem
from gankit.training.runtime import grad_norm

__all__ = ["VAESystem"]


class VAESystem(GANSystem):
    """Encoder E (in D's slot) and decoder G, trained on the negative ELBO (``cfg.vae``)."""

    d_key = "E"
    hint = "try a lower optim.lr_d / optim.lr_g"

    def __init__(self, cfg: RunConfig, data, world, device: torch.device, state: dict | None = None):
        if world.parallel:
            raise UserError("model=vae trains in one process only; run `gankit train` without torchrun")
        super().__init__(cfg, data, world, device, state)

    def build_d(self, cfg: RunConfig, shape: tuple[int, ...]) -> nn.Module:
        return build_encoder(cfg, shape)

    def train_step(self, step: int) -> dict:
        """One step on the negative ELBO; logs -ELBO (loss), recon and KL."""
        lr_g = self.set_lr(step)
        x = self.x_all[self.sampler.next()[self.mine]]  # [m, *shape]
        eps = torch.randn(self.b * self.world.size, self.cfg.z_dim, generator=self.z_gen, device=self.device)[self.mine]
        with self.autocast():
            loss, recon, kl = vae_loss(self.D_update, self.G_update, x, eps, self.cfg.vae)
        self.opt_G.zero_grad(set_to_none=True)
        self.opt_D.zero_grad(set_to_none=True)
        loss.backward()
        gnorm_E, gnorm_G = grad_norm(self.D), grad_norm(self.G)
        self.opt_D.step()
        self.opt_G.step()
        self.update_ema(step)
        return {"loss": loss.detach(), "recon": recon.detach(), "kl": kl.detach(), "grad_norm_E": gnorm_E,
                "grad_norm_G": gnorm_G, "lr_g": lr_g}

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        return {"-ELBO": f"{means['loss']:.1f}", "recon": f"{means['recon']:.1f}", "KL": f"{means['kl']:.1f}"}
