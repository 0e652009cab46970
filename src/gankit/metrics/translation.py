"""Scores of image-to-image results: PSNR and SSIM against targets, and the shipped digits
classifier's Frechet distance and accuracy (the benchmarks of pix2pix, CycleGAN, SRGAN and SimGAN)."""

from __future__ import annotations

import math

import torch

__all__ = ["psnr_ssim", "digits_scores"]


def psnr_ssim(pred: torch.Tensor, target: torch.Tensor) -> dict[str, float]:
    """Mean PSNR (dB) and SSIM of images in [-1, 1], computed on [0, 1] pixels by torchmetrics
    (per image, then averaged; SSIM with an 11x11 Gaussian window, sigma 1.5, as Wang et al. 2004)."""
    from torchmetrics.functional.image import peak_signal_noise_ratio, structural_similarity_index_measure

    p = (pred.float().clamp(-1, 1) + 1) / 2
    t = (target.float().clamp(-1, 1) + 1) / 2
    psnr = peak_signal_noise_ratio(p, t, data_range=1.0, reduction="none", dim=(1, 2, 3))
    ssim = structural_similarity_index_measure(p, t, data_range=1.0, reduction="none")
    return {"psnr": float(psnr.mean()), "ssim": float(ssim.mean())}


def digits_scores(x: torch.Tensor, reference: torch.Tensor | None = None,
                  labels: torch.Tensor | None = None) -> dict[str, float]:
    """Digits-classifier scores of images in [-1, 1] (gray or colour, any size; see
    :mod:`gankit.features.digits`): ``fid`` against ``reference`` images (digits-FID, a Fréchet
    distance in the classifier's 128 features) and ``accuracy`` against ``labels``."""
    from gankit.features.digits import load_digits_classifier
    from gankit.metrics.frechet import frechet_distance

    model = load_digits_classifier()
    out: dict[str, float] = {}
    with torch.no_grad():
        feats, logits = [], []
        for i in range(0, len(x), 500):
            chunk = x[i:i + 500].float().cpu()
            feats.append(model.features(chunk))
            logits.append(model(chunk))
        if reference is not None:
            ref = torch.cat([model.features(reference[i:i + 500].float().cpu()) for i in range(0, len(reference), 500)])
            out["fid"] = frechet_distance(torch.cat(feats).numpy(), ref.numpy())
        if labels is not None:
            out["accuracy"] = float((torch.cat(logits).argmax(1) == labels.cpu()).float().mean())
    assert all(math.isfinite(v) for v in out.values())
    return out
