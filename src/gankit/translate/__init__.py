"""Image-to-image GANs: pix2pix, CycleGAN, SRGAN and SimGAN behind one interface.

Each system lives in its own module (:mod:`gankit.translate.pix2pix`, ``cyclegan``, ``srgan``,
``simgan``) with its networks, losses, offline tasks built from the bundled digits, and presets.
This module is the front door, one function per command:

- :func:`train_translation` -> ``gankit translate train --system S | --preset P``
- :func:`apply_translation` -> ``gankit translate apply CKPT IMAGES --out DIR``
- :func:`load_translator` loads a checkpoint into a ready system (``system.translate_batched(x)``).

Example (a few seconds)::

    from gankit.translate import build_task, load_translator, resolve_config, train_translation
    r = train_translation("pix2pix", overrides={"steps": 200}, out="runs")
    system = load_translator(r.run_dir)
    test = build_task(resolve_config("pix2pix"), "test")
    y = system.translate_batched(test.a[:8])       # [8, 1, 28, 28] in [-1, 1]
"""

from __future__ import annotations

import importlib
import os
from pathlib import Path
from typing import Any

import torch

from gankit.errors import UserError
from gankit.translate.common import (CHECKPOINT_KIND, COMMON, TaskData, TranslateResult, TranslationSystem, env_threads,
                                     fit, load_folders, merge_config)

__all__ = ["SYSTEMS", "system_class", "list_presets", "resolve_config", "build_task", "train_translation",
           "load_translator", "apply_translation", "TaskData", "TranslationSystem", "TranslateResult"]

SYSTEMS = {  # name -> (module, class)
    "pix2pix": ("gankit.translate.pix2pix", "Pix2Pix"),
    "cyclegan": ("gankit.translate.cyclegan", "CycleGAN"),
    "srgan": ("gankit.translate.srgan", "SRGAN"),
    "simgan": ("gankit.translate.simgan", "SimGAN"),
}


def system_class(name: str) -> type[TranslationSystem]:
    """The class of system ``name``; UserError naming the choices for anything else."""
    if name not in SYSTEMS:
        raise UserError(f"unknown translation system {name!r}; choose one of {', '.join(SYSTEMS)}")
    module, cls = SYSTEMS[name]
    return getattr(importlib.import_module(module), cls)


def list_presets() -> dict[str, tuple[str, dict[str, Any]]]:
    """Every translation preset: name -> (system, its config values)."""
    out = {}
    for name in SYSTEMS:
        try:
            cls = system_class(name)
        except ModuleNotFoundError as e:  # a system not installed in this build
            if e.name != SYSTEMS[name][0]:
                raise
            continue
        for preset, values in cls.PRESETS.items():
            out[preset] = (name, values)
    return out


