"""What the image-to-image systems (pix2pix, CycleGAN, SRGAN, SimGAN) share, as the engine trains them.

A system is a subclass of :class:`TranslationSystem` in its own module. It builds its networks and
optimizers from the run config, takes one update of every network on a batch
(:meth:`TranslationSystem.update`) and translates images. This base class turns that into the
engine's :class:`~gankit.training.loop.System`: it draws the batches, writes the preview grids
(``samples-NNNNNN.png``, input | output | target per row), and holds the checkpoint's parts.

Config. Each system reads the ``task`` section (built-in task or the user's folders), its own
section (``pix2pix``, ``cyclegan``, ``srgan`` or ``simgan``), ``train`` (steps, batch, seed,
intervals, device, threads) and ``optim`` (Adam's lr and betas: ``lr_g`` for generators,
``lr_d`` for discriminators). Inside a system the config is read through a flat view,
``self.cfg["lambda_l1"]``, ``self.cfg["steps"]``: the keys of gankit 0.1's translate configs,
which :func:`dotted_overrides` also accepts from older scripts.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from gankit import distributed
from gankit.config import I2I_SYSTEMS, RunConfig, apply_overrides, list_presets, load_preset, to_dict
from gankit.data.tasks import Batches, TaskData, load_folders
from gankit.errors import UserError
from gankit.training.runtime import autocast_forward, average_gradients, frozen_copy

__all__ = ["TranslationSystem", "tile_columns", "flat_config", "dotted_overrides", "parse_overrides", "config_for",
           "build_task", "as_run_config", "build", "DEFAULT_PRESETS", "LEGACY_KEYS"]

# The preset `--system S` starts from.
DEFAULT_PRESETS = {"pix2pix": "pix2pix-edges", "cyclegan": "cyclegan-mnist-m", "srgan": "srgan-x4",
                   "simgan": "simgan-fonts"}

# gankit 0.1's flat translate keys -> the dotted keys of the run config (a system's own keys go to its section).
LEGACY_KEYS: dict[str, tuple[str, ...]] = {
    "system": ("model",), "preset": ("preset",),
    "task": ("task.name",), "data_a": ("task.data_a",), "data_b": ("task.data_b",), "size": ("task.size",),
    "n_train": ("task.n_train",),
    "steps": ("train.steps",), "batch": ("train.batch",), "seed": ("train.seed",), "threads": ("train.threads",),
    "device": ("train.device",), "log_every": ("train.log_every",),
    "snapshot_every": ("train.snapshot_every", "train.ckpt_every"),  # 0.1 checkpointed at every preview
    "ckpt_every": ("train.ckpt_every",),
    "lr": ("optim.lr_g", "optim.lr_d"), "lr_d": ("optim.lr_d",), "beta1": ("optim.beta1",),
    "beta2": ("optim.beta2",),
}


def parse_overrides(pairs: list[str] | tuple[str, ...]) -> dict[str, Any]:
    """``["key=value", ...]`` -> dict (values are JSON where they parse, else strings), for callers that merge
    ``--set`` strings into a dict of their own before :func:`config_for` reads it."""
    out: dict[str, Any] = {}
    for item in pairs:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise UserError(f"bad --set {item!r}: expected KEY=VALUE, e.g. pix2pix.lambda_l1=10")
        try:
            out[key.strip()] = json.loads(text)
        except json.JSONDecodeError:
            out[key.strip()] = text
    return out


def flat_config(cfg: RunConfig) -> dict[str, Any]:
    """The flat view a system reads: task, train, optim and the system's own section in one dict."""
    t, o, k = cfg.train, cfg.optim, cfg.task
    return {"system": cfg.model, "preset": cfg.preset, "task": k.name, "data_a": k.data_a, "data_b": k.data_b,
            "size": k.size, "n_train": k.n_train, "steps": t.steps, "batch": t.batch, "seed": t.seed,
            "threads": t.threads, "device": t.device, "log_every": t.log_every, "snapshot_every": t.snapshot_every,
            "ckpt_every": t.ckpt_every,
            "lr": o.lr_g, "lr_d": o.lr_d, "beta1": o.beta1, "beta2": o.beta2, **to_dict(getattr(cfg, cfg.model))}


