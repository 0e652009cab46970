"""The one way back from disk: a run directory (or its checkpoint) -> its config and networks.

``gankit sample``, ``eval``, the apps (invert, interpolate, arithmetic, encoder, anomaly), ``export``
and ``translate apply`` all rebuild their networks here, from the checkpoint alone (no dataset):

    >>> from gankit.run import load_run                          # doctest: +SKIP
    >>> run = load_run("runs/00000-quick")                       # doctest: +SKIP
    >>> G = run.generator()        # G_ema in eval mode, no gradients  # doctest: +SKIP
    >>> D = run.discriminator()    # D (D.features(x, c) for inversion and anomaly scores)  # doctest: +SKIP

Checkpoints of gankit 0.1 are read through :func:`gankit.checkpoint.upgrade`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.checkpoint import find_checkpoint, load_checkpoint, require_generator_run
from gankit.config import I2I_SYSTEMS, RunConfig, from_dict, validate
from gankit.errors import UserError

__all__ = ["Run", "load_run"]


@dataclass
class Run:
    """A trained run as it lies on disk.

    Attributes:
        path: the checkpoint file.
        system: "gan", "vae", "pix2pix", "cyclegan", "srgan" or "simgan".
        config: the run's config.
        step: the steps it was trained for.
        state: the whole checkpoint (format 2 of :mod:`gankit.checkpoint`).
    """

    path: Path
    system: str
    config: RunConfig
    step: int
    state: dict[str, Any] = field(repr=False)

    @property
    def run_dir(self) -> Path:
        return self.path.parent

    @property
    def data_shape(self) -> tuple[int, ...]:
        """The shape of one training example (GAN and VAE runs)."""
        shape = self.state["extra"].get("data_shape")
        if not isinstance(shape, (list, tuple)) or not shape or not all(
                isinstance(d, int) and not isinstance(d, bool) and 0 < d <= 4096 for d in shape):
            raise UserError(f"{str(self.path)!r}: its data shape {shape!r} is not the shape of an example "
                            "(1 to 3 sizes from 1 to 4096)")
        return tuple(shape)

    @property
    def data_info(self) -> dict:
        return dict(self.state["extra"].get("data_info", {}))

    def _load(self, net: nn.Module, name: str) -> None:
        """Load network ``name`` of the checkpoint into ``net``; one line when it is missing or does not fit."""
        if name not in self.state["nets"]:
            raise UserError(f"{str(self.path)!r} has no network {name!r} (it holds {', '.join(self.state['nets'])})")
        try:
            net.load_state_dict(self.state["nets"][name])
        except RuntimeError as e:
            first = str(e).splitlines()[1 if len(str(e).splitlines()) > 1 else 0].strip()[:160]
            raise UserError(f"{str(self.path)!r}: the weights of {name} do not fit the network its config describes "
                            f"({first})") from None

    def _latent(self, command: str) -> None:
        require_generator_run(self.state, self.path, command)

    def generator(self, ema: bool = True, device: str | torch.device = "cpu", command: str = "sample") -> nn.Module:
        """G (``ema``: its moving average G_ema, what the run's grids show) in eval mode without gradients;
        it carries ``z_dim``, ``z_dist`` and ``c_dim``."""
        from gankit.models import build_generator

        self._latent(command)
        G = build_generator(self.config, self.data_shape)
        self._load(G, "G_ema" if ema else "G")
        G.z_dist = self.config.z_dist
        return G.to(device).eval().requires_grad_(False)

    def discriminator(self, device: str | torch.device = "cpu", command: str = "invert") -> nn.Module:
        """D of a GAN run in eval mode without gradients (``D.features(x, c)``, ``D(x, c)``)."""
        from gankit.models import build_discriminator

        self._latent(command)
        if self.system != "gan":
            raise UserError(f"{str(self.path)!r} is a {self.system} run, which has no discriminator for "
                            f"`gankit {command}`; use a GAN run")
        D = build_discriminator(self.config, self.data_shape)
        self._load(D, "D")
        return D.to(device).eval().requires_grad_(False)

    def vae_encoder(self, device: str | torch.device = "cpu") -> nn.Module:
        """E of a VAE run (the encoder trained with it) in eval mode without gradients."""
        from gankit.models.vae import build_encoder

        if self.system != "vae":
            raise UserError(f"{str(self.path)!r} is a {self.system} run; only a VAE run has a trained encoder E")
        E = build_encoder(self.config, self.data_shape)
        self._load(E, "E")
        return E.to(device).eval().requires_grad_(False)

    def translator(self, device: str | torch.device = "cpu"):
        """The trained image-to-image system (``translate_batched(x, direction)``), in eval mode."""
        from gankit.systems import system_class

        if self.system not in I2I_SYSTEMS:
            raise UserError(f"{str(self.path)!r} is a {self.system} run, not a translation model; use "
                            "`gankit sample` for it, or train one with `gankit train --preset pix2pix-edges`")
        extra = self.state["extra"]
        system = system_class(self.system)(self.config, tuple(extra["shape_a"]), tuple(extra["shape_b"]),
                                           torch.device(device))
        try:
            system.load_state(self.state, weights_only=True)
        except (RuntimeError, KeyError, TypeError, AttributeError) as e:  # a damaged or edited checkpoint
            first = (str(e).strip().splitlines() or [type(e).__name__])[0][:200]
            raise UserError(f"{str(self.path)!r}: its weights do not fit the {self.system} nets of its config "
                            f"({first})") from None
        system.train(False)
        return system


def load_run(run_or_ckpt: str | os.PathLike) -> Run:
    """Read a run directory or checkpoint file; UserError in one line for anything that is not one."""
    path = find_checkpoint(run_or_ckpt)
    state = load_checkpoint(path)
    config = validate(from_dict(state["config"]))
    return Run(path=path, system=state["system"], config=config, step=int(state["step"]), state=state)
