"""PRDC on Naeem et al.'s reference case: two draws of 10,000 points from N(0, I) in 1,000 dims.

The README of github.com/clovaai/generative-evaluation-prdc reports, for k = 5,
precision 0.4772, recall 0.4705, density 1.0555, coverage 0.9735 ("may fluctuate due to
randomness"). This script draws the same case for a few seeds, prints our four numbers, their
spread over seeds and the wall time of each call, and checks the means against the README: within
0.03, or within two seed-to-seed standard deviations where the metric itself fluctuates more than
that between draws (density does, by ~0.06 here: the README's 1.0555 is one draw, and for two
samples of one distribution E[density] = 1 exactly, by exchangeability). The numbers
we measured are in docs/metrics.md.

Run:  .venv/bin/python benchmarks/bench_prdc.py [--seeds 3] [--n 10000] [--dim 1000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np
import torch

from gankit.metrics.prdc import prdc

README = {"precision": 0.4772, "recall": 0.4705, "density": 1.0555, "coverage": 0.9735}
TOLERANCE = 0.03  # absolute, on the mean over seeds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--dim", type=int, default=1_000)
    parser.add_argument("--k", type=int, default=5)
    args = parser.parse_args()

    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, load {os.getloadavg()}")
    rows = []
    for seed in range(args.seeds):
        rng = np.random.default_rng(seed)
        real = rng.normal(size=(args.n, args.dim))
        fake = rng.normal(size=(args.n, args.dim))
        t0 = time.perf_counter()
        r = prdc(fake, real, k=args.k)
        seconds = time.perf_counter() - t0
        rows.append(r)
        print(
            f"seed {seed}: precision {r['precision']:.4f} recall {r['recall']:.4f} "
            f"density {r['density']:.4f} coverage {r['coverage']:.4f}  ({seconds:.1f} s)"
        )
    ok = True
    for name, ref in README.items():
        values = np.array([r[name] for r in rows])
        tolerance = max(TOLERANCE, 2.0 * values.std(ddof=1)) if len(values) > 1 else TOLERANCE
        close = abs(values.mean() - ref) <= tolerance
        ok &= bool(close)
        print(
            f"{name:9s} mean {values.mean():.4f} std {values.std(ddof=1) if len(values) > 1 else 0:.4f}"
            f"  README {ref:.4f}  {'ok' if close else 'OFF'} (tolerance {tolerance:.3f})"
        )
    print("agreement with the README:", "yes" if ok else "NO")


if __name__ == "__main__":
    main()
