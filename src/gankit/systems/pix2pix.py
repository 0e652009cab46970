"""pix2pix: paired image-to-image translation with a conditional GAN plus L1.

Isola, Zhu, Zhou & Efros, *Image-to-Image Translation with Conditional Adversarial Networks*,
CVPR 2017 (arXiv:1611.07004). G is a U-Net (section 3.2.1), D a PatchGAN that sees the input and
an output side by side, concatenated along channels (section 3.2.2, eq. 1). The objective is eq. 4,

    G* = arg min_G max_D  L_cGAN(G, D) + lambda * L_L1(G),        lambda = 100 (section 4.2)

with L_cGAN of eq. 1 and L_L1 = E ||y - G(x)||_1 of eq. 3 (here a mean over pixels, so lambda
keeps the paper's meaning for any image size). Section 3.3: G takes the non-saturating step
(maximise log D(x, G(x)) rather than minimise log(1 - D(x, G(x)))), and D's objective is divided
by 2 "which slows down the rate at which D learns relative to G"; Adam, lr 2e-4, beta1 0.5
(the presets' ``optim`` section). The noise z is dropout in the decoder (section 3.1,
appendix 6.1.1: 50% in the first three decoder blocks).

One difference from the paper, on purpose: section 3.3 runs G at test time as in training
(dropout on, batch norm with the test batch's statistics). Here :meth:`Pix2Pix.translate` runs G
in eval mode (no dropout, running statistics), so a translation does not depend on which other
images share its batch and the same input always gives the same output.

Task "edges" (the default): A = the outline of an mnist-5k digit, B = the digit. The outline is
the outer morphological boundary of the digit's ink (see :func:`digit_outline`), a one-pixel
white-on-black contour like the edge maps of the paper's edges -> shoes / handbags (section 4).

Example (one to two minutes on one CPU thread)::

    from gankit.translate import train_translation
    r = train_translation("pix2pix-edges", {"steps": 300, "threads": 1}, out="runs", progress=False)
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F

from gankit.errors import UserError
from gankit.losses import d_loss_bce, g_loss_nonsaturating
from gankit.models.i2i import NORMS, PatchDiscriminator, UNet
from gankit.data.tasks import TaskData
from gankit.systems.i2i import TranslationSystem

__all__ = ["Pix2Pix", "digit_outline", "edges_task", "loss_D", "loss_G_adv", "loss_L1"]

INK_THRESHOLD = 0.0  # a pixel is ink above mid-grey: 0.5 on [0, 1] pixels, 0.0 on gankit's [-1, 1]


# ----------------------------------------------------------------------------------------------
# Losses (pure functions on D's patch logits; each averages over batch and patches).


def loss_D(logits_real: torch.Tensor, logits_fake: torch.Tensor) -> torch.Tensor:
    """D's loss, eq. 1 as a minimisation, halved (section 3.3).

    ``0.5 * (BCE(D(x, y), 1) + BCE(D(x, G(x)), 0))`` with BCE(l, 1) = softplus(-l) = -log sigmoid(l)
    and BCE(l, 0) = softplus(l) = -log(1 - sigmoid(l)). Logits ``[N, 1, h, w]``, one per patch.
    """
    return 0.5 * d_loss_bce(logits_real, logits_fake)


def loss_G_adv(logits_fake: torch.Tensor) -> torch.Tensor:
    """G's non-saturating adversarial loss (section 3.3): ``-log D(x, G(x)) = softplus(-l)``, mean over patches."""
    return g_loss_nonsaturating(logits_fake)


def loss_L1(y_fake: torch.Tensor, y_real: torch.Tensor) -> torch.Tensor:
    """Eq. 3, ``E ||y - G(x)||_1``, as the mean absolute difference per pixel."""
    return (y_fake - y_real).abs().mean()


# ----------------------------------------------------------------------------------------------
# Task data.


def digit_outline(x: torch.Tensor) -> torch.Tensor:
    """The outer outline of digits: pixels next to the ink (8-neighbourhood) that are not ink.

    ink = x > 0 (mid-grey); outline = dilate(ink, 3x3) AND NOT ink, a closed one-pixel contour
    around every stroke (and inside loops), white on black.

    Args:
        x: [N, 1, H, W] digits in [-1, 1], white ink on black.

    Returns:
        [N, 1, H, W] in {-1, 1}: 1 on the outline, -1 elsewhere.
    """
    ink = (x > INK_THRESHOLD).float()
    grown = F.max_pool2d(ink, kernel_size=3, stride=1, padding=1)  # 3x3 dilation (the pad never wins a max)
    return (grown - ink) * 2 - 1


