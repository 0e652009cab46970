"""CycleGAN: unpaired translation with two generators tied by a cycle-consistency loss.

Zhu, Park, Isola and Efros (2017), "Unpaired Image-to-Image Translation using Cycle-Consistent
Adversarial Networks", ICCV 2017. Two generators, ``G: A -> B`` and ``F: B -> A``, and two
discriminators, ``D_B`` (real B vs G(a)) and ``D_A`` (real A vs F(b)). The full objective
(section 3.3, eq. 3) is

    L(G, F, D_A, D_B) = L_GAN(G, D_B) + L_GAN(F, D_A) + lambda * L_cyc(G, F)

with the cycle loss of eq. 2, ``L_cyc = E_a |F(G(a)) - a|_1 + E_b |G(F(b)) - b|_1``, and
lambda = 10 (section 4). gankit follows the paper's training details (section 4, appendix 7.1):

- least-squares GAN losses (Mao et al. 2017) instead of the log-likelihood of eq. 1;
- D's objective halved, so D learns more slowly relative to G;
- D sees fakes from a history of the 50 last generated images (:class:`~gankit.training.sampler.ImageHistory`);
- Adam, lr 2e-4, beta1 0.5; the lr stays constant for the first half of training, then decays
  linearly to zero (the paper: 100 + 100 epochs);
- weights drawn from N(0, 0.02);
- the identity loss of section 5.2, ``E_b |G(b) - b|_1 + E_a |F(a) - a|_1``, weighted by
  0.5 * lambda (appendix 7.1), which keeps colours when nothing needs to change.

Networks: :class:`gankit.models.i2i.ResnetGenerator` (appendix 7.2: c7s1-64, d128, d256, 6-9
residual blocks, u128, u64, c7s1-3, instance norm) and the PatchGAN
:class:`gankit.models.i2i.PatchDiscriminator` (70x70, C64-C128-C256-C512, instance norm). The
defaults here are narrower and shallower so that 28x28 digits train in CPU minutes.

Built-in task ``mnist-m``: side A are gray MNIST digits, side B coloured "MNIST-M-like" digits
on procedural textures (see :func:`mnist_m`). The identity loss compares G(b) with b, so both
sides need the same channels: side A is gray replicated to 3 channels.

Example (under a minute on one quiet CPU core)::

    from gankit.translate import build_task, load_translator, resolve_config, train_translation
    r = train_translation("cyclegan", {"steps": 300, "threads": 1}, out="runs", progress=False)
    cg = load_translator(r.run_dir)
    test = build_task(resolve_config("cyclegan"), "test")
    fake_b = cg.translate_batched(test.a[:8], "AtoB")    # [8, 3, 28, 28]: gray -> coloured
    fake_a = cg.translate_batched(test.b[:8], "BtoA")    # [8, 3, 28, 28]: coloured -> gray
"""

from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as nnf
from torch import nn

from gankit.errors import UserError
from gankit.losses import d_loss_ls, g_loss_ls
from gankit.models.i2i import PatchDiscriminator, ResnetGenerator
from gankit.data.tasks import TaskData
from gankit.systems.i2i import TranslationSystem, tile_columns
from gankit.training.sampler import ImageHistory

__all__ = ["CycleGAN", "loss_gan_g", "loss_gan_d", "loss_cycle", "loss_identity", "lr_factor", "textures", "blend",
           "mnist_m"]


# ----------------------------------------------------------------------------------------------
# Losses (pure functions). D outputs are PatchGAN maps [N, 1, h, w]; means run over patches too.


def loss_gan_g(d_fake: torch.Tensor) -> torch.Tensor:
    """G's least-squares loss, E (D(G(x)) - 1)^2 (section 4, "Training details").

    Twice :func:`gankit.losses.g_loss_ls`, which carries LSGAN's factor 1/2; CycleGAN weighs the
    unhalved term against lambda * L_cyc.
    """
    return 2.0 * g_loss_ls(d_fake)


def loss_gan_d(d_real: torch.Tensor, d_fake: torch.Tensor) -> torch.Tensor:
    """D's least-squares loss, halved: 1/2 [E (D(y) - 1)^2 + E D(G(x))^2] (section 4, appendix 7.1).

    This is exactly :func:`gankit.losses.d_loss_ls` (LSGAN's 1/2 is CycleGAN's halving).
    """
    return d_loss_ls(d_real, d_fake)


def loss_cycle(a: torch.Tensor, a_rec: torch.Tensor, b: torch.Tensor, b_rec: torch.Tensor) -> torch.Tensor:
    """Eq. 2: mean |F(G(a)) - a| + mean |G(F(b)) - b| (per-pixel L1 means, as the reference code)."""
    return (a_rec - a).abs().mean() + (b_rec - b).abs().mean()


