"""What every translation system shares: config, data, the base class, the history buffer, the loop.

A system (pix2pix, CycleGAN, SRGAN, SimGAN) is a subclass of :class:`TranslationSystem` in its own
module. It builds its networks and optimizers from a flat config dict, takes one training step on
a batch, and translates images. Everything else lives here, the same for all four: run
directories, ``stats.jsonl``, the progress bar, preview grids, atomic checkpoints, Ctrl-C
(the first stops after the current step and keeps a checkpoint of it), NaN detection and resume.

Config: a flat dict. :data:`COMMON` holds the keys every system has; a system adds its own in
``DEFAULTS``. ``--set key=value`` overrides take JSON values (``lambda_l1=10``, ``task="edges"``)
and must keep each key's type.

Data: a :class:`TaskData` holds images of side A (the input) and side B (the target or the
other domain), both ``[N, C, H, W]`` in [-1, 1]. Paired systems (pix2pix, SRGAN) read
``a[i] -> b[i]``; unpaired ones (CycleGAN, SimGAN) draw A and B independently.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit.errors import TrainingDiverged, UserError
from gankit.training.sampler import ImageHistory  # noqa: F401  (the systems import it from here)

CHECKPOINT_KIND = "translate"  # the "kind" key of a translation checkpoint (GAN checkpoints have none)

COMMON: dict[str, Any] = {
    "system": "",  # pix2pix | cyclegan | srgan | simgan
    "task": "",  # a built-in task of the system, or "folders" for data_a / data_b
    "data_a": "",  # user data, side A: a folder of images or a .npy / .npz (task "folders")
    "data_b": "",  # user data, side B
    "size": 0,  # resize user images to size x size (0: keep)
    "n_train": 0,  # use only the first n_train training examples of each side (0: all)
    "steps": 2000,  # training steps (one update of every network)
    "batch": 32,
    "lr": 2e-4,  # Adam, the rate of pix2pix and CycleGAN
    "beta1": 0.5,
    "beta2": 0.999,
    "seed": 0,
    "threads": 0,  # torch intra-op threads (0: PyTorch's default)
    "device": "auto",  # auto | cpu | cuda | cuda:N
    "log_every": 50,
    "snapshot_every": 500,  # preview grid and checkpoint
}


# ----------------------------------------------------------------------------------------------
# Config.


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict; values are JSON when they parse, else plain strings."""
    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad --set {item!r}: expected KEY=VALUE, e.g. lambda_l1=10")
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = text
        out[key.strip()] = value
    return out


def merge_config(defaults: dict[str, Any], *layers: dict[str, Any], where: str = "config") -> dict[str, Any]:
    """``defaults`` updated by each layer in turn; unknown keys and wrong types are UserErrors.

    A float key accepts an int (``lr=1`` is 1.0); every other key keeps its default's type.
    """
    cfg = dict(defaults)
    for layer in layers:
        for key, value in layer.items():
            if key not in defaults:
                raise UserError(f"unknown {where} key {key!r}; known keys: {', '.join(sorted(defaults))}")
            want = type(defaults[key])
            if want is float and isinstance(value, int) and not isinstance(value, bool):
                value = float(value)
            if not isinstance(value, want) or (want is int and isinstance(value, bool)):
                raise UserError(f"{where} key {key!r} must be {want.__name__}, got {value!r}")
            cfg[key] = value
    for key in ("steps", "batch", "log_every", "snapshot_every"):
        if cfg[key] < 1:
            raise UserError(f"{where} key {key!r} must be at least 1, got {cfg[key]}")
    if cfg["lr"] <= 0:
        raise UserError(f"{where} key 'lr' must be positive, got {cfg['lr']}")
    return cfg


# ----------------------------------------------------------------------------------------------
# Data.


