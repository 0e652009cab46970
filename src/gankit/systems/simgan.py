"""SimGAN: make simulated images look real while keeping their labels.

Shrivastava, Pfister, Tuzel, Susskind, Wang and Webb (2017), "Learning from Simulated and
Unsupervised Images through Adversarial Training", CVPR 2017. A refiner ``R`` takes a synthetic
image ``x`` (whose label the simulator knows) to a refined ``x~ = R(x)``; a discriminator ``D``
tells refined from unlabelled real images ``y``. The losses (section 2.1):

- D, eq. 2: ``L_D = -sum_i log D(x~_i) - sum_j log(1 - D(y_j))``, D's output being the
  probability "refined";
- R, eq. 1 and 4: ``L_R = sum_i [-log(1 - D(R(x_i)))] + lambda * ||psi(R(x_i)) - psi(x_i)||_1``,
  the realism term of eq. 3 plus "self-regularisation", with psi the identity (pixel space), so
  that the refined image keeps what the label describes.

gankit's D gives "real" logits ``l`` instead (D_paper = sigmoid(-l)), the form used everywhere
else in gankit; the losses are then exactly ``softplus(l_refined) + softplus(-l_real)`` for D and
``softplus(-l)`` for R's realism term (:func:`loss_D`, :func:`loss_R_adv`).

The paper's three training devices:

- local adversarial loss (section 2.2): D is fully convolutional and gives a ``w x h`` map of
  logits, one per image patch; the loss is the cross-entropy over all patches.
  :class:`gankit.models.i2i.PatchDiscriminator` with ``d_layers=1`` gives a 12x12 map for 28x28
  digits, each logit seeing a 16x16 patch, so it judges strokes more than whole digits;
- a history of refined images (section 2.3): half of every fake batch D sees comes from a buffer
  of earlier refined images (:class:`~gankit.training.sampler.ImageHistory`, ``query(x, half=True)``);
- pretraining and step ratio (Algorithm 1 and section 3.1): R is first trained with only the
  self-regularisation loss (1,000 steps in the paper) and D alone (200 steps), then each step
  makes K_g = 2 refiner updates and K_d = 1 discriminator update.

Where gankit differs, and why: the paper sums over patches and images, gankit averages (so
``lambda`` is per pixel against per patch; the paper's lambda does not carry over); Adam
(lr 2e-4, beta1 0.5, as the other translation systems) instead of the paper's SGD; the
K_g + K_d updates of one step reuse the step's minibatch (the loop hands one batch per step,
Algorithm 1 draws a fresh one per update); narrower nets (16 channels and 3 residual blocks
instead of 64 and 4) so that a run takes CPU minutes.

Built-in task ``fonts``: side A are digits rendered from fonts (:mod:`gankit.data.fonts`,
labels ``y_a``), side B the real ``mnist-5k`` digits (labels ``y_b``, not used in training).

Example (about a minute on one CPU core)::

    from gankit.translate import build_task, load_translator, resolve_config, train_translation
    r = train_translation("simgan", {"steps": 300, "threads": 1}, out="runs", progress=False)
    refiner = load_translator(r.run_dir)
    test = build_task(resolve_config("simgan"), "test")
    refined = refiner.translate_batched(test.a[:8])     # [8, 1, 28, 28]; labels test.y_a[:8]
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import torch

from gankit.errors import UserError
from gankit.losses import d_loss_bce, g_loss_nonsaturating, zero_centred_penalties
from gankit.models.i2i import NORMS, PatchDiscriminator, ResnetGenerator
from gankit.data.tasks import TaskData
from gankit.systems.i2i import TranslationSystem, tile_columns
from gankit.training.sampler import ImageHistory

__all__ = ["SimGAN", "loss_D", "loss_R_adv", "loss_R_reg", "fonts_task"]


# ----------------------------------------------------------------------------------------------
# Losses (pure functions). D maps are [N, 1, h, w] "real" logits; means run over patches too.


def loss_D(logits_real: torch.Tensor, logits_refined: torch.Tensor) -> torch.Tensor:
    """D's cross-entropy, eq. 2, per patch (section 2.2): refined -> "refined", real -> "real".

    -log D_paper(x~) - log(1 - D_paper(y)) with D_paper = sigmoid(-l):
    softplus(l_refined) + softplus(-l_real), each averaged over images and patches.
    """
    return d_loss_bce(logits_real, logits_refined)


def loss_R_adv(logits_refined: torch.Tensor) -> torch.Tensor:
    """R's realism loss, eq. 3: -log(1 - D_paper(R(x))) = -log sigmoid(l) = softplus(-l), averaged."""
    return g_loss_nonsaturating(logits_refined)


def loss_R_reg(refined: torch.Tensor, synthetic: torch.Tensor) -> torch.Tensor:
    """Self-regularisation, eq. 4 with psi the identity: ||R(x) - x||_1, averaged over pixels and images."""
    return (refined - synthetic).abs().mean()


