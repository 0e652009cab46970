"""Finding the FID Inception weights file: a path you name, the cache, or one checked download.

:func:`inception_weights_path` looks for the file (explicit path, then ``$GANKIT_INCEPTION_WEIGHTS``,
then ``<cache>/weights/``) or downloads it once, checked against its SHA-256, through
:func:`gankit.data.download.download_file`. Nothing downloads at import.
"""

from __future__ import annotations

import os
import re
import urllib.parse
from dataclasses import dataclass
from pathlib import Path

from gankit.errors import UserError

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
