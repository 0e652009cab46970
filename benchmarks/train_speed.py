"""Training speed of a preset with each fast-path switch on and off: samples per second.

A step's cost is ``gankit.bench.step_seconds``: the difference between two full ``train()`` calls
of W and W + N steps (same seed), which cancels the set-up and leaves N steps of the loop itself.

Usage:
    python benchmarks/train_speed.py --preset tutorial-mlp --batch 64 --steps 300
    python benchmarks/train_speed.py --preset ring8 --switch train.fused_d --threads 2
"""

from __future__ import annotations

import argparse

import torch

from gankit.bench import step_seconds
from gankit.config import apply_overrides, load_preset


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tutorial-mlp")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300, help="N: steps timed (default 300)")
    ap.add_argument("--warmup", type=int, default=20, help="W: steps of the shorter run (default 20)")
    ap.add_argument("--switch", default="train.fused_d", help="a boolean config key to time on and off")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3, help="alternating repeats; the best of each is reported")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    base = [f"train.batch={args.batch}", f"train.threads={args.threads}"]
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for value in ("false", "true"):
            cfg = apply_overrides(load_preset(args.preset), base + [f"{args.switch}={value}"])
            rate = args.batch / step_seconds(cfg, steps=args.steps, warmup=args.warmup, repeats=1)
            best[value] = max(best.get(value, 0.0), rate)
            print(f"# {args.preset} batch {args.batch} {args.switch}={value}: {rate:,.0f} samples/s", flush=True)
    print(f"\n| preset | batch | {args.switch} | samples / s (best of {args.repeats}) |\n|---|---|---|---|")
    for value in ("false", "true"):
        print(f"| `{args.preset}` | {args.batch} | {value} | {best[value]:,.0f} |")
    print(f"\nspeed-up: {best['true'] / best['false']:.2f}x")


if __name__ == "__main__":
    main()