def resolve_config(system_or_preset: str, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """The full config of a system's default preset, or of a named preset, with ``overrides``.

    Example::

        cfg = resolve_config("pix2pix", {"steps": 10})   # cfg["system"] == "pix2pix", cfg["steps"] == 10
    """
    presets = {} if system_or_preset in SYSTEMS else list_presets()
    if system_or_preset in SYSTEMS:
        system = system_or_preset
        cls = system_class(system)
        preset_name, values = next(iter(cls.PRESETS.items()))
    elif system_or_preset in presets:
        preset_name = system_or_preset
        system, values = presets[preset_name]
        cls = system_class(system)
    else:
        raise UserError(f"unknown translation system or preset {system_or_preset!r}; systems: {', '.join(SYSTEMS)}; "
                        f"presets: {', '.join(presets)}")
    defaults = {**COMMON, **cls.DEFAULTS}
    values = {k: v for k, v in values.items() if not k.startswith("_")}
    cfg = merge_config(defaults, {"system": system}, values, overrides or {}, where=f"{system} config")
    cfg["preset"] = preset_name
    if cfg["system"] != system:
        raise UserError(f"config key 'system' cannot change {system!r} to {cfg['system']!r}; "
                        "pick the other system's preset")
    if cfg["task"] != "folders" and cfg["task"] not in cls.TASKS:
        raise UserError(f"{system} has no task {cfg['task']!r}; choose one of {', '.join([*cls.TASKS, 'folders'])}")
    if cfg["task"] != "folders" and (cfg["data_a"] or cfg["data_b"]):
        raise UserError(f"data_a / data_b are read only with task 'folders' (the task is {cfg['task']!r})")
    return cfg


def build_task(cfg: dict[str, Any], split: str = "train") -> TaskData:
    """The data of ``cfg["task"]`` (a built-in task or the user's folders) for ``split``."""
    cls = system_class(cfg["system"])
    if cfg["task"] == "folders":
        return load_folders(cfg, cls.paired)
    data = cls.TASKS[cfg["task"]](cfg, split)
    return data.head(cfg["n_train"]) if split == "train" else data


def _device(name: str) -> torch.device:
    from gankit.training.runtime import resolve_device

    return resolve_device(name)


def train_translation(system_or_preset: str = "pix2pix", overrides: dict[str, Any] | None = None,
                      out: str | os.PathLike = "runs", resume: str | os.PathLike | None = None,
                      steps: int | None = None, progress: bool = True) -> TranslateResult:
    """Train a translation system and write a run directory (config.json, stats.jsonl,
    preview-*.png, checkpoint.pt); or continue ``resume`` (a run directory) to ``steps``."""
    from gankit.training.loop import open_run

    if int(os.environ.get("WORLD_SIZE", "1") or 1) > 1:  # started by torchrun
        raise UserError("the image-to-image systems train in one process only (no DDP yet); run "
                        "`gankit translate train` without torchrun")
    state = None
    if resume is not None:
        if overrides:
            raise UserError("--resume continues a run with its own config; only --steps may change")
        state = _load_state(resume)
        cfg = dict(state["config"])
        if steps is not None:
            cfg["steps"] = steps
        run_dir = Path(resume) if Path(resume).is_dir() else Path(resume).parent
    else:
        cfg = resolve_config(system_or_preset, {**(overrides or {}), **({"steps": steps} if steps is not None else {})})
    env_threads(cfg)
    torch.manual_seed(cfg["seed"])
    data = build_task(cfg, "train")
    test = build_task(cfg, "test") if cfg["task"] != "folders" else data
    device = _device(cfg["device"])
    system = system_class(cfg["system"])(cfg, data.shape_a, data.shape_b, device)
    if state is None:
        run_dir = open_run(out, cfg["preset"], cfg)
    elif int(state["step"]) >= cfg["steps"]:
        raise UserError(f"{run_dir} is already at step {state['step']}; pass --steps above it to train on")
    return fit(system, data, run_dir, state=state, progress=progress, preview_data=test)


def _load_state(run_or_ckpt: str | os.PathLike) -> dict:
    from gankit.checkpoint import load_checkpoint

    state = load_checkpoint(run_or_ckpt)
    if state.get("kind") != CHECKPOINT_KIND:
        raise UserError(f"{str(run_or_ckpt)!r} is a GAN checkpoint from `gankit train`, not a translation model; "
                        f"use `gankit sample` for it, or train one with `gankit translate train`")
    return state


def load_translator(run_or_ckpt: str | os.PathLike, device: str = "cpu") -> TranslationSystem:
    """A trained translation system from its run directory or checkpoint, in eval mode."""
    state = _load_state(run_or_ckpt)
    cls = system_class(state["system"])
    cfg = dict(state["config"])
    system = cls(cfg, tuple(state["shape_a"]), tuple(state["shape_b"]), _device(device))
    for k, net in system.nets.items():
        net.load_state_dict(state["nets"][k])
    system.train(False)
    return system


def apply_translation(run_or_ckpt: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike,
                      direction: str = "AtoB", device: str = "cpu", grid: str | os.PathLike | None = None) -> Path:
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
    from gankit.translate.common import tile_columns
    from gankit.viz import save_image_grid

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
    y = system.translate_batched(x, direction)
    out = Path(out)
    pixels = ((y.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)  # [N, C, H, W]
    if out.suffix.lower() == ".npz":
        import numpy as np

        out.parent.mkdir(parents=True, exist_ok=True)
        np.savez_compressed(out, x=pixels.numpy(), names=np.array(names))
    else:
        if out.suffix:
            raise UserError(f"--out {str(out)!r}: expected a folder or a .npz file")
        from PIL import Image

        out.mkdir(parents=True, exist_ok=True)
        for name, img in zip(names, pixels):
            arr = img.permute(1, 2, 0).numpy()
            stem = Path(name.replace("/", "_").replace("[", "_").replace("]", "")).stem
            Image.fromarray(arr[..., 0] if arr.shape[2] == 1 else arr).save(out / f"{stem}.png")
    if grid is not None:
        tiles, cols = tile_columns([x[:64], y[:64]])
        save_image_grid(tiles, grid, nrow=cols * 4 if len(x) >= 16 else cols)
    return out
