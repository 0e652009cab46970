"""The 1-D machinery behind ``fig1`` and ``optimum``: a GAN on gauss1d trained in segments by the real
trainer, and the densities, the optimal discriminator and the divergences computed on a grid.

Everything lives in model space (gauss1d is N(4, 0.5^2) in raw units times the set's scale, so the
data density is N(mu, s^2) with mu = 4 * scale and s = 0.5 * scale). G's density is exact up to
the grid: z is one-dimensional and uniform, so G pushed through an evenly spaced grid of z values
puts equal mass at each image point, and a histogram of those points on the x grid is p_g with no
sampling noise (only the bin width, ``DX``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from gankit.config import RunConfig, apply_overrides, load_preset
from gankit.data.toy import toy_mixture

X_LO, X_HI, N_X = -0.5, 1.5, 2001  # the x grid in model space
DX = (X_HI - X_LO) / (N_X - 1)
LOG4 = math.log(4.0)


def x_grid() -> np.ndarray:
    return np.linspace(X_LO, X_HI, N_X)  # [N_X]


def data_density(x: np.ndarray) -> np.ndarray:
    """p_data on the grid: gauss1d in model space, N(mu, s^2)."""
    mix = toy_mixture("gauss1d")
    mu, s = float(mix.centers[0, 0]) * mix.scale, mix.std * mix.scale
    return np.exp(-0.5 * ((x - mu) / s) ** 2) / (s * math.sqrt(2 * math.pi))


def _device_of(net: torch.nn.Module) -> torch.device:
    """Where a net's weights live (the CPU for a net without any)."""
    p = next(net.parameters(), None)
    return p.device if p is not None else torch.device("cpu")


def generator_density(G: torch.nn.Module, x: np.ndarray, n_z: int = 400_001) -> np.ndarray:
    """p_g on the grid ``x`` (evenly spaced): the histogram of G over an even grid of z in U(-sqrt 3, sqrt 3).

    Each z grid point carries mass 1 / n_z, as z is uniform; bins are centred on the x grid points.
    Mass that G sends outside the grid is dropped (the grid is wide: it shows up as total mass < 1).
    """
    half = math.sqrt(3.0)
    z = torch.linspace(-half, half, n_z).unsqueeze(1)  # [n_z, 1]
    with torch.no_grad():
        gx = G(z.to(_device_of(G))).reshape(-1).double().cpu().numpy()  # [n_z]
    dx = x[1] - x[0]
    edges = np.concatenate([x - dx / 2, [x[-1] + dx / 2]])
    counts, _ = np.histogram(gx, bins=edges)
    return counts / (n_z * dx)


