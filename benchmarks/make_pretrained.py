"""Train the generators gankit ships and write them into src/gankit/pretrained/ (gankit.pretrained).

Each is a preset trained with a fixed seed, fp32 and one intra-op thread (so that the same command gives the
same file on any CPU), scored with `gankit eval`'s digits protocol (10,000 samples against the test split),
and written as a slim checkpoint (G_ema and D; gankit.pretrained.slim). Its grid goes to docs/img/.

Run:  .venv/bin/python benchmarks/make_pretrained.py [--name mnist] [--preset quick] [--seed 0]
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path

import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.evaluate import evaluate
from gankit.pretrained import PRETRAINED, slim
from gankit.train import train

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--name", default="mnist", choices=sorted(PRETRAINED))
    ap.add_argument("--preset", default="quick")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    cfg = apply_overrides(load_preset(args.preset), [f"train.seed={args.seed}", "train.threads=1",
                                                     "train.precision=fp32", "train.device=cpu"])
    with tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        result = train(cfg, out=tmp, progress=True, report=False)
        seconds = time.perf_counter() - t0
        scores = evaluate(result.run_dir, metrics="fid,pr,classes", n=10_000, seed=0, record=False)
        target = ROOT / "src" / "gankit" / "pretrained" / PRETRAINED[args.name]
        torch.save(slim(load_checkpoint(result.run_dir)), target)
        shutil.copyfile(result.samples, ROOT / "docs" / "img" / f"pretrained-{args.name}.png")
    print(json.dumps({"name": args.name, "preset": args.preset, "seed": args.seed, "steps": result.step,
                      "train_seconds": round(seconds, 1), "bytes": target.stat().st_size,
                      "fid": round(scores["fid"]["value"], 2), "precision": scores["pr"]["precision"],
                      "recall": scores["pr"]["recall"], "classes_covered": scores["classes"]["classes_covered"],
                      "class_kl": round(scores["classes"]["kl"], 4)}, indent=1))


if __name__ == "__main__":
    main()
