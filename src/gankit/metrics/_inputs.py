"""The one input check every metric shares: user data -> float64 rows, with named errors."""

from __future__ import annotations

from typing import Union

import numpy as np
import torch

from gankit.errors import UserError

ArrayLike = Union[torch.Tensor, np.ndarray]


def as_rows(x: ArrayLike, name: str, device: torch.device | str | None = None) -> torch.Tensor:
    """Tensor or array [N, ...] -> float64 tensor [N, D] (rows flattened) on ``device``
    (default: where it already is; arrays land on the CPU). UserError names ``name`` when x is
    not at least 2-D, is empty, or holds NaN / inf."""
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    if t.ndim < 2:
        raise UserError(f"{name}: expected an array of shape [N, D] with one row per example, got shape "
                        f"{tuple(t.shape)} (reshape a 1-D set of scalars to [N, 1])")
    if t.shape[0] == 0:
        raise UserError(f"{name}: expected at least one example, got shape {tuple(t.shape)}")
    t = t.detach().to(device=device if device is not None else t.device, dtype=torch.float64)
    t = t.reshape(t.shape[0], -1)
    if not torch.isfinite(t).all():
        raise UserError(f"{name}: expected finite values, got NaN or inf")
    return t


def as_rows_numpy(x: ArrayLike, name: str) -> np.ndarray:
    """:func:`as_rows` as a contiguous float64 NumPy array [N, D]."""
    return np.ascontiguousarray(as_rows(x, name, device="cpu").numpy())
