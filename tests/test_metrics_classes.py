"""Class coverage and Stacked-MNIST mode coverage: hand-counted histograms, KL against SciPy, and
the digits classifier's labels per image and per channel."""

import doctest
import math

import numpy as np
import pytest
import torch
from scipy.stats import entropy
from torch import nn

import gankit.metrics as metrics
import gankit.metrics.classes as classes
from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.errors import UserError
from gankit.features.digits import load_digits_classifier
from gankit.metrics.classes import class_coverage, classify_digits, stacked_mnist_coverage


def _kl_uniform_scipy(counts):
    """Independent reference: scipy's KL(p || q) with q uniform (entropy(pk, qk), natural log)."""
    counts = np.asarray(counts, dtype=float)
    return entropy(counts / counts.sum(), np.full(len(counts), 1.0 / len(counts)))


# ---------------------------------------------------------------------------------------------
# class_coverage


def test_hand_counted_histogram():
    labels = [0] * 6 + [1] * 3 + [7]  # p = 0.6, 0.3, 0.1 on 3 of 10 classes
    r = class_coverage(labels)
    assert r["counts"] == [6, 3, 0, 0, 0, 0, 0, 1, 0, 0]
    assert (r["classes_covered"], r["n_classes"], r["n_samples"]) == (3, 10, 10)
    by_hand = 0.6 * math.log(6) + 0.3 * math.log(3) + 0.1 * math.log(1)  # sum p log(p K)
    assert r["kl"] == pytest.approx(by_hand, rel=1e-12)
    assert r["kl"] == pytest.approx(_kl_uniform_scipy(r["counts"]), rel=1e-12)


def test_kl_extremes_balanced_is_zero_collapsed_is_log_k():
    balanced = class_coverage(np.repeat(np.arange(10), 5))
    assert balanced["kl"] == pytest.approx(0.0, abs=1e-15) and balanced["classes_covered"] == 10
    collapsed = class_coverage(np.full(100, 4), n_classes=10)
    assert collapsed["kl"] == pytest.approx(math.log(10), rel=1e-12)
    assert collapsed["classes_covered"] == 1 and collapsed["counts"][4] == 100


def test_random_histograms_match_scipy():
    rng = np.random.default_rng(0)
    for k in (2, 10, 37):
        labels = rng.integers(0, k, size=300)
        labels = labels[labels % 3 != 1] if k > 2 else labels  # leave some classes empty
        r = class_coverage(labels, n_classes=k)
        assert sum(r["counts"]) == len(labels)
        assert r["kl"] == pytest.approx(_kl_uniform_scipy(r["counts"]), rel=1e-10, abs=1e-14)


def test_logits_tensors_and_arrays_give_the_same_answer():
    labels = np.array([3, 3, 1, 9, 0])
    logits = np.eye(10)[labels] * 5.0 - 1.0  # [5, 10], argmax = labels
    want = class_coverage(labels)
    assert class_coverage(logits) == want
    assert class_coverage(torch.from_numpy(labels)) == want
    assert class_coverage(torch.from_numpy(logits).float()) == want
    assert class_coverage(labels.astype(np.uint8)) == want


@pytest.mark.parametrize(
    "labels, n_classes, match",
    [([0, 10], 10, "0..9"),
     ([-1, 2], 10, "0..9"),
     ([], 10, "non-empty"),
     ([[0, 1], [1, 0]], 10, r"labels \[N\]"),
     (np.zeros((3, 4)), 10, r"logits \[N, 10\]"),
     (np.array([[np.nan] * 10]), 10, "finite"),
     (np.array(["a", "b"]), 10, "dtype"),
     ([0, 1], 0, "n_classes"),
     ([0, 1], 2.0, "n_classes")],
)
def test_class_coverage_user_errors(labels, n_classes, match):
    with pytest.raises(UserError, match=match):
        class_coverage(labels, n_classes=n_classes)


# ---------------------------------------------------------------------------------------------
# stacked_mnist_coverage


