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
