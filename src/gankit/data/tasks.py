"""The data of the image-to-image systems: two sides of images, paired or not.

A :class:`TaskData` holds images of side A (the input) and side B (the target or the other
domain), both ``[N, C, H, W]`` in [-1, 1]. Paired systems (pix2pix, SRGAN) read ``a[i] -> b[i]``;
unpaired ones (CycleGAN, SimGAN) draw A and B independently. The built-in offline tasks are made
from the bundled digits by each system's module (``TASKS``); :func:`load_folders` reads the
user's own two folders (``task.name = "folders"``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from gankit.errors import UserError

__all__ = ["TaskData", "load_folders", "Batches"]


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


def load_folders(data_a: str, data_b: str, size: int, paired: bool) -> TaskData:
    """The user's own data: two folders of images or array files (config keys task.data_a, task.data_b).

    Paired folders match images by file name (``a/cat.png`` belongs to ``b/cat.png``); every name
    must appear on both sides. Unpaired sides may differ in size and count.
    """
    from gankit.data.images import _image_files, load_array_file, load_image_folder

    sides = []
    for key, text in (("data_a", data_a), ("data_b", data_b)):
        if not text:
            raise UserError(f"task 'folders' needs both task.data_a and task.data_b; task.{key} is empty "
                            f"(--data-a DIR --data-b DIR, or --set task.{key}=PATH)")
        path = Path(text).expanduser()
        if not path.exists():
            raise UserError(f"task.{key} {text!r}: no such file or folder; "
                            "expected a folder of images or a .npy / .npz")
        if path.is_dir():
            x = load_image_folder(path, size=size).x
            names = [p.name for p in _image_files(path)]
        else:
            x = load_array_file(path).x
            names = [str(i) for i in range(len(x))]
        if x.dim() != 4:
            raise UserError(f"task.{key} {text!r} holds vectors {list(x.shape)}; translation needs images")
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
    return TaskData(a, b, paired, info={"task": "folders", "data_a": data_a, "data_b": data_b})


class Batches:
    """Random minibatches: paired systems take the same indices on both sides, unpaired ones not."""

    def __init__(self, data: TaskData, batch: int, seed: int, rank: int = 0, world_size: int = 1):
        """``batch`` per process: with ``world_size`` processes every one draws the global batch's indices from the
        same seed and keeps slice ``rank``, so together they take the batch one process would with
        ``batch * world_size``."""
        self.data = data
        self.batch = batch
        self.size = batch * world_size
        self.mine = slice(rank * batch, (rank + 1) * batch)
        self.gen = torch.Generator().manual_seed(seed)

    def next(self) -> dict[str, torch.Tensor]:
        d = self.data
        ia = torch.randint(len(d.a), (self.size,), generator=self.gen)
        ib = ia if d.paired else torch.randint(len(d.b), (self.size,), generator=self.gen)
        ia, ib = ia[self.mine], ib[self.mine]
        out = {"a": d.a[ia.to(d.a.device)], "b": d.b[ib.to(d.b.device)]}
        if d.y_a is not None:
            out["y_a"] = d.y_a[ia.to(d.y_a.device)]
        if d.y_b is not None:
            out["y_b"] = d.y_b[ib.to(d.y_b.device)]
        return out
