"""Image-to-image GANs: pix2pix, CycleGAN, SRGAN and SimGAN behind one interface.

The systems live in :mod:`gankit.systems` (``pix2pix``, ``cyclegan``, ``srgan``, ``simgan``, with
their shared base in :mod:`gankit.systems.i2i`) and train through the one engine like the GAN:
``gankit train --preset pix2pix-edges``. This module is the familiar front door of gankit 0.1,
one function per command:

- :func:`train_translation` -> ``gankit translate train --system S | --preset P``
- :func:`apply_translation` -> ``gankit translate apply RUN IMAGES --out DIR``
- :func:`load_translator` loads a run into a ready system (``system.translate_batched(x)``).

Overrides are ``--set`` strings of the one config parser (``pix2pix.lambda_l1=10``,
``train.batch=8``) or a dict, where gankit 0.1's flat keys still work (``{"lambda_l1": 10,
"steps": 200}``; see :data:`gankit.systems.i2i.LEGACY_KEYS`).

Example (a few seconds)::

    from gankit.translate import build_task, load_translator, resolve_config, train_translation
    r = train_translation("pix2pix", overrides={"steps": 200}, out="runs")
    system = load_translator(r.run_dir)
    test = build_task(resolve_config("pix2pix"), "test")
    y = system.translate_batched(test.a[:8])       # [8, 1, 28, 28] in [-1, 1]
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from gankit.config import I2I_SYSTEMS, apply_overrides, load_preset
from gankit.config import list_presets as _all_presets
from gankit.data.tasks import TaskData
from gankit.errors import UserError, check_out_folder, written_atomically
from gankit.systems import system_class
from gankit.systems.i2i import TranslationSystem, config_for, flat_config
from gankit.systems.i2i import build_task as _build_task

__all__ = ["SYSTEMS", "system_class", "list_presets", "resolve_config", "build_task", "train_translation",
           "load_translator", "apply_translation", "TaskData", "TranslationSystem", "TranslateResult"]

SYSTEMS = I2I_SYSTEMS


@dataclass
class TranslateResult:
    run_dir: Path
    step: int
    interrupted: bool
    checkpoint: Path
    preview: Path
    system: TranslationSystem


def list_presets() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every image-to-image preset: name -> (system, its flat config)."""
    out = {}
    for name in _all_presets():
        cfg = load_preset(name)
        if cfg.model in I2I_SYSTEMS:
            out[name] = (cfg.model, flat_config(cfg))
    return out


def resolve_config(system_or_preset: str, overrides: dict[str, Any] | list[str] | None = None) -> dict[str, Any]:
    """The flat config (:func:`gankit.systems.i2i.flat_config`) of a system's default preset, or of a named
    preset, with ``overrides``.

    Example::

        cfg = resolve_config("pix2pix", {"steps": 10})   # cfg["system"] == "pix2pix", cfg["steps"] == 10
    """
    return flat_config(config_for(system_or_preset, overrides))


def build_task(cfg: dict[str, Any], split: str = "train") -> TaskData:
    """The data of the config's task (a built-in task or the user's folders) for ``split``."""
    return _build_task(cfg, split)


def train_translation(system_or_preset: str = "pix2pix", overrides: dict[str, Any] | list[str] | None = None,
                      out: str | os.PathLike = "runs", resume: str | os.PathLike | None = None,
                      steps: int | None = None, progress: bool = True) -> TranslateResult:
    """Train a translation system through the engine and write a run directory (config.json, stats.jsonl,
    samples-*.png, checkpoint.pt, as every run); or continue ``resume`` (a run directory) to ``steps``."""
    from gankit.train import train

    if resume is not None:
        if overrides:
            raise UserError("--resume continues a run with its own config; only --steps may change")
        r = train(resume=resume, steps=steps, progress=progress)
    else:
        cfg = config_for(system_or_preset, overrides)
        if steps is not None:
            cfg = apply_overrides(cfg, [f"train.steps={steps}"])
        r = train(cfg, out=out, progress=progress)
    if not isinstance(r.system, TranslationSystem):
        raise UserError(f"{str(resume)!r} is a {r.system.__class__.__name__} run, not an image-to-image one")
    return TranslateResult(run_dir=r.run_dir, step=r.step, interrupted=r.interrupted, checkpoint=r.checkpoint,
                           preview=r.samples, system=r.system)


def load_translator(run_or_ckpt: str | os.PathLike, device: str = "cpu") -> TranslationSystem:
    """A trained translation system from its run directory or checkpoint, in eval mode."""
    from gankit.run import load_run
    from gankit.training.runtime import resolve_device

    return load_run(run_or_ckpt).translator(resolve_device(device))


def apply_translation(run_or_ckpt: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike,
                      direction: str = "AtoB", device: str = "cpu", grid: str | os.PathLike | None = None,
                      progress: bool = False) -> Path:
    """Translate images with a trained system and write the results.

    Args:
        run_or_ckpt: a translation run directory or its checkpoint.
        images: a folder of images, an image file, a .npy / .npz; or ``task:test`` / ``task:train``
            for the inputs of the run's own built-in task. Images are converted to the model's
            input channels and size.
        out: a folder (one PNG per input, named after it) or a ``.npz`` (``x``: uint8 [N, C, H, W]).
        direction: "AtoB", or "BtoA" for systems with two generators (CycleGAN).
        grid: optionally also a PNG of inputs beside outputs.

    Returns:
        The output path.
    """
    from gankit.data.images import read_images
    from gankit.systems.i2i import tile_columns
    from gankit.viz import save_image_grid, save_pngs, to_uint8

    out = Path(out)
    if out.suffix and out.suffix.lower() != ".npz":
        raise UserError(f"--out {str(out)!r}: expected a folder or a .npz file")
    check_out_folder(out)
    system = load_translator(run_or_ckpt, device)
    if direction not in system.directions:
        raise UserError(f"--direction {direction}: {system.name} translates {' and '.join(system.directions)}")
    shape = system.shape_a if direction == "AtoB" else system.shape_b
    text = str(images)
    if text in ("task:train", "task:test"):
        if system.cfg["task"] == "folders":
            raise UserError(f"{text}: this model was trained on the user's folders, not a built-in task; "
                            "give image paths")
        data = build_task(system.cfg, text.split(":")[1])
        x = data.a if direction == "AtoB" else data.b
        names = [f"{i:05d}.png" for i in range(len(x))]
    else:
        x, _, names = read_images(text, shape, also="task:test / task:train (the run's own task inputs)",
                                  what=f"this {system.name} model takes")
    y = system.translate_batched(x, direction, progress=progress)
    if out.suffix.lower() == ".npz":
        import numpy as np

        with written_atomically(out) as tmp:
            np.savez_compressed(tmp, x=to_uint8(y), names=np.array(names))  # x: uint8 [N, C, H, W]
    else:
        out.mkdir(parents=True, exist_ok=True)
        stems = [Path(name.replace("/", "_").replace("[", "_").replace("]", "")).stem for name in names]
        save_pngs(y, [out / f"{stem}.png" for stem in stems])
    if grid is not None:
        tiles, cols = tile_columns([x[:64], y[:64]])
        save_image_grid(tiles, grid, nrow=cols * 4 if len(x) >= 16 else cols)
    return out
