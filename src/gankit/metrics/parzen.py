"""Parzen-window log-likelihood: the evaluation protocol of the 2014 GAN paper.

Goodfellow et al., *Generative Adversarial Nets* (NeurIPS 2014), Section 5 and Table 1, estimate a
generator's test log-likelihood by fitting a Gaussian kernel density estimate (a Parzen window) to
samples drawn from G and scoring held-out real data under it (the method of Breuleux, Bengio and
Vincent, 2011). The reference code is ``parzen_ll.py`` in github.com/goodfeli/adversarial. For a
data point x in R^d and generated samples g_1..g_N with one isotropic bandwidth sigma:

    log p(x) = logsumexp_i( -||x - g_i||^2 / (2 sigma^2) ) - log N - d log(sigma sqrt(2 pi))

Protocol constants, all from ``parzen_ll.py``:

- N = 10,000 generated samples (``--num_samples`` default 10000);
- sigma is chosen on a validation set of 1,000 real images held out of training (MNIST train
  rows 50,000-51,000: ``--limit_size`` default 1000) from the grid
  ``numpy.logspace(-1, 0, 10)`` (``--sigma_start -1``, ``--sigma_end 0``, ``--cross_val 10``),
  taking the sigma with the highest mean validation log-likelihood;
- the reported number is the mean log-likelihood of the test set (10,000 MNIST test images) and
  its standard error ``ll.std() / sqrt(n)`` (NumPy's std, i.e. ddof=0);
- images are flattened and in [0, 1] pixel space (pylearn2's MNIST scaling).

gankit holds data in [-1, 1]; pass ``from_minus1=True`` (or call :func:`to_unit_interval`) so the
numbers are comparable with the paper's (MNIST: 225 +- 2 nats for the GAN).

Speed: all squared distances from a block of data to the samples are computed once, with
||x||^2 + ||g||^2 - 2 x.g as one float64 matrix product on inputs centred at the samples' mean
(centring leaves every distance unchanged and removes most of the cancellation), and are reused for
every sigma of the grid. Only the exponentials run in float32, on differences to each row's nearest
sample, which bounds their effect on the result to ~1e-6 nats (see ``tests/test_metrics_parzen.py``
and ``benchmarks/bench_parzen.py``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from gankit.errors import UserError
from gankit.metrics._inputs import as_rows

__all__ = [
    "DEFAULT_SIGMAS",
    "parzen_evaluate",
    "parzen_log_likelihood",
    "parzen_select_sigma",
    "to_unit_interval",
]

# parzen_ll.py: numpy.logspace(args.sigma_start=-1, args.sigma_end=0., num=args.cross_val=10).
DEFAULT_SIGMAS: tuple[float, ...] = tuple(float(s) for s in np.logspace(-1.0, 0.0, 10))
DEFAULT_BATCH_SIZE = 256  # data rows per distance block: [256, N] float64 is 20 MB for N = 10k
_EXP_FLOOR = -80.0  # float32 exp(-80) = 1.8e-35 stays a normal number (denormals are ~40x slower)

ArrayLike = torch.Tensor | np.ndarray


def to_unit_interval(x: ArrayLike) -> torch.Tensor:
    """Map gankit's [-1, 1] data scale to the [0, 1] pixel scale of the 2014 protocol.

    Args:
        x: tensor or array in [-1, 1], any shape.

    Returns:
        ``(x + 1) / 2`` as a float64 tensor of the same shape.

    Example:
        >>> to_unit_interval(torch.tensor([-1.0, 0.0, 1.0])).tolist()
        [0.0, 0.5, 1.0]
    """
    t = x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))
    return (t.detach().to(torch.float64) + 1.0) / 2.0


def _check_sigmas(sigmas: Sequence[float] | None) -> tuple[float, ...]:
    if sigmas is None:
        return DEFAULT_SIGMAS
    values = tuple(float(s) for s in np.asarray(sigmas, dtype=np.float64).reshape(-1))
    if not values or not all(math.isfinite(s) and s > 0 for s in values):
        raise UserError(f"sigmas: expected a non-empty list of positive finite widths, got {sigmas!r}")
    return values


def _check_batch_size(batch_size: int) -> int:
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size: expected a positive integer, got {batch_size!r}")
    return batch_size


def _prepare(
    samples: ArrayLike, data: ArrayLike, data_name: str, from_minus1: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    g = as_rows(samples, "samples")
    x = as_rows(data, data_name, device=g.device)
    if g.shape[1] != x.shape[1]:
        raise UserError(
            f"{data_name}: expected {g.shape[1]} values per example to match samples, got {x.shape[1]}"
        )
    if from_minus1:
        g, x = (g + 1.0) / 2.0, (x + 1.0) / 2.0
    return g, x


def _log_likelihood_grid(
    g: torch.Tensor, x: torch.Tensor, sigmas: tuple[float, ...], batch_size: int
) -> torch.Tensor:
    """Parzen log-likelihoods of every row of x for every sigma: float64 [len(sigmas), M].

    g: [N, d] samples (kernel centres), x: [M, d] data, both float64 on one device.
    """
    n, d = g.shape
    centre = g.mean(dim=0)
    g = g - centre  # distances are shift invariant; centring shrinks the norms that cancel below
    g_sq = (g * g).sum(dim=1)  # [N]
    inv_2s2 = [1.0 / (2.0 * s * s) for s in sigmas]
    # log N + d log(sigma sqrt(2 pi)): the mean over kernels and each Gaussian's normaliser.
    log_z = [math.log(n) + d * math.log(s * math.sqrt(2.0 * math.pi)) for s in sigmas]
    out = torch.empty(len(sigmas), x.shape[0], dtype=torch.float64, device=g.device)
    for start in range(0, x.shape[0], batch_size):
        xb = x[start : start + batch_size] - centre  # [B, d]
        # ||x||^2 + ||g||^2 - 2 x.g, one float64 GEMM per block, shared by every sigma.
        dist = torch.addmm(g_sq.unsqueeze(0), xb, g.T, beta=1.0, alpha=-2.0)  # [B, N]
        dist += (xb * xb).sum(dim=1, keepdim=True)
        dist.clamp_(min=0.0)
        d_min = dist.min(dim=1, keepdim=True).values  # [B, 1] nearest sample: the max term
        excess = (dist - d_min).to(torch.float32)  # [B, N] >= 0, 0 at the nearest sample
        buf = torch.empty_like(excess)
        for j, c in enumerate(inv_2s2):
            # logsumexp_i(-D_i c) = -D_min c + log sum_i exp(-(D_i - D_min) c); the sum is >= 1.
            torch.mul(excess, -c, out=buf)
            buf.clamp_(min=_EXP_FLOOR).exp_()
            lse = torch.log(buf.sum(dim=1).double()) - d_min.squeeze(1) * c
            out[j, start : start + xb.shape[0]] = lse - log_z[j]
    return out


def parzen_log_likelihood(
    samples: ArrayLike,
    data: ArrayLike,
    sigma: float,
    batch_size: int = DEFAULT_BATCH_SIZE,
    *,
    from_minus1: bool = False,
) -> torch.Tensor:
    """Log-likelihood of each data row under a Gaussian Parzen window centred on the samples.

    Computes ``log p(x) = logsumexp_i(-||x - g_i||^2 / (2 sigma^2)) - log N - d log(sigma
    sqrt(2 pi))`` (Goodfellow et al. 2014, Section 5; reference code ``parzen_ll.py``), in nats.

    Args:
        samples: generated samples ``[N, ...]`` (flattened to ``[N, d]``), the kernel centres.
        data: real examples ``[M, ...]`` to score, same number of values per row as ``samples``.
        sigma: kernel width, in the units of the (converted) data.
        batch_size: data rows per block of the distance computation (memory ``8 * batch_size * N``
            bytes).
        from_minus1: map both sets from [-1, 1] to the protocol's [0, 1] pixels first.

    Returns:
        float64 tensor ``[M]`` of per-example log-likelihoods, on the device of ``samples``.

    Raises:
        UserError: an input is not ``[N, ...]``, is empty or non-finite, the row sizes differ,
            ``sigma`` is not positive, or ``batch_size`` is not a positive integer.

    Example:
        >>> g = torch.zeros(1, 2)  # one kernel at the origin of R^2
        >>> ll = parzen_log_likelihood(g, torch.tensor([[0.0, 0.0]]), sigma=1.0)
        >>> round(ll.item(), 6) == round(-math.log(2 * math.pi), 6)
        True
    """
    (s,) = _check_sigmas([sigma])
    g, x = _prepare(samples, data, "data", from_minus1)
    return _log_likelihood_grid(g, x, (s,), _check_batch_size(batch_size))[0]


def parzen_select_sigma(
    samples: ArrayLike,
    valid: ArrayLike,
    sigmas: Sequence[float] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    from_minus1: bool = False,
) -> tuple[float, dict[float, float]]:
    """Choose the Parzen width with the highest mean validation log-likelihood.

    Protocol of ``parzen_ll.py`` (``cross_validate_sigma``): every sigma of the grid is scored on
    the validation set and the argmax of the mean log-likelihood wins (the first on a tie). The
    distances are computed once and reused for the whole grid.

    Args:
        samples: generated samples ``[N, ...]``.
        valid: held-out real examples ``[M, ...]`` (the paper: 1,000 images kept out of training).
        sigmas: candidate widths; default ``DEFAULT_SIGMAS = numpy.logspace(-1, 0, 10)``.
        batch_size: data rows per distance block.
        from_minus1: map both sets from [-1, 1] to the protocol's [0, 1] pixels first.

    Returns:
        ``(best_sigma, {sigma: mean validation log-likelihood})`` with the dict in grid order.

    Raises:
        UserError: bad shapes or values as in :func:`parzen_log_likelihood`, or ``sigmas`` empty
            or not all positive.

    Example:
        >>> g = torch.rand(500, 4)
        >>> best, scores = parzen_select_sigma(g, torch.rand(100, 4))
        >>> best in scores and len(scores) == 10
        True
    """
    grid = _check_sigmas(sigmas)
    g, x = _prepare(samples, valid, "valid", from_minus1)
    means = _log_likelihood_grid(g, x, grid, _check_batch_size(batch_size)).mean(dim=1).tolist()
    best = grid[int(np.argmax(means))]
    return best, dict(zip(grid, means))


def parzen_evaluate(
    samples: ArrayLike,
    valid: ArrayLike,
    test: ArrayLike,
    sigmas: Sequence[float] | None = None,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    from_minus1: bool = False,
) -> dict:
    """The full 2014 protocol: pick sigma on ``valid``, report the test mean and standard error.

    Follows ``parzen_ll.py``: sigma = argmax of the mean validation log-likelihood over the grid,
    then the test log-likelihoods under that sigma, reported as their mean and standard error
    ``std / sqrt(n_test)`` (NumPy's std, ddof=0, as the reference code). The paper used 10,000
    samples, 1,000 validation and 10,000 test images, in [0, 1] pixels.

    Args:
        samples: generated samples ``[N, ...]``.
        valid: held-out real examples used only to choose sigma.
        test: real test examples that are scored.
        sigmas: candidate widths; default ``DEFAULT_SIGMAS = numpy.logspace(-1, 0, 10)``.
        batch_size: data rows per distance block.
        from_minus1: map all three sets from [-1, 1] to the protocol's [0, 1] pixels first.

    Returns:
        dict with ``mean`` (float, nats), ``sem`` (float), ``sigma`` (float, the chosen width),
        ``n_samples`` (int), ``n_test`` (int), ``sigmas_tried`` (list of float, grid order) and
        ``valid_means`` (list of float, the mean validation log-likelihood of each sigma tried).

    Raises:
        UserError: bad shapes or values as in :func:`parzen_select_sigma`.

    Example:
        >>> x_fake, x_valid, x_test = torch.rand(500, 4), torch.rand(100, 4), torch.rand(200, 4)
        >>> result = parzen_evaluate(x_fake, x_valid, x_test)
        >>> sorted(result)
        ['mean', 'n_samples', 'n_test', 'sem', 'sigma', 'sigmas_tried', 'valid_means']
    """
    best, scores = parzen_select_sigma(
        samples, valid, sigmas, batch_size=batch_size, from_minus1=from_minus1
    )
    g, x = _prepare(samples, test, "test", from_minus1)
    ll = _log_likelihood_grid(g, x, (best,), _check_batch_size(batch_size))[0]
    n_test = ll.shape[0]
    return {
        "mean": float(ll.mean()),
        "sem": float(ll.std(correction=0) / math.sqrt(n_test)),
        "sigma": best,
        "n_samples": int(g.shape[0]),
        "n_test": n_test,
        "sigmas_tried": list(scores),
        "valid_means": list(scores.values()),
    }
