"""Fréchet distance (FID maths) and Kernel Inception Distance (KID) on feature vectors.

Both compare a set of generated features with a set of real ones; the features (Inception pool3
activations for FID/KID proper, or anything else) are extracted elsewhere. The generated side is
always the first argument.

- Fréchet distance: Heusel et al., *GANs Trained by a Two Time-Scale Update Rule Converge to a
  Local Nash Equilibrium* (NeurIPS 2017), the FID formula: the Fréchet (2-Wasserstein) distance
  between Gaussians fitted to the two sets,
  ``d^2 = ||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})``, with unbiased covariances
  (``ddof=1``, as pytorch-fid and the TTUR code).
- KID: Binkowski et al., *Demystifying MMD GANs* (ICLR 2018): the unbiased estimate of
  the squared MMD with the cubic polynomial kernel ``k(x, y) = (x.y / d + 1)^3``, averaged over
  random subsets (100 subsets of 1,000, the paper's and stylegan2-ada's defaults).

The matrix square root is never formed. For any factor F with S_1 = F F^T (Cholesky, or
V sqrt(W) from an eigendecomposition when S_1 is singular), S_1 S_2 = F (F^T S_2) has the same
eigenvalues as the symmetric PSD matrix F^T S_2 F, so
``Tr (S_1 S_2)^{1/2} = sum_i sqrt(lambda_i(F^T S_2 F))``. This is real by construction (no stray
imaginary parts to discard), well defined for singular covariances (fewer samples than dimensions,
dead features), where ``sqrtm`` warns and pytorch-fid adds an epsilon to the diagonal, and at
D = 2048 takes a few seconds where ``sqrtm`` takes tens.
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.errors import UserError
from gankit.metrics._inputs import as_rows_numpy

__all__ = ["feature_statistics", "frechet_distance", "frechet_distance_from_stats", "kid"]

KID_SUBSETS = 100  # Binkowski et al. 2018 / stylegan2-ada kernel_inception_distance.py num_subsets
KID_SUBSET_SIZE = 1000  # ditto (max_subset_size): 1,000 features per side
_PSD_TOLERANCE = 1e-6  # eigenvalues below -tol * largest mean "not a covariance matrix"

ArrayLike = torch.Tensor | np.ndarray


def _check_same_width(a: np.ndarray, b: np.ndarray) -> None:
    if a.shape[1] != b.shape[1]:
        raise UserError(
            f"feats_real: expected {a.shape[1]} features per row to match feats_gen, got {b.shape[1]}"
        )


def feature_statistics(feats: ArrayLike) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of a feature set, the inputs of the Fréchet distance.

    Useful to cache the real side once (pytorch-fid stores exactly these two arrays).

    Args:
        feats: features ``[N, D]`` (N >= 2); higher-rank inputs are flattened per row.

    Returns:
        ``(mu, sigma)``: float64 arrays ``[D]`` and ``[D, D]`` (covariance with ``ddof=1``).

    Raises:
        UserError: fewer than 2 rows, not ``[N, ...]``, or non-finite values.

    Example:
        >>> mu, sigma = feature_statistics(np.array([[0.0, 1.0], [2.0, 3.0]]))
        >>> mu.tolist(), sigma.tolist()
        ([1.0, 2.0], [[2.0, 2.0], [2.0, 2.0]])
    """
    a = as_rows_numpy(feats, "feats")
    if a.shape[0] < 2:
        raise UserError(f"feats: expected at least 2 rows to estimate a covariance, got {a.shape[0]}")
    return a.mean(axis=0), np.atleast_2d(np.cov(a, rowvar=False, ddof=1))


def _zero_small(w: np.ndarray) -> np.ndarray:
    """Eigenvalues within rounding of zero (|w| <= d * eps * max|w|, NumPy's matrix_rank cutoff)
    set to 0: their square roots would turn ~1e-16 noise into ~1e-8 per dimension."""
    cutoff = w.shape[0] * np.finfo(np.float64).eps * float(np.abs(w).max(initial=0.0))
    return np.where(w > cutoff, w, 0.0)


def _check_psd(w: np.ndarray, name: str) -> np.ndarray:
    """Raise unless the eigenvalues w are those of a PSD matrix up to rounding; return w."""
    scale = max(float(np.abs(w).max(initial=0.0)), np.finfo(np.float64).tiny)
    if w.min(initial=0.0) < -_PSD_TOLERANCE * scale:
        raise UserError(
            f"{name}: expected a positive semi-definite covariance matrix, "
            f"got an eigenvalue of {w.min():.3g} (largest {scale:.3g})"
        )
    return w


