"""Mode collapse on the toy mixtures: modes covered, high-quality share and KL over seeds.

Protocol of VEEGAN (Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018, Table 1):
2,500 samples from G_ema; a sample is high quality within 3 std of its nearest centre; a mode is
covered when it has at least one high-quality sample; KL is between the modes' share of the
high-quality samples and the uniform distribution (gankit.evaluate, metric "modes").

Every variant but "best" is the `<set>-vanilla` preset (one stated architecture per set:
G z8 -> 128 -> 128 ReLU -> 2, D 2 -> 128 -> 128 LeakyReLU -> 1, Adam 1e-3 (0.5, 0.999),
2,000 steps x 256) with the overrides listed in VARIANTS; "best" is the `<set>` preset with
nothing changed: the best configuration found for each set is what its preset ships.

Usage:
    python benchmarks/mode_collapse.py                     # 10 seeds, both sets (long on a CPU)
    python benchmarks/mode_collapse.py --seeds 3 --sets ring8 --out /tmp/mc-bench
    # seeds 5-9 in a second process, then one table from both processes' records:
    python benchmarks/mode_collapse.py --first-seed 5 --seeds 5 --results /tmp/mc-b.jsonl
    python benchmarks/mode_collapse.py --table /tmp/mc-a.jsonl /tmp/mc-b.jsonl
    # the picture in docs/mode-collapse.md, from four run directories:
    python benchmarks/mode_collapse.py --figure docs/img/mode-collapse.png RUN1 RUN2 RUN3 RUN4

Prints one Markdown table per set: mean +- standard error over seeds, and seconds per run.
"""

from __future__ import annotations

import argparse
import json
import math
import tempfile
import time
from pathlib import Path

from gankit.config import apply_overrides, load_preset
from gankit.evaluate import evaluate
from gankit.train import train
from bench_stats import mean_and_se  # benchmarks/bench_stats.py (this folder is on sys.path)

# name -> (preset suffix, overrides on that preset). Constants are stated in docs/mode-collapse.md.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "vanilla (bce, non-saturating)": ("-vanilla", []),
    "minimax (saturating G loss)": ("-vanilla", ["loss.g_loss=minimax"]),
    # Arjovsky et al. 2017, Algorithm 1: clip 0.01, n_critic 5, RMSProp lr 5e-5
    "wasserstein + clipping (RMSProp 5e-5, 5 D steps)": ("-vanilla", [
        "loss.d_loss=wasserstein", "loss.g_loss=wasserstein", "loss.clip=0.01", "optim.name=rmsprop",
        "optim.lr_d=5e-5", "optim.lr_g=5e-5", "train.d_steps=5"]),
    # Gulrajani et al. 2017, Algorithm 1: lambda 10, n_critic 5, Adam 1e-4 (0, 0.9)
    "wasserstein + GP (Adam 1e-4 (0, 0.9), 5 D steps)": ("-vanilla", [
        "loss.d_loss=wasserstein", "loss.g_loss=wasserstein", "loss.gp_lambda=10", "optim.beta1=0.0",
        "optim.beta2=0.9", "optim.lr_d=1e-4", "optim.lr_g=1e-4", "train.d_steps=5"]),
    "hinge + spectral norm": ("-vanilla", ["loss.d_loss=hinge", "loss.g_loss=hinge", "D.spectral_norm=true"]),
    "least squares": ("-vanilla", ["loss.d_loss=ls", "loss.g_loss=ls"]),
    "bce + R1 (gamma 0.1)": ("-vanilla", ["loss.r1_gamma=0.1"]),
    "bce + EMA of G (0.999)": ("-vanilla", ["train.ema=0.999"]),
    "PacGAN4 (bce, D.pac=4)": ("-vanilla", ["D.pac=4"]),
    "minibatch discrimination (bce, D.mbd=10)": ("-vanilla", ["D.mbd=10"]),
    "best": ("", []),  # the `<set>` preset as it ships
}
N_SAMPLES = 2500  # VEEGAN / PacGAN protocol


def run_one(preset: str, overrides: list[str], seed: int, out: str, threads: int) -> dict:
    """Train one configuration with one seed and score its mode coverage."""
    cfg = apply_overrides(load_preset(preset), overrides + [f"train.seed={seed}", f"train.threads={threads}"])
    t0 = time.perf_counter()
    result = train(cfg, out=out, progress=False)
    seconds = time.perf_counter() - t0
    if result.interrupted:  # Ctrl-C / SIGTERM: the trainer stopped early; a partial run must not be scored
        raise SystemExit(f"interrupted at step {result.step} of {cfg.train.steps}: {result.run_dir}")
    m = evaluate(result.run_dir, metrics="modes", n=N_SAMPLES, seed=0, record=False)["modes"]
    return {"modes": m["modes_covered"], "n_modes": m["n_modes"], "hq": 100.0 * m["high_quality"],
            "kl": m["kl"], "seconds": seconds, "run_dir": str(result.run_dir)}


