"""The FID feature network: Inception-v3 as ported by pytorch-fid, returning 2048-d pool3 features.

Fréchet Inception Distance (Heusel et al., *GANs Trained by a Two Time-Scale Update Rule
Converge to a Local Nash Equilibrium*, NeurIPS 2017) compares Gaussian fits of the 2048-d
activations of the final average pool ("pool3") of one particular Inception-v3: the TensorFlow
graph ``inception-2015-12-05`` used by the authors' TTUR code. pytorch-fid (mseitzer) ported
that graph's weights to PyTorch as ``pt_inception-2015-12-05-6726825d.pth``; gankit builds the
same network in plain ``torch.nn`` (no torchvision) with the same module and parameter names,
so that file loads with ``load_state_dict(strict=True)``.

The network itself is :mod:`gankit.features.inception_net` (with the three places where the
graph differs from torchvision's ImageNet Inception-v3, and how gankit's [-1, 1] images are
mapped to its input); finding or downloading the weights file is
:mod:`gankit.features.inception_weights`. This module loads that file into that network, and
re-exports the public names of both, so ``from gankit.features.inception import ...`` is the
one import a user needs.

Example (needs the 95 MB weights file, so not run by the test-suite):
    >>> import torch
    >>> net = load_inception()  # doctest: +SKIP
    >>> net(torch.rand(4, 1, 28, 28) * 2 - 1).shape  # doctest: +SKIP
    torch.Size([4, 2048])
"""

from __future__ import annotations

import os
import pickle

import torch
from torch import nn

from gankit.errors import UserError
from gankit.features.inception_net import FEATURE_DIM, INPUT_SIZE, InceptionV3FID
from gankit.features.inception_weights import (
    INCEPTION_WEIGHTS,
    WEIGHTS_ENV_VAR,
    WeightsFile,
    inception_weights_path,
)

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
    precision: str | None = None,
) -> InceptionV3FID:
    """The FID Inception network with pytorch-fid's weights, in eval mode and frozen.

    The file is found by :func:`inception_weights_path` (same arguments), read with
    ``torch.load(weights_only=True)`` (no pickled code runs) and loaded with ``strict=True``.

    Args:
        weights, cache_dir, download, url, sha256, progress: see :func:`inception_weights_path`.
        device: where the network lives; inputs are moved there.
        precision: None (default) for the network exactly as the file describes it; "fp32" or "bf16" for
            :meth:`InceptionV3FID.optimize_for_inference` (BatchNorm folded and channels-last: the same
            function, about 2x faster on a CPU; "bf16" runs the trunk in bfloat16, about 2x faster again
            where the CPU has native bf16, and moves FID by about 1-4%: docs/inception.md).

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
    net = net.eval().to(device)
    if precision is not None:
        net.optimize_for_inference(precision)
    return net