def frechet_distance_from_stats(
    mu1: ArrayLike, sigma1: ArrayLike, mu2: ArrayLike, sigma2: ArrayLike
) -> float:
    """Fréchet distance between N(mu1, sigma1) (generated) and N(mu2, sigma2) (real).

    ``||mu1 - mu2||^2 + Tr(sigma1) + Tr(sigma2) - 2 Tr((sigma1 sigma2)^{1/2})`` (Heusel et al.
    2017, the FID formula), in float64, with the trace of the square root from the eigenvalues of
    ``F^T sigma2 F`` where ``F F^T = sigma1`` (real, and valid for singular covariances). The value
    can be below zero by rounding (~1e-12 relative) when the two Gaussians are equal.

    Args:
        mu1: mean ``[D]`` of the generated features.
        sigma1: covariance ``[D, D]`` of the generated features.
        mu2: mean ``[D]`` of the real features.
        sigma2: covariance ``[D, D]`` of the real features.

    Returns:
        The squared Fréchet distance as a Python float (what papers call FID).

    Raises:
        UserError: shapes disagree, a matrix is not square/symmetric-PSD, or values are not finite.

    Example:
        >>> frechet_distance_from_stats(np.zeros(2), np.eye(2), np.ones(2), 4 * np.eye(2))
        4.0
    """
    arrays = []
    for value, name in ((mu1, "mu1"), (sigma1, "sigma1"), (mu2, "mu2"), (sigma2, "sigma2")):
        a = value.detach().cpu().numpy() if isinstance(value, torch.Tensor) else np.asarray(value)
        a = a.astype(np.float64, copy=False)
        if not np.isfinite(a).all():
            raise UserError(f"{name}: expected finite values, got NaN or inf")
        arrays.append(a)
    m1, s1, m2, s2 = (np.atleast_1d(arrays[0]), np.atleast_2d(arrays[1]),
                      np.atleast_1d(arrays[2]), np.atleast_2d(arrays[3]))
    d = m1.shape[0]
    for name, shape, want in (
        ("mu1", m1.shape, (d,)),
        ("sigma1", s1.shape, (d, d)),
        ("mu2", m2.shape, (d,)),
        ("sigma2", s2.shape, (d, d)),
    ):
        if shape != want:
            raise UserError(f"{name}: expected shape {want} (from mu1), got {shape}")
    s1, s2 = (s1 + s1.T) / 2.0, (s2 + s2.T) / 2.0
    _check_psd(np.linalg.eigvalsh(s2), "sigma2")
    # Any factor F with F F^T = sigma1 will do: F F^T sigma2 and F^T sigma2 F share their
    # eigenvalues, and the latter is symmetric PSD. Cholesky is ~30x cheaper than an eigen-
    # decomposition with vectors; a singular sigma1 (no Cholesky) takes F = V sqrt(W) instead.
    try:
        factor = np.linalg.cholesky(s1)
    except np.linalg.LinAlgError:
        w1, v1 = np.linalg.eigh(s1)
        factor = v1 * np.sqrt(_zero_small(_check_psd(w1, "sigma1")))
    middle = factor.T @ s2 @ factor
    lam = np.linalg.eigvalsh((middle + middle.T) / 2.0)
    tr_sqrt = float(np.sqrt(_zero_small(lam)).sum())
    diff = m1 - m2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_sqrt)


def frechet_distance(feats_gen: ArrayLike, feats_real: ArrayLike) -> float:
    """Fréchet distance between Gaussians fitted to generated and real features (FID maths).

    Heusel et al. 2017 (the FID formula); means and unbiased covariances (``ddof=1``) as in
    pytorch-fid. With Inception-v3 pool3 features of 50,000 generated images against the training
    set this is FID; the number depends on the feature extractor and the sample count (it is
    biased upward for small N), so compare values only under the same protocol.

    Args:
        feats_gen: generated features ``[N, D]``, N >= 2.
        feats_real: real features ``[M, D]``, M >= 2.

    Returns:
        The squared Fréchet distance as a Python float.

    Raises:
        UserError: fewer than 2 rows, mismatched widths, or non-finite values.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(1000, 3))
        >>> abs(frechet_distance(x, x)) < 1e-9
        True
    """
    g = as_rows_numpy(feats_gen, "feats_gen")
    r = as_rows_numpy(feats_real, "feats_real")
    _check_same_width(g, r)
    for a, name in ((g, "feats_gen"), (r, "feats_real")):
        if a.shape[0] < 2:
            raise UserError(f"{name}: expected at least 2 rows to estimate a covariance, got {a.shape[0]}")
    mu1, s1 = feature_statistics(g)
    mu2, s2 = feature_statistics(r)
    return frechet_distance_from_stats(mu1, s1, mu2, s2)


