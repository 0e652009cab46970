"""Leave-one-class-out anomaly detection on the bundled 8x8 digits: AnoGAN, f-AnoGAN, PCA, kNN.

Protocol (GANomaly, Akcay et al. 2018): for each held-out class c, class c is the anomaly and the
other nine are normal. The GAN (and f-AnoGAN's encoder, and the baselines) see only the normal
images of gankit's fixed training split of ``digits`` (seed 0: 1,438 train / 359 test images);
every image of the test split (all ten classes, ~36 per class) is scored, and the AUROC has class
c as the positive class.

Methods: f-AnoGAN (one pass), AnoGAN (500 Adam steps of the z search per image, lambda 0.1, on
all 359 test images at once), PCA reconstruction error (16 components), kNN (mean distance to the
5 nearest normal training images). Time per image: the wall time of scoring the whole test split
in one batch, divided by its size, on one CPU thread.

Usage:
    python benchmarks/anomaly_digits.py --classes 0,1 --results benchmarks/results/anomaly_digits.jsonl
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time

import numpy as np
import torch

from gankit.apps.anomaly import DIGITS_OVERRIDES, auroc, fit, score_anogan, score_fanogan, score_knn, score_pca
from gankit.config import DataConfig
from gankit.data import build_dataset


def run_class(c: int, steps: int, encoder_steps: int, anogan_steps: int, out: str) -> dict:
    train = build_dataset(DataConfig(name="digits"), "train")
    test = build_dataset(DataConfig(name="digits"), "test")
    normal = [k for k in range(10) if k != c]
    t0 = time.perf_counter()
    res = fit("quick-mlp", normal, out=out, overrides=DIGITS_OVERRIDES, steps=steps, encoder_steps=encoder_steps)
    fit_s = time.perf_counter() - t0
    m = res.model
    y = (test.y == c).numpy().astype(int)
    row = {"held_out": c, "n_test": len(test), "n_anomalous": int(y.sum()), "n_normal_train": m.info["n_normal_train"],
           "gan_steps": steps, "encoder_steps": encoder_steps, "anogan_steps": anogan_steps, "fit_s": round(fit_s, 1)}
    t = time.perf_counter()
    s = score_fanogan(m.G, m.D, m.E, test.x, kappa=m.info["kappa"])
    row["fanogan_ms"] = 1e3 * (time.perf_counter() - t) / len(test)
    row["fanogan"] = auroc(y, s)
    t = time.perf_counter()
    s = score_anogan(m.G, m.D, test.x, lam=0.1, steps=anogan_steps)
    row["anogan_ms"] = 1e3 * (time.perf_counter() - t) / len(test)
    row["anogan"] = auroc(y, s)
    normal_x = train.x[torch.isin(train.y, torch.tensor(normal))]
    row["pca"] = auroc(y, score_pca(normal_x, test.x, k=16))
    row["knn"] = auroc(y, score_knn(normal_x, test.x, k=5))
    row["speedup"] = row["anogan_ms"] / row["fanogan_ms"]
    return row


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9", help="held-out classes to run, e.g. 0,1")
    p.add_argument("--steps", type=int, default=3000, help="GAN training steps per class")
    p.add_argument("--encoder-steps", type=int, default=3000, help="encoder training steps per class")
    p.add_argument("--anogan-steps", type=int, default=500, help="AnoGAN search steps (the paper's 500)")
    p.add_argument("--results", default=None, help="append one JSON row per class to this .jsonl file")
    a = p.parse_args(argv)
    torch.set_num_threads(1)
    classes = [int(v) for v in a.classes.split(",")]
    rows = []
    print("class  f-AnoGAN  AnoGAN   PCA     kNN     f-AnoGAN ms  AnoGAN ms  speedup  fit s", flush=True)
    with tempfile.TemporaryDirectory(prefix="gankit-anomaly-") as out:
        for c in classes:
            row = run_class(c, a.steps, a.encoder_steps, a.anogan_steps, out)
            row["command"] = "python benchmarks/anomaly_digits.py " + " ".join(sys.argv[1:] if argv is None else argv)
            rows.append(row)
            print(f"{c:5d}  {row['fanogan']:.3f}     {row['anogan']:.3f}    {row['pca']:.3f}   {row['knn']:.3f}   "
                  f"{row['fanogan_ms']:.4f}       {row['anogan_ms']:.2f}      {row['speedup']:.0f}x    {row['fit_s']}",
                  flush=True)
            if a.results:
                with open(a.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
    if len(rows) > 1:
        mean = {k: float(np.mean([r[k] for r in rows])) for k in ("fanogan", "anogan", "pca", "knn", "fanogan_ms",
                                                                  "anogan_ms")}
        print(f"mean   {mean['fanogan']:.3f}     {mean['anogan']:.3f}    {mean['pca']:.3f}   {mean['knn']:.3f}   "
              f"{mean['fanogan_ms']:.4f}       {mean['anogan_ms']:.2f}      "
              f"{mean['anogan_ms'] / mean['fanogan_ms']:.0f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