# ----------------------------------------------------------------------------------------------
# Task.


@lru_cache(maxsize=4)
def _rendered(n: int, seed: int, stream: int) -> tuple[torch.Tensor, torch.Tensor]:
    """render_digits, cached: a 10,000-digit pool takes seconds, and train, preview and apply all ask."""
    from gankit.data.fonts import render_digits

    return render_digits(n, seed, stream)


def fonts_task(cfg: dict[str, Any], split: str) -> TaskData:
    """A = font-rendered digits (``pool`` for train, ``n_test`` for test), B = real mnist-5k digits.

    The synthetic train and test digits are disjoint random streams of one seed
    (``pool_seed``); the real ones are mnist-5k's 4,000 / 1,000 split. Unpaired.
    """
    from gankit.config import DataConfig
    from gankit.data import build_dataset

    _check_config(cfg)  # before seconds of rendering
    if split == "train":
        n = cfg["pool"] if cfg["n_train"] <= 0 else min(cfg["pool"], cfg["n_train"])  # render only what is used
    else:
        n = cfg["n_test"]
    x_a, y_a = _rendered(n, cfg["pool_seed"], 0 if split == "train" else 1)
    real = build_dataset(DataConfig(name="mnist-5k"), split)
    info = {"task": "fonts", "split": split, "a": f"{n} font-rendered digits (pool_seed {cfg['pool_seed']})",
            "b": f"{len(real.x)} real mnist-5k {split} digits"}
    return TaskData(x_a.clone(), real.x, paired=False, y_a=y_a.clone(), y_b=real.y.long(), info=info)


# ----------------------------------------------------------------------------------------------
# The system.


