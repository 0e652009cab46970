"""Precision, recall, density and coverage from k-nearest-neighbour balls in feature space.

The generated side is the first argument. Each set is turned into a union of balls: every point
gets the ball whose radius is the distance to its k-th nearest neighbour in its own set (the point
itself not counted).

- Precision / recall: Kynkäänniemi et al., *Improved Precision and Recall Metric for Assessing
  Generative Models* (NeurIPS 2019). Precision is the fraction of generated points inside the real
  manifold (some real ball); recall the fraction of real points inside the generated manifold. The
  paper uses k = 3 (``nhood_size=3`` in its reference code and in stylegan2-ada's
  ``precision_recall.py``); a point on a ball's boundary counts as inside (``dist <= radius``,
  as that code).
- Density / coverage: Naeem et al., *Reliable Fidelity and Diversity Metrics for Generative
  Models* (ICML 2020), reference code ``prdc.py`` in github.com/clovaai/generative-evaluation-prdc,
  recommended k = 5. Density = (1 / (k M)) * sum over generated points of the number of real
  balls containing it (expected value 1 when both sets come from one distribution); coverage = the
  fraction of real points whose ball contains at least one generated point. Boundaries are strict
  (``dist < radius``), as that code.

Distances are computed in float64, blockwise (``||a||^2 + ||b||^2 - 2 a.b`` on inputs centred at
the real mean), so 10k x 10k sets never hold a full distance matrix; all comparisons are made on
squared distances.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.errors import UserError
from gankit.metrics._inputs import as_rows

__all__ = ["prdc"]

K_PR = 3  # Kynkäänniemi et al. 2019 (k = 3) / stylegan2-ada precision_recall.py nhood_size=3
K_DC = 5  # Naeem et al. 2020 (k = 5) / prdc README example nearest_k=5
DEFAULT_BATCH_SIZE = 1024  # rows per distance block: [1024, 10k] float64 is 80 MB

ArrayLike = torch.Tensor | np.ndarray


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    """Squared Euclidean distances [len(a), len(b)]; b_sq = (b * b).sum(1) precomputed."""
    d = torch.addmm(b_sq.unsqueeze(0), a, b.T, beta=1.0, alpha=-2.0)
    d += (a * a).sum(dim=1, keepdim=True)
    return d.clamp_(min=0.0)


def _kth_neighbour_sq_radii(x: torch.Tensor, ks: tuple[int, ...], batch_size: int) -> list[torch.Tensor]:
    """Squared distance from each row of x to its k-th nearest other row, for each k in ks."""
    x_sq = (x * x).sum(dim=1)
    k_max = max(ks)
    radii = [torch.empty(x.shape[0], dtype=torch.float64) for _ in ks]
    for start in range(0, x.shape[0], batch_size):
        d = _sq_dists(x[start : start + batch_size], x, x_sq)  # [B, N], the row itself at ~0
        # The k + 1 smallest include the point itself, so index k is the k-th other neighbour.
        nearest = torch.topk(d, k_max + 1, dim=1, largest=False, sorted=True).values
        for r, k in zip(radii, ks):
            r[start : start + d.shape[0]] = nearest[:, k]
    return radii


def _check_k(value: object, name: str) -> int:
    if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < 1:
        raise UserError(f"{name}: expected a positive integer number of neighbours, got {value!r}")
    return int(value)


def prdc(
    feats_gen: ArrayLike,
    feats_real: ArrayLike,
    k: int | None = None,
    *,
    k_pr: int = K_PR,
    k_dc: int = K_DC,
    batch_size: int = DEFAULT_BATCH_SIZE,
) -> dict:
    """Precision and recall (Kynkäänniemi et al. 2019) and density and coverage (Naeem et al. 2020).

    With real points X_1..X_N, generated points Y_1..Y_M and NND_k(p) the distance from p to its
    k-th nearest neighbour in its own set:

    - precision = (1/M) #{j : ||Y_j - X_i|| <= NND_{k_pr}(X_i) for some i}
    - recall    = (1/N) #{i : ||X_i - Y_j|| <= NND_{k_pr}(Y_j) for some j}
    - density   = (1/(k_dc M)) sum_j #{i : ||Y_j - X_i|| < NND_{k_dc}(X_i)}
    - coverage  = (1/N) #{i : min_j ||X_i - Y_j|| < NND_{k_dc}(X_i)}

    Defaults follow each paper: ``k_pr = 3`` and ``k_dc = 5``; pass ``k`` to use one value for
    all four (Naeem et al.'s code uses a single ``nearest_k``). For two independent draws of
    10,000 points from N(0, I) in 1,000 dimensions with k = 5, Naeem et al.'s README reports
    precision 0.477, recall 0.471, density 1.056, coverage 0.974 (see docs/metrics.md for ours).

    Args:
        feats_gen: generated features ``[M, D]``.
        feats_real: real features ``[N, D]``.
        k: if given, overrides both ``k_pr`` and ``k_dc``.
        k_pr: neighbourhood size of precision/recall radii.
        k_dc: neighbourhood size of density/coverage radii (real side only).
        batch_size: rows per block of the distance computation.

    Returns:
        dict with ``precision``, ``recall``, ``density``, ``coverage`` (floats; density can
        exceed 1), and the settings used: ``k_pr``, ``k_dc`` (ints), ``n_gen``, ``n_real`` (ints).

    Raises:
        UserError: inputs not ``[N, D]``, widths differ, non-finite values, a k that is not a
            positive integer or not smaller than a set's size, or a bad ``batch_size``.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> r = prdc(rng.normal(size=(500, 8)), rng.normal(size=(500, 8)))
        >>> sorted(r)
        ['coverage', 'density', 'k_dc', 'k_pr', 'n_gen', 'n_real', 'precision', 'recall']
    """
    y = as_rows(feats_gen, "feats_gen", "cpu")
    x = as_rows(feats_real, "feats_real", "cpu")
    if x.shape[1] != y.shape[1]:
        raise UserError(
            f"feats_real: expected {y.shape[1]} features per row to match feats_gen, got {x.shape[1]}"
        )
    if k is not None:
        k_pr = k_dc = _check_k(k, "k")
    k_pr, k_dc = _check_k(k_pr, "k_pr"), _check_k(k_dc, "k_dc")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size: expected a positive integer, got {batch_size!r}")
    n_real, n_gen = x.shape[0], y.shape[0]
    for name, n, need in (("feats_real", n_real, max(k_pr, k_dc)), ("feats_gen", n_gen, k_pr)):
        if n <= need:
            raise UserError(
                f"{name}: expected more than k = {need} rows to find k neighbours besides each "
                f"point, got {n} (lower k or pass more samples)"
            )

    # Centre both sets on one point: distances are unchanged and the norms that cancel shrink.
    centre = x.mean(dim=0)
    x, y = x - centre, y - centre

    # Ball radii (squared): real balls for precision/density/coverage, generated for recall.
    r_real_pr, r_real_dc = _kth_neighbour_sq_radii(x, (k_pr, k_dc), batch_size)
    (r_gen_pr,) = _kth_neighbour_sq_radii(y, (k_pr,), batch_size)

    # One pass over generated blocks against all real points.
    x_sq = (x * x).sum(dim=1)
    in_real_manifold = 0  # generated points inside some real k_pr-ball
    balls_containing = 0  # sum over generated points of the real k_dc-balls containing them
    real_in_gen_manifold = torch.zeros(n_real, dtype=torch.bool)
    nearest_gen = torch.full((n_real,), float("inf"), dtype=torch.float64)
    for start in range(0, n_gen, batch_size):
        d = _sq_dists(y[start : start + batch_size], x, x_sq)  # [B, N]: generated rows, real cols
        in_real_manifold += int((d <= r_real_pr.unsqueeze(0)).any(dim=1).sum())
        balls_containing += int((d < r_real_dc.unsqueeze(0)).sum())
        r_gen = r_gen_pr[start : start + d.shape[0]].unsqueeze(1)
        real_in_gen_manifold |= (d <= r_gen).any(dim=0)
        nearest_gen = torch.minimum(nearest_gen, d.min(dim=0).values)

    return {
        "precision": in_real_manifold / n_gen,
        "recall": float(real_in_gen_manifold.double().mean()),
        "density": balls_containing / (k_dc * n_gen),
        "coverage": float((nearest_gen < r_real_dc).double().mean()),
        "k_pr": k_pr,
        "k_dc": k_dc,
        "n_gen": n_gen,
        "n_real": n_real,
    }
