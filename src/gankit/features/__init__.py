"""Feature extractors for evaluation: a network by name, and batched extraction from any network.

Metrics (:mod:`gankit.metrics`) take features; this package makes them. A *feature extractor* is
a ``torch.nn.Module`` that maps images ``[N, C, H, W]`` in [-1, 1] to vectors ``[N, D]``:

- ``"digits"``: the small MNIST CNN shipped with gankit (:mod:`gankit.features.digits`),
  128-d penultimate features; Fréchet distances in this space are "digits FID", **not**
  comparable with Inception-based FIDs. See docs/features.md.

:func:`extract_features` runs any extractor (by name, or any module you pass) over a large tensor
in batches, without gradients.

Example:
    >>> import torch
    >>> extract_features("digits", torch.zeros(3, 1, 28, 28)).shape
    torch.Size([3, 128])
"""

from __future__ import annotations

import inspect
import sys

import numpy as np
import torch
from torch import nn

from gankit.errors import UserError

__all__ = ["FEATURE_EXTRACTORS", "cached_features", "extract_features", "get_feature_extractor", "module_digest"]

CACHE_SUBDIR = "features"  # under the gankit cache directory: features of reference data, by content
_CACHE_VERSION = "1"  # bumped when the extraction itself changes (preprocessing, layout)

# Name -> one-line description of every extractor get_feature_extractor builds.
FEATURE_EXTRACTORS: dict[str, str] = {
    "digits": "small MNIST CNN shipped with gankit (trained on mnist-5k), 128-d penultimate "
              "features, 28x28 gray input (other sizes resized, RGB averaged); 'digits FID'",
    "inception": "the FID Inception-v3 (pytorch-fid's port of the TTUR graph), 2048-d pool3 features; "
                 "weights from a local file, $GANKIT_INCEPTION_WEIGHTS, the cache, or a download",
}

_DIGITS_OPTIONS = ("path", "device")  # keyword arguments of load_digits_classifier


def get_feature_extractor(name: str, **kw) -> nn.Module:
    """The feature extractor registered under ``name``, in eval mode.

    The digits network is imported here, not at package import, so that
    ``python -m gankit.features.digits`` runs its module once.

    Args:
        name: a key of :data:`FEATURE_EXTRACTORS`, e.g. "digits".
        **kw: options of that extractor; "digits" takes ``path`` (weights file, None = shipped)
            and ``device`` (see :func:`gankit.features.digits.load_digits_classifier`).

    Returns:
        The network (a ``torch.nn.Module`` with a ``features(x) -> [N, D]`` method).

    Raises:
        UserError: unknown name, an option the extractor does not take, or a bad weights file.

    Example:
        >>> get_feature_extractor("digits").meta["n_train"]
        4000
    """
    if name == "digits":
        unknown = sorted(set(kw) - set(_DIGITS_OPTIONS))
        if unknown:
            raise UserError(f"feature extractor 'digits' takes options {', '.join(_DIGITS_OPTIONS)}; "
                            f"got unknown {', '.join(unknown)}")
        from gankit.features.digits import load_digits_classifier

        return load_digits_classifier(**kw)
    if name == "inception":
        from gankit.features.inception import load_inception

        return load_inception(**kw)
    raise UserError(f"unknown feature extractor {name!r}; known: {', '.join(FEATURE_EXTRACTORS)}")


