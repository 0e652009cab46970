"""Stacked MNIST: modes covered (of 1,000) and reverse KL, beside PacGAN's and R3GAN's numbers.

Protocol of PacGAN (Lin et al. 2018, Table 2), from its reference code (github.com/fjxmlzn/PacGAN,
stacked_MNIST_experiments/VEEGAN_experiment): 26,000 samples of the trained generator (here its
G_ema, seed 0); each channel labelled by an MNIST classifier (here gankit's shipped digits CNN); a
mode is covered when at least one sample has its digit triple; KL(mode histogram || uniform over
1,000) in nats. `gankit eval RUN --metrics classes --n 26000` computes the same two numbers.

The data is gankit's `stacked-mnist` (3 digits of the bundled mnist-5k per image, 28x28; see
docs/stacked-mnist.md for what differs from the papers). Each variant is the `stacked-mnist`
preset with the overrides in VARIANTS, then any --set given here (applied to every variant).
The first row, "real stacks", scores 26,000 stacks of the training data themselves: what a
generator that copies the data would get, the ceiling of this classifier and sample size.

Usage:
    python benchmarks/stacked_mnist.py                             # the preset, 1 seed (long on a CPU)
    python benchmarks/stacked_mnist.py --variants dcgan,pacdcgan2 --seeds 3 --results r.jsonl
    python benchmarks/stacked_mnist.py --variants recipe --set train.steps=10000
    python benchmarks/stacked_mnist.py --steps 300 --n 5000         # a smoke run: is the pipeline whole?
    python benchmarks/stacked_mnist.py --table r.jsonl              # the table from recorded runs

Prints one Markdown table: mean +- standard error over seeds, and seconds per run.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

from gankit.config import DataConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.errors import UserError
from gankit.evaluate import evaluate
from gankit.metrics.classes import STACKED_SAMPLES, classify_digits, stacked_mnist_coverage
from gankit.train import train
from bench_stats import mean_se  # benchmarks/bench_stats.py (this folder is on sys.path)

PRESET = "stacked-mnist"
# name -> overrides on the preset.
# The preset of 0.2 (dcgan-mnist's recipe): the non-saturating loss, a BatchNorm D, lazy R1 only, 5,000 steps
RECIPE = ["loss.d_loss=bce", "loss.g_loss=nonsaturating", "loss.r2_gamma=0", "D.norm=batch", "train.steps=5000"]
# The preset before 0.2: Radford et al.'s Adam 2e-4 (0.5, 0.999), no R1, z 100, as PacGAN's reference config
DCGAN = [*RECIPE, "optim.lr_g=2e-4", "optim.lr_d=2e-4", "optim.beta1=0.5", "optim.beta2=0.999", "loss.r1_gamma=0",
         "loss.reg_every=1", "z_dim=100"]
VARIANTS: dict[str, list[str]] = {
    "preset": [],  # the preset as it ships: RpGAN + R1 + R2, Adam 6e-4 (0, 0.99), D without BatchNorm, 20,000 steps
    "recipe": RECIPE,  # dcgan-mnist's recipe, the preset of 0.2
    "dcgan": DCGAN,  # the DCGAN baseline of PacGAN's Table 2
    "pacdcgan2": [*DCGAN, "D.pac=2"],  # PacGAN (Lin et al. 2018): D judges 2 samples at once, Table 2's PacDCGAN2
    # R3GAN's loss (Huang et al. 2024, eq. 2) with R1 and R2 of one gamma and Adam beta1 = 0 (their training
    # recipe) on PacGAN's other settings; D without BatchNorm, as R1/R2 need per-sample gradients. gamma = 1 is our
    # choice, not theirs.
    "rpgan-r1r2": [*DCGAN, "loss.d_loss=rpgan", "loss.g_loss=rpgan", "loss.r1_gamma=1", "loss.r2_gamma=1",
                   "optim.beta1=0", "D.norm=none"],
}
# The papers' numbers (facts, with their sources). PacGAN: Lin et al. 2018, Table 2 (the Stacked MNIST setup it
# repeats from VEEGAN, Srivastava et al. 2017), means over runs, 26,000 samples each. R3GAN: Huang et al. 2024, their
# Stacked MNIST experiment (RpGAN + R1 + R2 covers all 1,000 modes).
PAPERS = [
    ("DCGAN (PacGAN, Table 2)", "99", "3.40"),
    ("PacDCGAN2 (PacGAN, Table 2)", "1000", "0.06"),
    ("R3GAN (Huang et al. 2024)", "1000", "not quoted here"),
]
TARGET = "1000 modes, KL <= 0.1 (gankit issue 15)"


def score(x, n_samples: int) -> dict:
    """Modes covered and KL of images ``x`` [N, 3, H, W] in [-1, 1], by the digits CNN per channel."""
    res = stacked_mnist_coverage(classify_digits(x))
    return {"modes": res["modes_covered"], "kl": res["kl"], "n_samples": n_samples}


def real_ceiling(n: int, seed: int) -> dict:
    """The score of ``n`` stacks of the training data (the first n of the train split, data seed ``seed``)."""
    data = build_dataset(DataConfig(name="stacked-mnist", seed=seed), "train")
    x = data.x[:n]  # the stacks are i.i.d. draws, so the first n are a fair sample
    return score(x, len(x))


def run_one(name: str, overrides: list[str], seed: int, n: int, out: str, threads: int) -> dict:
    """Train one variant with one seed and score its G_ema on ``n`` samples."""
    cfg = apply_overrides(load_preset(PRESET), overrides + [f"train.seed={seed}", f"train.threads={threads}"])
    t0 = time.perf_counter()
    result = train(cfg, out=out, progress=False)
    seconds = time.perf_counter() - t0
    if result.interrupted:  # Ctrl-C / SIGTERM: a partial run must not be scored
        raise SystemExit(f"interrupted at step {result.step} of {cfg.train.steps}: {result.run_dir}")
    m = evaluate(result.run_dir, metrics="classes", n=n, seed=0, record=True)["classes"]
    return {"variant": name, "overrides": overrides, "seed": seed, "steps": cfg.train.steps,
            "modes": m["modes_covered"], "kl": m["kl"], "n_samples": m["n_samples"], "seconds": seconds,
            "run_dir": str(result.run_dir)}


def print_table(records: list[dict], ceiling: dict | None) -> None:
    """One Markdown table: the real data's ceiling, gankit's runs (mean ± s.e. over seeds), the papers."""
    print("\n| what | steps | seeds | samples | modes covered (of 1000) | KL (nats) | s / run |")
    print("|---|---|---|---|---|---|---|")
    if ceiling:
        print(f"| real stacks (train split) | — | — | {ceiling['n_samples']} | {ceiling['modes']} "
              f"| {ceiling['kl']:.3f} | — |")
    groups: dict[tuple, list[dict]] = {}
    for r in records:  # one row per variant, overrides, steps and sample count
        groups.setdefault((r["variant"], tuple(r["overrides"]), r["steps"], r["n_samples"]), []).append(r)
    for (name, overrides, steps, n), runs in groups.items():
        label = name + (f" ({', '.join(overrides)})" if overrides else "")
        print(f"| gankit {label} | {steps} | {len(runs)} | {n} | {mean_se([r['modes'] for r in runs], 1)} "
              f"| {mean_se([r['kl'] for r in runs], 3)} | {sum(r['seconds'] for r in runs) / len(runs):.0f} |")
    for name, modes, kl in PAPERS:
        print(f"| {name} | — | — | {STACKED_SAMPLES} | {modes} | {kl} | — |")
    print(f"\ntarget: {TARGET}\n", flush=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--variants", default="preset", help=f"comma-separated names from {', '.join(VARIANTS)} "
                    "(default preset)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra override for every variant, e.g. train.steps=10000 (repeatable)")
    ap.add_argument("--steps", type=int, default=0, help="training steps (default: the preset's)")
    ap.add_argument("--seeds", type=int, default=1, help="seeds per variant (default 1)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--n", type=int, default=STACKED_SAMPLES, help=f"generated samples scored (default "
                    f"{STACKED_SAMPLES}, PacGAN's)")
    ap.add_argument("--out", default="", help="parent folder of the run directories (default a temporary folder)")
    ap.add_argument("--results", default="", help="append one JSON line per run here (default OUT/results.jsonl)")
    ap.add_argument("--table", nargs="+", metavar="RESULTS", help="print the table from results files and stop")
    ap.add_argument("--threads", type=int, default=0, help="torch threads per run (default 0: one per idle core)")
    args = ap.parse_args()
    if args.table:
        missing = [p for p in args.table if not Path(p).is_file()]
        if missing:
            ap.error(f"--table: no such results file: {missing[0]}")
        print_table([json.loads(line) for p in args.table for line in Path(p).read_text().splitlines() if line], None)
        return
    names = args.variants.split(",")
    unknown = [v for v in names if v not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {unknown[0]!r}; known: {', '.join(VARIANTS)}")
    if args.n < 1:
        ap.error(f"--n must be >= 1, got {args.n}")
    extra = list(args.overrides) + ([f"train.steps={args.steps}"] if args.steps else [])
    try:
        apply_overrides(load_preset(PRESET), extra)  # a bad --set stops here, before any training
    except UserError as err:
        ap.error(f"--set: {err}")
    out = args.out or tempfile.mkdtemp(prefix="gankit-stacked-mnist-")
    results = Path(args.results or Path(out) / "results.jsonl")
    results.parent.mkdir(parents=True, exist_ok=True)

    ceiling = real_ceiling(args.n, seed=load_preset(PRESET).data.seed)
    print(f"# real stacks: {ceiling['modes']}/1000 modes, KL {ceiling['kl']:.3f} on {ceiling['n_samples']}", flush=True)
    records = []
    for name in names:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            r = run_one(name, VARIANTS[name] + extra, seed, args.n, out, args.threads)
            print(f"# {name} | seed {seed} | {r['steps']} steps: {r['modes']}/1000 modes, KL {r['kl']:.3f} on "
                  f"{r['n_samples']} samples, {r['seconds']:.0f} s  ({r['run_dir']})", flush=True)
            with results.open("a") as f:
                f.write(json.dumps(r) + "\n")
            records.append(r)
    print_table(records, ceiling)


if __name__ == "__main__":
    main()
