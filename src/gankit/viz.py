"""Pictures: image grids (Pillow) and 1-D / 2-D sample plots (matplotlib, imported lazily)."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np
import torch

from gankit.errors import written_atomically


def to_uint8(x: torch.Tensor) -> np.ndarray:
    """Images in [-1, 1] -> uint8 0..255 (the inverse of gankit's loaders' x / 127.5 - 1, rounded)."""
    return ((x.detach().cpu().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def save_pngs(x: torch.Tensor, paths: list[Path], progress: bool = False) -> None:
    """One PNG per image of ``x`` [N, C, H, W] in [-1, 1] (grey or RGB, at its own size) to ``paths``, each
    through a temporary name; the folders must exist. ``progress``: a bar on stderr over the images."""
    from PIL import Image

    from gankit.progress import progress_bar

    with progress_bar(len(x), "write", unit="img", enabled=progress) as bar:
        for img, path in zip(to_uint8(x), paths):
            with written_atomically(path) as tmp:
                Image.fromarray(img[0] if img.shape[0] == 1 else img.transpose(1, 2, 0)).save(tmp)
            bar.update(1)


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
    scale = scale or max(1, 256 // max(1, x.shape[-1] * math.ceil(math.sqrt(len(x))) // 4))
    path = Path(path)
    with written_atomically(path) as tmp:
        _grid_picture(x, nrow, min(scale, 4)).save(tmp)
    return path


def _grid_picture(x: torch.Tensor, nrow: int | None, scale: int):
    """:func:`image_grid` as a PIL image, enlarged ``scale`` times with nearest neighbours."""
    from PIL import Image

    grid = image_grid(x, nrow)
    img = Image.fromarray(grid[..., 0] if grid.shape[2] == 1 else grid)
    if scale > 1:
        img = img.resize((img.width * scale, img.height * scale), Image.NEAREST)
    return img


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
    try:
        with written_atomically(path) as tmp:
            fig.savefig(tmp)
    finally:
        plt.close(fig)
    return path


def save_samples(x: torch.Tensor, path: str | os.PathLike, real: torch.Tensor | None = None,
                 title: str = "", nrow: int | None = None) -> Path:
    """Images [N, C, H, W] -> grid PNG (``nrow`` columns; None = square); vectors [N, D] -> scatter / histogram PNG."""
    if x.dim() == 4:
        return save_image_grid(x, path, nrow=nrow)
    return save_points(x, path, real=real, title=title)


GRID_BOX_KEY = "gankit-grid-box"  # PNG text chunk of a labelled picture: "left,top,right,bottom" of the tile grid


def _font(size: int):
    """Pillow's own scalable font (FreeType) at ``size`` pixels; its fixed bitmap font where FreeType is absent."""
    from PIL import ImageFont

    try:
        return ImageFont.load_default(size=size)
    except (TypeError, ImportError, OSError):  # Pillow < 10.1 or no FreeType: the 11-px bitmap font
        return ImageFont.load_default()


def save_labelled_grid(x: torch.Tensor, path: str | os.PathLike, nrow: int, scale: int = 1, title: str = "",
                       row_labels: list[str] | None = None, col_labels: list[str] | None = None,
                       font_size: int = 12) -> Path:
    """Write images [N, C, H, W] in [-1, 1] as a grid with words around it: a title, a label left of each
    row and one above each column (any of them may be left out).

    The tiles are those of :func:`image_grid` (``nrow`` columns, enlarged ``scale`` times with nearest
    neighbours), pasted unchanged on a black canvas, so the picture's pixels inside the grid equal
    :func:`save_image_grid`'s; where the grid lies is written into the PNG as the text chunk
    :data:`GRID_BOX_KEY` ("left,top,right,bottom"), for programs that read the tiles back. A column
    label wider than its column is cut to fit, ending in "…".

    >>> import tempfile, torch
    >>> from PIL import Image
    >>> p = save_labelled_grid(torch.zeros(6, 1, 8, 8), tempfile.mkdtemp() + "/g.png", nrow=3, title="t",
    ...                        row_labels=["a", "b"], col_labels=["0", "1", "2"])
    >>> box = [int(v) for v in Image.open(p).text[GRID_BOX_KEY].split(",")]
    >>> (box[2] - box[0], box[3] - box[1])  # 3 x 2 tiles of 8 px with 1 px of padding
    (28, 19)
    """
    from PIL import Image, ImageDraw, PngImagePlugin

    img = _grid_picture(x, nrow, scale)
    font = _font(font_size)
    probe = ImageDraw.Draw(Image.new("L", (1, 1)))

    def width(s: str) -> int:
        return int(math.ceil(probe.textlength(s, font=font)))

    gap = max(4, font_size // 2)
    line = font_size + gap
    rows = math.ceil(len(x) / nrow)
    cell_w = img.width / nrow
    cell_h = img.height / rows
    left = (max(width(s) for s in row_labels) + 2 * gap) if row_labels else 0
    top = (line if title else 0) + (line if col_labels else 0)
    canvas_w = max(left + img.width, width(title) + 2 * gap if title else 0)
    mode = "L" if img.mode == "L" else "RGB"
    canvas = Image.new(mode, (canvas_w, top + img.height + (gap if (title or col_labels) else 0)), 0)
    canvas.paste(img, (left, top))
    draw = ImageDraw.Draw(canvas)
    white = 255 if mode == "L" else (255, 255, 255)
    grey = 190 if mode == "L" else (190, 190, 190)
    if title:
        draw.text((gap, gap // 2), title, fill=white, font=font)
    if col_labels:
        y = (line if title else 0) + gap // 2
        for j, s in enumerate(col_labels[:nrow]):
            s = str(s)
            room = int(cell_w) - 2
            while s and width(s) > room:
                s = s[:-2] + "…" if len(s) > 1 else ""
            draw.text((left + (j + 0.5) * cell_w - width(s) / 2, y), s, fill=grey, font=font)
    if row_labels:
        for i, s in enumerate(row_labels[:rows]):
            draw.text((gap, top + (i + 0.5) * cell_h - font_size / 2), str(s), fill=white, font=font)
    info = PngImagePlugin.PngInfo()
    info.add_text(GRID_BOX_KEY, f"{left},{top},{left + img.width},{top + img.height}")
    path = Path(path)
    with written_atomically(path) as tmp:
        canvas.save(tmp, pnginfo=info)
    return path


def read_grid_box(path: str | os.PathLike) -> np.ndarray:
    """The tile grid of a picture :func:`save_labelled_grid` wrote (its words cut away), as a uint8 array."""
    from PIL import Image

    with Image.open(path) as img:
        box = img.text.get(GRID_BOX_KEY)
        arr = np.asarray(img)
    if box is None:
        return arr
    left, top, right, bottom = (int(v) for v in box.split(","))
    return arr[top:bottom, left:right]
