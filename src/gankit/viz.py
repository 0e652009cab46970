"""Pictures: image grids (Pillow) and 1-D / 2-D sample plots (matplotlib, imported lazily)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch


def image_grid(x: torch.Tensor, nrow: int | None = None, pad: int = 1) -> np.ndarray:
    """Tile images [N, C, H, W] in [-1, 1] into one uint8 array [rows*H, cols*W, C]."""
    x = x.detach().float().cpu().clamp(-1, 1)
    n, c, h, w = x.shape
    cols = nrow or max(1, math.ceil(math.sqrt(n)))
    rows = math.ceil(n / cols)
    grid = np.zeros((rows * (h + pad) + pad, cols * (w + pad) + pad, c), dtype=np.uint8)
    img = ((x + 1) * 127.5).round().to(torch.uint8).permute(0, 2, 3, 1).numpy()  # [N, H, W, C]
    for i in range(n):
        r, q = divmod(i, cols)
        grid[pad + r * (h + pad): pad + r * (h + pad) + h, pad + q * (w + pad): pad + q * (w + pad) + w] = img[i]
    return grid


def save_image_grid(x: torch.Tensor, path: str | os.PathLike, nrow: int | None = None, scale: int = 0) -> Path:
    """Write images [N, C, H, W] in [-1, 1] as one PNG; small images are enlarged for viewing."""
    from PIL import Image

    grid = image_grid(x, nrow)
    img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    scale = scale or max(1, 256 // max(1, x.shape[-1] * math.ceil(math.sqrt(len(x))) // 4))
    scale = min(scale, 4)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    path = Path(path)
    img.save(path)
    return path


def save_points(x: torch.Tensor, path: str | os.PathLike, real: torch.Tensor | None = None,
                title: str = "") -> Path:
    """Plot vector samples: a scatter for 2-D data, a histogram for 1-D; real data drawn behind."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = x.detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(4.5, 4.5), dpi=100)
    if x.shape[1] == 1:
        bins = np.linspace(min(x.min(), -1), max(x.max(), 1), 80)
        if real is not None:
            ax.hist(real.cpu().numpy()[:, 0], bins=bins, density=True, alpha=0.4, label="data")
        ax.hist(x[:, 0], bins=bins, density=True, alpha=0.6, label="G(z)")
        ax.legend()
    else:
        if real is not None:
            r = real.cpu().numpy()[:5000]
            ax.scatter(r[:, 0], r[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
        ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:red", alpha=0.6, label="G(z)")
        ax.set_aspect("equal")
        lim = max(1.1, float(np.abs(x).max()) if np.isfinite(x).all() else 1.1)
        lim = min(lim, 3.0)
        ax.set_xlim(-lim, lim)
        ax.set_ylim(-lim, lim)
        ax.legend(loc="upper right", markerscale=4)
    ax.set_title(title)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


def save_samples(x: torch.Tensor, path: str | os.PathLike, real: torch.Tensor | None = None,
                 title: str = "", nrow: int | None = None) -> Path:
    """Images [N, C, H, W] -> grid PNG (``nrow`` columns; None = square); vectors [N, D] -> scatter / histogram PNG."""
    if x.dim() == 4:
        return save_image_grid(x, path, nrow=nrow)
    return save_points(x, path, real=real, title=title)
