"""Time one optimizer update over tutorial-mlp's generator parameters: the default loop, foreach and fused.

Usage:  python benchmarks/optimizer_step.py [--threads 2] [--repeats 200]
"""

from __future__ import annotations

import argparse
import time

import torch

from gankit.config import load_preset
from gankit.models import build_generator


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=200)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    G = build_generator(load_preset("tutorial-mlp"), (1, 28, 28))
    params = list(G.parameters())
    for p in params:
        p.grad = torch.randn_like(p)
    n = sum(p.numel() for p in params)
    print(f"| Adam update of tutorial-mlp's G ({n:,} parameters in {len(params)} tensors), {args.threads} threads "
          "| ms per update |")
    print("|---|---|")
    for name, kw in (("default (for-loop; what `torch.optim.Adam(params)` does on the CPU)", {}),
                     ("foreach=True", {"foreach": True}), ("fused=True (gankit)", {"fused": True})):
        opt = torch.optim.Adam(params, lr=1e-4, betas=(0.5, 0.999), **kw)
        for _ in range(10):
            opt.step()
        best = float("inf")
        for _ in range(5):
            t0 = time.perf_counter()
            for _ in range(args.repeats // 5):
                opt.step()
            best = min(best, (time.perf_counter() - t0) / (args.repeats // 5))
        print(f"| {name} | {1e3 * best:.2f} |")


if __name__ == "__main__":
    main()
