"""Two plain image statistics that make blur and sharpness visible as numbers.

Used by the VAE-vs-GAN benchmark (blur) and the translation benchmarks (sharpness of pix2pix and
SRGAN outputs against their targets).

Example:
    >>> import torch
    >>> grey_share(torch.tensor([-1.0, -0.2, 0.3, 1.0]))
    0.5
    >>> gradient_magnitude(torch.zeros(1, 1, 4, 4))
    0.0
"""

from __future__ import annotations

import torch

__all__ = ["gradient_magnitude", "grey_share"]


def gradient_magnitude(x: torch.Tensor) -> float:
    """Sharpness: the mean gradient magnitude of images [N, C, H, W] in [-1, 1], on [0, 1] pixels
    (forward differences in x and y, summed in quadrature). Blur lowers it; noise raises it."""
    p = (x.detach().float().cpu().clamp(-1, 1) + 1) / 2
    dx = p[..., :-1, 1:] - p[..., :-1, :-1]
    dy = p[..., 1:, :-1] - p[..., :-1, :-1]
    return float((dx ** 2 + dy ** 2).sqrt().mean())


def grey_share(x: torch.Tensor) -> float:
    """Blur, seen directly: the share of pixels that are neither ink nor background, strictly
    between 0.25 and 0.75 on [0, 1] (x in [-1, 1]). Real MNIST test digits: about 0.05."""
    return float(((x > -0.5) & (x < 0.5)).float().mean())
