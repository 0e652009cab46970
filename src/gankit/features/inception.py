"""The FID feature network: Inception-v3 as ported by pytorch-fid, returning 2048-d pool3 features.

Fréchet Inception Distance (Heusel et al., *GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium*, NeurIPS 2017) compares Gaussian fits of the 2048-d
activations of the final average pool ("pool3") of one particular Inception-v3: the TensorFlow
graph ``inception-2015-12-05`` used by the authors' TTUR code. pytorch-fid (mseitzer) ported
that graph's weights to PyTorch as ``pt_inception-2015-12-05-6726825d.pth``; this module builds
the same network in plain ``torch.nn`` (no torchvision) with the same module and parameter
names, so that file loads with ``load_state_dict(strict=True)``.

The graph differs from torchvision's ImageNet Inception-v3 in three places, all reproduced here:

- the 3x3 average pools inside the A, C and first E blocks (Mixed_5b-5d, Mixed_6b-6e, Mixed_7b)
  leave the zero padding out of the average (``count_include_pad=False``), as TensorFlow does;
- the pool branch of the last E block (Mixed_7c) is a 3x3 *max* pool, not an average pool;
- the classifier ``fc`` has 1008 outputs (the graph's class count), and there is no auxiliary
  classifier. ``fc`` is loaded so the file matches strictly; FID never uses it.

Input scale. pytorch-fid feeds images ``u`` in [0, 1], resizes them to 299x299 (bilinear,
``align_corners=False``) and maps them to ``2 u - 1``, the [-1, 1] range the graph expects.
gankit images ``x`` already lie in [-1, 1] (``x = u * 2 - 1``, e.g. ``p / 127.5 - 1`` for
uint8 ``p``), so :meth:`InceptionV3FID.preprocess` first takes ``u = (x + 1) / 2`` and then does
exactly pytorch-fid's two steps in pytorch-fid's order. Gray images (C = 1) are repeated to
three channels, the protocol of Lucic et al., *Are GANs Created Equal?* (NeurIPS 2018), for
MNIST and Fashion-MNIST. Nothing is clamped (pytorch-fid does not clamp either).

Weights. :func:`inception_weights_path` finds the file (explicit path, then
``$GANKIT_INCEPTION_WEIGHTS``, then ``<cache>/weights/``) or downloads it once, checked against
its SHA-256, through :func:`gankit.data.download.download_file`. Nothing downloads at import.

Example (needs the 95 MB weights file, so not run by the test-suite):
    >>> import torch
    >>> net = load_inception()  # doctest: +SKIP
    >>> net(torch.rand(4, 1, 28, 28) * 2 - 1).shape  # doctest: +SKIP
    torch.Size([4, 2048])
"""

from __future__ import annotations

import os
import pickle
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError

__all__ = [
    "FEATURE_DIM",
    "INCEPTION_WEIGHTS",
    "INPUT_SIZE",
    "InceptionV3FID",
    "WEIGHTS_ENV_VAR",
    "WeightsFile",
    "inception_weights_path",
    "load_inception",
]

INPUT_SIZE = 299  # pixels; the graph's input height and width (pytorch-fid resizes to this)
FEATURE_DIM = 2048  # channels of Mixed_7c, averaged over space = the pool3 features of FID
NUM_CLASSES = 1008  # outputs of the graph's softmax layer (1000 ImageNet classes + 8 unused)
BN_EPS = 0.001  # BatchNorm epsilon of the TensorFlow graph (torchvision's BasicConv2d too)
WEIGHTS_ENV_VAR = "GANKIT_INCEPTION_WEIGHTS"  # a local weights file, used before the cache
WEIGHTS_SUBDIR = "weights"  # under the gankit cache directory


@dataclass(frozen=True)
class WeightsFile:
    """A downloadable weights file: its name, where it is published, and its SHA-256 (hex)."""

    filename: str
    url: str
    sha256: str
    size_bytes: int = 0  # for the progress bar only; 0 = unknown


