"""Three ways to find z for a real image: search, an encoder in one pass, and both.

For a trained run, per seed: train an encoder (``gankit fit-encoder``, f-AnoGAN's izi_f loss),
then invert the first N images of the run's test split by
- ``optimize``: Adam on z from ``restarts`` random starts (gankit.apps.invert.invert);
- ``encoder``: z = E(x), one pass;
- ``hybrid``: the search with E(x) as one more start.
Each row records the mean reconstruction error (mean squared pixel error on the [-1, 1] scale)
and the time per image on one CPU thread (the encoder's training time apart).

Usage:
    python benchmarks/invert_methods.py --run runs/00000-dcgan-mnist --seeds 0,1 \
        --results benchmarks/results/invert_methods.jsonl
    python benchmarks/invert_methods.py --table benchmarks/results/invert_methods.jsonl
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
from bench_stats import mean_and_se  # benchmarks/bench_stats.py (this folder is on sys.path)

METHODS = ("optimize", "encoder", "hybrid")


def run_seed(run: str, seed: int, n: int, steps: int, restarts: int, encoder_steps: int) -> list[dict]:
    from gankit.apps.encoder import encode_best_class, fit_encoder, load_encoder
    from gankit.apps.invert import invert, load_images
    from gankit.generate import load_generator

    G, cfg, _ = load_generator(run)
    x, labels, _ = load_images(f"test:{','.join(map(str, range(n)))}", G, cfg)
    c = labels if G.c_dim else None
    t = time.perf_counter()
    fit = fit_encoder(run, steps=encoder_steps, seed=seed)
    fit_s = time.perf_counter() - t
    E, _ = load_encoder(run)
    rows = []
    for method in METHODS:
        t = time.perf_counter()
        if method == "encoder":
            _, err, _ = encode_best_class(G, E, x, c)
        else:
            z_init = E(x) if method == "hybrid" else None
            _, err = invert(G, x, steps=steps, restarts=restarts, seed=seed, c=c, z_init=z_init)
        sec = time.perf_counter() - t
        rows.append({"run": run, "preset": cfg.preset, "method": method, "seed": seed, "n": n,
                     "steps": steps if method != "encoder" else 0, "restarts": restarts if method != "encoder" else 0,
                     "encoder_steps": encoder_steps, "encoder_fit_s": round(fit_s, 1), "kappa": fit["kappa"],
                     "error": float(err.mean()), "ms_per_image": 1e3 * sec / n})
    return rows


def mean_se(values: list[float]) -> str:
    """'mean ± s.e.' to 4 significant digits."""
    m, se = mean_and_se(values)
    return f"{m:.4g}" if len(values) < 2 else f"{m:.4g} ± {se:.2g}"


def table(path: str) -> str:
    rows = [json.loads(line) for line in Path(path).read_text().splitlines() if line.strip()]
    lines = ["| run | method | seeds | error (MSE, [-1, 1]) | ms per image | command |", "|---|---|---|---|---|---|"]
    for run in dict.fromkeys(r["run"] for r in rows):
        for method in METHODS:
            rs = [r for r in rows if r["run"] == run and r["method"] == method]
            if rs:
                lines.append(f"| {rs[0]['preset']} (`{run}`) | {method} | {len(rs)} | "
                             f"{mean_se([r['error'] for r in rs])} | {mean_se([r['ms_per_image'] for r in rs])} | "
                             f"`{rs[0]['command']}` |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--run", help="a trained run directory")
    p.add_argument("--seeds", default="0,1")
    p.add_argument("--n", type=int, default=100, help="test images inverted")
    p.add_argument("--steps", type=int, default=500)
    p.add_argument("--restarts", type=int, default=4)
    p.add_argument("--encoder-steps", type=int, default=2000)
    p.add_argument("--results", default=None, help="append rows to this .jsonl")
    p.add_argument("--table", default=None, metavar="JSONL", help="print the table of recorded rows and stop")
    a = p.parse_args(argv)
    if a.table:
        print(table(a.table))
        return 0
    if not a.run:
        p.error("--run is required")
    torch.set_num_threads(1)
    command = "python benchmarks/invert_methods.py " + " ".join(
        shlex.quote(v) for v in (argv if argv is not None else sys.argv[1:]))
    for seed in (int(s) for s in a.seeds.split(",")):
        for row in run_seed(a.run, seed, a.n, a.steps, a.restarts, a.encoder_steps):
            row["command"] = command
            print(json.dumps(row), flush=True)
            if a.results:
                with open(a.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
