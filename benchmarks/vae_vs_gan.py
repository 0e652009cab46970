"""VAE vs GAN with the same nets: the numbers, grids and table of docs/vae.md.

Trains ``vae-mnist`` (a VAE, Kingma & Welling 2014, whose decoder is quick-mlp's G and whose encoder is
quick-mlp's D body) and ``quick-mlp`` (the GAN with those nets) on mnist-5k for each seed, then scores each
run's G_ema exactly as ``gankit eval RUN --metrics fid,pr,dc,classes`` does, with the digits
classifier's features (10,000 samples against the 1,000 test digits): FID, precision/recall,
density/coverage and the classifier's class coverage. It adds one direct measure of blur: the
share of pixels that are neither ink nor background (grey: between 0.25 and 0.75 on [0, 1]) in
the same 10,000 samples, beside the same share in the real test digits.

Copies the first seed's 100-sample grid (``gankit sample RUN -n 100 --seed 0``) to
``--img-dir/vae-<preset>.png`` and prints one Markdown table, mean ± standard error over seeds.

Usage:
    python benchmarks/vae_vs_gan.py --seeds 2                     # about 8 minutes on 2 CPU cores
    python benchmarks/vae_vs_gan.py --set train.steps=20 --n 500 --img-dir ""   # smoke run
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path


from gankit.config import load_preset
from gankit.data import build_dataset
from gankit.generate import generate, load_generator
from image_presets import mean_se, run_one, save_grid  # benchmarks/image_presets.py: train + gankit eval
from gankit.metrics.image_stats import grey_share

PRESETS = ["vae-mnist", "quick-mlp"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default=",".join(PRESETS),
                    help="comma-separated presets (default vae-mnist,quick-mlp)")
    ap.add_argument("--seeds", type=int, default=2, help="seeds 0..N-1 per preset (default 2)")
    ap.add_argument("--n", type=int, default=10_000, help="generated samples per evaluation (default 10,000)")
    ap.add_argument("--out", default="", help="parent folder of the run directories (default a temporary folder)")
    ap.add_argument("--img-dir", default="docs/img",
                    help="where the first seed's grid goes as vae-<preset>.png; '' = none")
    ap.add_argument("--threads", type=int, default=1, help="torch threads per run (default 1)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="config override for every preset, as gankit train --set "
                         "(e.g. train.steps=20 for a smoke run)")
    args = ap.parse_args()
    out = args.out or tempfile.mkdtemp(prefix="gankit-vae-vs-gan-")
    presets = args.presets.split(",")
    real_grey = grey_share(build_dataset(load_preset(presets[0]).data, "test").x)  # mnist-5k's 1,000 test digits
    rows = []
    for preset in presets:
        runs = []
        for seed in range(args.seeds):
            r = run_one(preset, seed, out, args.threads, args.n, args.set)
            G, _, _ = load_generator(r["run_dir"])
            r["grey"] = grey_share(generate(G, args.n, seed=0))
            print(f"# {preset} seed {seed}: {json.dumps(r)}", flush=True)
            runs.append(r)
        if args.img_dir:
            Path(args.img_dir).mkdir(parents=True, exist_ok=True)
            save_grid(runs[0]["run_dir"], Path(args.img_dir) / f"vae-{preset}.png")
        rows.append((preset, runs))
    print(f"\n{args.seeds} seed(s), {args.n} samples, digits features vs mnist-5k test (1,000), mean ± s.e.; "
          f"grey pixels of the real test digits: {real_grey:.3f}\n")
    print("| preset | model | steps | digits FID | precision | recall | density | coverage | classes | class KL "
          "| grey pixels | min / run |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for preset, runs in rows:
        col = lambda k, d: mean_se([r[k] for r in runs], d)  # noqa: E731
        model = json.loads(Path(runs[0]["run_dir"], "config.json").read_text())["model"]
        print(f"| `{preset}` | {model} | {runs[0]['steps']} | {col('fid', 1)} | {col('precision', 3)} "
              f"| {col('recall', 3)} "
              f"| {col('density', 3)} | {col('coverage', 3)} | {col('classes', 1)} / 10 | {col('class_kl', 3)} "
              f"| {col('grey', 3)} | {sum(r['seconds'] for r in runs) / len(runs) / 60:.1f} |")


if __name__ == "__main__":
    main()