def discriminator_on(D: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    """D(x) = sigmoid(logit) on the grid."""
    with torch.no_grad():
        logits = D(torch.as_tensor(x, dtype=torch.float32, device=_device_of(D)).unsqueeze(1))
    return torch.sigmoid(logits).double().cpu().numpy()


def optimal_d(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """D*(x) = p_data / (p_data + p_g) (Prop. 1); NaN where both densities vanish."""
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(p + q > 0, p / (p + q), np.nan)


def _xlogy(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(x > 0, x * np.log(np.where(y > 0, y, 1.0)), 0.0)


def virtual_training_criterion(p: np.ndarray, q: np.ndarray, dx: float = DX) -> float:
    """C(G) = V(D*, G) = E_p[log D*] + E_q[log(1 - D*)], integrated on the grid (both densities normalised there)."""
    p, q = p / (p.sum() * dx), q / (q.sum() * dx)
    return float((_xlogy(p, p / (p + q + 1e-300)) + _xlogy(q, q / (p + q + 1e-300))).sum() * dx)


def jsd(p: np.ndarray, q: np.ndarray, dx: float = DX) -> float:
    """Jensen-Shannon divergence in nats: (KL(p || m) + KL(q || m)) / 2, m = (p + q) / 2."""
    p, q = p / (p.sum() * dx), q / (q.sum() * dx)
    m = (p + q) / 2
    kl = lambda a: float((_xlogy(a, a) - _xlogy(a, m)).sum() * dx)  # noqa: E731
    return 0.5 * (kl(p) + kl(q))


def preset(quick: bool) -> RunConfig:
    """gauss1d, on the CPU: nets this small gain nothing from a GPU, and the documented numbers are CPU runs'."""
    cfg = apply_overrides(load_preset("gauss1d"), ["train.device=cpu"])
    return apply_overrides(cfg, ["train.steps=400", "data.toy_n=20000"]) if quick else cfg


@dataclass
class Snapshot:
    step: int
    G: torch.nn.Module
    D: torch.nn.Module
    p_g: np.ndarray  # [N_X]
    d_x: np.ndarray  # [N_X] the live discriminator
    v_live: float  # -loss_D averaged over the last logged steps: V(D, G) as training estimates it


def train_snapshots(cfg: RunConfig, out: Path, steps: list[int], bar=None) -> list[Snapshot]:
    """Train ``cfg`` with gankit's trainer, stopping at each step in ``steps`` (resuming in between).

    Step 0 is the untrained pair, built exactly as the trainer builds it. ``bar``: a progress bar
    (:func:`gankit.progress.progress_bar`) that advances by each segment's steps when it ends.
    """
    import copy

    from gankit.stats import read_stats
    from gankit.train import train

    x = x_grid()
    snaps: list[Snapshot] = []
    if 0 in steps:
        G0, D0 = _initial_nets(cfg)
        snaps.append(Snapshot(0, G0, D0, generator_density(G0, x), discriminator_on(D0, x), float("nan")))
    last = max(steps)
    cfg = apply_overrides(cfg, [f"train.snapshot_every={last + 1}", f"train.ckpt_every={last + 1}",
                                "train.log_every=10"])
    result, done = None, 0
    for s in sorted(s for s in steps if s > 0):
        report = s == last  # one report.html, at the end, not one per segment (about 0.5 s each)
        if result is None:
            result = train(apply_overrides(cfg, [f"train.steps={s}"]), out=out, progress=False, report=report)
        else:
            result = train(resume=result.run_dir, steps=s, progress=False, report=report)
        rows = read_stats(result.run_dir / "stats.jsonl")
        recent = [r["loss_D"] for r in rows if r["step"] > s - max(10, s // 20)]
        G, D = copy.deepcopy(result.G).eval(), copy.deepcopy(result.D).eval()
        snaps.append(Snapshot(s, G, D, generator_density(G, x), discriminator_on(D, x), -float(np.mean(recent))))
        if bar is not None:
            bar.update(s - done)
        done = s
    return snaps


def _initial_nets(cfg: RunConfig) -> tuple[torch.nn.Module, torch.nn.Module]:
    """G and D exactly as ``train`` initialises them (same seed, same order of draws)."""
    from gankit.data import build_dataset
    from gankit.models import build_discriminator, build_generator

    data = build_dataset(cfg.data, "train")
    torch.manual_seed(cfg.train.seed)
    G = build_generator(cfg, tuple(data.shape), x_mean=data.x.mean(0))
    D = build_discriminator(cfg, tuple(data.shape))
    return G.eval(), D.eval()


def train_d_to_convergence(G: torch.nn.Module, D: torch.nn.Module, steps: int, batch: int = 1024,
                           seed: int = 0, bar=None) -> torch.nn.Module:
    """Inner loop of Algorithm 1 run to convergence: D alone, G fixed, fresh real and fake batches each step.

    ``bar``: a progress bar that advances by one per D step.
    """
    import copy

    from gankit.losses import D_LOSSES
    from gankit.models import sample_z

    mix = toy_mixture("gauss1d")
    mu, s = float(mix.centers[0, 0]) * mix.scale, mix.std * mix.scale
    D = copy.deepcopy(D).train().requires_grad_(True)
    opt = torch.optim.Adam(D.parameters(), lr=1e-3, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x_real = mu + s * torch.randn(batch, 1, generator=gen)
        with torch.no_grad():
            x_fake = G(sample_z(batch, 1, "uniform", gen))
        loss = D_LOSSES["bce"](D(x_real), D(x_fake))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if bar is not None:
            bar.update(1)
    return D.eval()