# pytorch-fid's port of the TF graph inception-2015-12-05 (the TTUR reference of FID). The URL is
# FID_WEIGHTS_URL in pytorch-fid's src/pytorch_fid/inception.py (GitHub release tag "fid_weights").
# The name's "6726825d" follows torch.hub's convention: the first 8 hex digits of the file's
# SHA-256. The full SHA-256 and size are as stated, identically, in several independent public
# projects that pin this file (e.g. the 'tf_inception_v3' entry of an MMGeneration-style
# InceptionModel table, and evaluation asset checkers); they were NOT recomputed here (no network).
INCEPTION_WEIGHTS = WeightsFile(
    filename="pt_inception-2015-12-05-6726825d.pth",
    url=(
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/"
        "pt_inception-2015-12-05-6726825d.pth"
    ),
    sha256="6726825d0af5f729cebd5821db510b11b1cfad8faad88a03f1befd49fb9129b2",
    size_bytes=95_628_359,
)


# --- The network -------------------------------------------------------------------------------


class BasicConv2d(nn.Module):
    """Conv (no bias) -> BatchNorm (eps 0.001) -> ReLU; parameters ``conv.*`` and ``bn.*``."""

    def __init__(self, c_in: int, c_out: int, kernel_size, stride=1, padding=0) -> None:
        super().__init__()
        self.conv = nn.Conv2d(c_in, c_out, kernel_size, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)))