def _unbiased_mmd2_poly(x: torch.Tensor, y: torch.Tensor) -> float:
    """Unbiased MMD^2 with k(a, b) = (a.b / d + 1)^3 between equally sized x [m, d] and y [m, d]."""
    m, d = x.shape
    k_xx = (x @ x.T / d + 1.0) ** 3
    k_yy = (y @ y.T / d + 1.0) ** 3
    k_xy = (x @ y.T / d + 1.0) ** 3
    # Drop the i == j terms of the within-set sums (they make the plain V-statistic biased).
    within = (k_xx.sum() - k_xx.diagonal().sum() + k_yy.sum() - k_yy.diagonal().sum()) / (m * (m - 1))
    return float(within - 2.0 * k_xy.sum() / (m * m))


def kid(
    feats_gen: ArrayLike,
    feats_real: ArrayLike,
    subsets: int = KID_SUBSETS,
    subset_size: int = KID_SUBSET_SIZE,
    seed: int = 0,
) -> tuple[float, float]:
    """Kernel Inception Distance: unbiased MMD^2 with a cubic kernel, averaged over subsets.

    Binkowski et al. 2018. For each of ``subsets`` rounds, ``m`` rows are drawn without
    replacement from each side and the unbiased estimator

        MMD^2_u = sum_{i!=j} [k(x_i,x_j) + k(y_i,y_j)] / (m (m-1)) - 2 sum_{i,j} k(x_i,y_j) / m^2

    is computed with ``k(a, b) = (a.b / d + 1)^3``. ``m = min(subset_size, N_gen, N_real)``: the
    subset size is capped at the smaller set (torchmetrics raises instead; stylegan2-ada caps too).
    Row indices come from ``numpy.random.default_rng(seed)``: per round, first the generated
    indices (``rng.choice(N_gen, m, replace=False)``) then the real ones. Computed in float64.
    Being unbiased, the estimate can be slightly negative when the two sets match.

    Args:
        feats_gen: generated features ``[N, D]``.
        feats_real: real features ``[M, D]``.
        subsets: number of random subsets (default 100).
        subset_size: rows per side per subset before capping (default 1000).
        seed: seed of the subset draws.

    Returns:
        ``(mean, std)`` over subsets as Python floats; ``std`` has ``ddof=0`` (as torchmetrics).

    Raises:
        UserError: bad shapes or values, fewer than 2 rows on a side, or ``subsets`` /
            ``subset_size`` not a positive integer (``subset_size`` >= 2).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> mean, std = kid(rng.normal(size=(200, 8)), rng.normal(size=(200, 8)), subsets=5)
        >>> abs(mean) < 0.05
        True
    """
    g = as_rows_numpy(feats_gen, "feats_gen")
    r = as_rows_numpy(feats_real, "feats_real")
    _check_same_width(g, r)
    for value, name, low in ((subsets, "subsets", 1), (subset_size, "subset_size", 2)):
        if not isinstance(value, (int, np.integer)) or isinstance(value, bool) or value < low:
            raise UserError(f"{name}: expected an integer >= {low}, got {value!r}")
    for a, name in ((g, "feats_gen"), (r, "feats_real")):
        if a.shape[0] < 2:
            raise UserError(f"{name}: expected at least 2 rows for an unbiased MMD, got {a.shape[0]}")
    m = min(int(subset_size), g.shape[0], r.shape[0])
    rng = np.random.default_rng(seed)
    g_t, r_t = torch.from_numpy(g), torch.from_numpy(r)
    values = []
    for _ in range(int(subsets)):
        gi = torch.from_numpy(rng.choice(g.shape[0], m, replace=False))
        ri = torch.from_numpy(rng.choice(r.shape[0], m, replace=False))
        values.append(_unbiased_mmd2_poly(g_t[gi], r_t[ri]))
    scores = np.asarray(values)
    return float(scores.mean()), float(scores.std())
