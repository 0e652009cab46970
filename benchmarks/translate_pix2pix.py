"""pix2pix's claim on digits: L1 alone gives blurry outputs, L1 + cGAN sharper ones (Isola et al. 2017, section 4.2).

For each preset (``pix2pix-l1``: lambda_gan 0; ``pix2pix-edges``: L1 + cGAN, lambda 100) and seed,
trains on the "edges" task (mnist-5k outlines -> digits, 4,000 training pairs) and translates the
1,000 mnist-5k test outlines. Scores of the outputs against the targets and the real test digits:

- ``l1``: mean |G(x) - y| per pixel on [-1, 1] (eq. 3; what the L1-only model minimises).
- ``psnr`` / ``ssim``: :func:`gankit.metrics.translation.psnr_ssim`.
- ``fid``: digits-FID of the outputs against the 1,000 real test digits, and ``accuracy`` of the
  shipped digits classifier on the outputs (:func:`gankit.metrics.translation.digits_scores`).
- ``grad``: mean gradient magnitude (forward differences, [0, 1] pixels) of the outputs divided by
  that of the targets: 1 is as sharp as the real digits, below 1 blurrier.
- ``grey``: share of output pixels strictly between 0.25 and 0.75 on [0, 1] (blur shows as grey),
  beside the same share in the real test digits.

One reference row, ``real train digits``, scores 1,000 real training digits (other digits than
the test ones) against the test digits. It is not a floor for the outputs' FID: outputs are drawn
from the test digits' own outlines, so they can match the test set's features more closely than
another sample of real digits does.

Each row is appended, with the command that made it, to ``benchmarks/results/translate_pix2pix.jsonl``;
``--table`` prints the Markdown table (mean ± standard error over seeds) from the recorded rows.

Usage:
    python benchmarks/translate_pix2pix.py --seeds 2                       # 1 thread: ~7 min on an idle core,
                                                                           # ~18 on the shared 2-core machine
    python benchmarks/translate_pix2pix.py --seeds 2 --first-seed 2 --img ''   # two more seeds per row
    python benchmarks/translate_pix2pix.py --steps 20 --seeds 1 --no-record --img ''   # smoke run
    python benchmarks/translate_pix2pix.py --table
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import tempfile
import time
from pathlib import Path

import torch

from gankit.translate import build_task, load_translator, resolve_config, train_translation
from gankit.metrics.translation import digits_scores, psnr_ssim
# benchmarks/bench_stats.py (this folder is on sys.path)
from bench_stats import append_rows, mean_se, save_columns_in_two_blocks
from gankit.metrics.image_stats import gradient_magnitude, grey_share

RESULTS = Path(__file__).parent / "results" / "translate_pix2pix.jsonl"
PRESETS = ["pix2pix-l1", "pix2pix-edges"]


def score(y: torch.Tensor, test) -> dict[str, float]:
    """Every number of one row for outputs ``y`` [1000, 1, 28, 28] against the test split."""
    return {"l1": float((y - test.b).abs().mean()), **psnr_ssim(y, test.b),
            **digits_scores(y, reference=test.b, labels=test.y_b),
            "grad": gradient_magnitude(y) / gradient_magnitude(test.b), "grey": grey_share(y)}


def score_reference(x: torch.Tensor, labels: torch.Tensor, test) -> dict[str, float | None]:
    """The scores that make sense for real digits ``x`` that are not the test targets (no L1, PSNR, SSIM)."""
    return {"l1": None, "psnr": None, "ssim": None, **digits_scores(x, reference=test.b, labels=labels),
            "grad": gradient_magnitude(x) / gradient_magnitude(test.b), "grey": grey_share(x)}


def print_table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["row"], r["steps"]), []).append(r)
    print("| row | steps | seeds | L1 (test) | PSNR dB | SSIM | digits-FID | classifier acc. | gradient / real "
          "| grey pixels | min / run | command |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    for (name, steps), rs in groups.items():
        commands = "; ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in rs))
        col = lambda k, d: mean_se([r[k] for r in rs], d)  # noqa: E731
        minutes = sum(r["seconds"] for r in rs) / len(rs) / 60
        print(f"| {name} | {steps} | {len(rs)} | {col('l1', 4)} | {col('psnr', 2)} | {col('ssim', 3)} "
              f"| {col('fid', 2)} "
              f"| {col('accuracy', 3)} | {col('grad', 3)} | {col('grey', 3)} | {minutes:.1f} | {commands} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per preset (default 2)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from here (add seeds to recorded rows)")
    ap.add_argument("--steps", type=int, default=0, help="training steps per run (0: the presets' own)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu",
                    help="where the runs train (default cpu: the table's times are CPU times)")
    ap.add_argument("--out", default="", help="parent of the run directories (default a temporary folder)")
    ap.add_argument("--img", default="docs/img/pix2pix-compare.png",
                    help="seed 0's test outlines | L1 | L1 + cGAN | target, as one picture ('' = none)")
    ap.add_argument("--no-record", action="store_true", help="print rows but do not append them to the results")
    ap.add_argument("--table", action="store_true", help="only print the table of the recorded rows")
    args = ap.parse_args()
    if args.table:
        print_table(RESULTS)
        return
    torch.set_num_threads(args.threads)
    command = "python benchmarks/translate_pix2pix.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = args.out or tempfile.mkdtemp(prefix="gankit-pix2pix-")
    test = build_task(resolve_config("pix2pix"), "test")
    new_rows = []

    if args.first_seed == 0:  # the reference row once, with the first seeds
        train = build_task(resolve_config("pix2pix", {"n_train": 1000}), "train")
        ref = {"row": "real train digits (reference)", "seed": 0, "steps": 0, "seconds": 0.0,
               **score_reference(train.b, train.y_b, test)}
        print(json.dumps(ref), flush=True)
        new_rows.append(ref)
    first_outputs = {}
    for preset in PRESETS:
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            over = {"seed": seed, "threads": args.threads, "device": args.device,
                    **({"steps": args.steps} if args.steps else {})}
            t0 = time.perf_counter()
            r = train_translation(preset, over, out=out, progress=False)
            seconds = time.perf_counter() - t0
            y = load_translator(r.run_dir).translate_batched(test.a)  # [1000, 1, 28, 28]
            row = {"row": preset, "seed": seed, "steps": r.step, "seconds": seconds, "run_dir": str(r.run_dir),
                   **score(y, test)}
            print(json.dumps(row), flush=True)
            new_rows.append(row)
            if preset not in first_outputs:
                first_outputs[preset] = y
    if args.img:  # rows of (outline, L1, L1 + cGAN, target)
        save_columns_in_two_blocks([test.a, first_outputs["pix2pix-l1"], first_outputs["pix2pix-edges"], test.b],
                                   args.img)
        print(f"# wrote {args.img}")
    if not args.no_record:
        append_rows(RESULTS, new_rows, command)
        print_table(RESULTS)


if __name__ == "__main__":
    main()
