"""Sample from a trained generator: everything comes from the checkpoint, no dataset needed.

Example:
    >>> from gankit.generate import load_generator, generate        # doctest: +SKIP
    >>> G, cfg, info = load_generator("runs/00000-quick")            # doctest: +SKIP
    >>> x = generate(G, 16, seed=0)  # [16, 1, 28, 28] in [-1, 1]    # doctest: +SKIP
"""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.config import RunConfig
from gankit.errors import UserError, check_out_folder, written_atomically
from gankit.models import sample_z
from gankit.progress import progress_bar
from gankit.run import load_run
from gankit.viz import save_samples


def load_generator(run_or_ckpt: str | os.PathLike, ema: bool = True,
                   device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig, dict]:
    """Rebuild G (or G_ema, the default) from a checkpoint alone; returns (G in eval mode, config, data info)."""
    run = load_run(run_or_ckpt)
    return run.generator(ema=ema, device=device, command="sample / eval"), run.config, run.data_info


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int = 0, batch: int = 1000, z_dist: str | None = None,
             c: int | torch.Tensor | None = None, progress: bool = False) -> torch.Tensor:
    """n samples of G on CPU memory, [n, *data_shape]; the same seed gives the same samples.

    For a conditional G (``G.c_dim > 0``), ``c`` is one class for all samples, a tensor of n
    labels, or None for labels drawn uniformly over the classes (from the same seed).
    ``progress``: a bar on stderr over the samples.
    """
    if n <= 0:
        raise UserError(f"the number of samples must be positive; got {n}")
    labels = class_labels(G, n, c)
    device = next(G.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    dist = z_dist or getattr(G, "z_dist", "normal")
    out = []
    with progress_bar(n, "generate", unit="sample", enabled=progress) as bar:
        for start in range(0, n, batch):
            b = min(batch, n - start)
            z = sample_z(b, G.z_dim, dist, gen, device)  # [b, z_dim]
            cb = None
            if G.c_dim:
                cb = (torch.randint(G.c_dim, (b,), generator=gen, device=device) if labels is None
                      else labels[start:start + b].to(device))
            out.append(G(z, cb).cpu())
            bar.update(b)
    return torch.cat(out)


def class_labels(G: nn.Module, n: int, c: int | torch.Tensor | None) -> torch.Tensor | None:
    """Validate ``c`` against G and expand one class to n labels; UserError for a mismatch."""
    if c is None:
        return None
    if not G.c_dim:
        raise UserError("--class needs a conditional generator (c_dim > 0); this one is unconditional")
    if isinstance(c, int):
        if not 0 <= c < G.c_dim:
            raise UserError(f"--class must lie in 0..{G.c_dim - 1} for this generator; got {c}")
        return torch.full((n,), c, dtype=torch.long)
    return c.long()


def _check_fits_in_memory(n: int, shape: tuple[int, ...]) -> None:
    """UserError in one line when n samples of ``shape`` (float32, held at once) would not fit in half of RAM."""
    need = n * math.prod(shape) * 4
    try:
        ram = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return
    if need > ram // 2:
        raise UserError(f"{n:,} samples of shape {list(shape)} need {need / 2**30:,.1f} GiB at once, more than half "
                        f"of this machine's {ram / 2**30:,.1f} GiB; ask for fewer (e.g. several files with -n "
                        f"{max(1, (ram // 4) // (math.prod(shape) * 4)):,} and different --seed)")


@torch.no_grad()
def generate_seeds(G: nn.Module, seeds: list[int], c: torch.Tensor | None = None,
                   progress: bool = False) -> torch.Tensor:
    """One sample per seed, ``[len(seeds), *data_shape]`` on the CPU: z_i is the first draw of a generator seeded
    with ``seeds[i]``, and G runs on each alone (a batch of one: matrix products round differently at other batch
    sizes), so a sample is bitwise the same whatever other seeds are asked for. ``c``: labels, one per seed.
    ``progress``: a bar on stderr over the seeds."""
    if not seeds:
        raise UserError("--seeds needs at least one seed")
    device = next(G.parameters()).device
    dist = getattr(G, "z_dist", "normal")
    z = torch.cat([sample_z(1, G.z_dim, dist, torch.Generator(device).manual_seed(s), device) for s in seeds])
    out = []
    with progress_bar(len(z), "generate", unit="sample", enabled=progress) as bar:
        for i in range(len(z)):
            out.append(G(z[i:i + 1], None if c is None else c[i:i + 1].to(device)).cpu())
            bar.update(1)
    return torch.cat(out)


def _span(seeds: list[int]) -> str:
    return f"{seeds[0]}-{seeds[-1]}" if seeds == list(range(seeds[0], seeds[-1] + 1)) else ",".join(map(str, seeds))


def sample(run_or_ckpt: str | os.PathLike, n: int = 64, seed: int = 0, out: str | os.PathLike = "samples.png",
           c: int | None = None, seeds: list[int] | None = None, device: str | torch.device = "cpu",
           progress: bool = False) -> Path:
    """Write n samples of a trained run to ``out``: a picture (.png), arrays (.npz with x in [-1, 1], and y for
    a conditional G), or a folder (a path without a suffix: one PNG per sample at the data's own size,
    ``000000.png``... or ``seed0007.png`` with ``seeds``; the form ``gankit train --data`` and ``gankit eval``
    read back). A conditional G draws class ``c``, or with c None a grid with one row per class.

    ``seeds`` (stylegan2's habit, ``--seeds 0-63``): one sample per seed, z drawn from that seed
    alone, so sample 7 of ``--seeds 0-63`` is the same image as the only one of ``--seeds 7``;
    ``n`` and ``seed`` are then unused. ``device``: where G runs. ``progress``: a bar on stderr over
    the samples drawn.

    Raises:
        UserError: the checkpoint is unusable or ``out`` has an unknown suffix.
    """
    out = Path(out)
    folder = out.suffix == "" or str(out).endswith(("/", os.sep))
    if not folder and out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays), or be a folder (no suffix); "
                        f"got {str(out)!r}")
    check_out_folder(out)
    if folder and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {str(out)!r} exists and is not an empty folder; give a new folder for the images")
    from gankit.train import grid_columns, grid_labels

    from gankit.training.runtime import resolve_device

    G, cfg, _ = load_generator(run_or_ckpt, device=resolve_device(device))
    if seeds is not None:
        n = len(seeds)
    _check_fits_in_memory(n, G.data_shape)
    if folder and len(G.data_shape) != 3:
        raise UserError(f"--out {str(out)!r} (a folder of images) needs an image generator; this one draws "
                        f"vectors of shape {list(G.data_shape)} (use a .npz or .png)")
    labels = class_labels(G, n, c)
    if labels is None and G.c_dim:
        labels = grid_labels(n, G.c_dim)  # [n]: one block of rows per class
    x = (generate(G, n, seed=seed, c=labels, progress=progress) if seeds is None
         else generate_seeds(G, seeds, c=labels, progress=progress))
    if folder:
        _save_folder(x, out, seeds, progress)
    elif out.suffix.lower() == ".npz":
        arrays = {"x": x.numpy(), "seed": np.int64(seed)} if seeds is None else {"x": x.numpy(),
                                                                                 "seeds": np.array(seeds)}
        if labels is not None:
            arrays["y"] = labels.numpy()
        with written_atomically(out) as tmp:
            np.savez_compressed(tmp, **arrays)
    else:
        nrow = grid_columns(n, G.c_dim) if c is None else None
        which = f"seed {seed}" if seeds is None else f"seeds {_span(seeds)}"
        save_samples(x, out, title=f"{cfg.preset}: {n} samples, {which}", nrow=nrow)
    return out


def _save_folder(x: torch.Tensor, out: Path, seeds: list[int] | None, progress: bool) -> None:
    """One PNG per image sample: ``seedNNNN.png`` with ``seeds``, else ``000000.png``..."""
    from gankit.viz import save_pngs

    out.mkdir(parents=True, exist_ok=True)
    names = [f"seed{s:04d}.png" for s in seeds] if seeds is not None else \
        [f"{i:0{max(6, len(str(len(x) - 1)))}d}.png" for i in range(len(x))]
    save_pngs(x, [out / name for name in names], progress)
