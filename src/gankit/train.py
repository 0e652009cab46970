"""``gankit train``: pick the system a config names, build it, and hand it to the engine.

The GAN of Algorithm 1 (:mod:`gankit.systems.gan`: k steps of D, then one step of G), with
``model = "vae"`` the VAE baseline (:mod:`gankit.systems.vae`), and the image-to-image systems
(``model = "pix2pix" | "cyclegan" | "srgan" | "simgan"``, :mod:`gankit.systems.i2i`) train through
the one loop :func:`gankit.training.loop.fit`. Everything a run needs to continue (weights, optimizer moments,
RNG states, the minibatch order) is in one checkpoint, so a resumed run ends bitwise where an
uninterrupted one would (on the CPU).

Example:
    >>> from gankit.config import load_preset, apply_overrides
    >>> from gankit.train import train
    >>> cfg = apply_overrides(load_preset("ring8"), ["train.steps=20", "data.toy_n=2000"])
    >>> result = train(cfg, out="/tmp/gankit-doctest", progress=False)
    >>> result.step
    20
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from gankit import checkpoint as ckpt
from gankit import distributed
from gankit.config import I2I_SYSTEMS, RunConfig, save_json, to_dict, from_dict, validate
from gankit.data import build_dataset
from gankit.errors import TrainingDiverged, UserError  # noqa: F401  (TrainingDiverged: imported from here by users)
from gankit.systems import system_class
# The names below are imported from gankit.train by earlier code; they live in the engine and the gan system now.
from gankit.systems.gan import (grid_columns, grid_labels, labels_for, make_optimizer, random_labels,  # noqa: F401
                                schedule, scores_independently, uses_convolutions)
from gankit.training.loop import Cadence, fit, open_run
from gankit.training.runtime import DEFAULT_THREADS, set_threads
from gankit.training.runtime import native_bf16, next_run_dir, resolve_device, resolve_precision  # noqa: F401
from gankit.training.sampler import BatchSampler  # noqa: F401


@dataclass
class TrainResult:
    run_dir: Path  # where config.json, stats.jsonl, grids and checkpoint.pt live
    step: int  # training steps completed
    interrupted: bool  # stopped by Ctrl-C / SIGTERM (before cfg.train.steps, or while its last files were written)
    checkpoint: Path  # the last checkpoint written
    samples: Path | None  # the last sample picture written
    report: Path | None = None  # report.html, written by the engine at the end
    G: nn.Module | None = None  # the trained networks as this process holds them (G_ema: the average drawn from)
    D: nn.Module | None = None  # a VAE run: its encoder E
    G_ema: nn.Module | None = None
    system: object | None = None  # the trained system (for the image-to-image ones: translate_batched(x))


def train(cfg: RunConfig | None = None, out: str | os.PathLike = "runs", resume: str | os.PathLike | None = None,
          steps: int | None = None, progress: bool = True, report: bool = True,
          threads: int | None = None) -> TrainResult:
    """Train the system the config names (a GAN by Algorithm 1 by default) and return where its results are.

    Started by ``torchrun`` (``WORLD_SIZE`` > 1 in the environment) it trains data-parallel with
    DistributedDataParallel, each process on its slice of the global batch (see gankit.distributed);
    only rank 0 writes the run directory.

    Args:
        cfg: the run's config (ignored when resuming: the checkpoint's config is used).
        out: parent folder of the new run directory ``out/NNNNN-<preset>``.
        resume: a run directory (or checkpoint) to continue in place.
        steps: total steps to reach, overriding ``cfg.train.steps`` (e.g. to extend a resumed run).
        threads: intra-op threads, overriding ``cfg.train.threads``; also when resuming, where it is the one
            setting besides ``steps`` that may change (it changes the float sums' rounding from there on).
        progress: show a progress bar on stderr.
        report: write ``report.html`` into the run directory at the end.

    Returns:
        TrainResult with the run directory, steps done, whether it was interrupted, the checkpoint
        and the last sample picture.

    Raises:
        UserError: bad config, data or checkpoint.
    """
    # Resolve the config and the run directory.
    state = None
    if resume is not None:
        state = ckpt.load_checkpoint(resume)
        if not state["optims"]:
            raise UserError(f"{str(resume)!r} holds no optimizer state (a sample-only checkpoint, as the pretrained "
                            "generators are), so it cannot be resumed; train a run of your own with `gankit train`")
        cfg = validate(from_dict(state["config"]))
    elif cfg is None:
        raise UserError("train() needs a config or a run directory to resume")
    if steps is not None:
        if steps <= 0:
            raise UserError(f"--steps must be a positive integer; got {steps}")
        cfg = validate(from_dict({**to_dict(cfg), "train": {**to_dict(cfg.train), "steps": steps}}))
    if threads is not None:
        if threads < 0:
            raise UserError(f"--threads must be 0 (auto: one per idle core) or a positive number; got {threads}")
        cfg = validate(from_dict({**to_dict(cfg), "train": {**to_dict(cfg.train), "threads": threads}}))
    if state is not None and int(state["step"]) >= cfg.train.steps:
        raise UserError(f"{str(resume)!r} is already at step {state['step']}; pass --steps above it to train on")
    world, device = distributed.setup(resolve_device(cfg.train.device))
    try:
        return _train(cfg, state, resume, out, progress, world, device, report)
    finally:
        distributed.teardown(world)


def _train(cfg: RunConfig, state: dict | None, resume, out, progress: bool, world: distributed.World,
           device: torch.device, report: bool = True) -> TrainResult:
    t = cfg.train
    stored = (state.get("extra") or {}).get("threads") if state is not None else None
    threads, why = set_threads(t.threads, stored, int(os.environ.get("LOCAL_WORLD_SIZE", "1") or 1))
    if progress and world.main and device.type == "cpu" and why.endswith("idle") and threads < DEFAULT_THREADS:
        print(f"gankit: training on {threads} thread{'s' if threads > 1 else ''}: {why}, the rest busy "
              f"(train.threads=N chooses)", file=sys.stderr)
    if cfg.model in I2I_SYSTEMS:
        from gankit.systems import i2i

        system = i2i.build(cfg, device, state, world)
    else:
        system = system_class(cfg.model)(cfg, build_dataset(cfg.data, "train"), world, device, state)
    if state is not None:
        run_dir = ckpt.find_checkpoint(resume).parent
    else:
        run_dir = open_run(out, cfg.preset, to_dict(cfg), world)
    if world.main and state is not None:
        save_json(cfg, run_dir / "config.json")
    r = fit(system, run_dir, Cadence(t.steps, t.log_every, t.snapshot_every, t.ckpt_every), step=system.step0,
            world=world, progress=progress, hint=system.hint, report=report, tensorboard=t.tensorboard)
    return TrainResult(run_dir=r.run_dir, step=r.step, interrupted=r.interrupted, checkpoint=r.checkpoint,
                       samples=r.picture, report=r.report, G=getattr(system, "G", None), D=getattr(system, "D", None),
                       G_ema=getattr(system, "G_ema", None), system=system)
