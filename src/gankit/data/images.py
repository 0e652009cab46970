"""User data: a folder of images, or a ``.npy`` / ``.npz`` array file, scaled to [-1, 1].

Also the image helpers every image set shares: uint8 -> [-1, 1], resizing and channel changes.

Folder rules: files ending in .png, .jpg, .jpeg, .bmp or .webp (any case) directly inside the
folder are read with Pillow; if there are none, each subfolder that holds such files is a class
(labels 0, 1, ... in sorted subfolder order). Gray modes stay gray, everything else is RGB (alpha
is dropped; 16-bit gray becomes 8-bit); ``channels`` 1 or 3 converts every image.

Array rules: see :func:`load_array_file`.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import NamedTuple

import numpy as np
import torch
import torch.nn.functional as F

from gankit.errors import UserError

IMAGE_EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
GRAY_MODES = ("1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "F")  # Pillow's gray modes
LUMA_WEIGHTS = (0.299, 0.587, 0.114)  # ITU-R 601-2 luma, what Pillow's convert("L") uses


# ----------------------------------------------------------------------------------------------
# Helpers shared by every image set.


def uint8_to_model(x: np.ndarray) -> torch.Tensor:
    """uint8 pixels 0..255 -> float32 in [-1, 1] (``x / 127.5 - 1``), same shape.

    Example:
        >>> uint8_to_model(np.array([0, 255], dtype=np.uint8)).tolist()
        [-1.0, 1.0]
    """
    return torch.from_numpy(x.astype(np.float32)).div_(127.5).sub_(1.0)  # astype copies


def convert_channels(x: torch.Tensor, channels: int) -> torch.Tensor:
    """[N, C, H, W] with C in (1, 3) -> [N, channels, H, W]; ``channels`` 0 keeps C.

    RGB -> gray uses the ITU-R 601-2 luma weights (as Pillow does); gray -> RGB repeats the plane.

    Example:
        >>> convert_channels(torch.zeros(2, 1, 4, 4), 3).shape
        torch.Size([2, 3, 4, 4])
    """
    if channels == 0 or x.shape[1] == channels:
        return x
    if channels == 3 and x.shape[1] == 1:
        return x.repeat(1, 3, 1, 1)  # [N, 3, H, W]
    if channels == 1 and x.shape[1] == 3:
        weights = torch.tensor(LUMA_WEIGHTS, dtype=x.dtype).view(1, 3, 1, 1)
        return (x * weights).sum(dim=1, keepdim=True)  # [N, 1, H, W]
    raise UserError(f"cannot convert {x.shape[1]} channels to {channels}; expected 0, 1 or 3")


def resize_images(x: torch.Tensor, size: int) -> torch.Tensor:
    """[N, C, H, W] in [-1, 1] -> [N, C, size, size], bilinear with antialiasing; 0 keeps size.

    Example:
        >>> resize_images(torch.zeros(2, 1, 8, 8), 4).shape
        torch.Size([2, 1, 4, 4])
    """
    if size == 0 or tuple(x.shape[2:]) == (size, size):
        return x
    out = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    return out.clamp_(-1.0, 1.0)  # [N, C, size, size]; clamp only guards float round-off


# ----------------------------------------------------------------------------------------------
# What a user file gives us.


@dataclass
class UserData:
    """Scaled user data: ``x`` in [-1, 1] ([N, C, H, W] or [N, D]) and its facts.

    ``x_test`` / ``y_test`` are set only for an ``.npz`` that holds "x_test".
    """

    x: torch.Tensor
    y: torch.Tensor | None
    kind: str  # "image" or "vector"
    raw_range: list[float]  # raw [lo, hi] mapped linearly to [-1, 1]
    x_test: torch.Tensor | None = None
    y_test: torch.Tensor | None = None
    extra: dict = field(default_factory=dict)  # more JSON-able facts for Dataset.info


# ----------------------------------------------------------------------------------------------
# Folders of images.


def _image_files(folder: Path) -> list[Path]:
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS
    )


def _read_image(path: Path, gray: bool) -> np.ndarray:
    """One image file -> [H, W, C] uint8 with C = 1 (gray) or 3 (RGB)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            img.load()
            if img.mode.startswith("I") or img.mode == "F":
                img = Image.fromarray(_deep_to_uint8(np.asarray(img), img.mode, path))  # "L"
            img = img.convert("L" if gray else "RGB")
    except UserError:
        raise
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise UserError(f"cannot read image {path}: {err}") from None
    pixels = np.asarray(img, dtype=np.uint8)
    return pixels[:, :, None] if pixels.ndim == 2 else pixels  # [H, W, C]


