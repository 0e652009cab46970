"""Standard sets downloaded on first use, checked against SHA-256 before anything reads them.

``mnist``, ``fashion-mnist`` and ``cifar10`` are fetched with urllib into
``<cache_dir>/<name>/``: each file goes to a temporary file, its SHA-256 is compared with the
table below, and only a matching file is renamed into place. A file already in the cache (for
example one you placed there by hand, for offline use) is checked the same way each time it is
read. CIFAR-10 is the *binary* release, parsed with numpy, so nothing is ever unpickled.

The base URL of each set can be changed with the ``base_url`` argument or the environment variable
``GANKIT_MIRROR_<NAME>`` (``-`` becomes ``_``, e.g. ``GANKIT_MIRROR_FASHION_MNIST``); the file
names stay the same. Nothing here runs at import time.

Example (downloads 11 MB the first time, so not run by the test-suite):
    >>> from pathlib import Path
    >>> x, y = load_standard("mnist", "test", Path.home() / ".cache" / "gankit")  # doctest: +SKIP
    >>> x.shape, y.shape  # doctest: +SKIP
    ((10000, 1, 28, 28), (10000,))
"""

from __future__ import annotations

import gzip
import hashlib
import http.client
import os
import sys
import tarfile
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from gankit.errors import UserError

CHUNK_BYTES = 1 << 20  # read and hash 1 MiB at a time
TIMEOUT_S = 60.0  # seconds without data before a download counts as failed


@dataclass(frozen=True)
class RemoteFile:
    """One file of a standard set: its name under the base URL and its SHA-256 (hex)."""

    filename: str
    sha256: str
    size_bytes: int = 0  # expected size, for the progress bar only; 0 = unknown


@dataclass(frozen=True)
class StandardSet:
    """A downloadable set: where it lives, its files by role, and how to read them."""

    name: str
    base_url: str  # ends with "/"; file URLs are base_url + filename
    files: dict[str, RemoteFile] = field(default_factory=dict)  # role -> file
    description: str = ""

    def url(self, role: str, base_url: str | None = None) -> str:
        return (base_url or self.base_url).rstrip("/") + "/" + self.files[role].filename


# MNIST from the ossci-datasets S3 mirror that torchvision uses (yann.lecun.com often refuses).
# The mirror serves byte-identical files. SHA-256 values from tensorflow/datasets,
# tensorflow_datasets/url_checksums/mnist.txt; the same four values appear in
# ankane/torchvision-ruby, lib/torchvision/datasets/mnist.rb.
_MNIST = StandardSet(
    name="mnist",
    base_url="https://ossci-datasets.s3.amazonaws.com/mnist/",
    files={
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz",
            "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609",
            9_912_422,
        ),
        "train_labels": RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c",
            28_881,
        ),
        "test_images": RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6",
            1_648_877,
        ),
        "test_labels": RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6",
            4_542,
        ),
    },
    description="MNIST handwritten digits, 28x28 gray, 60,000 train / 10,000 test (11 MB download)",
)

# Fashion-MNIST from Zalando Research's S3 site. SHA-256 values from tensorflow/datasets,
# tensorflow_datasets/url_checksums/fashion_mnist.txt; the same four values appear in
# ankane/torchvision-ruby, lib/torchvision/datasets/fashion_mnist.rb.
_FASHION_MNIST = StandardSet(
    name="fashion-mnist",
    base_url="http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    files={
        "train_images": RemoteFile(
            "train-images-idx3-ubyte.gz",
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
            26_421_880,
        ),
        "train_labels": RemoteFile(
            "train-labels-idx1-ubyte.gz",
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
            29_515,
        ),
        "test_images": RemoteFile(
            "t10k-images-idx3-ubyte.gz",
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
            4_422_102,
        ),
        "test_labels": RemoteFile(
            "t10k-labels-idx1-ubyte.gz",
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
            5_148,
        ),
    },
    description="Fashion-MNIST clothing, 28x28 gray, 60,000 train / 10,000 test (30 MB download)",
)

