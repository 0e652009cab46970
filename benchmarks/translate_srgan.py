"""SRGAN's claim on digits: the GAN scores lower PSNR than the MSE-trained SRResNet but looks more real
(Ledig et al. 2017, Tables 1-2 and section 3.4, where realism was a mean opinion score).

Task ``digits-x4``: 7x7 antialiased bicubic downsamplings of the mnist-5k digits -> 28x28. Rows:

- ``bicubic``: ``F.interpolate(mode="bicubic")`` of the 7x7 input, no training.
- ``srresnet-x4``: the generator trained on pixel MSE only (eq. 4), no D.
- ``srgan-x4``: the same generator, pixel MSE for the first half of the steps (the paper starts
  SRGAN from a trained SRResNet, section 3.2), then the perceptual loss (eq. 3): the content loss
  in the digits classifier's conv2 maps plus 1e-3 times the adversarial loss.
- ``srgan-mse-x4`` (``--variants``): SRGAN with a pixel content loss (the paper's SRGAN-MSE),
  which tells the adversarial term's effect apart from the feature content loss.
- ``real train digits (reference)``: 1,000 real training digits: the digits-FID floor.

Scores on the 1,000 test digits: ``psnr`` / ``ssim`` against the real 28x28 digits
(:func:`gankit.metrics.translation.psnr_ssim`), ``fid`` (digits-FID against the real test digits)
and ``accuracy`` (the shipped digits classifier on the outputs) from
:func:`gankit.metrics.translation.digits_scores`, and ``grad``: the mean gradient magnitude of the
outputs over that of the real digits (1: as sharp as real digits; blur is below 1).

The digits classifier is both SRGAN's default content network and the digits-FID feature
extractor (its conv2 maps in the loss, its 128-d fc features in FID), so SRGAN is partly trained
toward the metric's network; the ``srgan-mse-x4`` row has no such link.

Each row is appended, with the command that made it, to ``benchmarks/results/translate_srgan.jsonl``;
``--table`` prints the Markdown table (mean ± standard error over seeds) from the recorded rows.

Usage:
    python benchmarks/translate_srgan.py --seeds 2   # ~12 minutes on the shared 2-core machine, 1 thread
    python benchmarks/translate_srgan.py --seeds 2 --variants srgan-mse-x4 --no-bicubic --img ''
    python benchmarks/translate_srgan.py --steps 20 --seeds 1 --no-record --img ''   # smoke run
    python benchmarks/translate_srgan.py --variants srresnet-x4 --steps 400 --seeds 1 --set lr=1e-4 \\
        --no-bicubic --img ''
    python benchmarks/translate_srgan.py --table
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
from gankit.systems.i2i import parse_overrides
from gankit.systems.srgan import bicubic_upsample
# benchmarks/bench_stats.py (this folder is on sys.path)
from bench_stats import append_rows, mean_se, save_columns_in_two_blocks
from gankit.metrics.image_stats import gradient_magnitude

RESULTS = Path(__file__).parent / "results" / "translate_srgan.jsonl"
FACTOR = 4  # digits-x4: 7x7 -> 28x28
VARIANTS = {  # row name -> (preset, overrides)
    "srresnet-x4": ("srresnet-x4", {}),
    "srgan-x4": ("srgan-x4", {}),
    "srgan-mse-x4": ("srgan-x4", {"content": "pixel"}),
}


def score(y: torch.Tensor, test, labels: torch.Tensor, paired: bool = True) -> dict[str, float | None]:
    """The numbers of one row for images ``y`` [1000, 1, 28, 28] with digit ``labels``; PSNR/SSIM
    only for outputs paired with the test digits."""
    pix = psnr_ssim(y, test.b) if paired else {"psnr": None, "ssim": None}
    return {**pix, **digits_scores(y, reference=test.b, labels=labels),
            "grad": gradient_magnitude(y) / gradient_magnitude(test.b)}


def print_table(path: Path) -> None:
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    groups: dict[tuple, list[dict]] = {}
    for r in rows:
        groups.setdefault((r["row"], r["steps"]), []).append(r)
    print("| row | steps | seeds | PSNR dB ↑ | SSIM ↑ | digits-FID ↓ | classifier acc. | gradient / real "
          "| min / run | command |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for (name, steps), rs in groups.items():
        commands = "; ".join(f"`{c}`" for c in dict.fromkeys(r["command"] for r in rs))
        col = lambda k, d: mean_se([r[k] for r in rs], d)  # noqa: E731
        minutes = sum(r["seconds"] for r in rs) / len(rs) / 60
        print(f"| {name} | {steps} | {len(rs)} | {col('psnr', 2)} | {col('ssim', 3)} | {col('fid', 1)} "
              f"| {col('accuracy', 3)} | {col('grad', 3)} | {minutes:.1f} | {commands} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", type=int, default=2, help="seeds per trained row (default 2)")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds run from here (add seeds to recorded rows)")
    ap.add_argument("--variants", default="srresnet-x4,srgan-x4", help=f"trained rows, of {', '.join(VARIANTS)}")
    ap.add_argument("--steps", type=int, default=0, help="training steps per run (0: the presets' own); "
                                                         "SRGAN's warm-up is half of them")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every trained row (named in the row), e.g. lr=1e-4")
    ap.add_argument("--no-bicubic", action="store_true", help="skip the bicubic and real-digits rows")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu",
                    help="where the runs train (default cpu: the table's times are CPU times)")
    ap.add_argument("--out", default="", help="parent of the run directories (default a temporary folder)")
    ap.add_argument("--img", default="docs/img/srgan-compare.png",
                    help="seed 0's test inputs | bicubic | each trained row | target, as one picture ('' = none)")
    ap.add_argument("--no-record", action="store_true", help="print rows but do not append them to the results")
    ap.add_argument("--table", action="store_true", help="only print the table of the recorded rows")
    args = ap.parse_args()
    if args.table:
        print_table(RESULTS)
        return
    variants = [v for v in args.variants.split(",") if v]
    unknown = [v for v in variants if v not in VARIANTS]
    if unknown:
        ap.error(f"--variants: unknown {', '.join(unknown)}; choose from {', '.join(VARIANTS)}")
    extra_over = parse_overrides(args.overrides)
    torch.set_num_threads(args.threads)
    command = "python benchmarks/translate_srgan.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    out = args.out or tempfile.mkdtemp(prefix="gankit-srgan-")
    test = build_task(resolve_config("srgan-x4"), "test")  # a: [1000, 1, 7, 7], b: [1000, 1, 28, 28]
    new_rows = []

    # Rows without training.
    bicubic = bicubic_upsample(test.a, FACTOR)  # [1000, 1, 28, 28]
    if not args.no_bicubic:
        new_rows.append({"row": "bicubic", "seed": 0, "steps": 0, "seconds": 0.0, **score(bicubic, test, test.y_b)})
        train = build_task(resolve_config("srgan-x4", {"n_train": 1000}), "train")
        new_rows.append({"row": "real train digits (reference)", "seed": 0, "steps": 0, "seconds": 0.0,
                         **score(train.b, test, train.y_b, paired=False)})
        for row in new_rows:
            print(json.dumps(row), flush=True)

    # Trained rows.
    first_outputs = {}
    for name in variants:
        preset, extra = VARIANTS[name]
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            over = {**extra, **extra_over, "seed": seed, "threads": args.threads, "device": args.device}
            if args.steps:
                over["steps"] = args.steps
                if resolve_config(preset)["lambda_adv"] > 0:
                    over["warmup"] = args.steps // 2
            t0 = time.perf_counter()
            r = train_translation(preset, over, out=out, progress=False)
            seconds = time.perf_counter() - t0
            y = load_translator(r.run_dir).translate_batched(test.a)  # [1000, 1, 28, 28]
            label = " ".join([name, *args.overrides])
            row = {"row": label, "seed": seed, "steps": r.step, "warmup": r.system.cfg["warmup"], "seconds": seconds,
                   "run_dir": str(r.run_dir), **score(y, test, test.y_b)}
            print(json.dumps(row), flush=True)
            new_rows.append(row)
            first_outputs.setdefault(label, y)

    if args.img:  # rows of (input, bicubic, each trained row, target)
        save_columns_in_two_blocks([test.a, bicubic, *first_outputs.values(), test.b], args.img)
        print(f"# wrote {args.img}: columns input | bicubic | {' | '.join(first_outputs)} | real, twice")
    if not args.no_record:
        append_rows(RESULTS, new_rows, command)
        print_table(RESULTS)


if __name__ == "__main__":
    main()
