"""Train the image presets of the GAN lineage and score them: the numbers and grids in docs/presets.md.

For each preset (default: dcgan-mnist, cgan-mnist, wgan-gp-mnist, hinge-sn-mnist) and seed, trains
the preset as it ships on mnist-5k, then runs ``gankit eval`` on its G_ema with the digits
classifier's features (10,000 samples against the 1,000 test digits): FID, precision/recall,
density/coverage, and the class coverage of the digits classifier (classes generated, KL of the
class histogram to uniform). This is also the class-coverage part of the mode-collapse benchmark
(issue: dcgan-mnist and cgan-mnist on mnist-5k). Copies the first seed's sample grid to
``--img-dir/<preset>.png`` and prints one Markdown table, mean ± standard error over seeds.

Usage:
    python benchmarks/image_presets.py                              # every preset, seed 0
    python benchmarks/image_presets.py --presets dcgan-mnist,cgan-mnist --seeds 2 --out /tmp/ip
    python benchmarks/image_presets.py --presets mnist --first-seed 1 --seeds 1 --img-dir ''   # seed 1 alone
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gankit.config import apply_overrides, load_preset
from gankit.evaluate import evaluate
from gankit.generate import sample
from gankit.train import train
from bench_stats import mean_se  # benchmarks/bench_stats.py (this folder is on sys.path)

PRESETS = ["dcgan-mnist", "cgan-mnist", "wgan-gp-mnist", "hinge-sn-mnist"]
METRICS = "fid,pr,dc,classes"


def run_one(preset: str, seed: int, out: str, threads: int, n: int, overrides: list[str]) -> dict:
    cfg = apply_overrides(load_preset(preset), overrides + [f"train.seed={seed}", f"train.threads={threads}"])
    t0 = time.perf_counter()
    result = train(cfg, out=out, progress=False)
    seconds = time.perf_counter() - t0
    if result.interrupted:
        raise SystemExit(f"interrupted at step {result.step} of {cfg.train.steps}: {result.run_dir}")
    res = evaluate(result.run_dir, metrics=METRICS, n=n, seed=0, features="digits")
    return {"run_dir": str(result.run_dir), "seconds": seconds, "steps": cfg.train.steps, "fid": res["fid"]["value"],
            "precision": res["pr"]["precision"], "recall": res["pr"]["recall"], "density": res["dc"]["density"],
            "coverage": res["dc"]["coverage"], "classes": res["classes"]["classes_covered"],
            "class_kl": res["classes"]["kl"]}


def save_grid(run_dir: str, path: Path) -> None:
    """``gankit sample RUN -n 100 --seed 0``: 100 samples of G_ema, one row per class for a conditional run."""
    sample(run_dir, 100, seed=0, out=path)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS), help="comma-separated presets")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per preset (default 1: seed 0)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0): split seeds over processes")
    ap.add_argument("--n", type=int, default=10_000, help="generated samples per evaluation (default 10,000)")
    ap.add_argument("--out", default="", help="parent folder of the run directories (default a temporary folder)")
    ap.add_argument("--img-dir", default="docs/img", help="where the first seed's grid goes as <preset>.png")
    ap.add_argument("--threads", type=int, default=2, help="torch threads per run (default 2)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every preset, as gankit train --set "
                         "(e.g. train.steps=10 for a smoke run)")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="gankit-image-presets-")
    rows = []
    for preset in args.presets.split(","):
        runs = []
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = run_one(preset, seed, out, args.threads, args.n, args.set)
            print(f"# {preset} seed {seed}: {json.dumps(r)}", flush=True)
            runs.append(r)
        if args.img_dir:
            Path(args.img_dir).mkdir(parents=True, exist_ok=True)
            save_grid(runs[0]["run_dir"], Path(args.img_dir) / f"{preset}.png")
        rows.append((preset, runs))
    print(f"\n{args.seeds} seed(s), {args.n} samples, digits features vs mnist-5k test (1,000), mean ± s.e.\n")
    print("| preset | steps | digits FID | precision | recall | density | coverage | classes | class KL | min / run |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for preset, runs in rows:
        col = lambda k, d: mean_se([r[k] for r in runs], d)  # noqa: E731
        print(f"| `{preset}` | {runs[0]['steps']} | {col('fid', 1)} | {col('precision', 3)} | {col('recall', 3)} "
              f"| {col('density', 3)} | {col('coverage', 3)} | {col('classes', 1)} / 10 | {col('class_kl', 3)} "
              f"| {sum(r['seconds'] for r in runs) / len(runs) / 60:.1f} |")


if __name__ == "__main__":
    main()
