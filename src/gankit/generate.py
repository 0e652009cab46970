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

from gankit.checkpoint import load_checkpoint
from gankit.config import RunConfig, from_dict, validate
from gankit.errors import UserError
from gankit.models import build_generator, sample_z
from gankit.viz import save_samples


def load_generator(run_or_ckpt: str | os.PathLike, ema: bool = True,
                   device: str | torch.device = "cpu") -> tuple[nn.Module, RunConfig, dict]:
    """Rebuild G (or G_ema, the default) from a checkpoint alone; returns (G in eval mode, config, data info)."""
    state = load_checkpoint(run_or_ckpt)
    cfg = validate(from_dict(state["config"]))
    G = build_generator(cfg, tuple(state["data_shape"]))
    G.load_state_dict(state["G_ema" if ema else "G"])
    G.z_dist = cfg.z_dist
    return G.to(device).eval().requires_grad_(False), cfg, dict(state.get("data_info", {}))


@torch.no_grad()
def generate(G: nn.Module, n: int, seed: int = 0, batch: int = 1000, z_dist: str | None = None) -> torch.Tensor:
    """n samples of G on CPU memory, [n, *data_shape]; the same seed gives the same samples."""
    if n <= 0:
        raise UserError(f"the number of samples must be positive; got {n}")
    device = next(G.parameters()).device
    gen = torch.Generator(device).manual_seed(seed)
    dist = z_dist or getattr(G, "z_dist", "normal")
    out = []
    for start in range(0, n, batch):
        z = sample_z(min(batch, n - start), G.z_dim, dist, gen, device)  # [b, z_dim]
        out.append(G(z).cpu())
    return torch.cat(out)


def sample(run_or_ckpt: str | os.PathLike, n: int = 64, seed: int = 0, out: str | os.PathLike = "samples.png") -> Path:
    """Write n samples of a trained run to ``out``: a picture (.png) or arrays (.npz with x in [-1, 1] and z_seed).

    Raises:
        UserError: the checkpoint is unusable or ``out`` has an unknown suffix.
    """
    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"the folder of --out does not exist: {str(out.parent)!r}")
    G, cfg, _ = load_generator(run_or_ckpt)
    x = generate(G, n, seed=seed)
    if out.suffix.lower() == ".npz":
        np.savez_compressed(out, x=x.numpy(), seed=np.int64(seed))
    else:
        save_samples(x, out, title=f"{cfg.preset}: {n} samples, seed {seed}")
    return out