class SimGAN(TranslationSystem):
    """SimGAN's refiner R and local discriminator D (see the module docstring).

    Nets: ``R`` (:class:`ResnetGenerator` with ``n_down=0, stem=3``: a 3x3 convolution, residual
    blocks, a 1x1 convolution, tanh; the resolution never changes, as in section 2.1's "fully
    convolutional neural net without striding or pooling") and ``D``
    (:class:`PatchDiscriminator`, a map of logits ``[N, 1, h, w]``).

    Phases by step: ``[0, pretrain_r)`` R on ``loss_R_reg`` only; ``[pretrain_r, pretrain_r +
    pretrain_d)`` D only; then adversarial, ``k_g`` R updates and ``k_d`` D updates per step.
    Every step logs the same values (losses not trained in a phase are measured without an update).
    """

    name = "simgan"
    paired = False
    directions = ("AtoB",)
    generators = ("R",)
    TASKS = {"fonts": fonts_task}

    def __init__(self, cfg, shape_a: tuple[int, ...], shape_b: tuple[int, ...], device: torch.device):
        super().__init__(cfg, shape_a, shape_b, device)
        cfg = self.cfg  # the flat view
        _check_config(cfg)
        if shape_a[0] != shape_b[0]:
            raise UserError(f"simgan refines images into the same space: side A has {shape_a[0]} channels, side B "
                            f"{shape_b[0]}; give both sides the same channels")
        ch = shape_a[0]
        self.R = ResnetGenerator(ch, ch, base=cfg["r_base"], n_down=0, n_blocks=cfg["r_blocks"], norm=cfg["r_norm"],
                                 stem=3).to(device)
        self.D = PatchDiscriminator(ch, base=cfg["d_base"], n_layers=cfg["d_layers"], norm=cfg["d_norm"]).to(device)
        self.nets = {"R": self.R, "D": self.D}
        self.optims = {"R": self.adam(self.R), "D": self.adam(self.D, d=True)}
        self.history = ImageHistory(cfg["history"], seed=cfg["seed"] + 2)  # + 2: apart from the batch stream (seed + 1)

    # -- updates ---------------------------------------------------------------------------------

    def _step_R(self, x_syn: torch.Tensor, adversarial: bool) -> dict[str, torch.Tensor]:
        """One Adam step of R: self-regularisation only (pretraining) or eq. 4."""
        self.D.requires_grad_(False)  # D is fixed while R learns (section 2.1)
        refined = self.R(x_syn)  # [N, C, H, W]
        adv = loss_R_adv(self.D(refined))
        reg = loss_R_reg(refined, x_syn)
        loss = adv + self.cfg["lambda_reg"] * reg if adversarial else reg
        self.optims["R"].zero_grad(set_to_none=True)
        loss.backward()
        self.optims["R"].step()
        self.D.requires_grad_(True)
        return {"loss_R": loss.detach(), "loss_R_adv": adv.detach(), "loss_R_reg": reg.detach()}

    def _step_D(self, x_syn: torch.Tensor, x_real: torch.Tensor, update: bool) -> dict[str, torch.Tensor]:
        """One Adam step of D on real vs refined, half of the refined from the history (section 2.3);
        with ``update=False`` only measure (no step, the buffer untouched)."""
        with torch.no_grad():
            refined = self.R(x_syn)  # [N, C, H, W]
        fake = self.history.query(refined, half=True) if update else refined
        gamma = self.cfg["r1_gamma"] if update else 0.0
        with torch.set_grad_enabled(update):
            x_real = x_real.detach().requires_grad_(gamma > 0)
            l_real, l_fake = self.D(x_real), self.D(fake)  # [N, 1, h, w] each
            loss = loss_D(l_real, l_fake)
            # R1 from the loss pass's own real logits: each image's patch logits averaged, as the loss averages them
            r1 = zero_centred_penalties(l_real.flatten(1).mean(1), [x_real], [gamma])[0] if gamma > 0 else None
        if update:
            self.optims["D"].zero_grad(set_to_none=True)
            (loss if r1 is None else loss + r1).backward()
            self.optims["D"].step()
        stats = {"loss_D": loss.detach(), "D_real": torch.sigmoid(l_real.detach()).mean(),
                 "D_refined": torch.sigmoid(l_fake.detach()).mean()}
        if self.cfg["r1_gamma"] > 0:  # the same keys on every step: 0 where D was only measured
            stats["r1"] = r1.detach() if r1 is not None else torch.zeros((), device=loss.device)
        return stats

    def update(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One step of the current phase; returns R's and D's losses and D's mean "real" probabilities."""
        x_syn, x_real = batch["a"], batch["b"]
        cfg = self.cfg
        if step < cfg["pretrain_r"]:  # R learns the identity-like start (self-regularisation only)
            stats_R = self._step_R(x_syn, adversarial=False)
            stats_D = self._step_D(x_syn, x_real, update=False)
        elif step < cfg["pretrain_r"] + cfg["pretrain_d"]:  # D learns to tell the pretrained R's output from real
            stats_D = self._step_D(x_syn, x_real, update=True)
            stats_R = self._measure_R(x_syn)
        else:  # Algorithm 1: K_g refiner updates, then K_d discriminator updates
            for _ in range(cfg["k_g"]):
                stats_R = self._step_R(x_syn, adversarial=True)
            for _ in range(cfg["k_d"]):
                stats_D = self._step_D(x_syn, x_real, update=True)
        return {**stats_R, **stats_D}

    @torch.no_grad()
    def _measure_R(self, x_syn: torch.Tensor) -> dict[str, torch.Tensor]:
        refined = self.R(x_syn)
        adv, reg = loss_R_adv(self.D(refined)), loss_R_reg(refined, x_syn)
        return {"loss_R": adv + self.cfg["lambda_reg"] * reg, "loss_R_adv": adv, "loss_R_reg": reg}

    # -- use ------------------------------------------------------------------------------------

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Refine synthetic images ``[N, C, H, W]`` -> ``[N, C, H, W]`` in [-1, 1]."""
        return self.R(x)

    def extra_state(self) -> dict:
        return {"history": self.history.state_dict()}

    def load_extra_state(self, state: dict) -> None:
        if "history" in state:
            self.history.load_state_dict(state["history"])

    @torch.no_grad()
    def preview(self, data: TaskData, n: int = 32) -> tuple[torch.Tensor, int]:
        """Up to four synthetic | refined pairs per row (8 rows for n = 32): tiles [2 n, C, H, W], 8 columns."""
        a = data.a[:n]
        refined = self.translate_batched(a)
        groups = min(4, len(a))  # pairs per row
        rows = len(a) // groups
        cols = [c for k in range(groups) for c in (a[k * rows:(k + 1) * rows], refined[k * rows:(k + 1) * rows])]
        return tile_columns(cols)


def _check_config(cfg: dict[str, Any]) -> None:
    """One-line UserErrors for SimGAN keys out of range (types are checked by merge_config)."""
    for key in ("r_norm", "d_norm"):
        if cfg[key] not in NORMS:
            raise UserError(f"simgan config key {key!r} must be one of {', '.join(NORMS)}, got {cfg[key]!r}")
    for key, low in (("r_base", 1), ("r_blocks", 0), ("d_base", 1), ("d_layers", 1), ("k_g", 1), ("k_d", 1),
                     ("pretrain_r", 0), ("pretrain_d", 0), ("history", 0), ("pool", 10), ("n_test", 1),
                     ("pool_seed", 0)):
        if cfg[key] < low:
            raise UserError(f"simgan config key {key!r} must be at least {low}, got {cfg[key]}")
    for key in ("lambda_reg", "r1_gamma"):
        if cfg[key] < 0:
            raise UserError(f"simgan config key {key!r} must be >= 0, got {cfg[key]}")