# CIFAR-10, binary version, from the Toronto site. SHA-256 from tensorflow/datasets,
# tensorflow_datasets/url_checksums/cifar10.txt; the same value appears in
# ankane/torchvision-ruby, lib/torchvision/datasets/cifar10.rb.
_CIFAR10 = StandardSet(
    name="cifar10",
    base_url="https://www.cs.toronto.edu/~kriz/",
    files={
        "archive": RemoteFile(
            "cifar-10-binary.tar.gz",
            "c4a38c50a1bc5f3a1c5537f2155ab9d68f9f25eb1ed8d9ddda3db29a59bca1dd",
            170_052_171,
        ),
    },
    description="CIFAR-10 objects, 32x32 RGB, 50,000 train / 10,000 test (170 MB download)",
)

STANDARD_SETS: dict[str, StandardSet] = {s.name: s for s in (_MNIST, _FASHION_MNIST, _CIFAR10)}

# Inside cifar-10-binary.tar.gz: 10,000 records of (1 label byte, 3072 pixel bytes) per batch.
CIFAR_MEMBERS = {
    "train": [f"cifar-10-batches-bin/data_batch_{i}.bin" for i in range(1, 6)],
    "test": ["cifar-10-batches-bin/test_batch.bin"],
}
CIFAR_RECORD_BYTES = 1 + 3 * 32 * 32  # label, then the R, G and B planes, each 32x32 row-major


def mirror_env_var(name: str) -> str:
    """Environment variable that overrides a set's base URL.

    Example:
        >>> mirror_env_var("fashion-mnist")
        'GANKIT_MIRROR_FASHION_MNIST'
    """
    return "GANKIT_MIRROR_" + name.upper().replace("-", "_")


def resolve_base_url(name: str, base_url: str | None = None) -> str:
    """The base URL to use: the argument, else ``$GANKIT_MIRROR_<NAME>``, else the default.

    Example:
        >>> resolve_base_url("mnist", "http://127.0.0.1:8000/mnist")
        'http://127.0.0.1:8000/mnist'
    """
    standard = _get_set(name)
    return base_url or os.environ.get(mirror_env_var(name)) or standard.base_url