@dataclass
class TaskData:
    """Images of both sides of one split, in [-1, 1].

    Attributes:
        a: [N_a, C_a, H_a, W_a] inputs.
        b: [N_b, C_b, H_b, W_b] targets (paired: N_b == N_a, b[i] belongs to a[i]) or the other domain.
        paired: whether a[i] and b[i] belong together.
        y_a, y_b: [N] int64 digit labels where known (benchmarks use them), else None.
        info: JSON-able facts about how the data was made.
    """

    a: torch.Tensor
    b: torch.Tensor
    paired: bool
    y_a: torch.Tensor | None = None
    y_b: torch.Tensor | None = None
    info: dict = field(default_factory=dict)

    def __post_init__(self):
        if self.a.dim() != 4 or self.b.dim() != 4:
            raise UserError(
                f"translation data must be images [N, C, H, W]; got A {list(self.a.shape)}, B {list(self.b.shape)}"
            )
        if self.paired and len(self.a) != len(self.b):
            raise UserError(f"paired data needs as many A as B images; got {len(self.a)} and {len(self.b)}")
        if len(self.a) == 0 or len(self.b) == 0:
            raise UserError("translation data is empty")

    @property
    def shape_a(self) -> tuple[int, int, int]:
        return tuple(self.a.shape[1:])

    @property
    def shape_b(self) -> tuple[int, int, int]:
        return tuple(self.b.shape[1:])

    def head(self, n: int) -> "TaskData":
        """The first ``n`` examples of each side (0: all)."""
        if n <= 0:
            return self
        cut = lambda t: None if t is None else t[:n]  # noqa: E731
        return TaskData(self.a[:n], self.b[:n], self.paired, cut(self.y_a), cut(self.y_b), dict(self.info, n_train=n))

    def to(self, device: torch.device) -> "TaskData":
        move = lambda t: None if t is None else t.to(device)  # noqa: E731
        return TaskData(self.a.to(device), self.b.to(device), self.paired, move(self.y_a), move(self.y_b), self.info)


def load_folders(cfg: dict[str, Any], paired: bool) -> TaskData:
    """The user's own data: ``cfg["data_a"]`` and ``cfg["data_b"]`` (folders or array files).

    Paired folders match images by file name (``a/cat.png`` belongs to ``b/cat.png``); every name
    must appear on both sides. Unpaired sides may differ in size and count.
    """
    from gankit.data.images import _image_files, load_array_file, load_image_folder

    sides = []
    for key in ("data_a", "data_b"):
        text = cfg[key]
        if not text:
            raise UserError(f"task 'folders' needs both data_a and data_b; {key} is empty "
                            f"(--data-a DIR --data-b DIR, or --set {key}=PATH)")
        path = Path(text).expanduser()
        if not path.exists():
            raise UserError(f"{key} {text!r}: no such file or folder; expected a folder of images or a .npy / .npz")
        if path.is_dir():
            x = load_image_folder(path, size=cfg["size"]).x
            names = [p.name for p in _image_files(path)]
        else:
            x = load_array_file(path).x
            names = [str(i) for i in range(len(x))]
        if x.dim() != 4:
            raise UserError(f"{key} {text!r} holds vectors {list(x.shape)}; translation needs images")
        sides.append((x, names))
    (a, names_a), (b, names_b) = sides
    if paired:
        if len(names_a) != len(a) or len(names_b) != len(b):
            raise UserError("paired data from folders must be flat folders of images (no class subfolders), so that "
                            "files can be matched by name")
        index_b = {n: i for i, n in enumerate(names_b)}
        missing = [n for n in names_a if n not in index_b]
        if missing or len(names_a) != len(names_b):
            extra = sorted(set(names_b) - set(names_a))
            raise UserError(f"paired folders must hold the same file names; only in data_a: {missing[:3]}, "
                            f"only in data_b: {extra[:3]}")
        b = b[[index_b[n] for n in names_a]]
    return TaskData(a, b, paired, info={"task": "folders", "data_a": cfg["data_a"], "data_b": cfg["data_b"]})


class Batches:
    """Random minibatches: paired systems take the same indices on both sides, unpaired ones not."""

    def __init__(self, data: TaskData, batch: int, seed: int):
        self.data = data
        self.batch = batch
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> dict[str, torch.Tensor]:
        d = self.data
        ia = torch.randint(len(d.a), (self.batch,), generator=self.gen)
        ib = ia if d.paired else torch.randint(len(d.b), (self.batch,), generator=self.gen)
        out = {"a": d.a[ia.to(d.a.device)], "b": d.b[ib.to(d.b.device)]}
        if d.y_a is not None:
            out["y_a"] = d.y_a[ia.to(d.y_a.device)]
        if d.y_b is not None:
            out["y_b"] = d.y_b[ib.to(d.y_b.device)]
        return out


# ----------------------------------------------------------------------------------------------
# The base class.