def loss_identity(a: torch.Tensor, f_a: torch.Tensor, b: torch.Tensor, g_b: torch.Tensor) -> torch.Tensor:
    """Section 5.2: mean |G(b) - b| + mean |F(a) - a| (G fed its own target domain changes nothing)."""
    return (g_b - b).abs().mean() + (f_a - a).abs().mean()


def lr_factor(step: int, steps: int, decay_start: float) -> float:
    """The lr multiplier at ``step`` (0-based) of ``steps``: 1 until ``decay_start * steps``, then
    linear to 0 at ``steps`` (section 4: 100 epochs constant, 100 decaying; ``decay_start`` 0.5)."""
    start = decay_start * steps
    if step < start or steps <= start:
        return 1.0
    return max(0.0, (steps - step) / (steps - start))


# ----------------------------------------------------------------------------------------------
# The task: gray digits (A) <-> coloured digits on procedural textures (B).

TRAIN_TEXTURE_SEED = 1234  # fixed: the task's data never depends on the run's seed
TEST_TEXTURE_SEED = 5678
TEXTURE_GRID = (3, 7)  # smoothed noise: random colours on a k x k grid, k in [3, 7], upsampled
STRIPE_CYCLES = (1.5, 5.0)  # stripes: periods across the image
TEXTURE_MAX = 0.65  # textures lie in [0, TEXTURE_MAX], so the inverted digit (1 - t) stands out
GRAIN = 0.06  # uniform pixel noise added to every texture (film grain), in [0, 1] units


def textures(n: int, size: int, gen: torch.Generator) -> torch.Tensor:
    """``n`` procedural colour textures [n, 3, size, size] in [0, TEXTURE_MAX].

    A third each (at random): smoothed colour noise (random colours on a coarse grid, bilinearly
    upsampled), stripes between two colours at a random angle and period, and a linear gradient
    between two colours. Every texture gets some grain. These stand in for the BSDS500 photo
    patches of MNIST-M, which gankit does not ship.
    """
    k_lo, k_hi = TEXTURE_GRID
    noise = torch.empty(n, 3, size, size)  # [n, 3, size, size]
    ks = torch.randint(k_lo, k_hi + 1, (n,), generator=gen)
    for k in ks.unique().tolist():
        idx = (ks == k).nonzero().flatten()
        coarse = torch.rand(len(idx), 3, k, k, generator=gen)
        noise[idx] = nnf.interpolate(coarse, size=(size, size), mode="bilinear", align_corners=True)
    c1 = torch.rand(n, 3, 1, 1, generator=gen)  # [n, 3, 1, 1] two colours per image
    c2 = torch.rand(n, 3, 1, 1, generator=gen)
    angle = torch.rand(n, 1, 1, 1, generator=gen) * math.pi
    coord = torch.linspace(0, 1, size)
    yy, xx = torch.meshgrid(coord, coord, indexing="ij")  # [size, size]
    u = xx * torch.cos(angle) + yy * torch.sin(angle)  # [n, 1, size, size] position along the angle
    cycles = STRIPE_CYCLES[0] + (STRIPE_CYCLES[1] - STRIPE_CYCLES[0]) * torch.rand(n, 1, 1, 1, generator=gen)
    phase = 2 * math.pi * torch.rand(n, 1, 1, 1, generator=gen)
    s = 0.5 + 0.5 * torch.sin(2 * math.pi * cycles * u + phase)
    stripes = c1 + (c2 - c1) * s
    ramp = (u - u.amin((2, 3), keepdim=True)) / (u.amax((2, 3), keepdim=True) - u.amin((2, 3), keepdim=True))
    gradient = c1 + (c2 - c1) * ramp
    kind = torch.randint(3, (n, 1, 1, 1), generator=gen)
    t = torch.where(kind == 0, noise, torch.where(kind == 1, stripes, gradient))
    t = t + GRAIN * (torch.rand(n, 3, size, size, generator=gen) - 0.5)
    return t.clamp(0, 1) * TEXTURE_MAX


def blend(digits: torch.Tensor, tex: torch.Tensor) -> torch.Tensor:
    """MNIST-M's blend, |texture - digit| per pixel and channel (Ganin & Lempitsky 2015).

    Args:
        digits: [N, 1, H, W] in [-1, 1] (white digit on black).
        tex: [N, 3, H, W] in [0, 1].

    Returns:
        [N, 3, H, W] in [-1, 1]: the texture where the digit is absent, its negative on the strokes.
    """
    d = (digits + 1) / 2  # [N, 1, H, W] in [0, 1]
    return 2 * (tex - d).abs() - 1


