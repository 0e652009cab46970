"""Mode coverage on mixtures with known centres (ring of 8 Gaussians, 5 x 5 grid, ...).

Protocol of VEEGAN (Srivastava et al., NeurIPS 2017, synthetic-data experiments) as used by PacGAN
(Lin et al., *PacGAN: The power of two samples in generative adversarial networks*, NeurIPS 2018,
Table 1), whose reference code is ``MetricLogger`` in
``synthetic_data_experiments/PacGAN/pacgan/extensions.py`` of github.com/fjxmlzn/PacGAN:

- each generated sample is assigned to its nearest centre, distance measured in units of that
  mode's standard deviation;
- it is *high quality* when that distance is below ``n_sigma = 3`` standard deviations (strict
  ``<``, as the reference code);
- a mode is *covered* when at least one high-quality sample is assigned to it (the reference code
  counts the modes with a non-zero count; there is no larger minimum, but ``min_count`` lets you
  ask for one);
- the paper's "reverse KL" compares the distribution of high-quality samples over the modes with
  the uniform distribution over modes: ``KL(p || u) = sum_k p_k log(p_k K)`` in nats, where
  ``p_k = counts_k / sum(counts)`` and empty modes contribute 0 (0 log 0 = 0). It is 0 when every
  mode gets the same share and log K when all high-quality samples sit in one mode; it is NaN when
  there is no high-quality sample at all (the distribution is undefined).

Samples and centres live in the same space (the 2-D data space of the toy sets); the PacGAN runs
use 2,500 generated samples.
"""

from __future__ import annotations

import math
import numbers

import numpy as np
import torch

from gankit.errors import UserError
from gankit.metrics._inputs import as_rows_numpy

__all__ = ["mode_coverage"]

N_SIGMA = 3.0  # VEEGAN's 3 standard deviations / PacGAN MetricLogger dis_thre=3

ArrayLike = torch.Tensor | np.ndarray


def mode_coverage(
    samples: ArrayLike,
    centers: ArrayLike,
    std: float | ArrayLike,
    n_sigma: float = N_SIGMA,
    *,
    min_count: int = 1,
) -> dict:
    """Modes covered, share of high-quality samples and reverse KL to uniform over modes.

    Follows VEEGAN / PacGAN (see the module docstring): nearest centre in units of each mode's
    standard deviation, high quality below ``n_sigma`` of them, a mode covered with at least
    ``min_count`` high-quality samples, ``kl = KL(p || uniform)`` of the high-quality histogram.

    Args:
        samples: generated samples ``[N, D]``.
        centers: mode centres ``[K, D]`` in the same space.
        std: standard deviation of the (isotropic) modes, one float or one per mode ``[K]``.
        n_sigma: high-quality radius in standard deviations (default 3, the papers').
        min_count: high-quality samples a mode needs to count as covered (default 1, the
            reference code's).

    Returns:
        dict with ``modes_covered`` (int), ``n_modes`` (int, K), ``high_quality`` (float, fraction
        of samples that are high quality), ``n_high_quality`` (int), ``kl`` (float, nats; NaN when
        there are no high-quality samples) and ``counts`` (list of K ints: high-quality samples
        per mode, in the order of ``centers``).

    Raises:
        UserError: shapes are not ``[N, D]`` / ``[K, D]`` with one D, ``std`` is not positive or
            has the wrong length, ``n_sigma`` is not positive, or ``min_count`` is not a positive
            integer.

    Example:
        >>> centers = np.array([[0.0, 0.0], [10.0, 0.0]])
        >>> samples = np.array([[0.1, 0.0], [0.0, -0.2], [10.0, 0.1], [5.0, 5.0]])
        >>> r = mode_coverage(samples, centers, std=0.1)
        >>> r["modes_covered"], r["high_quality"], r["counts"]
        (2, 0.75, [2, 1])
    """
    x = as_rows_numpy(samples, "samples")
    c = as_rows_numpy(centers, "centers")
    if x.shape[1] != c.shape[1]:
        raise UserError(f"centers: expected {x.shape[1]} coordinates to match samples, got {c.shape[1]}")
    n_modes = c.shape[0]
    s = np.asarray(std.detach().cpu() if isinstance(std, torch.Tensor) else std, dtype=np.float64)
    s = np.broadcast_to(s, (n_modes,)) if s.ndim == 0 else s
    if s.shape != (n_modes,) or not np.all(np.isfinite(s) & (s > 0)):
        raise UserError(f"std: expected one positive float or {n_modes} of them, got {std!r}")
    if not (isinstance(n_sigma, numbers.Real) and math.isfinite(n_sigma) and n_sigma > 0):
        raise UserError(f"n_sigma: expected a positive number of standard deviations, got {n_sigma!r}")
    if not isinstance(min_count, (int, np.integer)) or isinstance(min_count, bool) or min_count < 1:
        raise UserError(f"min_count: expected a positive integer, got {min_count!r}")

    # Distance of every sample to every centre in that mode's standard deviations: [N, K].
    z = np.sqrt(((x[:, None, :] - c[None, :, :]) ** 2).sum(axis=2)) / s[None, :]
    nearest = z.argmin(axis=1)  # [N]
    good = z[np.arange(x.shape[0]), nearest] < n_sigma  # [N]
    counts = np.bincount(nearest[good], minlength=n_modes)  # [K]

    n_good = int(counts.sum())
    if n_good == 0:
        kl = float("nan")
    else:
        p = counts[counts > 0] / n_good
        kl = float(np.sum(p * np.log(p * n_modes)))
    return {
        "modes_covered": int((counts >= min_count).sum()),
        "n_modes": n_modes,
        "high_quality": n_good / x.shape[0],
        "n_high_quality": n_good,
        "kl": kl,
        "counts": counts.tolist(),
    }
