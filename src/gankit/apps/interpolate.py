"""Paths through latent space: :func:`interpolate` and the command ``gankit interpolate`` (docs/latent.md).

Goodfellow et al. (2014), Figure 3, walks in a straight line between two points of z and draws G
along the way: the digits change smoothly into one another instead of jumping between memorised
training images. This module draws such walks for any gankit checkpoint, between two random z,
between the z of two seeds, or between two *real* images, whose z it first finds by optimisation
(:func:`gankit.apps.invert.invert`).

Library functions: :func:`interpolate` (z0, z1 -> the path [steps, z_dim]; slerp or lerp);
:func:`latent_paths` (G, pairs of z -> the paths and G's outputs along them, plus the tiles of the
picture, real images at the row ends if given); :func:`interpolate_run` (what ``gankit
interpolate`` does: checkpoint in, PNG or NPZ out).

Example:
    >>> import torch
    >>> from gankit.apps.interpolate import interpolate
    >>> z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    >>> path = interpolate(z0, z1, 3, mode="slerp")
    >>> [round(float(v), 4) for v in path[1]], round(float(path[1].norm()), 4)
    ([2.1213, 2.1213], 3.0)
    >>> [round(float(v), 4) for v in interpolate(z0, z1, 3, mode="lerp")[1]]
    [1.5, 1.5]
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.apps.arithmetic import seed_z
from gankit.apps.invert import invert, tile_scale
from gankit.errors import UserError, check_out_folder
from gankit.models import sample_z
from gankit.errors import written_atomically

__all__ = ["MODES", "POOR_RECONSTRUCTION", "resolve_mode", "interpolate", "LatentPaths", "latent_paths",
           "interpolate_run", "save_path_plot"]

MODES = ("slerp", "lerp")

#: A reconstruction counts as poor when its mean squared error is more than this share of the data's
#: variance (the split's per-pixel variance, averaged over pixels). Drawing the split's mean image
#: instead of the example scores about 1 on average, so above 0.5 G's best attempt is less than
#: twice as close as that baseline.
POOR_RECONSTRUCTION = 0.5


def resolve_mode(mode: str, z_dist: str) -> str:
    """The mode to use: "auto" is slerp for Gaussian z and lerp for uniform z; "slerp" and "lerp" pass through."""
    if mode == "auto":
        return "lerp" if z_dist == "uniform" else "slerp"
    if mode not in MODES:
        raise UserError(f"unknown interpolation mode {mode!r}; expected slerp, lerp or auto")
    return mode


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """The path from z0 to z1 in ``steps`` evenly spaced points, both ends included and exact.

    ``lerp`` is the straight line (1 - t) z0 + t z1. It suits uniform z: the prior's support, the
    box [-sqrt 3, sqrt 3]^d, is convex, so every point of the line is a z the generator was trained
    on (and a curved path could leave the box).

    ``slerp`` walks the great circle between the directions of z0 and z1 and moves the length
    linearly from |z0| to |z1|:

        z(t) = ((1 - t)|z0| + t|z1|) * (sin((1 - t) theta) u0 + sin(t theta) u1) / sin(theta),

    with u = z / |z| and theta the angle between z0 and z1. It suits Gaussian z: in d dimensions
    almost all of N(0, I)'s mass lies near the sphere of radius sqrt(d), and two random z are
    nearly orthogonal, so the straight line's midpoint has length about sqrt(d / 2), a z the
    generator practically never saw in training. White (2016), "Sampling Generative Networks",
    proposes slerp for this reason. For |z0| = |z1| this is exactly White's formula
    (sin((1 - t) theta) z0 + sin(t theta) z1) / sin(theta), and |z(t)| stays constant; for
    unequal lengths the length moves linearly, so it always stays between |z0| and |z1|.

    Degenerate cases of slerp: parallel directions (theta near 0) take the straight line; a zero
    endpoint takes the straight line; opposite directions (theta near pi), where every great circle
    through u0 is as good as another, turn through a fixed direction perpendicular to u0 (the unit
    axis on which u0 is smallest, made orthogonal to u0); for z_dim = 1 the straight line.

    Args:
        z0, z1: [z_dim] each.
        steps: number of points, >= 2.
        mode: "slerp" or "lerp".

    Returns:
        [steps, z_dim] in z0's dtype; row 0 is z0 and row -1 is z1, bit for bit.

    Raises:
        UserError: mismatched shapes, steps < 2 or an unknown mode.
    """
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    if z0.dim() != 1 or z0.shape != z1.shape:
        raise UserError(f"interpolate needs two z of the same shape [z_dim]; got {list(z0.shape)} and {list(z1.shape)}")
    if not isinstance(steps, int) or steps < 2:
        raise UserError(f"--steps must be an integer >= 2 (the path includes both ends); got {steps!r}")
    if mode not in MODES:
        raise UserError(f"unknown interpolation mode {mode!r}; expected slerp or lerp")
    a, b = z0.double(), z1.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64, device=a.device)[:, None]  # [steps, 1]
    path = (1 - t) * a + t * b  # [steps, z_dim]: lerp, and the fallback of the degenerate cases
    na, nb = a.norm(), b.norm()
    if mode == "slerp" and len(a) > 1 and na > 1e-12 and nb > 1e-12:
        u0, u1 = a / na, b / nb
        theta = 2 * torch.atan2((u0 - u1).norm(), (u0 + u1).norm())  # accurate at every angle, unlike acos
        radius = (1 - t) * na + t * nb  # [steps, 1]
        if torch.sin(theta) > 1e-6:
            direction = (torch.sin((1 - t) * theta) * u0 + torch.sin(t * theta) * u1) / torch.sin(theta)
            path = radius * direction
        elif theta > 1.0:  # opposite: half a turn through a fixed perpendicular axis
            k = int(u0.abs().argmin())
            w = -u0[k] * u0
            w[k] += 1.0  # e_k - (e_k . u0) u0
            w = w / w.norm()
            path = radius * (torch.cos(math.pi * t) * u0 + torch.sin(math.pi * t) * w)
        # else parallel: the straight line already runs along the common direction
    path = path.to(z0.dtype)
    path[0], path[-1] = z0, z1
    return path


@dataclass
class LatentPaths:
    """Paths through latent space and what G makes of them.

    Attributes:
        t: [steps] positions along each path, 0 to 1.
        z: [P, steps, z_dim] the z of each path.
        x: [P, steps, *data_shape] G(z) along each path.
        y: [P, steps] the class labels used (conditional G), or None.
        tiles: [P * columns, *data_shape] the picture's tiles row by row: each path, with the real
            images at its ends when they were given (columns = steps + 2), else columns = steps.
        columns: tiles per row.
    """

    t: torch.Tensor
    z: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor | None
    tiles: torch.Tensor
    columns: int


@torch.no_grad()
def latent_paths(G: nn.Module, z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp",
                 c: torch.Tensor | None = None, ends: tuple[torch.Tensor, torch.Tensor] | None = None) -> LatentPaths:
    """Interpolate each pair (z0[p], z1[p]) and run G along the path (in eval mode).

    Args:
        G: a gankit generator.
        z0, z1: [P, z_dim] the start and end of each path.
        steps: points per path (>= 2), ends included.
        mode: "slerp" or "lerp" (see :func:`interpolate`).
        c: a conditional G's labels: [P] (one class per path) or [P, steps] (a class per point).
        ends: optional real images (left [P, *data_shape], right [P, *data_shape]) placed at the
            ends of each row of the picture.

    Returns:
        A :class:`LatentPaths`.
    """
    if z0.dim() != 2 or z0.shape != z1.shape or z0.shape[1] != G.z_dim:
        raise UserError(f"latent_paths needs z0, z1 of shape [P, {G.z_dim}]; got {list(z0.shape)} and {list(z1.shape)}")
    p = len(z0)
    z = torch.stack([interpolate(z0[i], z1[i], steps, mode) for i in range(p)])  # [P, steps, z_dim]
    y = None
    if G.c_dim:
        if c is None:
            raise UserError(f"this generator is conditional (c_dim = {G.c_dim}): pass the paths' labels")
        y = (c[:, None].expand(p, steps) if c.dim() == 1 else c).long().cpu()  # [P, steps]
    elif c is not None:
        raise UserError("this generator is unconditional (c_dim = 0); do not pass class labels")
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        flat_y = None if y is None else y.reshape(-1).to(device)
        x = G(z.reshape(p * steps, -1).to(device), flat_y).cpu()  # [P*steps, *shape]
    finally:
        G.train(was_training)
    x = x.view(p, steps, *x.shape[1:])
    tiles, columns = x, steps
    if ends is not None:
        left, right = (e.detach().float().cpu().view(p, 1, *x.shape[2:]) for e in ends)
        tiles, columns = torch.cat([left, x, right], dim=1), steps + 2
    t = torch.linspace(0.0, 1.0, steps)
    return LatentPaths(t=t, z=z.cpu(), x=x, y=y, tiles=tiles.reshape(p * columns, *x.shape[2:]), columns=columns)


def interpolate_run(run_or_ckpt: str | os.PathLike, out: str | os.PathLike = "interpolation.png", steps: int = 10,
                    pairs: int = 4, seed: int = 0, mode: str = "auto", between_real: tuple[int, int] | None = None,
                    split: str = "test", invert_steps: int = 500, restarts: int = 4, prior_weight: float = 0.0,
                    between_seeds: tuple[int, int] | None = None, progress: bool = False) -> dict:
    """What ``gankit interpolate`` does: paths through a trained G's latent space, drawn or saved.

    Without ``between_real``: ``pairs`` random pairs of z from the prior (seeded by ``seed``), one
    row per pair with G(z_t) along the path. With ``between_real = (i, j)``: real images i and j of
    the run's dataset (``split``, test by default) are inverted (:func:`invert`, ``invert_steps``
    Adam steps, ``restarts`` starts, seed ``seed``, ``prior_weight``) and the one row is real i, G along the path
    from z_i to z_j, real j. With ``between_seeds = (a, b)``: the one row walks from the z of seed a
    to that of seed b (:func:`seed_z`, the same z as ``gankit arithmetic``'s ``seed:N`` operands).

    A conditional G (c_dim > 0) draws each random row with one class, drawn from the seed, at
    both ends. Between real images each image is inverted with its own label, and the path uses
    the label of image i for t < 1/2 and of image j from t = 1/2 on (the class is discrete; only z
    moves smoothly).

    Images give a grid PNG (one row per path). 2-D vector data (the toy sets) give a scatter plot:
    the data in grey, each path as a line of points coloured by t, real endpoints as stars. Other
    vector data (1-D, or more than 2-D) are refused with a UserError. ``out`` ending in .npz
    writes the arrays instead: t [steps], z [P, steps, z_dim], x [P, steps, *shape], mode, seed,
    y [P, steps] for a conditional G, and between real images also index [2], real [2, *shape],
    error [2] (the reconstruction errors) and labels [2] where the data have labels.

    Returns:
        dict with "out" (the path written), "mode" (the resolved mode), "rows", "columns", and
        between real images "index", "labels" (or None), "error" (per image, mean squared error
        on the [-1, 1] scale), "relative_error" (error / the split's per-pixel variance averaged
        over pixels) and "poor" (a bool per image: relative error above :data:`POOR_RECONSTRUCTION`).

    Raises:
        UserError: a bad checkpoint, option, index or output path, or data that are not images or
            2-D points.
    """
    from gankit.data import build_dataset
    from gankit.generate import load_generator

    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    check_out_folder(out)
    if not isinstance(steps, int) or steps < 2:
        raise UserError(f"--steps must be >= 2 (the path includes both ends); got {steps}")
    if between_real is not None and between_seeds is not None:
        raise UserError("give --between-real or --between, not both")
    if between_real is None and (not isinstance(pairs, int) or pairs < 1):
        raise UserError(f"--pairs must be >= 1; got {pairs}")
    if invert_steps < 1 or restarts < 1:
        raise UserError(f"--invert-steps and --restarts must be >= 1; got {invert_steps} and {restarts}")
    if not prior_weight >= 0:
        raise UserError(f"--prior-weight must be >= 0; got {prior_weight}")
    G, cfg, info = load_generator(run_or_ckpt)
    shape = tuple(G.data_shape)
    is_image = len(shape) == 3
    if not is_image and shape != (2,):
        raise UserError(f"gankit interpolate draws images or 2-D points; this run's data are vectors of shape "
                        f"{list(shape)}")
    dist = G.z_dist
    mode = resolve_mode(mode, dist)
    gen = torch.Generator().manual_seed(seed)
    result: dict = {"mode": mode}
    ends = real = y_real = None
    data = None
    if between_real is not None:
        data = build_dataset(cfg.data, split)
        i, j = (int(v) for v in between_real)
        n = len(data)
        for v in (i, j):
            if not 0 <= v < n:
                raise UserError(f"--between-real index {v} is out of range: the {split} split of {data.name} has "
                                f"{n} examples, valid indices are 0..{n - 1}")
        real = data.x[[i, j]]  # [2, *shape]
        y_real = None if data.y is None else data.y[[i, j]]
        c = None
        if G.c_dim:
            if y_real is None:
                raise UserError(f"this generator is conditional but the {split} split of {data.name} has no labels")
            c = y_real
        z_real, err = invert(G, real, steps=invert_steps, restarts=restarts, seed=seed, c=c, z_dist=dist,
                             prior_weight=prior_weight, progress=progress)
        z0, z1 = z_real[:1], z_real[1:]
        c_path = None
        if G.c_dim:
            t = torch.linspace(0.0, 1.0, steps)
            c_path = torch.where(t < 0.5, y_real[0], y_real[1]).long()[None]  # [1, steps]
        paths = latent_paths(G, z0, z1, steps, mode, c=c_path, ends=(real[:1], real[1:]) if is_image else None)
        ends = real
        variance = float(data.x.flatten(1).var(0, unbiased=False).mean().clamp_min(1e-12))  # mean per-pixel variance
        rel = err / variance
        result.update(index=[i, j], labels=None if y_real is None else [int(v) for v in y_real],
                      error=[float(e) for e in err], relative_error=[float(r) for r in rel],
                      poor=[bool(r > POOR_RECONSTRUCTION) for r in rel])
    elif between_seeds is not None:
        z0, z1 = (seed_z(int(v), G.z_dim, dist)[None] for v in between_seeds)  # [1, z_dim] each
        c = torch.randint(G.c_dim, (1,), generator=gen) if G.c_dim else None
        paths = latent_paths(G, z0, z1, steps, mode, c=c)
        result["seeds"] = [int(v) for v in between_seeds]
    else:
        z0 = sample_z(pairs, G.z_dim, dist, gen)
        z1 = sample_z(pairs, G.z_dim, dist, gen)
        c = torch.randint(G.c_dim, (pairs,), generator=gen) if G.c_dim else None
        paths = latent_paths(G, z0, z1, steps, mode, c=c)
    result.update(rows=len(paths.z), columns=paths.columns)
    if out.suffix.lower() == ".npz":
        arrays = {"t": paths.t.numpy(), "z": paths.z.numpy(), "x": paths.x.numpy(), "mode": np.str_(mode),
                  "seed": np.int64(seed)}
        if paths.y is not None:
            arrays["y"] = paths.y.numpy()
        if between_real is not None:
            arrays.update(index=np.array(result["index"], dtype=np.int64), real=real.numpy(),
                          error=np.array(result["error"], dtype=np.float32))
            if y_real is not None:
                arrays["labels"] = y_real.numpy()
        np.savez_compressed(out, **arrays)
    elif is_image:
        from gankit.viz import save_labelled_grid

        title, rows, cols = _picture_words(paths, mode, G.c_dim, between_real, between_seeds, split)
        save_labelled_grid(paths.tiles, out, nrow=paths.columns, scale=tile_scale(shape[-1]), title=title,
                           row_labels=rows, col_labels=cols)
    else:
        if data is None:
            try:
                data = build_dataset(cfg.data, split)
            except UserError:  # the picture is still useful without the data behind it
                data = None
        title = f"{cfg.preset}: {mode} paths, {steps} steps" + ("" if between_real is None else " between real points")
        save_path_plot(paths.x, out, data=None if data is None else data.x, ends=ends, title=title)
    result["out"] = out
    return result


def _picture_words(paths: LatentPaths, mode: str, c_dim: int, between_real, between_seeds,
                   split: str) -> tuple[str, list[str], list[str]]:
    """Title, row labels and column labels of the interpolation picture: where each row starts and ends, and t."""
    steps = len(paths.t)
    cols = [f"t={float(t):.2g}" for t in paths.t]
    title = f"G(z_t) along {mode} paths from z_0 to z_1 ({steps} points)"
    classes = [] if paths.y is None else [f"class {int(row[0])}" for row in paths.y]
    if between_real is not None:
        i, j = between_real
        cols = [f"{split}:{i}"] + cols + [f"{split}:{j}"]
        title = f"{split}:{i} and {split}:{j} (outer columns) inverted, then G(z_t) between their z ({mode})"
        rows = None if paths.y is None else [f"class {int(paths.y[0, 0])} -> {int(paths.y[0, -1])}"]
    elif between_seeds is not None:
        a, b = between_seeds
        rows = [f"seed {a} -> {b}" + (f", {classes[0]}" if classes else "")]
    else:
        rows = [f"pair {k + 1}" + (f", {classes[k]}" if classes else "") for k in range(len(paths.z))]
    return title, rows, cols


def save_path_plot(x: torch.Tensor, path: str | os.PathLike, data: torch.Tensor | None = None,
                   ends: torch.Tensor | None = None, title: str = "") -> Path:
    """2-D points along paths [P, steps, 2] as lines of dots coloured by t, over the data [M, 2] in grey;
    ``ends`` [2, 2] (real points a path starts and ends near) as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = x.detach().float().cpu().numpy()  # [P, steps, 2]
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    if data is not None:
        d = data.cpu().numpy()[:5000]
        ax.scatter(d[:, 0], d[:, 1], s=3, c="0.7", alpha=0.5, label="data")
    t = np.linspace(0, 1, x.shape[1])
    sc = None
    for p in range(len(x)):
        ax.plot(x[p, :, 0], x[p, :, 1], "-", c="0.3", lw=0.8, zorder=2)
        sc = ax.scatter(x[p, :, 0], x[p, :, 1], c=t, cmap="viridis", s=18, zorder=3)
    if ends is not None:
        e = ends.detach().float().cpu().numpy()
        ax.scatter(e[:, 0], e[:, 1], marker="*", s=120, c="tab:red", edgecolors="k", zorder=4, label="real points")
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="t along the path")
    lim = min(3.0, max(1.1, float(np.abs(x).max()) * 1.05 if np.isfinite(x).all() else 1.1))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if data is not None or ends is not None:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    with written_atomically(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)
    return path

