"""The stacked-mnist dataset (3 mnist-5k digits as channels, 1,000 classes) and its preset."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from gankit.config import DataConfig, load_preset
from gankit.data import build_dataset, list_datasets
from gankit.data.stacked import STACKS_PER_DIGIT
from gankit.metrics.classes import classify_digits, stacked_mnist_coverage
from helpers import run_cli, user_error

CFG = DataConfig(name="stacked-mnist")


def keys(x: torch.Tensor) -> list[bytes]:
    """One hashable key per gray image [M, H, W] in [-1, 1]: its pixels as bytes 0..255."""
    raw = ((x + 1) * 127.5).round().to(torch.uint8).reshape(len(x), -1).numpy()  # exact for 0..255 sources
    return [row.tobytes() for row in raw]


def source_index(stacks: torch.Tensor, digits: torch.Tensor) -> np.ndarray:
    """[N, 3] index of the digit (row of ``digits`` [M, 1, H, W]) in each channel; -1 where none matches."""
    table = {k: i for i, k in enumerate(keys(digits[:, 0]))}
    flat = [table.get(k, -1) for k in keys(stacks.reshape(-1, *stacks.shape[2:]))]  # channel c of stack i: 3 i + c
    return np.array(flat).reshape(len(stacks), 3)


@pytest.fixture(scope="module")
def digits():
    return {s: build_dataset(DataConfig(name="mnist-5k"), s) for s in ("train", "test")}


@pytest.fixture(scope="module")
def train_stacks():
    return build_dataset(CFG, "train")  # [40000, 3, 28, 28], about a second


@pytest.fixture(scope="module")
def test_stacks():
    return build_dataset(CFG, "test")  # [10000, 3, 28, 28]


def test_it_is_a_listed_dataset_with_shapes_range_and_1000_classes(train_stacks, test_stacks):
    assert "stacked-mnist" in list_datasets()
    assert train_stacks.x.shape == (4000 * STACKS_PER_DIGIT, 3, 28, 28) and train_stacks.x.dtype == torch.float32
    assert test_stacks.x.shape == (1000 * STACKS_PER_DIGIT, 3, 28, 28)
    for ds in (train_stacks, test_stacks):
        assert ds.x.min() >= -1 and ds.x.max() <= 1 and ds.x.min() == -1 and ds.x.max() == 1
        assert ds.y.dtype == torch.int64 and 0 <= int(ds.y.min()) and int(ds.y.max()) <= 999
        assert ds.info["n_classes"] == 1000 and ds.info["kind"] == "image" and ds.info["raw_range"] == [0, 255]
        json.dumps(ds.info)  # stored in checkpoints: JSON-able, and small
    big = build_dataset(DataConfig(name="stacked-mnist", size=32, channels=3), "test")
    assert big.x.shape == (10000, 3, 32, 32) and torch.equal(big.y, test_stacks.y)


def test_stacks_are_fixed_by_the_data_seed(test_stacks):
    again = build_dataset(CFG, "test")
    assert torch.equal(again.x, test_stacks.x) and torch.equal(again.y, test_stacks.y)
    other = build_dataset(DataConfig(name="stacked-mnist", seed=1), "test")
    assert not torch.equal(other.y, test_stacks.y)


def test_each_split_stacks_only_its_own_digits_with_their_true_labels(digits, train_stacks, test_stacks):
    train_keys, test_keys = set(keys(digits["train"].x[:, 0])), set(keys(digits["test"].x[:, 0]))
    assert not train_keys & test_keys  # mnist-5k's splits share no image, so a match names its split
    for n, own, other in ((10_000, "test", "train"), (5_000, "train", "test")):  # all test stacks, 5,000 train
        stacks = test_stacks if own == "test" else train_stacks
        x, y = stacks.x[:n], stacks.y[:n].numpy()
        index = source_index(x, digits[own].x)  # [n, 3]
        assert (index >= 0).all(), f"a {own} stack holds a digit that is not a {own} digit"
        assert (source_index(x[:500], digits[other].x) == -1).all()
        d = digits[own].y.numpy()[index]  # [n, 3] the true digits of the three channels
        assert np.array_equal(y, 100 * d[:, 0] + 10 * d[:, 1] + d[:, 2])
    assert len(np.unique(index)) > 0.95 * len(digits["train"])  # the draws reach (nearly) every train digit
    both = build_dataset(CFG, "all")
    assert torch.equal(both.x[:len(train_stacks)], train_stacks.x) and torch.equal(both.y[len(train_stacks):],
                                                                                   test_stacks.y)


def test_all_1000_labels_occur_about_equally_often(train_stacks):
    counts = np.bincount(train_stacks.y.numpy(), minlength=1000)  # [1000]
    assert counts.size == 1000 and counts.min() >= 10  # 40 expected per mode
    p = counts / counts.sum()
    kl = float(np.sum(p * np.log(p * 1000)))  # about 999 / (2 N) = 0.012 for a uniform draw of N = 40,000
    assert kl < 0.03, kl
    for c in range(3):  # each channel's digit is uniform over 0..9 on its own
        digit = (train_stacks.y.numpy() // 10 ** (2 - c)) % 10
        assert np.bincount(digit, minlength=10).min() > 0.08 * len(digit)


def test_the_digits_classifier_scores_real_test_stacks_near_the_ceiling(digits, test_stacks):
    # Classifying each channel equals classifying its source digit, so classify the 1,000 test digits once
    # and index; 300 stacks classified channel by channel confirm that this is what classify_digits does.
    index = source_index(test_stacks.x, digits["test"].x)  # [10000, 3]
    per_digit = classify_digits(digits["test"].x).numpy()  # [1000]
    pred = per_digit[index]  # [10000, 3]
    assert np.array_equal(classify_digits(test_stacks.x[:300]).numpy(), pred[:300])
    res = stacked_mnist_coverage(pred)
    # Measured (fp32 and bf16 alike): 1000 modes, KL 0.069 on these 10,000 stacks; of that, about 0.05 is
    # the sample size's (999 / (2 N)). A collapsed labelling (one digit in every channel) would give 10.
    assert res["modes_covered"] >= 995 and res["kl"] < 0.1, (res["modes_covered"], res["kl"])
    modes = pred @ np.array([100, 10, 1])
    assert (modes == test_stacks.y.numpy()).mean() > 0.85  # the classifier reads ~97% of test digits right


def test_the_preset_trains_and_eval_reports_modes_and_kl(tmp_path, capsys):
    cfg = load_preset("stacked-mnist")
    assert (cfg.data.name, cfg.c_dim, cfg.G.arch, cfg.D.arch) == ("stacked-mnist", 0, "dcgan", "dcgan")
    code, out, err = run_cli(["train", "--preset", "stacked-mnist", "--steps", "2", "--set", "train.batch=8",
                              "--set", "G.base_channels=8", "--set", "D.base_channels=8", "--out", str(tmp_path),
                              "--quiet", "--threads", "1"], capsys)
    assert code == 0, err
    run = next(tmp_path.iterdir())
    code, out, err = run_cli(["eval", str(run), "--metrics", "classes", "-n", "100", "--json", "--quiet"], capsys)
    assert code == 0, err
    res = json.loads(out)["classes"]
    assert res["n_modes"] == 1000 and 1 <= res["modes_covered"] <= 100 and res["kl"] >= 0 and res["n_samples"] == 100


def test_a_gray_stack_is_refused_in_one_line(capsys):
    user_error(lambda: build_dataset(DataConfig(name="stacked-mnist", channels=1), "test"), "data.channels=1",
               "stacked-mnist", "0 or 3")
    code, out, err = run_cli(["train", "--preset", "stacked-mnist", "--set", "data.channels=1", "--dry-run"], capsys)
    assert code == 2 and "data.channels=1" in err and len(err.strip().splitlines()) == 1, err