def _deep_to_uint8(values: np.ndarray, mode: str, path: Path) -> np.ndarray:
    """16- or 32-bit gray pixels -> uint8 (Pillow's own convert("L") would clip at 255).

    "I;16" modes are 16-bit by definition; a 32-bit "I" image is taken as 16-bit only if a value
    exceeds 255.
    """
    top = float(values.max()) if values.size else 0.0
    if values.dtype.kind == "f" or values.min() < 0 or top > 65535:
        raise UserError(
            f"cannot read image {path}: {values.dtype} pixels in [{values.min()}, {top}]; "
            f"save it as 8- or 16-bit gray or RGB"
        )
    divisor = 257.0 if mode.startswith("I;16") or top > 255 else 1.0  # 0..65535 -> 0..255
    return np.round(values.astype(np.float64) / divisor).astype(np.uint8)


def _is_colour(path: Path) -> bool:
    """Whether Pillow opens the file in a colour mode (reads only the header)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as img:
            return img.mode not in GRAY_MODES
    except (OSError, UnidentifiedImageError, SyntaxError, ValueError) as err:
        raise UserError(f"cannot read image {path}: {err}") from None


def load_image_folder(folder: Path, size: int = 0, channels: int = 0) -> UserData:
    """Read every image of a folder (or of its class subfolders) into [N, C, H, W] in [-1, 1].

    Args:
        folder: the folder.
        size: resize every image to size x size (bilinear, antialiased); 0 keeps sizes, which
            must then all be equal.
        channels: 1 = gray, 3 = RGB, 0 = RGB if any image is colour, else gray.

    Returns:
        :class:`UserData` with labels when class subfolders were used (``extra["classes"]``
        lists their names).

    Raises:
        UserError: no image files; an unreadable image (named); mixed sizes with ``size`` 0.

    Example:
        >>> import tempfile, pathlib
        >>> from PIL import Image
        >>> d = pathlib.Path(tempfile.mkdtemp())
        >>> for i in range(3): Image.new("L", (6, 5), 10 * i).save(d / f"{i}.png")
        >>> load_image_folder(d).x.shape
        torch.Size([3, 1, 5, 6])
    """
    folder = Path(folder)
    files = _image_files(folder)
    labels: list[int] | None = None
    classes: list[str] = []
    if not files:  # one level of class subfolders
        for sub in sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")):
            found = _image_files(sub)
            if found:
                labels = (labels or []) + [len(classes)] * len(found)
                classes.append(sub.name)
                files += found
    if not files:
        raise UserError(
            f"no image files in folder {folder} (nor in its subfolders); "
            f"gankit reads files ending in {', '.join(IMAGE_EXTENSIONS)}"
        )
    if channels not in (0, 1, 3):
        raise UserError(f"channels must be 0 (as found), 1 (gray) or 3 (RGB), got {channels}")
    gray = channels == 1 or (channels == 0 and not any(_is_colour(p) for p in files))

    images: list[torch.Tensor] = []
    first_size: tuple[Path, tuple[int, int]] | None = None
    for path in files:
        pixels = _read_image(path, gray)  # [H, W, C]
        hw = (pixels.shape[0], pixels.shape[1])
        if first_size is None:
            first_size = (path, hw)
        elif size == 0 and hw != first_size[1]:
            raise UserError(
                f"images in {folder} have different sizes ({first_size[0].name} is "
                f"{first_size[1][1]}x{first_size[1][0]}, {path.name} is {hw[1]}x{hw[0]} pixels, "
                f"width x height); pass --size N (data.size) to resize all to N x N"
            )
        image = uint8_to_model(pixels).permute(2, 0, 1)[None]  # [1, C, H, W]
        images.append(resize_images(image, size)[0])  # [C, H', W']
    x = torch.stack(images)  # [N, C, H, W]
    y = torch.tensor(labels, dtype=torch.int64) if labels is not None else None  # [N]
    extra: dict = {"source": str(folder)}
    if classes:
        extra["classes"] = classes
    return UserData(x=x, y=y, kind="image", raw_range=[0.0, 255.0], extra=extra)


# ----------------------------------------------------------------------------------------------
# .npy / .npz arrays.

_ACCEPTED_RANKS = (
    "rank 2 [N, D] vectors, rank 3 [N, H, W] gray images, "
    "rank 4 [N, C, H, W] or [N, H, W, C] images with C = 1 or 3"
)


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    """The arrays of a .npy or .npz file by role: "x", and for an .npz optional y/x_test/y_test."""
    try:
        loaded = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as err:
        raise UserError(f"cannot read array file {path}: {err}") from None
    if isinstance(loaded, np.ndarray):
        return {"x": loaded}
    with loaded:
        keys = list(loaded.files)
        try:
            if "x" in keys:
                roles = [k for k in ("x", "y", "x_test", "y_test") if k in keys]
                return {k: loaded[k] for k in roles}
            if len(keys) == 1:
                return {"x": loaded[keys[0]]}
        except ValueError as err:  # e.g. an object array, which would need unpickling
            raise UserError(f"cannot read arrays from {path}: {err}") from None
    if not keys:
        raise UserError(f"{path} holds no arrays; expected an array named 'x'")
    raise UserError(
        f"{path} holds several arrays ({', '.join(keys)}) but none named 'x'; "
        f"name the data 'x' (optional: 'y' labels, 'x_test', 'y_test')"
    )


def _layout(a: np.ndarray, where: str) -> tuple[np.ndarray, str]:
    """Put an array in our layout: [N, D] vectors or [N, C, H, W] images."""
    if a.ndim == 2:
        out, kind = a, "vector"
    elif a.ndim == 3:
        out, kind = a[:, None], "image"  # [N, H, W] -> [N, 1, H, W]
    elif a.ndim == 4 and a.shape[1] in (1, 3):
        out, kind = a, "image"  # [N, C, H, W]
    elif a.ndim == 4 and a.shape[3] in (1, 3):
        out, kind = a.transpose(0, 3, 1, 2), "image"  # [N, H, W, C] -> [N, C, H, W]
    else:
        raise UserError(
            f"{where} has rank {a.ndim}, shape {list(a.shape)}; accepted: {_ACCEPTED_RANKS}"
        )
    if out.shape[0] == 0:
        raise UserError(f"{where} holds no samples (shape {list(a.shape)})")
    if a.dtype.kind not in "biuf":
        raise UserError(f"{where} has dtype {a.dtype}; expected numbers (uint8 or float)")
    return out, kind


def _labels(y: np.ndarray | None, n: int, where: str) -> torch.Tensor | None:
    if y is None:
        return None
    if y.ndim != 1 or y.shape[0] != n:
        raise UserError(f"{where} must have shape [{n}] (a label per sample), got {list(y.shape)}")
    if y.dtype.kind not in "biuf" or not np.all(np.isfinite(y)) or np.any(y != np.round(y)):
        raise UserError(f"{where} must hold whole-number class labels, got dtype {y.dtype}")
    if y.size and y.min() < 0:
        raise UserError(f"{where} must hold labels >= 0, found {int(y.min())}")
    return torch.from_numpy(y.astype(np.int64))  # [N]


def load_array_file(path: Path) -> UserData:
    """Read a ``.npy`` or ``.npz`` file and scale it to [-1, 1].

    An ``.npz`` uses the array "x" (else its only array), optional "y" labels and optional
    "x_test" / "y_test". Layout by rank: 2 = [N, D] vectors; 3 = [N, H, W] gray images;
    4 = [N, C, H, W] or channel-last [N, H, W, C] images with C in (1, 3).

    Scaling: uint8 -> ``x / 127.5 - 1``. Float (or other integer) images with every value in
    [0, 1] -> ``2 x - 1``; already in [-1, 1] -> kept. Float vectors are divided by their largest
    ``|value|`` (``extra["scale"]`` = 1 / that). "x" and "x_test" share one rule and one scale.

    Raises:
        UserError: unreadable file, several arrays without "x", a rank or layout not listed
            above, NaN or inf, float images outside [-1, 1], labels that do not fit.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "v.npy"
        >>> np.save(p, np.array([[2.0, -4.0], [1.0, 0.0]]))
        >>> data = load_array_file(p)
        >>> data.x.tolist(), data.extra["scale"]
        ([[0.5, -1.0], [0.25, 0.0]], 0.25)
    """
    path = Path(path)
    arrays = _read_arrays(path)
    x, kind = _layout(arrays["x"], f"{path}['x']" if path.suffix == ".npz" else str(path))
    x_test = None
    if "x_test" in arrays:
        x_test, kind_test = _layout(arrays["x_test"], f"{path}['x_test']")
        if kind_test != kind or x_test.shape[1:] != x.shape[1:]:
            raise UserError(
                f"{path}: 'x_test' samples have shape {list(x_test.shape[1:])}, but 'x' samples "
                f"have {list(x.shape[1:])}; they must match"
            )
    parts = [a for a in (x, x_test) if a is not None]
    extra: dict = {"source": str(path)}

    if all(a.dtype == np.uint8 for a in parts):
        scaled = [uint8_to_model(a) for a in parts]
        raw_range = [0.0, 255.0]
    else:
        floats = [a.astype(np.float64) for a in parts]
        for a, name in zip(floats, ("x", "x_test")):
            bad = int(np.count_nonzero(~np.isfinite(a)))
            if bad:
                raise UserError(f"{path}: '{name}' holds {bad} NaN or infinite values; remove them")
        lo = min(float(a.min()) for a in floats)
        hi = max(float(a.max()) for a in floats)
        if kind == "vector":
            peak = max(abs(lo), abs(hi)) or 1.0  # all zeros: nothing to scale
            scale = 1.0 / peak
            scaled = [torch.from_numpy(a * scale).to(torch.float32) for a in floats]
            raw_range = [-peak, peak]
            extra["scale"] = scale
        elif lo >= 0.0 and hi <= 1.0:
            scaled = [torch.from_numpy(a * 2.0 - 1.0).to(torch.float32) for a in floats]
            raw_range = [0.0, 1.0]
        elif lo >= -1.0 and hi <= 1.0:
            scaled = [torch.from_numpy(a).to(torch.float32) for a in floats]
            raw_range = [-1.0, 1.0]
        else:
            raise UserError(
                f"{path}: {parts[0].dtype} images have values in [{lo:g}, {hi:g}]; expected uint8 "
                f"(0..255) or floats in [0, 1] or [-1, 1]"
            )
    y = _labels(arrays.get("y"), x.shape[0], f"{path}['y']")
    y_test = None
    if x_test is not None:
        y_test = _labels(arrays.get("y_test"), x_test.shape[0], f"{path}['y_test']")
    assert all(math.isfinite(v) for v in raw_range)
    return UserData(
        x=scaled[0].contiguous(),
        y=y,
        kind=kind,
        raw_range=raw_range,
        x_test=scaled[1].contiguous() if x_test is not None else None,
        y_test=y_test,
        extra=extra,
    )


# ----------------------------------------------------------------------------------------------
# IMAGES: the one reader of every command that takes images (invert, anomaly score, translate apply).

#: Splits a ``SPLIT:INDICES`` spec may name (those of :func:`gankit.data.build_dataset`).
SPLIT_NAMES = ("train", "test", "all")
_SPLIT_SPEC = re.compile(r"^(train|test|all):(.*)$")
_INDEX_PART = re.compile(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?")
IMAGES_SYNTAX = ("a folder of images, an image file, a .npy / .npz array, or SPLIT:INDICES of the run's dataset "
                 "(SPLIT train, test or all; e.g. test:0,5,9 or test:0-99 or test:all)")


class Images(NamedTuple):
    """What :func:`read_images` returns: the images, their labels and a name per image."""

    x: torch.Tensor  # [N, *shape] float32 in [-1, 1]
    y: torch.Tensor | None  # [N] int64 labels, or None
    names: list[str]  # "test:4", the file's path within the folder, or "file.npz[i]"

    @property
    def index(self) -> list[int] | None:
        """The dataset indices when the images came from ``SPLIT:INDICES``, else None."""
        parts = [n.split(":") for n in self.names]
        if not parts or not all(len(p) == 2 and p[0] in SPLIT_NAMES and p[1].isdigit() for p in parts):
            return None
        return [int(p[1]) for p in parts]


def parse_indices(body: str, n: int, where: str = "the split", context: str = "",
                  most: int | None = None) -> list[int]:
    """``"0,5,9"``, ``"0-99"``, ``"3,10-12"`` or ``"all"`` -> indices into a split of ``n`` examples.

    Ranges include both ends; order and repeats are kept as given. ``where`` names the split in
    errors ("the test split of digits"); ``context`` starts them (e.g. "IMAGES 'test:0-9'").

    Raises:
        UserError: bad syntax, a range that ends before it starts, an index >= n, or more than ``most``
            indices in all (None: no limit but n); each is found before the list is built.

    Example:
        >>> parse_indices("3,10-12", 20)
        [3, 10, 11, 12]
        >>> parse_indices("all", 3)
        [0, 1, 2]
    """
    label = f"{context}: " if context else ""
    if body.strip() == "all":
        return list(range(n))
    out: list[int] = []
    for part in body.split(","):
        m = _INDEX_PART.fullmatch(part)
        if m is None:
            raise UserError(f"{label}bad image spec {body!r}: expected whole-number indices, ranges A-B or all, "
                            f"e.g. test:0,5,9 or test:0-99 or test:all")
        a, b = int(m.group(1)), int(m.group(2) or m.group(1))
        if b < a:
            raise UserError(f"{label}bad index range {part.strip()!r}: the end is before the start")
        if b >= n:  # before the range is built: "0-99999999999" must not fill the memory first
            raise UserError(f"{label}index {a if a >= n else b} is out of range: {where} has {n} examples, "
                            f"valid indices are 0..{n - 1}")
        if most is not None and len(out) + (b - a + 1) > most:
            raise UserError(f"{label}{len(out) + b - a + 1:,} or more of {where}, more than the {most:,} allowed")
        out.extend(range(a, b + 1))
    return out


def read_images(spec: str | Path, shape: tuple[int, ...], dataset=None, also: str = "",
                what: str = "this model takes") -> Images:
    """The IMAGES argument of a command, as [N, *shape] in [-1, 1], with labels and a name per image.

    ``spec`` is one of:

    - ``SPLIT:INDICES`` with SPLIT ``train``, ``test`` or ``all`` and INDICES ``I,J,K``, ``A-B``
      (both ends included), a mix (``0-9,20``) or ``all``: examples of the run's dataset (needs
      ``dataset``); labels come with them where the dataset has some;
    - a folder of images (class subfolders give labels), one image file (.png, .jpg, ...), or a
      ``.npy`` / ``.npz`` array file ("y" gives labels). Folders and arrays follow the rules of
      ``gankit train --data``; images are then converted to ``shape``'s channels and resized to
      its size (bilinear, antialiased).

    Args:
        spec: the argument as the user typed it.
        shape: (C, H, W) the model takes, or (D,) for vectors.
        dataset: the run's dataset for ``SPLIT:INDICES``: a :class:`gankit.config.DataConfig`
            (built with :func:`gankit.data.build_dataset`), or a function split -> Dataset (to
            share one build between calls); None = paths only.
        also: other accepted forms a caller handles itself, named in the error for a missing path.
        what: how errors name the shape, e.g. "this generator makes".

    Returns:
        :class:`Images` (x [N, *shape] float32, labels [N] or None, names "test:4" / the file's
        path within the folder / "file.npz[i]"); unpacks as ``x, y, names``.

    Raises:
        UserError: bad index syntax or an index out of range, a missing or unreadable file, an
            unknown suffix, or data of another shape; one line naming IMAGES and what was expected.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "x.npy"
        >>> np.save(p, np.zeros((3, 8, 8), dtype=np.uint8))
        >>> x, y, names = read_images(p, (1, 4, 4))
        >>> tuple(x.shape), y, names
        ((3, 1, 4, 4), None, ['x.npy[0]', 'x.npy[1]', 'x.npy[2]'])
    """
    text = str(spec)
    m = _SPLIT_SPEC.match(text)
    if m is not None and dataset is not None:
        split, body = m.groups()
        if callable(dataset):
            data = dataset(split)
        else:
            from gankit.data import build_dataset  # gankit.data imports this module: a module-level import is a cycle

            data = build_dataset(dataset, split)
        idx = parse_indices(body, len(data), f"the {split} split of {data.name}", f"IMAGES {text!r}")
        if not idx:
            raise UserError(f"IMAGES {text!r} selects no examples: the {split} split of {data.name} is empty")
        x, y, names = data.x[idx], None if data.y is None else data.y[idx], [f"{split}:{i}" for i in idx]
        if tuple(x.shape[1:]) != tuple(shape):
            raise UserError(f"IMAGES {text!r}: the dataset has shape {list(x.shape[1:])}; {what} {list(shape)}")
        return Images(x.float().contiguous(), y, names)
    forms = IMAGES_SYNTAX if dataset is not None else "a folder of images, an image file, a .npy / .npz array"
    path = Path(text).expanduser()
    if not path.exists():
        raise UserError(f"IMAGES {text!r}: no such file or folder; expected {forms}" + (f", or {also}" if also else ""))
    names: list[str]
    y = None
    if path.is_dir():
        data = load_image_folder(path, size=shape[-1] if len(shape) == 3 else 0,
                                 channels=shape[0] if len(shape) == 3 else 0)
        x, y = data.x, data.y
        files = _image_files(path)
        if not files:  # class subfolders, in the loader's order
            files = [f for sub in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("."))
                     for f in _image_files(sub)]
        names = [str(f.relative_to(path)) for f in files] if len(files) == len(x) else [str(i) for i in range(len(x))]
    elif path.suffix.lower() in IMAGE_EXTENSIONS:
        if len(shape) != 3:
            raise UserError(f"IMAGES {text!r} is an image, but {what} vectors of shape {list(shape)}")
        pixels = _read_image(path, gray=shape[0] == 1)  # [H, W, C] uint8
        x = uint8_to_model(pixels).permute(2, 0, 1)[None]  # [1, C, H, W]
        names = [path.name]
    elif path.suffix.lower() in (".npy", ".npz"):
        data = load_array_file(path)
        x, y = data.x, data.y
        names = [f"{path.name}[{i}]" for i in range(len(x))]
    else:
        raise UserError(f"IMAGES {text!r} is a {path.suffix or 'suffix-less'} file; expected {forms}")
    if x.dim() == 4 and len(shape) == 3:
        x = resize_images(convert_channels(x, shape[0]), shape[-1])  # the model's channels and size
    if tuple(x.shape[1:]) != tuple(shape):
        raise UserError(f"IMAGES {text!r} have shape {list(x.shape[1:])}; {what} {list(shape)}")
    return Images(x.float().contiguous(), y, names)