def mean_se(values: list[float]) -> str:
    """'mean ± standard error' (sample std / sqrt(n)); NaNs (no high-quality sample) are counted apart."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return "n/a"
    mean, se = mean_and_se(finite)
    text = f"{mean:.2f} ± {se:.2f}"
    if len(finite) < len(values):
        text += f" ({len(values) - len(finite)} n/a)"
    return text


def print_tables(records: list[dict]) -> None:
    """One Markdown table per toy set from per-run records, rows in VARIANTS order.

    A (set, variant, seed) recorded twice counts once (the later record).
    """
    records = list({(r["set"], r["variant"], r["seed"]): r for r in records}.values())
    for toy in dict.fromkeys(r["set"] for r in records):
        print(f"\n{toy}: {N_SAMPLES} samples per run, mean ± s.e. over the seeds listed\n")
        print("| variant | preset | seeds | modes covered | high quality % | KL | s / run |")
        print("|---|---|---|---|---|---|---|")
        for name in VARIANTS:
            runs = sorted((r for r in records if r["set"] == toy and r["variant"] == name), key=lambda r: r["seed"])
            if not runs:
                continue
            seeds = [r["seed"] for r in runs]
            seed_text = (f"{len(seeds)} ({seeds[0]}-{seeds[-1]})" if seeds == list(range(seeds[0], seeds[-1] + 1))
                         else str(seeds))
            print(f"| {name} | `{runs[0]['preset']}` | {seed_text} | "
                  f"{mean_se([r['modes'] for r in runs])} / {runs[0]['n_modes']} "
                  f"| {mean_se([r['hq'] for r in runs])} | {mean_se([r['kl'] for r in runs])} "
                  f"| {sum(r['seconds'] for r in runs) / len(runs):.0f} |")
    print(flush=True)


def figure(run_dirs: list[str], path: str) -> None:
    """One panel per run: 2,500 samples of G_ema (seed 0) over the training data, titled with the scores."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from gankit.data import build_dataset
    from gankit.generate import generate, load_generator

    cols = 2 if len(run_dirs) > 1 else 1
    rows = math.ceil(len(run_dirs) / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 4.2 * rows), dpi=100, squeeze=False)
    for ax, run in zip(axes.flat, run_dirs):
        G, cfg, info = load_generator(run)
        x = generate(G, N_SAMPLES, seed=0).numpy()
        real = build_dataset(cfg.data, "train").x[:5000].numpy()  # [5000, 2]
        m = evaluate(run, metrics="modes", n=N_SAMPLES, seed=0, record=False)["modes"]
        ax.scatter(real[:, 0], real[:, 1], s=2, c="tab:blue", alpha=0.3, label="data")
        ax.scatter(x[:, 0], x[:, 1], s=2, c="tab:red", alpha=0.6, label="G(z)")
        ax.set_aspect("equal")
        ax.set_xlim(-1.15, 1.15)
        ax.set_ylim(-1.15, 1.15)
        ax.set_title(f"{cfg.preset}, seed {cfg.train.seed}: {m['modes_covered']}/{m['n_modes']} modes, "
                     f"{100 * m['high_quality']:.0f}% HQ", fontsize=9)
    for ax in list(axes.flat)[len(run_dirs):]:
        ax.axis("off")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds per configuration (default 10)")
    ap.add_argument("--first-seed", type=int, default=0, help="first seed (default 0): split seeds over processes")
    ap.add_argument("--sets", default="ring8,grid25", help="comma-separated toy sets (default ring8,grid25)")
    ap.add_argument("--variants", default="", help="comma-separated indices into VARIANTS (default all)")
    ap.add_argument("--out", default="", help="parent folder of the run directories (default a temporary folder)")
    ap.add_argument("--results", default="", help="append one JSON line per run here (default OUT/results.jsonl)")
    ap.add_argument("--table", nargs="+", metavar="RESULTS", help="print the tables from results files and stop")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--figure", nargs="+", metavar=("PNG", "RUN"), help="draw runs' samples into PNG and stop")
    args = ap.parse_args()
    if args.figure:
        figure(args.figure[1:], args.figure[0])
        return
    if args.table:
        missing = [p for p in args.table if not Path(p).is_file()]
        if missing:
            ap.error(f"--table: no such results file: {missing[0]}")
        print_tables([json.loads(line) for path in args.table for line in Path(path).read_text().splitlines() if line])
        return
    out = args.out or tempfile.mkdtemp(prefix="gankit-mode-collapse-")
    results = Path(args.results or Path(out) / "results.jsonl")
    results.parent.mkdir(parents=True, exist_ok=True)
    names = list(VARIANTS)
    if args.variants:
        names = [names[int(i)] for i in args.variants.split(",")]

    records = []
    for toy in args.sets.split(","):
        for name in names:
            suffix, overrides = VARIANTS[name]
            for seed in range(args.first_seed, args.first_seed + args.seeds):
                r = run_one(toy + suffix, overrides, seed, out, args.threads)
                r.update({"set": toy, "variant": name, "preset": toy + suffix, "seed": seed})
                print(f"# {toy} | {name} | seed {seed}: {r['modes']}/{r['n_modes']} modes, {r['hq']:.1f}% HQ, "
                      f"KL {r['kl']:.3f}, {r['seconds']:.1f} s  ({r['run_dir']})", flush=True)
                with results.open("a") as f:
                    f.write(json.dumps(r) + "\n")
                records.append(r)
    print_tables(records)


if __name__ == "__main__":
    main()