def test_stacked_modes_are_hundreds_tens_units_of_channels_0_1_2():
    r = stacked_mnist_coverage([[1, 2, 3], [1, 2, 3], [3, 2, 1], [0, 0, 7]])
    assert r["n_modes"] == 1000 and len(r["counts"]) == 1000
    assert (r["counts"][123], r["counts"][321], r["counts"][7]) == (2, 1, 1)
    assert r["modes_covered"] == 3 and r["n_samples"] == 4
    assert r["channel_counts"][0] == [1, 2, 0, 1, 0, 0, 0, 0, 0, 0]
    assert r["channel_counts"][2][3] == 2 and r["channel_counts"][2][7] == 1
    by_hand = 0.5 * math.log(0.5 * 1000) + 2 * 0.25 * math.log(0.25 * 1000)
    assert r["kl"] == pytest.approx(by_hand, rel=1e-12)
    assert r["kl"] == pytest.approx(_kl_uniform_scipy(r["counts"]), rel=1e-12)


def test_stacked_every_mode_once_is_full_coverage_and_zero_kl():
    triples = np.array([[m // 100, m // 10 % 10, m % 10] for m in range(1000)])
    r = stacked_mnist_coverage(triples)
    assert r["modes_covered"] == 1000 and r["counts"] == [1] * 1000
    assert r["kl"] == pytest.approx(0.0, abs=1e-12)
    one = stacked_mnist_coverage(np.tile([[5, 5, 5]], (26, 1)))
    assert one["modes_covered"] == 1 and one["kl"] == pytest.approx(math.log(1000), rel=1e-12)


def test_stacked_logits_are_reduced_per_channel():
    triples = np.array([[4, 0, 9], [2, 2, 2]])
    logits = np.eye(10)[triples]  # [2, 3, 10]
    assert stacked_mnist_coverage(logits) == stacked_mnist_coverage(triples)


@pytest.mark.parametrize(
    "labels, match",
    [(np.zeros((4, 2), dtype=int), r"\[N, 3\]"),
     (np.zeros(4, dtype=int), r"\[N, 3\]"),
     ([[1, 2, 10]], "0..9"),
     (np.zeros((2, 3, 9)), r"\[N, 3, 10\]")],
)
def test_stacked_user_errors(labels, match):
    with pytest.raises(UserError, match=match):
        stacked_mnist_coverage(labels)


# ---------------------------------------------------------------------------------------------
# classify_digits


@pytest.fixture(scope="module")
def mnist_test():
    return build_dataset(DataConfig(name="mnist-5k"), "test")


def test_classify_gray_images_agrees_with_the_model(mnist_test):
    x = mnist_test.x[:200]
    pred = classify_digits(x, batch_size=64)
    assert pred.shape == (200,) and pred.dtype == torch.int64
    with torch.no_grad():
        assert torch.equal(pred, load_digits_classifier()(x).argmax(1))
    assert float((pred == mnist_test.y[:200]).double().mean()) >= 0.93


def test_classify_stacked_images_channel_by_channel(mnist_test):
    x, y = mnist_test.x, mnist_test.y
    gen = torch.Generator().manual_seed(0)
    idx = torch.randint(0, len(x), (150, 3), generator=gen)  # three digits per image
    stacked = torch.cat([x[idx[:, c]] for c in range(3)], dim=1)  # [150, 3, 28, 28]
    pred = classify_digits(stacked)
    assert pred.shape == (150, 3)
    gray = classify_digits(x)
    assert torch.equal(pred, gray[idx])  # channel c of image i is labelled like digit idx[i, c]
    assert float((pred == y[idx]).double().mean()) >= 0.93
    assert stacked_mnist_coverage(pred)["n_samples"] == 150


def test_classify_with_a_user_model():
    class Always7(nn.Module):
        def forward(self, x):
            return torch.nn.functional.one_hot(torch.full((x.shape[0],), 7), 10).float()

    assert classify_digits(torch.zeros(5, 3, 8, 8), model=Always7()).tolist() == [[7, 7, 7]] * 5


@pytest.mark.parametrize("bad", [torch.zeros(2, 28, 28), torch.zeros(2, 2, 28, 28),
                                 torch.zeros(0, 1, 28, 28)])
def test_classify_user_errors(bad):
    with pytest.raises(UserError, match="x: expected"):
        classify_digits(bad)


# ---------------------------------------------------------------------------------------------
# Package conventions.


def test_exported_from_gankit_metrics_with_documented_sections():
    for name in classes.__all__:
        assert getattr(metrics, name) is getattr(classes, name)
        doc = getattr(classes, name).__doc__
        for section in ("Args:", "Returns:", "Raises:", "Example:"):
            assert section in doc, (name, section)


def test_docstring_examples_run():
    result = doctest.testmod(classes, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0 and result.failed == 0
