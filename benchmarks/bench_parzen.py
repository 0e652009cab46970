"""Speed and accuracy of the Parzen-window estimate at the 2014 paper's MNIST scale.

Times :func:`gankit.metrics.parzen_select_sigma` on 10,000 generated samples x 10,000 data rows x
784 dimensions over the 10-sigma grid (every distance computed once and reused for all sigmas),
then the full protocol :func:`gankit.metrics.parzen_evaluate` (sigma chosen on 1,000 validation
rows, 10,000 test rows scored). The data are random MNIST-like vectors in [0, 1] (about 19% of the
784 pixels non-zero), which is all speed needs. Accuracy: a subset of rows is recomputed in float64
with explicit differences ``x - g`` (no norm expansion, no float32 anywhere) for every sigma, and
the largest absolute gap in nats is printed. Our measurements are in docs/metrics.md.

Run:  .venv/bin/python benchmarks/bench_parzen.py [--n 10000] [--check-rows 200]
"""

from __future__ import annotations

import argparse
import math
import os
import time

import torch

from gankit.metrics.parzen import (
    DEFAULT_SIGMAS,
    _log_likelihood_grid,
    parzen_evaluate,
    parzen_select_sigma,
)


def mnist_like(n: int, generator: torch.Generator) -> torch.Tensor:
    """[n, 784] float32 in [0, 1], sparse like MNIST digits."""
    mask = torch.rand(n, 784, generator=generator) < 0.19
    return mask * torch.rand(n, 784, generator=generator)


def direct_reference(g: torch.Tensor, x: torch.Tensor, sigmas) -> torch.Tensor:
    """float64, one data row at a time, squared distances from explicit differences: [S, M]."""
    g = g.double()
    n, d = g.shape
    out = torch.empty(len(sigmas), x.shape[0], dtype=torch.float64)
    for i, row in enumerate(x.double()):
        sq = ((g - row) ** 2).sum(dim=1)  # [N]
        for j, s in enumerate(sigmas):
            out[j, i] = (
                torch.logsumexp(-sq / (2 * s * s), dim=0)
                - math.log(n)
                - d * math.log(s * math.sqrt(2 * math.pi))
            )
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=10_000, help="samples and data rows")
    parser.add_argument("--valid", type=int, default=1_000, help="validation rows (paper: 1000)")
    parser.add_argument("--check-rows", type=int, default=200, help="rows checked against float64")
    args = parser.parse_args()

    gen = torch.Generator().manual_seed(0)
    samples, data = mnist_like(args.n, gen), mnist_like(args.n, gen)
    valid = mnist_like(args.valid, gen)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}")

    t0 = time.perf_counter()
    best, scores = parzen_select_sigma(samples, data)
    grid_s = time.perf_counter() - t0
    print(
        f"parzen_select_sigma: {args.n} samples x {args.n} rows x 784 dims x {len(scores)} sigmas:"
        f" {grid_s:.2f} s (best sigma {best:.4f})"
    )

    t0 = time.perf_counter()
    result = parzen_evaluate(samples, valid, data)
    eval_s = time.perf_counter() - t0
    print(
        f"parzen_evaluate: {args.n} samples, {args.valid} valid x 10 sigmas, {args.n} test:"
        f" {eval_s:.2f} s (mean {result['mean']:.2f} +- {result['sem']:.2f}, sigma {result['sigma']:.4f})"
    )

    rows = data[: args.check_rows]
    g64 = samples.double()
    fast = _log_likelihood_grid(g64, rows.double(), DEFAULT_SIGMAS, 256)
    t0 = time.perf_counter()
    ref = direct_reference(samples, rows, DEFAULT_SIGMAS)
    ref_s = time.perf_counter() - t0
    gap = (fast - ref).abs().max().item()
    print(
        f"float64 direct-difference reference on {args.check_rows} rows x {len(DEFAULT_SIGMAS)} sigmas"
        f" ({ref_s:.1f} s): max |difference| = {gap:.2e} nats"
    )
    if gap > 1e-4:
        raise SystemExit(f"accuracy check failed: {gap:.2e} nats > 1e-4")


if __name__ == "__main__":
    main()