def _same_avg_pool() -> nn.Module:
    # TF's 3x3/1 SAME average pool divides by the number of real pixels under the window.
    return nn.AvgPool2d(kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block (Mixed_5b-5d): 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1 -> 224 + pool_c.

    pytorch-fid's FIDInceptionA: the average pool excludes the padding.
    """

    def __init__(self, c_in: int, pool_c: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 64, 1)
        self.branch5x5_1 = BasicConv2d(c_in, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.pool = _same_avg_pool()  # no parameters: not in the state_dict
        self.branch_pool = BasicConv2d(c_in, pool_c, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch5x5_2(self.branch5x5_1(x))
        c = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17 (Mixed_6a): 3x3/2 | 1x1-3x3-3x3/2 | maxpool/2 -> 480 + c_in."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3 = BasicConv2d(c_in, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(c_in, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3(x)
        b = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionC(nn.Module):
    """17x17 block (Mixed_6b-6e) with factorised 7x7 convolutions -> 768 channels.

    pytorch-fid's FIDInceptionC: the average pool excludes the padding.
    """

    def __init__(self, c_in: int, c7: int) -> None:
        super().__init__()
        self.branch1x1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(c_in, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.pool = _same_avg_pool()
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        c = self.branch7x7dbl_1(x)
        c = self.branch7x7dbl_3(self.branch7x7dbl_2(c))
        c = self.branch7x7dbl_5(self.branch7x7dbl_4(c))
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8 (Mixed_7a): 1x1-3x3/2 | 1x1-1x7-7x1-3x3/2 | maxpool/2 -> 1280."""

    def __init__(self, c_in: int) -> None:
        super().__init__()
        self.branch3x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(c_in, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch3x3_2(self.branch3x3_1(x))
        b = self.branch7x7x3_2(self.branch7x7x3_1(x))
        b = self.branch7x7x3_4(self.branch7x7x3_3(b))
        c = F.max_pool2d(x, kernel_size=3, stride=2)
        return torch.cat([a, b, c], 1)


class InceptionE(nn.Module):
    """8x8 block (Mixed_7b, Mixed_7c) with split 1x3 / 3x1 branches -> 2048 channels.

    ``pool="avg"`` is pytorch-fid's FIDInceptionE_1 (Mixed_7b; average pool without the
    padding); ``pool="max"`` is FIDInceptionE_2 (Mixed_7c; the TF graph max-pools here).
    """

    def __init__(self, c_in: int, pool: str) -> None:
        super().__init__()
        assert pool in ("avg", "max"), pool
        self.branch1x1 = BasicConv2d(c_in, 320, 1)
        self.branch3x3_1 = BasicConv2d(c_in, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(c_in, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        if pool == "avg":
            self.pool = _same_avg_pool()
        else:
            self.pool = nn.MaxPool2d(kernel_size=3, stride=1, padding=1)
        self.branch_pool = BasicConv2d(c_in, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        a = self.branch1x1(x)
        b = self.branch3x3_1(x)
        b = torch.cat([self.branch3x3_2a(b), self.branch3x3_2b(b)], 1)
        c = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        c = torch.cat([self.branch3x3dbl_3a(c), self.branch3x3dbl_3b(c)], 1)
        d = self.branch_pool(self.pool(x))
        return torch.cat([a, b, c, d], 1)


class InceptionV3FID(nn.Module):
    """Inception-v3 of the FID reference: images in [-1, 1] -> [N, 2048] pool3 features.

    Attribute names equal the keys of pytorch-fid's weights file (``Conv2d_1a_3x3.conv.weight``,
    ``Mixed_5b.branch1x1.bn.running_mean``, ..., ``fc.weight``). A fresh instance has random
    weights; use :func:`load_inception` for the real ones.

    Example:
        >>> net = InceptionV3FID().eval()
        >>> net.preprocess(torch.zeros(2, 1, 28, 28)).shape
        torch.Size([2, 3, 299, 299])
    """

    feature_dim = FEATURE_DIM

    def __init__(self) -> None:
        super().__init__()
        # Stem: 299 -> 149 -> 147 -> 147 -> pool 73 -> 73 -> 71 -> pool 35.
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        # 35x35: 192 -> 256 -> 288 -> 288.
        self.Mixed_5b = InceptionA(192, pool_c=32)
        self.Mixed_5c = InceptionA(256, pool_c=64)
        self.Mixed_5d = InceptionA(288, pool_c=64)
        # 17x17: 288 -> 768.
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, c7=128)
        self.Mixed_6c = InceptionC(768, c7=160)
        self.Mixed_6d = InceptionC(768, c7=160)
        self.Mixed_6e = InceptionC(768, c7=192)
        # 8x8: 768 -> 1280 -> 2048 -> 2048.
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280, pool="avg")
        self.Mixed_7c = InceptionE(2048, pool="max")
        # Kept only so the weights file loads strictly; FID uses the pool3 features before it.
        self.fc = nn.Linear(FEATURE_DIM, NUM_CLASSES)

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] in [-1, 1], C in (1, 3) -> [N, 3, 299, 299] in [-1, 1], as the graph wants.

        Steps: gray repeated to 3 channels; ``u = (x + 1) / 2`` (pytorch-fid's [0, 1] input);
        bilinear resize to 299x299 with ``align_corners=False``; ``2 u - 1``.

        Raises:
            UserError: ``x`` is not a 4-d image batch with 1 or 3 channels.
        """
        if x.ndim != 4 or x.shape[1] not in (1, 3):
            raise UserError(
                f"Inception features need images [N, C, H, W] with C = 1 or 3, got shape "
                f"{list(x.shape)}"
            )
        param = self.fc.weight
        x = x.to(device=param.device, dtype=param.dtype)
        if x.shape[1] == 1:
            x = x.repeat(1, 3, 1, 1)  # gray -> RGB (Lucic et al. 2018)
        u = (x + 1) / 2  # gankit's [-1, 1] -> pytorch-fid's [0, 1]
        u = F.interpolate(u, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear", align_corners=False)
        return 2 * u - 1  # [N, 3, 299, 299], pytorch-fid's normalize_input

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] images in [-1, 1] (C = 1 or 3) -> [N, 2048] pool3 features (>= 0)."""
        x = self.preprocess(x)  # [N, 3, 299, 299]
        x = self.Conv2d_1a_3x3(x)  # [N, 32, 149, 149]
        x = self.Conv2d_2a_3x3(x)  # [N, 32, 147, 147]
        x = self.Conv2d_2b_3x3(x)  # [N, 64, 147, 147]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 64, 73, 73]
        x = self.Conv2d_3b_1x1(x)  # [N, 80, 73, 73]
        x = self.Conv2d_4a_3x3(x)  # [N, 192, 71, 71]
        x = F.max_pool2d(x, kernel_size=3, stride=2)  # [N, 192, 35, 35]
        x = self.Mixed_5d(self.Mixed_5c(self.Mixed_5b(x)))  # [N, 288, 35, 35]
        x = self.Mixed_6a(x)  # [N, 768, 17, 17]
        x = self.Mixed_6e(self.Mixed_6d(self.Mixed_6c(self.Mixed_6b(x))))  # [N, 768, 17, 17]
        x = self.Mixed_7a(x)  # [N, 1280, 8, 8]
        x = self.Mixed_7c(self.Mixed_7b(x))  # [N, 2048, 8, 8]
        return x.mean(dim=(2, 3))  # [N, 2048]; = adaptive average pool to 1x1, flattened

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Alias of :meth:`forward`, for generic feature-extraction helpers."""
        return self(x)


# --- Finding and loading the weights -----------------------------------------------------------


def _cache_dir(cache_dir: str | os.PathLike) -> Path:
    from gankit.data import resolve_cache_dir  # the one rule for gankit's cache directory

    return resolve_cache_dir(str(cache_dir) if cache_dir else "")


def _name_it_yourself(sha256: str) -> str:
    return (
        f"or pass --inception-weights PATH (Python: weights=PATH) or set {WEIGHTS_ENV_VAR}=PATH "
        f"(the file's SHA-256 should be {sha256})"
    )


def _named_file(given: str | os.PathLike, source: str) -> Path:
    path = Path(given).expanduser()
    if not path.is_file():
        raise UserError(f"Inception weights file {path} ({source}) does not exist")
    return path


def inception_weights_path(
    weights: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike = "",
    download: bool = True,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> Path:
    """The local path of the FID Inception weights, downloading them once if needed.

    Order: ``weights`` if given; else ``$GANKIT_INCEPTION_WEIGHTS`` if set; else
    ``<cache_dir>/weights/<file name>`` if present (its SHA-256 is checked); else a download of
    ``url`` into that cache path (kept only if its SHA-256 matches). A file you name yourself,
    by argument or environment variable, is used as it is, without a hash check.

    Args:
        weights: a local weights file.
        cache_dir: the gankit cache directory; "" = ``$GANKIT_CACHE`` or ``~/.cache/gankit``.
        download: allow a download when the file is not in the cache.
        url: where to download from; None = :data:`INCEPTION_WEIGHTS` ``.url``. The cached file
            takes the URL's last path component as its name.
        sha256: expected hex SHA-256; None = :data:`INCEPTION_WEIGHTS` ``.sha256``.
        progress: show a progress bar on stderr while downloading.

    Returns:
        Path of an existing file.

    Raises:
        UserError: a named file does not exist; a cached file has the wrong SHA-256; the file is
            missing and ``download`` is False; the download fails or its SHA-256 does not match
            (nothing is left behind). Each message says where to place the file for offline use.

    Example:
        >>> inception_weights_path("/no/such/file.pth")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        gankit.errors.UserError: Inception weights file /no/such/file.pth ... does not exist
    """
    from gankit.data.download import download_file, sha256_of

    # Use a file the user named.
    if weights:
        return _named_file(weights, "argument weights")
    if os.environ.get(WEIGHTS_ENV_VAR):
        return _named_file(os.environ[WEIGHTS_ENV_VAR], f"${WEIGHTS_ENV_VAR}")

    # Else the cache, filled by a checked download.
    url = url or INCEPTION_WEIGHTS.url
    expected = (sha256 or INCEPTION_WEIGHTS.sha256).lower()
    if not re.fullmatch(r"[0-9a-f]{64}", expected):
        raise UserError(f"sha256 must be 64 hex digits, got {sha256!r}")
    name = Path(urllib.parse.urlparse(url).path).name or INCEPTION_WEIGHTS.filename
    dest = _cache_dir(cache_dir) / WEIGHTS_SUBDIR / name
    if dest.is_file():
        got = sha256_of(dest)
        if got != expected:
            raise UserError(
                f"cached Inception weights {dest} have SHA-256 {got}, expected {expected}; "
                f"delete it to download it again from {url}, or replace it with a correct copy"
            )
        return dest
    if not download:
        raise UserError(
            f"Inception weights not found at {dest} and download=False; for offline use, "
            f"download {url} on a machine with a network and place it at {dest}, "
            f"{_name_it_yourself(expected)}"
        )
    size = INCEPTION_WEIGHTS.size_bytes if url == INCEPTION_WEIGHTS.url else 0
    try:
        return download_file(url, dest, expected, size_bytes=size, progress=progress)
    except UserError as err:
        # download_file's message already says where to place the file by hand.
        raise UserError(f"{err}; {_name_it_yourself(expected)}") from None


def _describe_mismatch(net: nn.Module, state: dict) -> str:
    """'' if ``state`` fits ``net`` exactly, else a one-line summary naming a few keys."""
    expected = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    # Files saved before PyTorch 0.4.1 have no BatchNorm counters; BatchNorm fills them in.
    optional = {k for k in expected if k.endswith(".num_batches_tracked")}
    missing = sorted(set(expected) - set(state) - optional)
    unexpected = sorted(set(state) - set(expected))
    wrong = sorted(
        f"{k} {list(state[k].shape)} (want {list(expected[k])})"
        for k in set(expected) & set(state)
        if tuple(state[k].shape) != expected[k]
    )
    parts = []
    for label, items in (("missing", missing), ("unexpected", unexpected), ("wrong shape", wrong)):
        if items:
            more = f" and {len(items) - 3} more" if len(items) > 3 else ""
            parts.append(f"{len(items)} {label}: {', '.join(items[:3])}{more}")
    return "; ".join(parts)


def load_inception(
    weights: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    *,
    cache_dir: str | os.PathLike = "",
    download: bool = True,
    url: str | None = None,
    sha256: str | None = None,
    progress: bool = True,
) -> InceptionV3FID:
    """The FID Inception network with pytorch-fid's weights, in eval mode and frozen.

    The file is found by :func:`inception_weights_path` (same arguments), read with
    ``torch.load(weights_only=True)`` (no pickled code runs) and loaded with ``strict=True``.

    Args:
        weights, cache_dir, download, url, sha256, progress: see :func:`inception_weights_path`.
        device: where the network lives; inputs are moved there.

    Returns:
        :class:`InceptionV3FID` in eval mode with ``requires_grad`` False everywhere.

    Raises:
        UserError: the file cannot be found or fetched; it is not a PyTorch file; it holds
            anything but tensors (e.g. pickled code); its keys or shapes differ from the network
            (a few of each are named).

    Example:
        >>> net = load_inception(device="cpu")  # doctest: +SKIP
        >>> net.features(torch.zeros(1, 3, 32, 32)).shape  # doctest: +SKIP
        torch.Size([1, 2048])
    """
    path = inception_weights_path(
        weights, cache_dir=cache_dir, download=download, url=url, sha256=sha256, progress=progress
    )
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as err:
        # torch puts the reason after "WeightsUnpickler error:", e.g. "Unsupported global: ...".
        reason = str(err).partition("WeightsUnpickler error:")[2].strip() or str(err).strip()
        reason = reason.splitlines()[0] if reason else type(err).__name__
        raise UserError(
            f"cannot read {path} with torch.load(weights_only=True) ({reason}): it is not a "
            f"PyTorch weights file, or it holds pickled code, which is refused"
        ) from None
    except (RuntimeError, EOFError, OSError, ValueError) as err:
        first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
        raise UserError(f"cannot read {path} as a PyTorch weights file: {first}") from None
    if not isinstance(state, dict) or not all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()
    ):
        raise UserError(
            f"{path} is not a state_dict (a dict of name -> tensor), got {type(state).__name__}"
        )

    # Build on the meta device (no memory, no random init) and take the file's tensors as the
    # parameters (assign=True); float tensors become float32, as a copy into the module would.
    with torch.device("meta"):
        net = InceptionV3FID()
    problem = _describe_mismatch(net, state)
    if problem:
        raise UserError(
            f"{path} does not fit the FID Inception-v3 ({problem}); expected pytorch-fid's "
            f"{INCEPTION_WEIGHTS.filename}"
        )
    state = {k: v.float() if v.is_floating_point() else v for k, v in state.items()}
    for key, buffer in net.state_dict().items():
        if key.endswith(".num_batches_tracked") and key not in state:
            state[key] = torch.zeros((), dtype=buffer.dtype)  # files from before PyTorch 0.4.1
    try:
        net.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as err:
        raise UserError(f"cannot load {path}: {str(err).strip().splitlines()[0]}") from None
    net.requires_grad_(False)
    return net.eval().to(device)
