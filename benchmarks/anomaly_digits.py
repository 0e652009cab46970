"""Leave-one-class-out anomaly detection on bundled digits: AnoGAN, f-AnoGAN, PCA, kNN.

Protocol (GANomaly, Akcay et al. 2018): for each held-out class c, class c is the anomaly and the
other nine are normal. The GAN (and f-AnoGAN's encoder, and the baselines) see only the normal
images of the preset's training split; every image of the test split (all ten classes) is scored,
and the AUROC has class c as the positive class.

GANs: ``--preset quick-mlp`` (the default) is the small MLP GAN of ``DIGITS_OVERRIDES`` on the 8x8
``digits`` (gankit's fixed split, seed 0: 1,438 train / 359 test images); any other unconditional
image preset trains on its own data, e.g. ``--preset dcgan-mnist`` on the 28x28 ``mnist-5k``
(4,000 train / 1,000 test), with its steps unless ``--steps`` says otherwise.

Methods: f-AnoGAN (one pass), AnoGAN (500 Adam steps of the z search per image, lambda 0.1, on
all 359 test images at once), PCA reconstruction error (16 components), kNN (mean distance to the
5 nearest normal training images). Time per image: the wall time of scoring the whole test split
in one batch, divided by its size, on one CPU thread.

Usage:
    python benchmarks/anomaly_digits.py --classes 0,1 --results benchmarks/results/anomaly_digits.jsonl
    python benchmarks/anomaly_digits.py --preset dcgan-mnist --threads 2 --results /tmp/anomaly-dcgan.jsonl
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
from gankit.config import apply_overrides, load_preset
from gankit.data import build_dataset


def preset_config(preset: str, threads: int, extra: list[str]):
    """The GAN's config: quick-mlp with DIGITS_OVERRIDES, any other preset as it ships; no snapshots."""
    base = list(DIGITS_OVERRIDES) if preset == "quick-mlp" else []
    quiet = ["train.snapshot_every=100000", "train.ckpt_every=100000", f"train.threads={threads}"]
    return apply_overrides(load_preset(preset), base + quiet + extra)


def run_class(c: int, cfg, steps: int | None, encoder_steps: int, anogan_steps: int, out: str) -> dict:
    train = build_dataset(cfg.data, "train")
    test = build_dataset(cfg.data, "test")
    normal = [k for k in range(10) if k != c]
    t0 = time.perf_counter()
    res = fit(cfg, normal, out=out, steps=steps, encoder_steps=encoder_steps)
    fit_s = time.perf_counter() - t0
    m = res.model
    y = (test.y == c).numpy().astype(int)
    row = {"preset": cfg.preset, "data": cfg.data.name, "held_out": c, "n_test": len(test), "n_anomalous": int(y.sum()),
           "n_normal_train": m.info["n_normal_train"], "gan_steps": steps or cfg.train.steps,
           "encoder_steps": encoder_steps, "anogan_steps": anogan_steps, "fit_s": round(fit_s, 1),
           "encoder_loss_last": round(float(res.encoder_loss[-1]), 4)}
    t = time.perf_counter()
    s = score_fanogan(m.G, m.D, m.E, test.x, kappa=m.info["kappa"])
    row["fanogan_ms"] = 1e3 * (time.perf_counter() - t) / len(test)
    row["fanogan"] = auroc(y, s)
    row["anogan_ms"] = row["anogan"] = None  # --anogan-steps 0: AnoGAN not run
    if anogan_steps:
        t = time.perf_counter()
        s = score_anogan(m.G, m.D, test.x, lam=0.1, steps=anogan_steps)
        row["anogan_ms"] = 1e3 * (time.perf_counter() - t) / len(test)
        row["anogan"] = auroc(y, s)
    normal_x = train.x[torch.isin(train.y, torch.tensor(normal))]
    row["pca"] = auroc(y, score_pca(normal_x, test.x, k=16))
    row["knn"] = auroc(y, score_knn(normal_x, test.x, k=5))
    row["speedup"] = row["anogan_ms"] / row["fanogan_ms"] if anogan_steps else None
    return row


def line(label: str, r: dict) -> str:
    """One row of the printed table; "-" where AnoGAN was not run."""
    def f(v, spec):
        return "-" if v is None else format(v, spec)
    return (f"{label:>5}  {f(r['fanogan'], '.3f'):8}  {f(r['anogan'], '.3f'):7}  {f(r['pca'], '.3f'):6}  "
            f"{f(r['knn'], '.3f'):6}  {f(r['fanogan_ms'], '.4f'):11}  {f(r['anogan_ms'], '.2f'):9}  "
            f"{f(r['speedup'], '.0f') + ('x' if r['speedup'] else ''):7}  {r['fit_s']}")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--classes", default="0,1,2,3,4,5,6,7,8,9", help="held-out classes to run, e.g. 0,1")
    p.add_argument("--preset", default="quick-mlp", help="an unconditional GAN preset (quick-mlp: DIGITS_OVERRIDES)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="an override on the preset")
    p.add_argument("--threads", type=int, default=1, help="torch threads for training and scoring")
    p.add_argument("--steps", type=int, default=None, help="GAN training steps per class (default: the preset's)")
    p.add_argument("--encoder-steps", type=int, default=3000, help="encoder training steps per class")
    p.add_argument("--anogan-steps", type=int, default=500, help="AnoGAN search steps (the paper's 500; 0: skip)")
    p.add_argument("--results", default=None, help="append one JSON row per class to this .jsonl file")
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    cfg = preset_config(a.preset, a.threads, a.set)
    classes = [int(v) for v in a.classes.split(",")]
    rows = []
    print("class  f-AnoGAN  AnoGAN   PCA     kNN     f-AnoGAN ms  AnoGAN ms  speedup  fit s", flush=True)
    with tempfile.TemporaryDirectory(prefix="gankit-anomaly-") as out:
        for c in classes:
            row = run_class(c, cfg, a.steps, a.encoder_steps, a.anogan_steps, out)
            row["threads"] = a.threads
            row["command"] = "python benchmarks/anomaly_digits.py " + " ".join(sys.argv[1:] if argv is None else argv)
            rows.append(row)
            print(line(str(c), row), flush=True)
            if a.results:
                with open(a.results, "a") as f:
                    f.write(json.dumps(row) + "\n")
    if len(rows) > 1:
        keys = ("fanogan", "anogan", "pca", "knn", "fanogan_ms", "anogan_ms")
        mean = {k: None if rows[0][k] is None else float(np.mean([r[k] for r in rows])) for k in keys}
        mean["speedup"] = mean["anogan_ms"] / mean["fanogan_ms"] if mean["anogan_ms"] is not None else None
        print(line("mean", {**mean, "fit_s": round(float(np.mean([r["fit_s"] for r in rows])), 1)}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
