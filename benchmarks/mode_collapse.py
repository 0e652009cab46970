"""Mode collapse on the toy mixtures: modes covered, high-quality share and KL over seeds.

Protocol of VEEGAN (Srivastava et al. 2017, Table 1) and PacGAN (Lin et al. 2018, Table 1):
2,500 samples from G_ema; a sample is high quality within 3 std of its nearest centre; a mode is
covered when it has at least one high-quality sample; KL is between the modes' share of the
high-quality samples and the uniform distribution (gankit.evaluate, metric "modes").

Every variant but "best" is the `<set>-vanilla` preset (one stated architecture per set:
G z8 -> 128 -> 128 ReLU -> 2, D 2 -> 128 -> 128 LeakyReLU -> 1, Adam 1e-3 (0.5, 0.999),
2,000 steps x 256) with the overrides listed in VARIANTS; "best" is the `<set>` preset with the
overrides in BEST (for ring8 the best configuration found, which is not yet the preset: see
docs/mode-collapse.md).

Usage:
    python benchmarks/mode_collapse.py                     # 10 seeds, both sets (long on a CPU)
    python benchmarks/mode_collapse.py --seeds 3 --sets ring8 --out /tmp/mc-bench

Prints one Markdown table per set: mean +- standard error over seeds, and seconds per run.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time

from gankit.config import apply_overrides, load_preset
from gankit.evaluate import evaluate
from gankit.train import train

# name -> (preset suffix, overrides on that preset). Constants are stated in docs/mode-collapse.md.
VARIANTS: dict[str, tuple[str, list[str]]] = {
    "vanilla (bce, non-saturating)": ("-vanilla", []),
    "minimax (saturating G loss)": ("-vanilla", ["loss.g_loss=minimax"]),
    "wasserstein + GP (lambda 10, Adam 0/0.9)": ("-vanilla", ["loss.d_loss=wasserstein", "loss.g_loss=wasserstein",
                                                             "loss.gp_lambda=10", "optim.beta1=0.0", "optim.beta2=0.9"]),
    "hinge + spectral norm": ("-vanilla", ["loss.d_loss=hinge", "loss.g_loss=hinge", "D.spectral_norm=true"]),
    "least squares": ("-vanilla", ["loss.d_loss=ls", "loss.g_loss=ls"]),
    "bce + R1 (gamma 0.1)": ("-vanilla", ["loss.r1_gamma=0.1"]),
    "best": ("", []),  # the `<set>` preset with BEST[set]
}
# The best configuration found per set, as overrides on the `<set>` preset.
BEST: dict[str, list[str]] = {
    "ring8": ["loss.d_loss=ls", "loss.g_loss=ls", "G.hidden=[128,128,128]", "D.hidden=[128,128,128]",
              "optim.lr_decay=1.0008", "train.steps=3000"],
    "grid25": [],  # the grid25 preset as it is
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
    n = len(finite)
    mean = sum(finite) / n
    se = math.sqrt(sum((v - mean) ** 2 for v in finite) / (n - 1) / n) if n > 1 else 0.0
    text = f"{mean:.2f} ± {se:.2f}"
    if n < len(values):
        text += f" ({len(values) - n} n/a)"
    return text


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=10, help="seeds 0..N-1 per configuration (default 10)")
    ap.add_argument("--sets", default="ring8,grid25", help="comma-separated toy sets (default ring8,grid25)")
    ap.add_argument("--variants", default="", help="comma-separated indices into VARIANTS (default all)")
    ap.add_argument("--out", default="", help="parent folder of the run directories (default a temporary folder)")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="gankit-mode-collapse-")
    names = list(VARIANTS)
    if args.variants:
        names = [names[int(i)] for i in args.variants.split(",")]

    for toy in args.sets.split(","):
        rows = []
        for name in names:
            suffix, overrides = VARIANTS[name]
            if name == "best":
                overrides = BEST[toy]
            runs = []
            for seed in range(args.seeds):
                r = run_one(toy + suffix, overrides, seed, out, args.threads)
                print(f"# {toy} | {name} | seed {seed}: {r['modes']}/{r['n_modes']} modes, {r['hq']:.1f}% HQ, "
                      f"KL {r['kl']:.3f}, {r['seconds']:.1f} s  ({r['run_dir']})", flush=True)
                runs.append(r)
            rows.append((name, toy + suffix, runs))
        print(f"\n{toy}: {args.seeds} seeds (0..{args.seeds - 1}), {N_SAMPLES} samples each, mean ± s.e.\n")
        print("| variant | preset | modes covered | high quality % | KL | s / run |")
        print("|---|---|---|---|---|---|")
        for name, preset, runs in rows:
            n_modes = runs[0]["n_modes"]
            print(f"| {name} | `{preset}` | {mean_se([r['modes'] for r in runs])} / {n_modes} "
                  f"| {mean_se([r['hq'] for r in runs])} | {mean_se([r['kl'] for r in runs])} "
                  f"| {sum(r['seconds'] for r in runs) / len(runs):.0f} |")
        print(flush=True)


if __name__ == "__main__":
    main()
