"""Number of statistically Different Bins (NDB) and the bins' Jensen-Shannon divergence.

Richardson & Weiss, *On GANs and GMMs* (NeurIPS 2018), reference code ``utils/ndb.py``
in github.com/eitanrich/gans-n-gmms. The generated side is the first argument.

1. Cluster the real data into K bins with k-means (K = 100 in the paper; ``max_iter=100`` as the
   reference code).
2. Assign every real and every generated example to its nearest bin centre (L2).
3. For each bin, a two-sided two-proportion z-test with pooled proportion compares the share of
   real examples ``p_d`` (out of ``n_d``) with the share of generated ones ``p_s`` (out of
   ``n_s``):  ``p = (p_d n_d + p_s n_s) / (n_d + n_s)``,
   ``z = (p_s - p_d) / sqrt(p (1 - p) (1/n_d + 1/n_s))``, ``p-value = 2 Phi(-|z|)``; the bin is
   statistically different when the p-value is below ``alpha = 0.05`` (the reference code's
   ``significance_level``).
4. NDB is the number of different bins (NDB/K is reported so that runs with different K compare;
   for two samples of one distribution it is close to alpha); JS is the Jensen-Shannon divergence
   between the two bin histograms, in nats (natural log, as the reference code).

Differences from the reference code, all options it leaves off by default or speed choices:
no whitening, no random subset of dimensions for d > 1000 (gankit clusters on all of them), one
k-means++ initialisation (``n_init=1``; the reference ran scikit-learn's then-default 10) seeded by
``seed``, and real-data bin shares from the nearest-centre assignment rather than k-means' last
labels (identical once k-means has converged).
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from gankit.errors import UserError
from gankit.metrics._inputs import as_rows_numpy

__all__ = ["ndb"]

NDB_BINS = 100  # Richardson & Weiss 2018 (K = 100) / ndb.py number_of_bins=100
NDB_ALPHA = 0.05  # ndb.py significance_level=0.05
KMEANS_MAX_ITER = 100  # ndb.py: KMeans(n_clusters=k, max_iter=100)

ArrayLike = torch.Tensor | np.ndarray


def _js_divergence(p: np.ndarray, q: np.ndarray) -> float:
    """Jensen-Shannon divergence in nats: (KL(p || m) + KL(q || m)) / 2 with m = (p + q) / 2."""
    m = (p + q) / 2.0

    def kl(a: np.ndarray) -> float:
        nz = a > 0
        return float(np.sum(a[nz] * np.log(a[nz] / m[nz])))

    return (kl(p) + kl(q)) / 2.0


def ndb(
    samples: ArrayLike,
    data: ArrayLike,
    k: int = NDB_BINS,
    alpha: float = NDB_ALPHA,
    seed: int = 0,
) -> dict:
    """NDB and JS of Richardson & Weiss (2018): k-means bins on real data, one z-test per bin.

    Args:
        samples: generated examples ``[M, ...]`` (flattened per row).
        data: real examples ``[N, ...]`` that define the bins; N >= k.
        k: number of k-means bins (default 100, the paper's).
        alpha: significance level of each two-sided z-test (default 0.05, the reference code's).
        seed: ``random_state`` of scikit-learn's KMeans.

    Returns:
        dict with ``ndb`` (int), ``k`` (int), ``ndb_over_k`` (float), ``js`` (float, nats),
        ``alpha`` (float), ``n_samples`` and ``n_data`` (ints), and per bin, largest real bin
        first as in the reference code: ``data_proportions``, ``sample_proportions``, ``z``,
        ``p_values`` (lists of float) and ``different_bins`` (list of bool).

    Raises:
        UserError: inputs not ``[N, ...]``, empty or non-finite, widths differ, ``k`` not an
            integer in [1, N], or ``alpha`` not in (0, 1).

    Example:
        >>> rng = np.random.default_rng(0)
        >>> r = ndb(rng.normal(size=(1000, 2)), rng.normal(size=(1000, 2)), k=10)
        >>> r["k"], r["ndb"] <= 3
        (10, True)
    """
    from sklearn.cluster import KMeans  # imported here: scikit-learn is slow to import

    s = as_rows_numpy(samples, "samples")
    d = as_rows_numpy(data, "data")
    if s.shape[1] != d.shape[1]:
        raise UserError(f"data: expected {s.shape[1]} values per row to match samples, got {d.shape[1]}")
    n_data, n_samples = d.shape[0], s.shape[0]
    if not isinstance(k, (int, np.integer)) or isinstance(k, bool) or not 1 <= k <= n_data:
        raise UserError(f"k: expected an integer number of bins in [1, {n_data}] (the data rows), got {k!r}")
    if not (isinstance(alpha, numbers.Real) and 0.0 < alpha < 1.0):
        raise UserError(f"alpha: expected a significance level in (0, 1), got {alpha!r}")

    # Bins: k-means on the real data, then nearest-centre assignment of both sets.
    kmeans = KMeans(n_clusters=int(k), n_init=1, max_iter=KMEANS_MAX_ITER, random_state=seed).fit(d)
    data_counts = np.bincount(kmeans.predict(d), minlength=k)
    sample_counts = np.bincount(kmeans.predict(s), minlength=k)
    order = np.argsort(-data_counts, kind="stable")  # largest real bin first, as ndb.py
    p_d = data_counts[order] / n_data
    p_s = sample_counts[order] / n_samples

    # Two-proportion z-test with pooled proportion, two-sided.
    pooled = (p_d * n_data + p_s * n_samples) / (n_data + n_samples)
    se = np.sqrt(pooled * (1.0 - pooled) * (1.0 / n_data + 1.0 / n_samples))
    with np.errstate(divide="ignore", invalid="ignore"):
        z = np.where(se > 0, (p_s - p_d) / se, 0.0)  # se = 0: both shares 0 (or 1), no difference
    p_values = np.array([math.erfc(abs(v) / math.sqrt(2.0)) for v in z])  # = 2 Phi(-|z|)
    different = p_values < alpha

    n_different = int(different.sum())
    return {
        "ndb": n_different,
        "k": int(k),
        "ndb_over_k": n_different / int(k),
        "js": _js_divergence(p_d, p_s),
        "alpha": float(alpha),
        "n_samples": n_samples,
        "n_data": n_data,
        "data_proportions": p_d.tolist(),
        "sample_proportions": p_s.tolist(),
        "z": z.tolist(),
        "p_values": p_values.tolist(),
        "different_bins": different.tolist(),
    }
