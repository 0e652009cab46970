"""Which settings let the 1-D GAN of `gankit theory fig1 / optimum` close the JSD: k (d_steps), lr, widths.

Each variant is the `gauss1d` preset with the overrides listed, trained by gankit's trainer; the
JSD(p_data || p_g) and C(G) = V(D*, G) are computed exactly on the grid (gankit.theory.oned) at a
quarter, half and all of the steps. docs/theory.md quotes the results.

Usage:  python benchmarks/gauss1d_variants.py [--out /tmp/g1v]
"""

from __future__ import annotations

import argparse
import tempfile
import time

from gankit.config import apply_overrides, load_preset
from gankit.theory import oned

VARIANTS = [
    ["train.d_steps=1", "train.steps=4000"],
    ["train.d_steps=1", "train.steps=4000", "optim.lr_g=2e-4", "optim.lr_d=2e-4"],
    ["train.d_steps=1", "train.steps=4000", "optim.lr_decay=1.0005"],
    ["train.d_steps=3", "train.steps=3000"],
    ["train.d_steps=5", "train.steps=3000"],  # the preset as it ships
    ["train.d_steps=5", "train.steps=3000", "optim.lr_decay=1.0007"],
    ["train.d_steps=5", "train.steps=3000", "optim.lr_g=5e-4"],
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="gankit-g1v-")
    x = oned.x_grid()
    p = oned.data_density(x)
    print("| overrides on `gauss1d` | JSD at 1/4, 1/2, all of the steps | C(G) at the end | seconds |\n"
          "|---|---|---|---|")
    for over in VARIANTS:
        cfg = apply_overrides(load_preset("gauss1d"), over)
        n = cfg.train.steps
        t0 = time.perf_counter()
        snaps = oned.train_snapshots(cfg, out, [n // 4, n // 2, n])
        jsds = ", ".join(f"{oned.jsd(p, s.p_g):.3f}" for s in snaps)
        c = oned.virtual_training_criterion(p, snaps[-1].p_g)
        print(f"| {' '.join(over)} | {jsds} | {c:.3f} | {time.perf_counter() - t0:.0f} |", flush=True)


if __name__ == "__main__":
    main()
