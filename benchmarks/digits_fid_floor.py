"""The floor of "digits FID": Fréchet distances in the digits CNN's features between real sets.

A generator can only be judged against the distance that two samples of the *same* real data
already have: the Fréchet distance is biased upwards at finite N (the covariance estimates differ
by chance), and the classifier has seen the training images, so train and test features differ a
little too. This script prints, for the shipped digits CNN (128-d features):

- mnist-5k train first 2,000 vs last 2,000 (disjoint halves, both seen in training);
- mnist-5k train (4,000) vs test (1,000);
- mnist-5k test first 500 vs last 500 (unseen, small N);
- digits (8x8, resized) train (1,438) vs test (359);
- and, for scale: mnist-5k train first 2,000 vs the digits 0-4 of the last 2,000 (half the
  classes dropped, a mode-collapse stand-in), and mnist-5k test vs digits test (another
  distribution of digits).

All splits are fixed (data seed 0), so the numbers are deterministic. The numbers we measured
are in docs/features.md. Digits-FID numbers are NOT comparable with Inception FIDs.

Run:  .venv/bin/python benchmarks/digits_fid_floor.py
"""

from __future__ import annotations

import time

import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.features import extract_features
from gankit.metrics import frechet_distance


def main() -> None:
    start = time.perf_counter()
    train = build_dataset(DataConfig(name="mnist-5k"), "train")
    mnist_train, y_train = train.x, train.y  # [4000, 1, 28, 28], [4000]
    mnist_test = build_dataset(DataConfig(name="mnist-5k"), "test").x  # [1000, 1, 28, 28]
    digits_train = build_dataset(DataConfig(name="digits"), "train").x  # [1438, 1, 8, 8]
    digits_test = build_dataset(DataConfig(name="digits"), "test").x  # [359, 1, 8, 8]
    f = {name: extract_features("digits", x) for name, x in [  # each [N, 128]
        ("mnist_train", mnist_train), ("mnist_test", mnist_test),
        ("digits_train", digits_train), ("digits_test", digits_test)]}

    pairs = [
        ("mnist-5k train[:2000] vs train[2000:]", f["mnist_train"][:2000], f["mnist_train"][2000:]),
        ("mnist-5k train (4000) vs test (1000)", f["mnist_train"], f["mnist_test"]),
        ("mnist-5k test[:500] vs test[500:]", f["mnist_test"][:500], f["mnist_test"][500:]),
        ("mnist-5k train[:2000] vs digits 0-4 of [2000:]", f["mnist_train"][:2000],
         f["mnist_train"][2000:][y_train[2000:] < 5]),
        ("digits train (1438) vs test (359)", f["digits_train"], f["digits_test"]),
        ("mnist-5k test vs digits test (other data)", f["mnist_test"], f["digits_test"]),
    ]
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    print(f"{'pair':<45} {'digits FID':>10}")
    for name, a, b in pairs:
        print(f"{name:<45} {frechet_distance(a, b):>10.3f}")
    print(f"total {time.perf_counter() - start:.1f} s")


if __name__ == "__main__":
    main()
