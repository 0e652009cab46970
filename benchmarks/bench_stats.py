"""Mean and standard error for the benchmarks' tables (one definition for every script here).

The scripts run as ``python benchmarks/NAME.py``, so this folder is on ``sys.path`` and they
import it as ``from bench_stats import mean_se``.
"""

from __future__ import annotations

import math


def mean_and_se(values: list[float]) -> tuple[float, float]:
    """(mean, standard error of the mean): sample std (n - 1) / sqrt(n); 0 for a single value."""
    n = len(values)
    m = sum(values) / n
    if n < 2:
        return m, 0.0
    return m, math.sqrt(sum((v - m) ** 2 for v in values) / (n - 1) / n)


def mean_se(values: list[float | None], digits: int) -> str:
    """'mean ± s.e.' with ``digits`` decimals; the mean alone for one value; '—' if any value is None.

    Example:
        >>> mean_se([1.0, 2.0, 3.0], 2)
        '2.00 ± 0.58'
    """
    if any(v is None for v in values):
        return "—"
    m, se = mean_and_se(values)
    return f"{m:.{digits}f}" if len(values) < 2 else f"{m:.{digits}f} ± {se:.{digits}f}"


def append_rows(path, rows: list[dict], command: str) -> None:
    """Append ``rows`` to the JSON-lines results file ``path``, each with the command that made it."""
    import json
    from pathlib import Path

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as f:
        for row in rows:
            f.write(json.dumps({**row, "command": command}) + "\n")


def save_columns_in_two_blocks(columns: list, path) -> None:
    """A comparison picture: 16 examples as two blocks of 8 rows side by side, each row the
    examples' columns (input | outputs ... | target), via gankit.systems.i2i.tile_columns."""
    from gankit.systems.i2i import tile_columns
    from gankit.viz import save_image_grid

    tiles, k = tile_columns([c[:16] for c in columns])  # [16 * k, C, H, W], row-major per example
    tiles = tiles.view(2, 8, k, *tiles.shape[1:]).permute(1, 0, 2, 3, 4, 5).reshape(-1, *tiles.shape[1:])
    save_image_grid(tiles, path, nrow=2 * k)