def dotted_overrides(system: str, values: dict[str, Any]) -> list[str]:
    """``{"lambda_l1": 10, "train.batch": 8, "steps": 5}`` -> ``--set`` strings for the one config parser.

    A dotted key is kept; a flat key of gankit 0.1 maps through :data:`LEGACY_KEYS`; any other flat key
    is taken as one of ``system``'s own (``lambda_l1`` -> ``pix2pix.lambda_l1``).
    """
    out = []
    for key, value in values.items():
        for dotted in ("." in key and (key,)) or LEGACY_KEYS.get(key) or (f"{system}.{key}",):
            out.append(f"{dotted}={json.dumps(value)}")
    return out


_TOP_LEVEL = {"model", "preset", "description", "z_dim", "z_dist", "c_dim"}


def _legacy_string(system: str, item: str) -> list[str]:
    """One ``--set`` string with a flat gankit 0.1 key (``lambda_l1=10``) as dotted strings; others unchanged."""
    key, sep, raw = item.partition("=")
    key = key.strip()
    if not sep or "." in key or key in _TOP_LEVEL or not key:
        return [item]
    try:
        value = json.loads(raw)
    except json.JSONDecodeError:
        value = raw
    return dotted_overrides(system, {key: value})


def config_for(system_or_preset: str, overrides: dict[str, Any] | list[str] | tuple[str, ...] | None = None
               ) -> RunConfig:
    """The run config of a system's default preset, or of a named image-to-image preset, with ``overrides``
    (a dict as :func:`dotted_overrides` reads, or ``--set`` strings).

    Example:
        >>> config_for("pix2pix", {"steps": 10, "lambda_l1": 50}).pix2pix.lambda_l1
        50.0
    """
    if system_or_preset in DEFAULT_PRESETS:
        preset = DEFAULT_PRESETS[system_or_preset]
    else:
        preset = system_or_preset
        if preset not in list_presets():
            known = [n for n in list_presets() if load_preset(n).model in I2I_SYSTEMS]
            raise UserError(f"unknown translation system or preset {preset!r}; systems: {', '.join(I2I_SYSTEMS)}; "
                            f"presets: {', '.join(known)}")
    base = load_preset(preset)
    if base.model not in I2I_SYSTEMS:
        raise UserError(f"preset {preset!r} trains model={base.model}, not an image-to-image system; "
                        f"use `gankit train --preset {preset}`")
    if isinstance(overrides, dict):
        strings = dotted_overrides(base.model, overrides)
    else:
        strings = [s for item in overrides or [] for s in _legacy_string(base.model, item)]
    cfg = apply_overrides(base, strings)
    if cfg.model != base.model:
        raise UserError(f"config key 'model' cannot change {base.model!r} to {cfg.model!r}; "
                        "pick the other system's preset")
    check_task(cfg)
    return cfg


def check_task(cfg: RunConfig) -> None:
    """UserError unless the config's task is one of its system's built-in tasks or the user's folders."""
    from gankit.systems import system_class

    tasks = system_class(cfg.model).TASKS
    name = cfg.task.name
    if name != "folders" and name not in tasks:
        raise UserError(f"{cfg.model} has no task {name!r} (config key task.name); "
                        f"choose one of {', '.join([*tasks, 'folders'])}")
    if name != "folders" and (cfg.task.data_a or cfg.task.data_b):
        raise UserError(f"task.data_a / task.data_b are read only with task.name 'folders' (the task is {name!r})")


def build_task(cfg: RunConfig | dict[str, Any], split: str = "train") -> TaskData:
    """The data of the config's task (a built-in task or the user's folders) for ``split``."""
    from gankit.systems import system_class

    cfg = as_run_config(cfg)
    cls = system_class(cfg.model)
    k = cfg.task
    if k.name == "folders":
        return load_folders(k.data_a, k.data_b, k.size, cls.paired)
    data = cls.TASKS[k.name](flat_config(cfg), split)
    return data.head(k.n_train) if split == "train" else data


