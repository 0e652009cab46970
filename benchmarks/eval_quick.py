"""Evaluate a run of the `quick` preset with every metric, and the real data's own scores beside it.

Trains `quick` on mnist-5k (unless --run points at an existing run directory), then runs
`gankit.evaluate.evaluate` with every metric on 10,000 samples and times it. For reference it
scores held-out real digits with the same protocol: the mnist-5k training split (4,000 images)
stands in for a generator's samples, which is what a generator that reproduced the data would
get (the floor of FID/KID/NDB and the ceiling of the others). Prints a Markdown table; the numbers
we saw are in docs/evaluation.md.

Run:  .venv/bin/python benchmarks/eval_quick.py [--run RUN_DIR] [--n 10000] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from gankit.config import load_preset
from gankit.data import build_dataset
from gankit.evaluate import METRICS, evaluate
from gankit.features import extract_features
from gankit.metrics import frechet_distance, kid, ndb, parzen_evaluate, prdc
from gankit.metrics.classes import class_coverage, classify_digits
from gankit.train import train


def real_reference(seed: int) -> dict:
    """The protocol of gankit eval applied to real training digits instead of generated ones."""
    cfg = load_preset("quick").data
    train_x, test_x = build_dataset(cfg, "train").x, build_dataset(cfg, "test").x  # [4000|1000, 1, 28, 28]
    perm = torch.randperm(len(test_x), generator=torch.Generator().manual_seed(seed))
    half = len(perm) // 2
    pz = parzen_evaluate(train_x.flatten(1), test_x[perm[:half]].flatten(1), test_x[perm[half:]].flatten(1),
                         from_minus1=True)
    fg, fr = extract_features("digits", train_x), extract_features("digits", test_x)
    k_mean, k_std = kid(fg, fr, subsets=100, subset_size=min(1000, len(fg), len(fr)), seed=seed)
    p = prdc(fg, fr)
    cc = class_coverage(classify_digits(train_x), n_classes=10)
    # NDB of two disjoint real sets: split the training data in half, bins on one half.
    tp = torch.randperm(len(train_x), generator=torch.Generator().manual_seed(seed))
    nd = ndb(train_x[tp[:2000]].flatten(1), train_x[tp[2000:]].flatten(1), k=40, seed=seed)
    return {"parzen": f"{pz['mean']:.1f} ± {pz['sem']:.1f} (sigma {pz['sigma']:.3f})",
            "fid": f"{frechet_distance(fg, fr):.2f}",
            "kid": f"{k_mean:.4f} ± {k_std:.4f}", "pr": f"{p['precision']:.3f} / {p['recall']:.3f}",
            "dc": f"{p['density']:.3f} / {p['coverage']:.3f}", "modes": "n/a",
            "classes": f"{cc['classes_covered']}/10, KL {cc['kl']:.4f}",
            "ndb": f"{nd['ndb']}/{nd['k']}, JS {nd['js']:.4f} (2,000 vs 2,000 train)"}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--run", default=None, help="an existing run directory of the quick preset")
    ap.add_argument("--n", type=int, default=10_000)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    run = args.run or str(train(load_preset("quick"), out="runs", progress=True).run_dir)
    t0 = time.perf_counter()
    res = evaluate(run, metrics="all", n=args.n, seed=args.seed, progress=False)
    seconds = time.perf_counter() - t0
    ref = real_reference(args.seed)
    show = {"parzen": lambda r: f"{r['mean']:.1f} ± {r['sem']:.1f} (sigma {r['sigma']:.3f})",
            "fid": lambda r: f"{r['value']:.2f}", "kid": lambda r: f"{r['mean']:.4f} ± {r['std']:.4f}",
            "pr": lambda r: f"{r['precision']:.3f} / {r['recall']:.3f}",
            "dc": lambda r: f"{r['density']:.3f} / {r['coverage']:.3f}",
            "modes": lambda r: "n/a", "classes": lambda r: f"{r['classes_covered']}/10, KL {r['kl']:.4f}",
            "ndb": lambda r: f"{r['ndb']}/{r['k']}, JS {r['js']:.4f}"}
    print(f"run: {run}  samples: {args.n}  seed: {args.seed}  all metrics: {seconds:.1f} s\n")
    print("| metric | quick (G_ema) | real train digits, same protocol | seconds |")
    print("|---|---|---|---|")
    for name in METRICS:
        r = res[name]
        cell = r["skipped"] if "skipped" in r else show[name](r)
        secs = r.get("protocol", {}).get("seconds", "")
        print(f"| {name} | {cell} | {ref.get(name, 'not measured here')} | {secs} |")
    print("\n" + json.dumps({k: v.get("protocol", {}) for k, v in res.items()}, indent=1)[:2000])


if __name__ == "__main__":
    main()
