"""Class coverage of generated digits: how many classes (or Stacked-MNIST modes) a GAN produces.

A classifier trained on real data labels the generated samples; the metrics then count the
classes that appear and compare the class histogram with the uniform one of the data.

- :func:`class_coverage`: MNIST-style data with K classes (10 digits). A class is *covered* when
  at least one sample is predicted in it, and ``kl = KL(p || u) = sum_k p_k log(p_k K)`` in nats,
  where ``p_k`` is the share of samples predicted as class k, ``u`` the uniform distribution over
  the K classes, and empty classes contribute 0 (0 log 0 = 0). It is 0 for a perfectly balanced
  histogram and ``log K`` when every sample lands in one class.
- :func:`stacked_mnist_coverage`: Stacked MNIST (Metz et al., *Unrolled Generative Adversarial
  Networks*, ICLR 2017, Section 3.3; Srivastava et al., *VEEGAN*, NeurIPS 2017; Lin et al.,
  *PacGAN*, NeurIPS 2018, Table 2): three MNIST digits stacked as the channels of one image, so
  1,000 modes. Each channel is classified separately and the triple ``(a, b, c)`` of channel
  0, 1, 2 is mode ``100 a + 10 b + c``. Modes covered and ``KL(p || uniform over 1000)`` as above;
  this is what PacGAN's reference code computes (``log_metrics`` in
  ``stacked_MNIST_experiments/VEEGAN_experiment/model.py`` of github.com/fjxmlzn/PacGAN: count
  each distinct triple, ``KLD(p, [1/1000] * 1000)``), over 26,000 generated samples
  (``num_test_sample`` in that folder's ``config.py``).
- :func:`classify_digits`: predicted labels from gankit's digits CNN
  (:mod:`gankit.features.digits`), per image for gray input and per channel for 3-channel
  Stacked-MNIST input.

The coverage functions are pure: they take predicted labels (integer arrays) or logits (floating
arrays, reduced by argmax over the last axis) and return small dicts with stable keys. Their
numbers depend on the classifier and on the number of samples (more samples cover more modes),
so report both with them.
"""

from __future__ import annotations

import numbers

import numpy as np
import torch

from gankit.errors import UserError

__all__ = ["class_coverage", "classify_digits", "stacked_mnist_coverage"]

STACKED_CHANNELS = 3  # Metz et al. 2017: three digits, one per colour channel
STACKED_MODES = 10**STACKED_CHANNELS  # 1,000 modes
STACKED_SAMPLES = 26_000  # PacGAN / VEEGAN reference: num_test_sample = 26000 generated images

ArrayLike = torch.Tensor | np.ndarray


def _as_labels(x: ArrayLike, name: str, label_ndim: int, n_classes: int) -> np.ndarray:
    """Integer labels ([N] or [N, C]) or float logits (one more axis of n_classes) -> int64 labels."""
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    shape = "[N]" if label_ndim == 1 else "[N, 3]"
    logit_shape = f"[N, {n_classes}]" if label_ndim == 1 else f"[N, 3, {n_classes}]"
    if a.ndim == 0 or a.shape[0] == 0:
        raise UserError(f"{name}: expected a non-empty array of labels {shape}, got shape {tuple(a.shape)}")
    if a.dtype.kind == "f":
        if a.ndim != label_ndim + 1 or a.shape[-1] != n_classes:
            raise UserError(f"{name}: expected integer labels {shape} or float logits {logit_shape}, "
                            f"got float array of shape {tuple(a.shape)}")
        if not np.isfinite(a).all():
            raise UserError(f"{name}: expected finite logits, got NaN or inf")
        a = a.argmax(axis=-1)
    elif a.dtype.kind not in "iu":
        raise UserError(f"{name}: expected integer labels {shape} or float logits {logit_shape}, "
                        f"got dtype {a.dtype}")
    if a.ndim != label_ndim or (label_ndim == 2 and a.shape[1] != STACKED_CHANNELS):
        raise UserError(f"{name}: expected labels {shape}, got shape {tuple(a.shape)}")
    if a.min() < 0 or a.max() >= n_classes:
        raise UserError(f"{name}: expected labels in 0..{n_classes - 1}, got values from "
                        f"{a.min()} to {a.max()}")
    return a.astype(np.int64)


def _kl_to_uniform(counts: np.ndarray) -> float:
    """KL(p || uniform) in nats of the histogram ``counts`` [K]; 0 log 0 = 0."""
    p = counts[counts > 0] / counts.sum()
    return float(np.sum(p * np.log(p * len(counts))))


def class_coverage(pred_labels: ArrayLike, n_classes: int = 10) -> dict:
    """Classes covered and KL(class histogram || uniform) of generated samples' predicted labels.

    See the module docstring for the definitions. The generated side is the only argument; the
    reference is the uniform distribution over ``n_classes`` (MNIST's ten digits are nearly
    balanced).

    Args:
        pred_labels: predicted classes ``[N]`` (integers in 0..n_classes-1), or logits
            ``[N, n_classes]`` (floats; argmax is taken), e.g. from :func:`classify_digits`.
        n_classes: number of classes K.

    Returns:
        dict with ``classes_covered`` (int, classes with at least one sample), ``n_classes``
        (int, K), ``kl`` (float, nats, in [0, log K]), ``counts`` (list of K ints, samples per
        class) and ``n_samples`` (int, N).

    Raises:
        UserError: ``n_classes`` is not a positive integer; ``pred_labels`` is empty, has the
            wrong shape or dtype, or holds labels outside 0..n_classes-1.

    Example:
        >>> r = class_coverage([0, 0, 1, 1], n_classes=4)
        >>> r["classes_covered"], round(r["kl"], 4), r["counts"]  # KL = log 2
        (2, 0.6931, [2, 2, 0, 0])
    """
    if not isinstance(n_classes, numbers.Integral) or isinstance(n_classes, bool) or n_classes < 1:
        raise UserError(f"n_classes: expected a positive integer, got {n_classes!r}")
    labels = _as_labels(pred_labels, "pred_labels", 1, int(n_classes))  # [N]
    counts = np.bincount(labels, minlength=n_classes)  # [K]
    return {
        "classes_covered": int((counts > 0).sum()),
        "n_classes": int(n_classes),
        "kl": _kl_to_uniform(counts),
        "counts": counts.tolist(),
        "n_samples": int(labels.shape[0]),
    }