def edges_task(cfg: dict[str, Any], split: str) -> TaskData:
    """Outline -> digit pairs from mnist-5k (4,000 train / 1,000 test, 28x28, gray)."""
    from gankit.config import DataConfig
    from gankit.data import build_dataset

    ds = build_dataset(DataConfig(name="mnist-5k"), split)
    b = ds.x  # [N, 1, 28, 28] in [-1, 1]
    return TaskData(digit_outline(b), b, paired=True, y_a=ds.y, y_b=ds.y,
                    info={"task": "edges", "split": split, "source": "mnist-5k",
                          "a": "outer outline of the ink (x > 0), dilate 3x3 minus ink", "b": "the digit"})


# ----------------------------------------------------------------------------------------------
# The system.


class Pix2Pix(TranslationSystem):
    """G: U-Net A -> B with decoder dropout; D: PatchGAN on (input, output) pairs; cGAN + lambda * L1.

    ``lambda_gan`` 0 is the paper's "L1 alone" ablation (section 4.2): no D is built or stepped.
    """

    name = "pix2pix"
    paired = True
    directions = ("AtoB",)
    TASKS = {"edges": edges_task}

    def __init__(self, cfg, shape_a: tuple[int, ...], shape_b: tuple[int, ...], device: torch.device):
        super().__init__(cfg, shape_a, shape_b, device)
        cfg = self.cfg  # the flat view
        _check_config(cfg)
        c_a, c_b = self.shape_a[0], self.shape_b[0]
        if self.shape_a[1:] != self.shape_b[1:]:
            raise UserError(f"pix2pix maps images to images of the same size; A is {list(self.shape_a)}, "
                            f"B is {list(self.shape_b)} (set size=N to resize both)")
        self.G = UNet(c_a, c_b, base=cfg["g_base"], depth=cfg["g_depth"], norm=cfg["norm"],
                      dropout=cfg["dropout"]).to(device)
        self.nets = {"G": self.G}
        self.optims = {"G": self.adam(self.G)}
        self.D: PatchDiscriminator | None = None
        if cfg["lambda_gan"] > 0:
            self.D = PatchDiscriminator(c_a + c_b, base=cfg["d_base"], n_layers=cfg["d_layers"],
                                        norm=cfg["norm"]).to(device)
            self.nets["D"] = self.D
            self.optims["D"] = self.adam(self.D, d=True)

    def update(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One D step (unless lambda_gan is 0), then one G step, on the same batch (section 3.3)."""
        x, y_real = batch["a"], batch["b"]  # [N, C_a, H, W], [N, C_b, H, W]
        y_fake = self.G(x)
        stats: dict[str, torch.Tensor] = {}

        # Update D: real pairs (x, y) -> 1, fake pairs (x, G(x)) -> 0.
        if self.D is not None:
            logits_real = self.D(torch.cat([x, y_real], 1))  # [N, 1, h, w]
            logits_fake = self.D(torch.cat([x, y_fake.detach()], 1))
            l_D = loss_D(logits_real, logits_fake)
            self.optims["D"].zero_grad(set_to_none=True)
            l_D.backward()
            self.optims["D"].step()
            stats.update(loss_D=l_D.detach(), D_real=torch.sigmoid(logits_real).mean().detach(),
                         D_fake=torch.sigmoid(logits_fake).mean().detach())

        # Update G: lambda_gan * non-saturating cGAN + lambda_l1 * L1 (eq. 4).
        l_L1 = loss_L1(y_fake, y_real)
        l_G = self.cfg["lambda_l1"] * l_L1
        if self.D is not None:
            l_adv = loss_G_adv(self.D(torch.cat([x, y_fake], 1)))
            l_G = l_G + self.cfg["lambda_gan"] * l_adv
            stats["loss_G_adv"] = l_adv.detach()
        self.optims["G"].zero_grad(set_to_none=True)
        l_G.backward()
        self.optims["G"].step()
        stats.update(loss_G=l_G.detach(), loss_L1=l_L1.detach())
        return stats

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """[N, C_a, H, W] inputs -> [N, C_b, H, W] outputs in [-1, 1] (G in the caller's mode)."""
        return self.G(x)


def _check_config(cfg: dict[str, Any]) -> None:
    """UserError for a pix2pix config value out of range (types are checked by merge_config)."""
    for key in ("lambda_l1", "lambda_gan"):
        if cfg[key] < 0:
            raise UserError(f"pix2pix config key {key!r} must be >= 0, got {cfg[key]}")
    if cfg["lambda_l1"] == 0 and cfg["lambda_gan"] == 0:
        raise UserError("pix2pix needs lambda_l1 > 0 or lambda_gan > 0; both are 0, so G would learn nothing")
    for key in ("g_base", "d_base", "g_depth", "d_layers"):
        if cfg[key] < 1:
            raise UserError(f"pix2pix config key {key!r} must be at least 1, got {cfg[key]}")
    if not 0 <= cfg["dropout"] < 1:
        raise UserError(f"pix2pix config key 'dropout' must lie in [0, 1), got {cfg['dropout']}")
    if cfg["norm"] not in NORMS:
        raise UserError(f"pix2pix config key 'norm' must be one of {', '.join(NORMS)}, got {cfg['norm']!r}")