class TranslationSystem:
    """One image-to-image system. Subclasses set the class attributes and implement the methods.

    Class attributes:
        name: "pix2pix", ...
        paired: whether training needs paired data.
        directions: the directions :meth:`translate` takes: ("AtoB",) or ("AtoB", "BtoA").
        DEFAULTS: the system's own config keys and their defaults (beside :data:`COMMON`).
        PRESETS: preset name -> config values (must include "task"); the first is the default.
        TASKS: built-in task name -> function ``(cfg, split) -> TaskData`` with split "train" or "test".

    Instances hold ``nets`` (name -> module; all saved) and ``optims`` (name -> optimizer).
    """

    name: str = ""
    paired: bool = True
    directions: tuple[str, ...] = ("AtoB",)
    DEFAULTS: dict[str, Any] = {}
    PRESETS: dict[str, dict[str, Any]] = {}
    TASKS: dict[str, Any] = {}

    def __init__(self, cfg: dict[str, Any], shape_a: tuple[int, ...], shape_b: tuple[int, ...], device: torch.device):
        self.cfg = cfg
        self.shape_a = tuple(shape_a)
        self.shape_b = tuple(shape_b)
        self.device = device
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}

    def adam(self, *modules: nn.Module, lr: float | None = None) -> torch.optim.Adam:
        """Adam over the modules' parameters with the config's lr and betas."""
        params = [p for m in modules for p in m.parameters()]
        return torch.optim.Adam(params, lr=lr or self.cfg["lr"], betas=(self.cfg["beta1"], self.cfg["beta2"]))

    def train_step(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One update of every network; returns 0-d tensors to log (losses, D outputs, ...)."""
        raise NotImplementedError

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate a batch (in eval mode, no gradients): A -> B, or B -> A where supported."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        """More state to checkpoint (history buffers); tensors and plain data only."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)

    @torch.no_grad()
    def translate_batched(self, x: torch.Tensor, direction: str = "AtoB", batch: int = 256) -> torch.Tensor:
        """:meth:`translate` over a large tensor in chunks, in eval mode; returns CPU tensors."""
        if direction not in self.directions:
            raise UserError(f"{self.name} translates {' and '.join(self.directions)}, not {direction}")
        was = {k: n.training for k, n in self.nets.items()}
        self.train(False)
        try:
            outs = [self.translate(x[i:i + batch].to(self.device), direction).float().cpu()
                    for i in range(0, len(x), batch)]
        finally:
            for k, n in self.nets.items():
                n.train(was[k])
        return torch.cat(outs)

    @torch.no_grad()
    def preview(self, data: TaskData, n: int = 8) -> tuple[torch.Tensor, int]:
        """Tiles for a picture: one row per example, input | output | target (paired) or
        input | output (unpaired, and B -> A | back where there are two directions).
        Returns (tiles [rows * cols, C, H, W], cols)."""
        a = data.a[:n]
        cols = [a, self.translate_batched(a)]
        if data.paired:
            cols.append(data.b[:n])
        if "BtoA" in self.directions:
            b = data.b[:n]
            cols += [b, self.translate_batched(b, "BtoA")]
        return tile_columns(cols)


def tile_columns(columns: list[torch.Tensor]) -> tuple[torch.Tensor, int]:
    """Columns of images (any sizes, 1 or 3 channels) -> (row-major tiles at one size, number of columns).

    Images are brought to the largest height/width (nearest neighbour, so low resolution stays
    visible) and to 3 channels if any column has colour.
    """
    size = max(c.shape[-1] for c in columns)
    colour = any(c.shape[1] == 3 for c in columns)
    fixed = []
    for c in columns:
        c = c.detach().float().cpu()
        if c.shape[-1] != size:
            c = torch.nn.functional.interpolate(c, size=(size, size), mode="nearest")
        if colour and c.shape[1] == 1:
            c = c.repeat(1, 3, 1, 1)
        fixed.append(c)
    rows = min(len(c) for c in fixed)
    tiles = torch.stack([torch.stack([c[i] for c in fixed]) for i in range(rows)]).flatten(0, 1)
    return tiles, len(fixed)


# ----------------------------------------------------------------------------------------------
# The loop.


@dataclass
class TranslateResult:
    run_dir: Path
    step: int
    interrupted: bool
    checkpoint: Path
    preview: Path
    system: TranslationSystem


TranslationDiverged = TrainingDiverged  # the one divergence error of every system (gankit.errors)


def _checkpoint_state(system: TranslationSystem, step: int, batches: Batches, data: TaskData) -> dict:
    return {
        "kind": CHECKPOINT_KIND,
        "system": system.name,
        "config": system.cfg,
        "shape_a": list(system.shape_a),
        "shape_b": list(system.shape_b),
        "nets": {k: v.state_dict() for k, v in system.nets.items()},
        "optims": {k: v.state_dict() for k, v in system.optims.items()},
        "extra": system.extra_state(),
        "step": step,
        "rng_torch": torch.get_rng_state(),
        "rng_cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
        "batches": batches.gen.get_state(),
        "data_info": data.info,
    }


class _Run:
    """A translation system as the engine (:func:`gankit.training.loop.fit`) trains it: the system,
    its minibatches and its preview data."""

    hint = "try a lower lr"

    def __init__(self, system: TranslationSystem, data: TaskData, preview_data: TaskData):
        self.system, self.data, self.preview_data = system, data, preview_data
        self.batches = Batches(data, system.cfg["batch"], system.cfg["seed"] + 1)

    def train(self, mode: bool = True) -> None:
        self.system.train(mode)

    def train_step(self, step: int) -> dict:
        return self.system.train_step(step, self.batches.next())

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        return {k: f"{v:.3g}" for k, v in list(means.items())[:4]}

    def sync(self) -> None:
        pass

    def snapshot(self, run_dir: Path, step: int) -> Path:
        from gankit.viz import save_image_grid

        tiles, cols = self.system.preview(self.preview_data)
        save_image_grid(tiles, run_dir / "preview.png", nrow=cols)
        return save_image_grid(tiles, run_dir / f"preview-{step:06d}.png", nrow=cols)

    def state(self, step: int) -> dict:
        return _checkpoint_state(self.system, step, self.batches, self.data)

    def load_state(self, state: dict) -> int:
        system = self.system
        for k, net in system.nets.items():
            net.load_state_dict(state["nets"][k])
        for k, opt in system.optims.items():
            opt.load_state_dict(state["optims"][k])
        system.load_extra_state(state.get("extra", {}))
        torch.set_rng_state(state["rng_torch"])
        if state.get("rng_cuda") and torch.cuda.is_available():
            torch.cuda.set_rng_state_all(state["rng_cuda"])
        self.batches.gen.set_state(state["batches"])
        return int(state["step"])


def fit(system: TranslationSystem, data: TaskData, run_dir: Path, state: dict | None = None,
        progress: bool = True, preview_data: TaskData | None = None) -> TranslateResult:
    """Train ``system`` on ``data`` for ``cfg["steps"]`` steps through the engine, writing into ``run_dir``.

    ``state``: a checkpoint to continue from (its step, networks, optimizers, RNGs). The first
    Ctrl-C / SIGTERM stops after the current step and checkpoints it; a NaN loss stops with
    :class:`~gankit.errors.TrainingDiverged` and keeps the previous checkpoint. A preview and a
    checkpoint are written every ``snapshot_every`` steps and at the end.
    """
    from gankit.training import loop

    cfg = system.cfg
    run = _Run(system, data.to(system.device), (preview_data or data).to(system.device))
    step = run.load_state(state) if state is not None else 0
    cadence = loop.Cadence(cfg["steps"], cfg["log_every"], cfg["snapshot_every"], cfg["snapshot_every"])
    r = loop.fit(run, run_dir, cadence, step=step, progress=progress, hint=run.hint)
    return TranslateResult(run_dir=r.run_dir, step=r.step, interrupted=r.interrupted, checkpoint=r.checkpoint,
                           preview=r.picture, system=system)


def psnr_ssim(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of images in [-1, 1], computed on [0, 1] pixels by torchmetrics
    (per image, then averaged; SSIM with an 11x11 Gaussian window, sigma 1.5, as Wang et al. 2004)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    p = (pred.float().clamp(-1, 1) + 1) / 2
    t = (target.float().clamp(-1, 1) + 1) / 2
    psnr = peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
    return {"psnr": float(psnr.mean()), "ssim": float(ssim.mean())}


def digits_scores(x: torch.Tensor, reference: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, float]:
    """Digits-classifier scores of images in [-1, 1] (gray or colour, any size; see
    :mod:`gankit.features.digits`): ``fid`` against ``reference`` images (digits-FID, a Fréchet
    distance in the classifier's 128 features) and ``accuracy`` against ``labels``."""
    from gankit.features.digits import load_digits_classifier
    from gankit.metrics.frechet import frechet_distance

    model = load_digits_classifier()
    out: dict[str, float] = {}
    with torch.no_grad():
        feats, logits = [], []
        for i in range(0, len(x), 500):
            chunk = x[i:i + 500].float().cpu()
            feats.append(model.features(chunk))
            logits.append(model(chunk))
        if reference is not None:
            ref = torch.cat([model.features(reference[i:i + 500].float().cpu()) for i in range(0, len(reference), 500)])
            out["fid"] = frechet_distance(torch.cat(feats).numpy(), ref.numpy())
        if labels is not None:
            out["accuracy"] = float((torch.cat(logits).argmax(1) == labels.cpu()).float().mean())
    assert all(math.isfinite(v) for v in out.values())
    return out


def env_threads(cfg: dict[str, Any]) -> None:
    """Apply ``cfg["threads"]`` (0 keeps PyTorch's choice)."""
    from gankit.training.runtime import set_threads

    set_threads(cfg["threads"])