def mnist_m(cfg: dict[str, Any], split: str) -> TaskData:
    """Gray MNIST digits (A, 3 channels) and MNIST-M-like coloured digits (B), unpaired.

    The mnist-5k split (4,000 train / 1,000 test) is cut in two halves: A takes the first, B the
    second, so no digit image appears on both sides and there is no pairing to exploit. B's
    textures come from a fixed seed (one per split), so the data is the same in every run.

    Returns:
        TaskData with a [N/2, 3, 28, 28] (gray replicated), b [N/2, 3, 28, 28], labels y_a, y_b.
    """
    from gankit.config import DataConfig
    from gankit.data import build_dataset

    ds = build_dataset(DataConfig(name="mnist-5k"), split)
    x, y = ds.x, ds.y.long()  # [N, 1, 28, 28] in [-1, 1], [N]
    half = len(x) // 2
    gen = torch.Generator().manual_seed(TRAIN_TEXTURE_SEED if split == "train" else TEST_TEXTURE_SEED)
    b = blend(x[half:], textures(len(x) - half, x.shape[-1], gen))
    return TaskData(x[:half].repeat(1, 3, 1, 1), b, paired=False, y_a=y[:half], y_b=y[half:],
                    info={"task": "mnist-m", "split": split, "a": f"mnist-5k {split}[:{half}] gray as RGB",
                          "b": f"mnist-5k {split}[{half}:] on textures (seed {gen.initial_seed()})"})


# ----------------------------------------------------------------------------------------------
# The system.