def stacked_mnist_coverage(pred_labels_per_channel: ArrayLike) -> dict:
    """Stacked-MNIST modes covered (of 1,000) and KL(mode histogram || uniform).

    Metz et al. (2017), VEEGAN (2017), PacGAN (2018); see the module docstring. Mode of a sample
    = ``100 a + 10 b + c`` for the digits ``(a, b, c)`` predicted in channels 0, 1, 2. The
    papers use 26,000 generated samples (``STACKED_SAMPLES``); with fewer, fewer modes can be
    covered even by the data (the expected coverage of N uniform draws is
    ``1000 (1 - (1 - 1/1000)^N)``, 999.99 for 26,000 but 632 for 1,000).

    Args:
        pred_labels_per_channel: predicted digits ``[N, 3]`` (integers 0..9), or logits
            ``[N, 3, 10]`` (floats; argmax over the last axis), e.g. from
            :func:`classify_digits` on 3-channel images.

    Returns:
        dict with ``modes_covered`` (int, modes with at least one sample), ``n_modes`` (1000),
        ``kl`` (float, nats, in [0, log 1000]), ``counts`` (list of 1000 ints, samples per mode,
        index = mode), ``channel_counts`` (3 lists of 10 ints, digits per channel) and
        ``n_samples`` (int, N).

    Raises:
        UserError: the input is empty, not ``[N, 3]`` integers or ``[N, 3, 10]`` floats, or holds
            digits outside 0..9.

    Example:
        >>> r = stacked_mnist_coverage([[1, 2, 3], [1, 2, 3], [9, 9, 9]])
        >>> r["modes_covered"], r["counts"][123], r["counts"][999], r["n_modes"]
        (2, 2, 1, 1000)
    """
    labels = _as_labels(pred_labels_per_channel, "pred_labels_per_channel", 2, 10)  # [N, 3]
    modes = labels @ np.array([100, 10, 1])  # [N] in 0..999
    counts = np.bincount(modes, minlength=STACKED_MODES)  # [1000]
    return {
        "modes_covered": int((counts > 0).sum()),
        "n_modes": STACKED_MODES,
        "kl": _kl_to_uniform(counts),
        "counts": counts.tolist(),
        "channel_counts": [np.bincount(labels[:, c], minlength=10).tolist()
                           for c in range(STACKED_CHANNELS)],
        "n_samples": int(labels.shape[0]),
    }


class _Logits(torch.nn.Module):
    """Wraps a classifier so that extract_features calls its forward (logits), not .features."""

    def __init__(self, net: torch.nn.Module) -> None:
        super().__init__()
        self.net = net

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def classify_digits(x: ArrayLike, model: torch.nn.Module | None = None,
                    batch_size: int = 500) -> torch.Tensor:
    """Predicted digits of images: one per gray image, one per channel of a 3-channel image.

    A 3-channel input is read as **Stacked MNIST** (a digit in each channel), so each channel
    is classified on its own and the result is ``[N, 3]``; for an RGB picture of a single
    digit, average the channels first (``x.mean(1, keepdim=True)``). Images of any size are
    resized to 28x28 by the network.

    Args:
        x: images in [-1, 1], ``[N, 1, H, W]`` (gray) or ``[N, 3, H, W]`` (stacked).
        model: a classifier returning logits ``[N, 10]`` for ``[N, 1, H, W]``; None = gankit's
            shipped digits CNN (:func:`gankit.features.digits.load_digits_classifier`).
        batch_size: images per forward pass.

    Returns:
        int64 tensor ``[N]`` for gray input, ``[N, 3]`` for 3-channel input, on the CPU; feed it
        to :func:`class_coverage` or :func:`stacked_mnist_coverage`.

    Raises:
        UserError: ``x`` is not ``[N, 1 or 3, H, W]``, or ``batch_size`` is not positive (from
            the extraction), or the weights cannot be loaded.

    Example:
        >>> import torch
        >>> classify_digits(torch.full((2, 3, 28, 28), -1.0)).shape
        torch.Size([2, 3])
    """
    from gankit.features import extract_features  # imported here: metrics stay light
    from gankit.features.digits import load_digits_classifier

    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3) or x.shape[0] == 0:
        got = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
        raise UserError(f"x: expected images [N, 1, H, W] or stacked digits [N, 3, H, W], got {got}")
    model = load_digits_classifier() if model is None else model
    n, c, h, w = x.shape
    gray = x.reshape(n * c, 1, h, w)  # [N * C, 1, H, W]: channel c of image i is row i * C + c

    logits = extract_features(_Logits(model), gray, batch_size=batch_size)  # [N * C, 10]
    pred = logits.argmax(dim=1)  # [N * C]
    return pred if c == 1 else pred.reshape(n, c)  # [N] or [N, 3]