def _get_set(name: str) -> StandardSet:
    if name not in STANDARD_SETS:
        raise UserError(f"unknown downloadable dataset {name!r}; known: {', '.join(STANDARD_SETS)}")
    return STANDARD_SETS[name]


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks.

    Example:
        >>> import tempfile, pathlib
        >>> p = pathlib.Path(tempfile.mkdtemp()) / "empty"; p.write_bytes(b"")
        0
        >>> sha256_of(p)[:16]
        'e3b0c44298fc1c14'
    """
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def download_file(
    url: str, dest: Path, sha256: str, *, size_bytes: int = 0, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` through a temporary file; keep it only if its SHA-256 matches.

    A tqdm progress bar goes to stderr while downloading (``progress=False`` hides it).

    Raises:
        UserError: the URL could not be fetched (with how to place the file by hand), or the
            downloaded bytes have another SHA-256 (the file is deleted; expected and got given).

    Example:
        >>> url = "https://ossci-datasets.s3.amazonaws.com/mnist/t10k-labels-idx1-ubyte.gz"
        >>> sha = STANDARD_SETS["mnist"].files["test_labels"].sha256
        >>> download_file(url, Path("/tmp/t10k-labels-idx1-ubyte.gz"), sha)  # doctest: +SKIP
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.name}.", suffix=".part")
    tmp = Path(tmp_name)
    digest = hashlib.sha256()
    try:
        try:
            with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
                total = int(resp.headers.get("Content-Length") or size_bytes or 0) or None
                bar = _progress_bar(total, dest.name, progress)
                try:
                    while chunk := resp.read(CHUNK_BYTES):
                        out.write(chunk)
                        digest.update(chunk)
                        bar.update(len(chunk))
                finally:
                    bar.close()
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as err:
            if isinstance(err, urllib.error.HTTPError):
                reason = f"HTTP {err.code} {err.reason}"
            else:
                reason = getattr(err, "reason", None) or err
            raise UserError(
                f"download of {url} failed ({reason}); for offline use, fetch that file "
                f"elsewhere and place it at {dest}"
            ) from None
        got = digest.hexdigest()
        if got != sha256.lower():
            raise UserError(
                f"SHA-256 mismatch for {url}: expected {sha256.lower()}, got {got}; "
                f"the file was deleted (retry, or place a correct copy at {dest})"
            )
        os.replace(tmp, dest)
    finally:
        tmp.unlink(missing_ok=True)
    return dest


def _progress_bar(total: int | None, label: str, enabled: bool):
    from tqdm import tqdm  # imported here: only a download needs it

    return tqdm(
        total=total,
        desc=label,
        unit="B",
        unit_scale=True,
        unit_divisor=1024,
        file=sys.stderr,
        disable=not enabled,
        leave=False,
    )


def fetch(
    name: str,
    cache_dir: Path,
    *,
    base_url: str | None = None,
    files: dict[str, RemoteFile] | None = None,
    progress: bool = True,
) -> dict[str, Path]:
    """Make sure every file of a standard set is in ``cache_dir/<name>/`` and verified.

    Files already there are checked against their SHA-256 (no request is made); missing ones
    are downloaded.

    Args:
        name: "mnist", "fashion-mnist" or "cifar10".
        cache_dir: the gankit cache directory.
        base_url: overrides the set's default base URL (see :func:`resolve_base_url`).
        files: overrides the set's file table (role -> :class:`RemoteFile`); used by tests.
        progress: show a tqdm bar on stderr while downloading.

    Returns:
        role -> path of the verified file.

    Raises:
        UserError: unknown name, a download failure, or a file whose SHA-256 does not match.

    Example:
        >>> paths = fetch("mnist", Path.home() / ".cache" / "gankit")  # doctest: +SKIP
        >>> sorted(paths)  # doctest: +SKIP
        ['test_images', 'test_labels', 'train_images', 'train_labels']
    """
    standard = _get_set(name)
    files = standard.files if files is None else files
    base = resolve_base_url(name, base_url)
    folder = Path(cache_dir) / name
    paths: dict[str, Path] = {}
    for role, remote in files.items():
        dest = folder / remote.filename
        url = base.rstrip("/") + "/" + remote.filename
        if dest.is_file():
            got = sha256_of(dest)
            if got != remote.sha256.lower():
                raise UserError(
                    f"cached file {dest} has SHA-256 {got}, expected {remote.sha256.lower()}; "
                    f"delete it to download it again from {url}, or replace it with a correct copy"
                )
        else:
            download_file(url, dest, remote.sha256, size_bytes=remote.size_bytes, progress=progress)
        paths[role] = dest
    return paths


def parse_idx_gz(path: Path) -> np.ndarray:
    """Read a gzip-compressed IDX file of unsigned bytes (the MNIST format).

    Layout: two zero bytes, a type byte (0x08 = uint8), the number of dimensions, each dimension
    as a big-endian uint32, then the data in row-major order.

    Returns:
        uint8 array whose shape is the file's dimensions, e.g. [60000, 28, 28].

    Raises:
        UserError: the file is not a uint8 IDX file or its length does not match its header.

    Example:
        >>> parse_idx_gz(Path("train-images-idx3-ubyte.gz")).shape  # doctest: +SKIP
        (60000, 28, 28)
    """
    try:
        with gzip.open(path, "rb") as f:
            data = f.read()
    except (OSError, EOFError) as err:
        raise UserError(f"cannot read {path} as gzip: {err}") from None
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] != 0x08:
        raise UserError(f"{path} is not an IDX file of unsigned bytes (header {data[:4].hex()})")
    ndim = data[3]
    header_bytes = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(data[4:header_bytes], dtype=">u4"))
    if len(dims) != ndim or len(data) - header_bytes != int(np.prod(dims)):
        raise UserError(
            f"{path}: IDX header says shape {list(dims)} but the file holds "
            f"{len(data) - header_bytes} data bytes"
        )
    return np.frombuffer(data, dtype=np.uint8, offset=header_bytes).reshape(dims)


def parse_cifar_binary(archive: Path, split: str) -> tuple[np.ndarray, np.ndarray]:
    """Read one split of ``cifar-10-binary.tar.gz`` without extracting it to disk.

    Returns:
        x: [N, 3, 32, 32] uint8; y: [N] int64 labels 0..9.

    Raises:
        UserError: a batch file is missing from the archive or has a partial record.

    Example:
        >>> x, y = parse_cifar_binary(Path("cifar-10-binary.tar.gz"), "test")  # doctest: +SKIP
        >>> x.shape  # doctest: +SKIP
        (10000, 3, 32, 32)
    """
    xs, ys = [], []
    with tarfile.open(archive, "r:gz") as tar:
        for member in CIFAR_MEMBERS[split]:
            try:
                handle = tar.extractfile(member)
            except KeyError:
                handle = None
            if handle is None:
                raise UserError(f"{archive} has no file {member}; is it cifar-10-binary.tar.gz?")
            raw = handle.read()
            if len(raw) % CIFAR_RECORD_BYTES:
                raise UserError(
                    f"{archive}:{member} holds {len(raw)} bytes, not a multiple of the "
                    f"{CIFAR_RECORD_BYTES}-byte record"
                )
            records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, CIFAR_RECORD_BYTES)
            ys.append(records[:, 0].astype(np.int64))  # [n]
            xs.append(records[:, 1:].reshape(-1, 3, 32, 32))  # [n, 3, 32, 32]
    return np.concatenate(xs), np.concatenate(ys)


def load_standard(
    name: str,
    split: str,
    cache_dir: Path,
    *,
    base_url: str | None = None,
    files: dict[str, RemoteFile] | None = None,
    progress: bool = True,
) -> tuple[np.ndarray, np.ndarray]:
    """One split of a standard set as raw arrays, downloading it first if needed.

    Args:
        name: "mnist", "fashion-mnist" or "cifar10".
        split: "train" and "test" are the official splits; "all" is train then test.
        cache_dir, base_url, files, progress: as for :func:`fetch`.

    Returns:
        x: [N, C, H, W] uint8 (0..255); y: [N] int64 labels.

    Raises:
        UserError: unknown name or split, a failed download or check, a malformed file.

    Example:
        >>> x, y = load_standard("cifar10", "train", Path("/data/cache"))  # doctest: +SKIP
        >>> x.shape, y.shape  # doctest: +SKIP
        ((50000, 3, 32, 32), (50000,))
    """
    _get_set(name)
    if split not in ("train", "test", "all"):
        raise UserError(f"unknown split {split!r}; expected 'train', 'test' or 'all'")
    paths = fetch(name, cache_dir, base_url=base_url, files=files, progress=progress)
    parts = ["train", "test"] if split == "all" else [split]
    xs, ys = [], []
    for part in parts:
        if name == "cifar10":
            x, y = parse_cifar_binary(paths["archive"], part)
        else:
            x = parse_idx_gz(paths[f"{part}_images"])[:, None]  # [N, H, W] -> [N, 1, H, W]
            y = parse_idx_gz(paths[f"{part}_labels"]).astype(np.int64)  # [N]
            if x.ndim != 4 or y.shape != (x.shape[0],):
                raise UserError(
                    f"{name} {part}: images {list(x.shape)} and labels {list(y.shape)} do not match"
                )
        xs.append(x)
        ys.append(y)
    return np.concatenate(xs), np.concatenate(ys)
