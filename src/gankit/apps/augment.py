"""Labelled synthetic data from a conditional generator, for training other models (data augmentation).

``gankit augment RUN_DIR --n N --out DIR|FILE.npz`` draws N samples from a conditional G's moving
average (G_ema), an equal share per class, and writes them as

- ``FILE.npz``: ``x`` uint8 images ``[N, C, H, W]`` (0..255), ``y`` int64 labels ``[N]``, and the
  ``seed``. gankit reads it back with ``--data FILE.npz``, and so does anything that reads NumPy.
- ``DIR/``: one PNG per sample in a folder per class, ``DIR/<class>/<index>.png``, the layout most
  image-classification loaders take. A ``labels.csv`` (file, label) lists them all.

Example:
    >>> from gankit.apps.augment import augment                              # doctest: +SKIP
    >>> augment("runs/00001-cgan-mnist", n=5000, out="synthetic.npz")         # doctest: +SKIP
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import torch

from gankit.errors import UserError, check_out_folder, written_atomically
from gankit.viz import save_pngs, to_uint8


def balanced_labels(n: int, classes: list[int]) -> torch.Tensor:
    """n labels cycling through ``classes``: every class gets n // k samples and the first n % k one more."""
    return torch.tensor([classes[i % len(classes)] for i in range(n)], dtype=torch.long)  # [n]


def augment(run_or_ckpt: str | os.PathLike, n: int, out: str | os.PathLike, seed: int = 0,
            classes: list[int] | None = None, progress: bool = False) -> Path:
    """Write n labelled samples of a conditional G to ``out`` (a .npz file, or a folder); returns ``out``.

    Args:
        run_or_ckpt: a run directory or checkpoint of a conditional GAN (``c_dim > 0``).
        n: number of samples, shared equally over the classes.
        out: ``*.npz`` for arrays, anything else is a folder (created; must be empty if it exists).
        seed: seed of the noise; the same seed gives the same data.
        classes: the classes to draw (default all of G's classes).
        progress: bars on stderr over the samples drawn, then over the files written to a folder.

    Raises:
        UserError: an unconditional G, vector data, a bad class, a non-empty output folder.
    """
    from gankit.generate import generate, load_generator

    if n <= 0:
        raise UserError(f"--n must be a positive number of samples; got {n}")
    G, cfg, _ = load_generator(run_or_ckpt)
    if not G.c_dim:
        raise UserError(f"augment writes labelled data and needs a conditional generator (c_dim > 0); {run_or_ckpt} "
                        "is unconditional (train one with e.g. --preset cgan-mnist)")
    if len(G.data_shape) != 3:
        raise UserError(f"augment writes images; this generator makes vectors of shape {list(G.data_shape)}")
    classes = list(range(G.c_dim)) if classes is None else sorted(set(classes))
    bad = [c for c in classes if not 0 <= c < G.c_dim]
    if bad:
        raise UserError(f"--classes must lie in 0..{G.c_dim - 1} for this generator; got {bad}")
    out = Path(out)
    is_npz = out.suffix.lower() == ".npz"
    if is_npz:
        check_out_folder(out)
    if not is_npz and out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise UserError(f"--out {str(out)!r} exists and is not an empty folder; give a new folder or a .npz file")

    y = balanced_labels(n, classes)  # [n]
    x = generate(G, n, seed=seed, c=y, progress=progress)  # [n, C, H, W] in [-1, 1]
    if is_npz:
        with written_atomically(out) as tmp:
            np.savez_compressed(tmp, x=to_uint8(x), y=y.numpy(), seed=np.int64(seed), source=str(run_or_ckpt))
        return out
    width = len(str(n - 1))
    names = [f"{label}/{i:0{width}d}.png" for i, label in enumerate(y.tolist())]
    for label in sorted(set(y.tolist())):
        (out / str(label)).mkdir(parents=True, exist_ok=True)
    save_pngs(x, [out / name for name in names], progress)
    rows = ["file,label", *(f"{name},{label}" for name, label in zip(names, y.tolist()))]
    (out / "labels.csv").write_text("\n".join(rows) + "\n")
    return out