def extract_features(
    model_or_name: nn.Module | str,
    x: torch.Tensor | np.ndarray,
    batch_size: int = 500,
    progress: bool = False,
) -> torch.Tensor:
    """Features of ``x`` in batches, under ``torch.no_grad``, as one CPU tensor ``[N, D]``.

    A module's ``features`` *method* is called when it has one (the gankit extractors do);
    otherwise the module itself (``forward``). A ``features`` attribute that is a submodule (as
    in torchvision's VGG, where it is the convolutional trunk) is not used. Each batch is moved
    to the module's device (that of its first parameter or buffer; CPU if it has none). The
    module runs in eval mode (dropout off, batch-norm running statistics); every submodule's
    own training flag is restored afterwards. Outputs with more than two dimensions are
    flattened to ``[N, D]``.

    Args:
        model_or_name: a name of :data:`FEATURE_EXTRACTORS` (built with
            :func:`get_feature_extractor`) or any ``torch.nn.Module``.
        x: inputs ``[N, ...]`` (tensor or NumPy array), e.g. images ``[N, C, H, W]`` in [-1, 1].
        batch_size: rows per forward pass.
        progress: show a tqdm progress bar on stderr.

    Returns:
        Tensor ``[N, D]`` on the CPU, in the dtype the model returns.

    Raises:
        UserError: an unknown name, a ``model_or_name`` that is neither, an empty or non-array
            ``x``, or a ``batch_size`` that is not a positive integer; and whatever the model
            raises for inputs it does not take.

    Example:
        >>> import torch
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> extract_features(net, torch.ones(5, 1, 2, 2), batch_size=2).shape
        torch.Size([5, 2])
    """
    if isinstance(model_or_name, str):
        model = get_feature_extractor(model_or_name)
    elif isinstance(model_or_name, nn.Module):
        model = model_or_name
    else:
        raise UserError(f"model_or_name: expected a torch.nn.Module or one of "
                        f"{', '.join(FEATURE_EXTRACTORS)}, got {type(model_or_name).__name__}")
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or x.ndim < 1 or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"x: expected a non-empty tensor or array [N, ...], got {got}")
    if not isinstance(batch_size, int) or isinstance(batch_size, bool) or batch_size < 1:
        raise UserError(f"batch_size: expected a positive integer, got {batch_size!r}")

    method = getattr(model, "features", None)
    fn = method if inspect.ismethod(method) else model
    tensors = list(model.parameters()) or list(model.buffers())
    device = tensors[0].device if tensors else torch.device("cpu")
    modes = [(m, m.training) for m in model.modules()]
    model.eval()
    from tqdm import tqdm  # imported here: only extraction shows a bar

    out = []
    try:
        with torch.no_grad(), tqdm(total=x.shape[0], unit="img", desc="features", file=sys.stderr,
                                   disable=not progress) as bar:
            for i in range(0, x.shape[0], batch_size):
                batch = x[i:i + batch_size].to(device)
                f = fn(batch)
                out.append(f.reshape(f.shape[0], -1).cpu())  # [B, D]
                bar.update(batch.shape[0])
    finally:
        for m, training in modes:
            m.training = training
    return torch.cat(out)  # [N, D]


def module_digest(model: nn.Module) -> str:
    """SHA-256 (hex) of a module's state: every tensor's name, dtype, shape and bytes, in state_dict order.

    Two networks with the same digest compute the same function (same class assumed), so features cached
    under it stay valid; one changed weight changes it.

    Example:
        >>> a = torch.nn.Linear(2, 2); b = torch.nn.Linear(2, 2); b.load_state_dict(a.state_dict())
        <All keys matched successfully>
        >>> module_digest(a) == module_digest(b)
        True
    """
    import hashlib

    h = hashlib.sha256(type(model).__name__.encode())
    for name, t in model.state_dict().items():
        t = t.detach().cpu().clone(memory_format=torch.contiguous_format).reshape(-1)  # logical order, any layout
        h.update(f"{name}|{t.dtype}|{list(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy() if t.numel() else b"")  # the buffer itself, no bytes copy
    return h.hexdigest()


def cached_features(model: nn.Module, x: torch.Tensor, cache_dir, tag: str, batch_size: int = 500,
                    progress: bool = False) -> tuple[torch.Tensor, bool]:
    """:func:`extract_features` of reference data, kept on disk and read back when asked again.

    The file is ``<cache_dir>/features/<tag>-<key>.npy``, with ``key`` a SHA-256 of the data (its shape and
    float32 bytes), the model's :func:`module_digest`, ``tag`` and the extraction's version: the same images
    through the same weights in the same precision (put it in ``tag``) find their features; anything else
    computes them anew. The file is written atomically, so an interrupted extraction leaves nothing
    half-written. A cache file that cannot be read is computed again and replaced.

    Returns:
        (features [N, D] float32 on the CPU, whether they came from the cache).

    Example:
        >>> import tempfile
        >>> net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(4, 2))
        >>> d = tempfile.mkdtemp()
        >>> a, hit_a = cached_features(net, torch.ones(3, 1, 2, 2), d, "toy")
        >>> b, hit_b = cached_features(net, torch.ones(3, 1, 2, 2), d, "toy")
        >>> hit_a, hit_b, bool(torch.equal(a, b))
        (False, True, True)
    """
    import hashlib
    from pathlib import Path

    from gankit.errors import written_atomically

    data = x.detach().cpu().float().contiguous()
    h = hashlib.sha256(f"v{_CACHE_VERSION}|{tag}|{module_digest(model)}|{list(data.shape)}|".encode())
    h.update(data.numpy())  # the buffer itself, no bytes copy
    path = Path(cache_dir) / CACHE_SUBDIR / f"{tag}-{h.hexdigest()[:32]}.npy"
    if path.is_file():
        try:
            kept = np.load(path, allow_pickle=False)
            if kept.ndim == 2 and kept.shape[0] == len(data):
                return torch.from_numpy(kept), True
        except (OSError, ValueError):
            pass  # unreadable (cut short by hand, another version): compute again and replace
    feats = extract_features(model, x, batch_size=batch_size, progress=progress).float()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with written_atomically(path) as tmp:
            np.save(tmp, feats.numpy())
    except OSError as e:  # a read-only or full cache costs time, not the result
        print(f"gankit: could not keep the features in {path.parent} ({e.strerror or e}); computed anew next time",
              file=sys.stderr)
    return feats, False
