"""Does bf16 cost quality? The `ring8` and `quick-mlp` presets trained in fp32 and in bf16, seed by seed.

ring8 is scored by mode coverage (the VEEGAN / PacGAN protocol of benchmarks/mode_collapse.py:
2,500 samples, modes covered, high-quality share, KL), quick-mlp by the digit metrics of
benchmarks/image_presets.py (digits FID of 10,000 samples against mnist-5k's test digits, classes
covered, class KL). Each run appends one JSON line to --results; --table prints the comparison
(mean ± standard error over seeds) from one or more results files.

Usage:
    python benchmarks/precision_quality.py --precision fp32 --seeds 3 --results /tmp/pq-fp32.jsonl
    python benchmarks/precision_quality.py --precision bf16 --seeds 3 --results /tmp/pq-bf16.jsonl   # in parallel
    python benchmarks/precision_quality.py --table /tmp/pq-fp32.jsonl /tmp/pq-bf16.jsonl
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from image_presets import mean_se  # benchmarks/ is on sys.path when this file runs as a script

from gankit.config import apply_overrides, load_preset
from gankit.evaluate import evaluate
from gankit.train import train

COLUMNS = {  # preset: [(record key, column title, digits)]
    "ring8": [("modes", "modes (of 8)", 2), ("hq", "high quality %", 1), ("kl", "KL", 3)],
    "quick-mlp": [("fid", "digits FID", 1), ("classes", "classes (of 10)", 1), ("class_kl", "class KL", 3)],
}


def run_one(preset: str, precision: str, seed: int, out: str, threads: int) -> dict:
    cfg = apply_overrides(load_preset(preset), [f"train.precision={precision}", f"train.seed={seed}",
                                                f"train.threads={threads}"])
    t0 = time.perf_counter()
    result = train(cfg, out=out, progress=False)
    seconds = time.perf_counter() - t0
    if result.interrupted:
        raise SystemExit(f"interrupted at step {result.step} of {cfg.train.steps}: {result.run_dir}")
    rec = {"preset": preset, "precision": precision, "seed": seed, "seconds": seconds, "run_dir": str(result.run_dir)}
    if preset == "ring8":
        m = evaluate(result.run_dir, metrics="modes", n=2500, seed=0, record=False)["modes"]
        return {**rec, "modes": m["modes_covered"], "hq": 100.0 * m["high_quality"], "kl": m["kl"]}
    res = evaluate(result.run_dir, metrics="fid,classes", n=10_000, seed=0, features="digits", record=False)
    return {**rec, "fid": res["fid"]["value"], "classes": res["classes"]["classes_covered"],
            "class_kl": res["classes"]["kl"]}


def print_table(records: list[dict]) -> None:
    for preset, cols in COLUMNS.items():
        rows = [r for r in records if r["preset"] == preset]
        if not rows:
            continue
        print(f"\n| `{preset}` | seeds | " + " | ".join(c[1] for c in cols) + " | seconds per run |")
        print("|---" * (len(cols) + 3) + "|")
        for precision in ("fp32", "bf16"):
            sub = [r for r in rows if r["precision"] == precision]
            if sub:
                cells = [mean_se([r[k] for r in sub], d) for k, _, d in cols]
                seeds = ",".join(str(r["seed"]) for r in sorted(sub, key=lambda r: r["seed"]))
                print(f"| {precision} | {seeds} | " + " | ".join(cells)
                      + f" | {mean_se([r['seconds'] for r in sub], 0)} |")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--presets", default="ring8,quick-mlp")
    ap.add_argument("--precision", choices=["fp32", "bf16"], default="fp32")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--first-seed", type=int, default=0)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="", help="parent of the run directories (default a temporary folder)")
    ap.add_argument("--results", default="", help="append one JSON line per run here")
    ap.add_argument("--table", nargs="+", metavar="RESULTS", help="print the comparison from results files and stop")
    args = ap.parse_args()
    if args.table:
        print_table([json.loads(line) for path in args.table for line in open(path) if line.strip()])
        return
    out = args.out or tempfile.mkdtemp(prefix="gankit-pq-")
    records = []
    for preset in args.presets.split(","):
        for seed in range(args.first_seed, args.first_seed + args.seeds):
            rec = run_one(preset, args.precision, seed, out, args.threads)
            records.append(rec)
            print(json.dumps(rec), flush=True)
            if args.results:
                with open(args.results, "a") as f:
                    f.write(json.dumps(rec) + "\n")
    print_table(records)


if __name__ == "__main__":
    main()