def as_run_config(cfg: RunConfig | dict[str, Any]) -> RunConfig:
    """A RunConfig from itself, from a flat view (:func:`flat_config`, gankit 0.1's translate configs) or from
    the sectioned JSON of a run's config.json."""
    if isinstance(cfg, RunConfig):
        return cfg
    from gankit.config import from_dict, validate

    if "model" in cfg:
        return validate(from_dict(cfg))
    system = cfg.get("system")
    if system not in I2I_SYSTEMS:
        raise UserError(f"not an image-to-image config: system {system!r}; expected one of {', '.join(I2I_SYSTEMS)}")
    values = {k: v for k, v in cfg.items() if k not in ("system", "preset")}
    preset = cfg.get("preset", "")
    if preset in list_presets() and load_preset(preset).model == system:
        base = load_preset(preset)  # its description and defaults
    else:  # gankit 0.1's translate defaults where they differ from today's train defaults
        base = RunConfig()
        values = {"log_every": 50, "snapshot_every": 500, "batch": 32, "steps": 2000, **values}
    strings = [f"model={json.dumps(system)}", f"preset={json.dumps(preset or system)}",
               *dotted_overrides(system, values)]
    return apply_overrides(base, strings)


class TranslationSystem:
    """One image-to-image system; subclasses set the class attributes and implement the methods.

    Class attributes:
        name: "pix2pix", ...
        paired: whether training needs paired data.
        directions: the directions :meth:`translate` takes: ("AtoB",) or ("AtoB", "BtoA").
        TASKS: built-in task name -> function ``(flat cfg, split) -> TaskData`` with split "train" or "test".

    Instances hold ``nets`` (name -> module; all saved) and ``optims`` (name -> optimizer);
    ``cfg`` is the flat view (:func:`flat_config`) and ``run_cfg`` the run config.
    """

    name: str = ""
    paired: bool = True
    directions: tuple[str, ...] = ("AtoB",)
    generators: tuple[str, ...] = ("G",)  # the nets that translate: averaged under train.ema / train.ema_kimg
    TASKS: dict[str, Any] = {}
    hint = "try a lower lr (optim.lr_g, optim.lr_d)"
    preview_rows = 8

    def __init__(self, cfg: RunConfig | dict[str, Any], shape_a: tuple[int, ...], shape_b: tuple[int, ...],
                 device: torch.device):
        self.run_cfg = as_run_config(cfg)
        self.cfg = flat_config(self.run_cfg)
        self.shape_a = tuple(shape_a)
        self.shape_b = tuple(shape_b)
        self.device = device
        self.nets: dict[str, nn.Module] = {}
        self.optims: dict[str, torch.optim.Optimizer] = {}
        self.batches: Batches | None = None
        self.preview_data: TaskData | None = None
        self.data_info: dict = {}
        self.precision = "fp32"  # of the training forward passes; set by prepare_training
        self.ema: dict[str, nn.Module] = {}  # moving averages of the generators (train.ema / ema_kimg), else empty
        self.world = distributed.World()  # one process unless bind() is given a torchrun world

    # -- what a system writes ------------------------------------------------------------------

    def adam(self, *modules: nn.Module, lr: float | None = None, d: bool = False) -> torch.optim.Adam:
        """Adam over the modules' parameters with the config's betas and lr (``optim.lr_d`` when ``d``)."""
        params = [p for m in modules for p in m.parameters()]
        lr = lr or (self.cfg["lr_d"] if d else self.cfg["lr"])
        return torch.optim.Adam(params, lr=lr, betas=(self.cfg["beta1"], self.cfg["beta2"]))

    def update(self, step: int, batch: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """One update of every network on ``batch``; returns 0-d tensors to log (losses, D outputs, ...)."""
        raise NotImplementedError

    def translate(self, x: torch.Tensor, direction: str = "AtoB") -> torch.Tensor:
        """Translate a batch (in eval mode, no gradients): A -> B, or B -> A where supported."""
        raise NotImplementedError

    def extra_state(self) -> dict:
        """More state to checkpoint (history buffers); tensors and plain data only."""
        return {}

    def load_extra_state(self, state: dict) -> None:
        pass

    # -- the engine's System protocol ----------------------------------------------------------

    def bind(self, data: TaskData, preview_data: TaskData | None = None,
             world: "distributed.World | None" = None) -> "TranslationSystem":
        """Attach the training data (its batches drawn with seed + 1; under torchrun this rank's slice of each
        global batch) and the data of the preview grids."""
        self.world = world or distributed.World()
        self.batches = Batches(data.to(self.device), self.cfg["batch"], self.cfg["seed"] + 1, self.world.rank,
                               self.world.size)
        self.preview_data = (preview_data or data).to(self.device)
        self.data_info = dict(data.info)
        return self

    def train_step(self, step: int, batch: dict[str, torch.Tensor] | None = None) -> dict[str, torch.Tensor]:
        """One step: :meth:`update` on ``batch``, or on the next minibatch of the bound data."""
        if batch is None:
            if self.batches is None:
                raise RuntimeError("bind(data) before train_step(step) without a batch")
            batch = self.batches.next()
        stats = self.update(step, batch)
        if self.ema:
            self._update_ema(step, len(next(iter(batch.values()))) * self.world.size)  # images of the global batch
        return stats

    # -- precision, compile and the moving average (the engine's options, as they apply here) ---------------

    def prepare_training(self) -> None:
        """Apply ``train.precision`` (bf16 autocast around every net's forward, its output cast back to fp32 so
        the losses and all weights, gradients and optimizer moments stay fp32), ``train.compile``
        (``nn.Module.compile``: state-dict keys unchanged) and create the moving averages of the generators.

        ``auto`` is fp32 for these systems: bf16 is what ``train.precision=bf16`` asks for (docs/translate.md has
        the measured speeds). A run's precision is in its config, so a resume keeps it."""
        from gankit.training.runtime import resolve_precision

        t = self.run_cfg.train
        self.make_averages()  # copied before the wrappers below, which the averages do not need
        self.precision = resolve_precision(t.precision, self.device) if t.precision != "auto" else "fp32"
        if self.world.parallel:  # data parallel: each optimizer steps on the gradients averaged over the ranks
            for opt in self.optims.values():
                opt.register_step_pre_hook(lambda opt, args, kwargs: average_gradients(opt, self.world.size))
        for net in self.nets.values():
            if self.precision == "bf16":
                autocast_forward(net, self.device.type)
            if t.compile:
                net.compile(mode=t.compile_mode)

    def make_averages(self) -> None:
        """``self.ema``: a frozen copy of each generator, when the config averages them (train.ema / ema_kimg)."""
        if self.run_cfg.train.averages_g and not self.ema:
            self.ema = {k: frozen_copy(self.nets[k]) for k in self.generators}

    @torch.no_grad()
    def _update_ema(self, step: int, batch: int) -> None:
        from gankit.systems.gan import ema_beta

        t = self.run_cfg.train
        beta = ema_beta(step, batch, t.ema, t.ema_kimg, t.ema_rampup)
        for k, avg in self.ema.items():
            live = self.nets[k]
            torch._foreach_lerp_(list(avg.parameters()), list(live.parameters()), 1.0 - beta)
            for b_avg, b_live in zip(avg.buffers(), live.buffers()):
                b_avg.copy_(b_live)

    def _averaged(self):
        """A context in which the generators hold their moving averages (for previews and ``translate``); the live
        weights are put back at its end."""
        from contextlib import contextmanager

        @contextmanager
        def swap():
            saved = {k: {n: v.clone() for n, v in self.nets[k].state_dict().items()} for k in self.ema}
            try:
                for k, avg in self.ema.items():
                    self.nets[k].load_state_dict(avg.state_dict())
                yield
            finally:
                for k, sd in saved.items():
                    self.nets[k].load_state_dict(sd)

        return swap()

    def train(self, mode: bool = True) -> None:
        for net in self.nets.values():
            net.train(mode)

    def sync(self) -> None:
        """Under torchrun: rank 0's buffers (BatchNorm running statistics) to every rank, before a picture or a
        checkpoint. The weights need nothing: every rank applies the same averaged gradients."""
        distributed.sync_buffers(self.world, *self.nets.values(), *self.ema.values())

    def postfix(self, means: dict[str, float]) -> dict[str, str]:
        return {k: f"{v:.3g}" for k, v in list(means.items())[:4]}

    def snapshot(self, run_dir: Path, step: int) -> Path:
        from gankit.viz import save_image_grid

        tiles, cols = self.preview(self.preview_data, self.preview_rows)
        save_image_grid(tiles, run_dir / "samples.png", nrow=cols)
        return save_image_grid(tiles, run_dir / f"samples-{step:06d}.png", nrow=cols)

    def state(self, step: int) -> dict:
        """The checkpoint (format 2 of :mod:`gankit.checkpoint`)."""
        rng = {"torch": torch.get_rng_state()}
        if torch.cuda.is_available():
            rng["cuda_all"] = torch.cuda.get_rng_state_all()
        if self.batches is not None:
            rng["batches"] = self.batches.gen.get_state()
        return {"system": self.name, "config": to_dict(self.run_cfg), "step": step,
                "nets": {k: v.state_dict() for k, v in self.nets.items()},
                "optims": {k: v.state_dict() for k, v in self.optims.items()}, "rng": rng,
                "extra": {"shape_a": list(self.shape_a), "shape_b": list(self.shape_b), "data_info": self.data_info,
                          "precision": self.precision, **({"ema": {k: v.state_dict() for k, v in self.ema.items()}}
                                                          if self.ema else {}), **self.extra_state()}}

    def load_state(self, state: dict, weights_only: bool = False) -> int:
        """Restore a checkpoint's networks (and, unless ``weights_only``, optimizers and RNGs); returns its step."""
        for k, net in self.nets.items():
            net.load_state_dict(state["nets"][k])
        averages = (state.get("extra") or {}).get("ema")
        if averages:  # the config that trained them is the checkpoint's own, so it asks for them
            self.make_averages()
            for k, avg in self.ema.items():
                avg.load_state_dict(averages[k])
        if not weights_only:
            for k, opt in self.optims.items():
                opt.load_state_dict(state["optims"][k])
            self.load_extra_state(state.get("extra", {}))
            rng = state["rng"]
            torch.set_rng_state(rng["torch"])
            if rng.get("cuda_all") and torch.cuda.is_available():
                torch.cuda.set_rng_state_all(rng["cuda_all"])
            if self.batches is not None and "batches" in rng:
                self.batches.gen.set_state(rng["batches"])
        return int(state["step"])

    # -- translation and pictures --------------------------------------------------------------

    @torch.no_grad()
    def translate_batched(self, x: torch.Tensor, direction: str = "AtoB", batch: int = 256,
                          progress: bool = False) -> torch.Tensor:
        """:meth:`translate` over a large tensor in chunks, in eval mode; returns CPU tensors. ``progress``: a bar
        on stderr over the images."""
        from gankit.progress import progress_bar

        if direction not in self.directions:
            raise UserError(f"{self.name} translates {' and '.join(self.directions)}, not {direction}")
        was = {k: n.training for k, n in self.nets.items()}
        self.train(False)
        try:
            from contextlib import nullcontext

            outs = []
            with self._averaged() if self.ema else nullcontext(), \
                    progress_bar(len(x), "translate", unit="img", enabled=progress) as bar:
                for i in range(0, len(x), batch):
                    outs.append(self.translate(x[i:i + batch].to(self.device), direction).float().cpu())
                    bar.update(len(outs[-1]))
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


def build(cfg: RunConfig, device: torch.device, state: dict | None = None,
          world: "distributed.World | None" = None) -> TranslationSystem:
    """The system of ``cfg`` on its training data (previews from the test split), restored from ``state``.

    Under torchrun (``world``) every rank builds the same initial nets from ``train.seed``, draws its slice of
    each global batch, and averages gradients before each optimizer step: the data-parallel training of one
    process with ``train.batch * world_size``. Dropout and the history pools are each rank's own."""
    from gankit.systems import system_class

    world = world or distributed.World()
    torch.manual_seed(cfg.train.seed)  # initialisation and dropout (the batches draw from seed + 1)
    data = build_task(cfg, "train")
    test = build_task(cfg, "test") if cfg.task.name != "folders" else data
    system = system_class(cfg.model)(cfg, data.shape_a, data.shape_b, device).bind(data, test, world)
    system.prepare_training()
    system.step0 = system.load_state(state) if state is not None else 0
    if world.rank > 0:  # each rank its own dropout masks (rank 0's stream is the one checkpoints keep)
        torch.manual_seed(cfg.train.seed + 4 + 7919 * world.rank + system.step0)
    return system