class CycleGAN(TranslationSystem):
    """G: A -> B, F: B -> A, D_A, D_B; one step updates G and F together, then D_A and D_B."""

    name = "cyclegan"
    paired = False
    directions = ("AtoB", "BtoA")
    generators = ("G", "F")
    TASKS = {"mnist-m": mnist_m}

    def __init__(self, cfg, shape_a: tuple[int, ...], shape_b: tuple[int, ...], device: torch.device):
        super().__init__(cfg, shape_a, shape_b, device)
        cfg = self.cfg  # the flat view
        _check_config(cfg, self.shape_a, self.shape_b)
        ca, cb = self.shape_a[0], self.shape_b[0]
        gen = dict(base=cfg["g_base"], n_down=cfg["g_down"], n_blocks=cfg["g_blocks"], norm=cfg["norm"])
        disc = dict(base=cfg["d_base"], n_layers=cfg["d_layers"], norm=cfg["norm"])
        self.nets = {
            "G": ResnetGenerator(ca, cb, **gen),  # A -> B
            "F": ResnetGenerator(cb, ca, **gen),  # B -> A
            "D_A": PatchDiscriminator(ca, **disc),  # real A vs F(b)
            "D_B": PatchDiscriminator(cb, **disc),  # real B vs G(a)
        }
        if cfg["init_std"] > 0:
            for net in self.nets.values():
                net.apply(lambda m: _init_normal(m, cfg["init_std"]))
        for net in self.nets.values():
            net.to(device)
        n = self.nets
        self.optims = {"G": self.adam(n["G"], n["F"]), "D": self.adam(n["D_A"], n["D_B"], d=True)}
        self.history_a = ImageHistory(cfg["history"], seed=cfg["seed"] + 2)  # fakes F(b) for D_A
        self.history_b = ImageHistory(cfg["history"], seed=cfg["seed"] + 3)  # fakes G(a) for D_B

    def update(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        cfg, n = self.cfg, self.nets
        G, F, D_A, D_B = n["G"], n["F"], n["D_A"], n["D_B"]
        a, b = batch["a"], batch["b"]  # [N, C_a, H, W], [N, C_b, H, W]
        factor = lr_factor(step, cfg["steps"], cfg["decay_start"])
        lr = cfg["lr"] * factor
        for name, opt in self.optims.items():
            for group in opt.param_groups:
                group["lr"] = (cfg["lr_d"] if name == "D" else cfg["lr"]) * factor

        # Update G and F: fool both Ds, close both cycles, keep each domain's own images.
        for D in (D_A, D_B):
            D.requires_grad_(False)  # G's step needs no D gradients
        fake_b, fake_a = G(a), F(b)
        adv = loss_gan_g(D_B(fake_b)) + loss_gan_g(D_A(fake_a))
        lam = cfg["lambda_cycle"]
        cyc = loss_cycle(a, F(fake_b), b, G(fake_a)) if lam > 0 else a.new_zeros(())
        lam_idt = cfg["lambda_identity"] * lam
        idt = loss_identity(a, F(a), b, G(b)) if lam_idt > 0 else a.new_zeros(())
        loss_G = adv + lam * cyc + lam_idt * idt  # eq. 3 plus section 5.2's identity term
        self.optims["G"].zero_grad(set_to_none=True)
        loss_G.backward()
        self.optims["G"].step()

        # Update D_A and D_B on real images and fakes drawn from the history (section 4).
        for D in (D_A, D_B):
            D.requires_grad_(True)
        pool_b = self.history_b.query(fake_b)
        pool_a = self.history_a.query(fake_a)
        d_real_b, d_fake_b = D_B(b), D_B(pool_b)
        d_real_a, d_fake_a = D_A(a), D_A(pool_a)
        loss_D_B = loss_gan_d(d_real_b, d_fake_b)
        loss_D_A = loss_gan_d(d_real_a, d_fake_a)
        self.optims["D"].zero_grad(set_to_none=True)
        (loss_D_A + loss_D_B).backward()
        self.optims["D"].step()

        return {"loss_G": loss_G.detach(), "loss_G_gan": adv.detach(), "loss_cycle": cyc.detach(),
                "loss_identity": idt.detach(), "loss_D_A": loss_D_A.detach(), "loss_D_B": loss_D_B.detach(),
                "D_B_real": d_real_b.detach().mean(), "D_B_fake": d_fake_b.detach().mean(),
                "lr": torch.tensor(lr)}

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        return self.nets["G" if direction == "AtoB" else "F"](x)

    def extra_state(self) -> dict:
        return {"history_a": self.history_a.state_dict(), "history_b": self.history_b.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if state:
            self.history_a.load_state_dict(state["history_a"])
            self.history_b.load_state_dict(state["history_b"])

    @torch.no_grad()
    def preview(self, data: TaskData, n: int = 8) -> tuple[torch.Tensor, int]:
        """Rows of a | G(a) | F(G(a)) | b | F(b) | G(F(b)): both translations and both cycles."""
        a, b = data.a[:n], data.b[:n]
        fake_b, fake_a = self.translate_batched(a, "AtoB"), self.translate_batched(b, "BtoA")
        cols = [a, fake_b, self.translate_batched(fake_b, "BtoA"), b, fake_a, self.translate_batched(fake_a, "AtoB")]
        return tile_columns(cols)


def _init_normal(module: nn.Module, std: float) -> None:
    """Conv weights ~ N(0, std), biases 0 (appendix 7.1); norm layers keep weight 1, bias 0."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, std)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


def _check_config(cfg: dict[str, Any], shape_a: tuple[int, ...], shape_b: tuple[int, ...]) -> None:
    """One-line UserErrors for settings and data CycleGAN cannot train on."""
    for key in ("lambda_cycle", "lambda_identity", "init_std"):
        if cfg[key] < 0:
            raise UserError(f"cyclegan config key {key!r} must be >= 0, got {cfg[key]}")
    if not 0 <= cfg["decay_start"] <= 1:
        raise UserError(f"cyclegan config key 'decay_start' must lie in [0, 1], got {cfg['decay_start']}")
    for key in ("g_base", "g_blocks", "d_base", "d_layers"):
        if cfg[key] < 1:
            raise UserError(f"cyclegan config key {key!r} must be at least 1, got {cfg[key]}")
    if cfg["g_down"] < 0 or cfg["history"] < 0:
        raise UserError(
            f"cyclegan config keys 'g_down' and 'history' must be >= 0, got {cfg['g_down']} and {cfg['history']}"
        )
    if cfg["norm"] not in ("instance", "batch", "none"):
        raise UserError(f"cyclegan config key 'norm' must be instance, batch or none, got {cfg['norm']!r}")
    if shape_a[1:] != shape_b[1:]:
        raise UserError(f"cyclegan needs sides A and B of one image size; got A {list(shape_a[1:])}, "
                        f"B {list(shape_b[1:])} (resize with --set size=N)")
    m = 2 ** cfg["g_down"]
    if shape_a[1] % m or shape_a[2] % m:
        raise UserError(f"cyclegan with g_down={cfg['g_down']} needs an image size divisible by {m}; got "
                        f"{list(shape_a[1:])} (use --set size=N or a smaller g_down)")
    if cfg["lambda_identity"] * cfg["lambda_cycle"] > 0 and shape_a[0] != shape_b[0]:
        raise UserError(f"the identity loss compares G(b) with b, so it needs as many channels on both sides; got A "
                        f"{shape_a[0]}, B {shape_b[0]} (set lambda_identity=0, or give both sides the same channels)")
    if min(shape_a[1:]) < 2 ** (cfg["d_layers"] + 2):
        raise UserError(f"images of {list(shape_a[1:])} are too small for a PatchGAN with d_layers={cfg['d_layers']}; "
                        f"use a smaller d_layers")
