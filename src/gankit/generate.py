"""Sample from a trained generator: everything comes from the checkpoint, no dataset needed.

Example:
    >>> from gankit.generate import load_generator, generate        # doctest: +SKIP
    >>> G, cfg, info = load_generator("runs/00000-quick")            # doctest: +SKIP
    >>> x = generate(G, 16, seed=0)  # [16, 1, 28, 28] in [-1, 1]    # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.config import RunConfig
from gankit.errors import UserError
from gankit.models import sample_z
from gankit.run import load_run
from gankit.viz import save_samples


def load_generator(run_or_ckpt: str | os.PathLike, ema: bool = True,
                   device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig, dict]:
    """Rebuild G (or G_ema, the default) from a checkpoint alone; returns (G in eval mode, config, data info)."""
    run = load_run(run_or_ckpt)
    return run.generator(ema=ema, device=device, command="sample / eval"), run.config, run.data_info


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int = 0, batch: int = 1000, z_dist: str | None = None,
             c: int | torch.Tensor | None = None) -> torch.Tensor:
    """n samples of G on CPU memory, [n, *data_shape]; the same seed gives the same samples.

    For a conditional G (``G.c_dim > 0``), ``c`` is one class for all samples, a tensor of n
    labels, or None for labels drawn uniformly over the classes (from the same seed).
    """
    if n <= 0:
        raise UserError(f"the number of samples must be positive; got {n}")
    labels = class_labels(G, n, c)
    device = next(G.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    dist = z_dist or getattr(G, "z_dist", "normal")
    out = []
    for start in range(0, n, batch):
        b = min(batch, n - start)
        z = sample_z(b, G.z_dim, dist, gen, device)  # [b, z_dim]
        cb = None
        if G.c_dim:
            cb = (torch.randint(G.c_dim, (b,), generator=gen, device=device) if labels is None
                  else labels[start:start + b].to(device))
        out.append(G(z, cb).cpu())
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


def sample(run_or_ckpt: str | os.PathLike, n: int = 64, seed: int = 0, out: str | os.PathLike = "samples.png",
           c: int | None = None) -> Path:
    """Write n samples of a trained run to ``out``: a picture (.png) or arrays (.npz with x in [-1, 1], and y for
    a conditional G). A conditional G draws class ``c``, or with c None a grid with one row per class.

    Raises:
        UserError: the checkpoint is unusable or ``out`` has an unknown suffix.
    """
    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"the folder of --out does not exist: {str(out.parent)!r}")
    from gankit.train import grid_columns, grid_labels

    G, cfg, _ = load_generator(run_or_ckpt)
    labels = class_labels(G, n, c)
    if labels is None and G.c_dim:
        labels = grid_labels(n, G.c_dim)  # [n]: one block of rows per class
    x = generate(G, n, seed=seed, c=labels)
    if out.suffix.lower() == ".npz":
        arrays = {"x": x.numpy(), "seed": np.int64(seed)}
        if labels is not None:
            arrays["y"] = labels.numpy()
        np.savez_compressed(out, **arrays)
    else:
        nrow = grid_columns(n, G.c_dim) if c is None else None
        save_samples(x, out, title=f"{cfg.preset}: {n} samples, seed {seed}", nrow=nrow)
    return out
