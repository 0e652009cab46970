"""Differentiable augmentation of D's inputs: Zhao et al. (2020), "Differentiable Augmentation for
Data-Efficient GAN Training" (DiffAugment).

With little data D memorises the training set and G stops learning. DiffAugment applies the same
family of random transforms T to everything D sees, real and generated, in the D step and in the G
step, so D is trained and queried only as D(T(x)). Because every T is differentiable in its input,
G's gradient flows back through T to G's samples (the paper's section 3, Fig. 4). Augmenting real
images only would teach G to produce augmented images; augmenting both sides only in the D step breaks
the balance between the steps (the paper's Fig. 3).

The transforms, for images [N, C, H, W] in [-1, 1] (the paper's section 3 and its public code's
constants, written anew here):

- ``color``: brightness (add b ~ U[-0.5, 0.5)), then saturation (scale each pixel's deviation from its
  mean over channels by s ~ U[0, 2)), then contrast (scale each deviation from the image's mean by
  k ~ U[0.5, 1.5)). For RGB images only.
- ``translation``: shift by integers (dy, dx), each uniform in [-round(H/8), round(H/8)] (resp. W),
  filling the uncovered border with zeros.
- ``cutout``: zero a square of round(H/2) x round(W/2) pixels whose centre is uniform over the image
  (the square may stick out of the image, then less is masked).

Every parameter is drawn per sample (the paper's code draws them per sample too), so a real batch and a
fake batch get their own independent draws. The transforms of a policy are applied in the fixed order
color, translation, cutout, as in the paper's code, whatever order the policy names them in.

Drawing and applying are separate pure functions: the same parameters give the same transform, which
is what tests and distributed training (each rank keeps its slice of a global draw) rely on.

ADA (Karras et al. 2020, "Training Generative Adversarial Networks with Limited Data") applies each
transform to each image only with a probability p, and tunes p during training from an overfitting
heuristic; :func:`sample_params` takes p, and :func:`ada_adjust` is the paper's update of p.

Example:
    >>> import torch
    >>> from gankit.diffaug import diff_augment
    >>> x = torch.rand(4, 3, 16, 16) * 2 - 1
    >>> y = diff_augment(x, ("color", "translation", "cutout"), torch.Generator().manual_seed(0))
    >>> y.shape
    torch.Size([4, 3, 16, 16])
"""

from __future__ import annotations

import torch

from gankit.errors import UserError

__all__ = ["TRANSFORMS", "parse_policy", "check_policy", "sample_params", "apply_augment", "diff_augment",
           "translation_radius", "cutout_size", "ada_adjust"]

TRANSFORMS = ("color", "translation", "cutout")  # the order of application (the paper's code)
TRANSLATION_RATIO = 0.125  # shift of at most 1/8 of the image size (Zhao et al. 2020, section 3)
CUTOUT_RATIO = 0.5  # square of half the image size (Zhao et al. 2020, section 3)
BRIGHTNESS = 0.5  # b ~ U[-0.5, 0.5) added to [-1, 1] pixels
SATURATION = (0.0, 2.0)  # s ~ U[0, 2)
CONTRAST = (0.5, 1.5)  # k ~ U[0.5, 1.5)


def parse_policy(policy: str) -> tuple[str, ...]:
    """The transforms of a policy string like ``"translation,cutout"``, in their order of application.

    ``""`` is off (an empty tuple). Raises a one-line UserError for an unknown or repeated name.

    Example:
        >>> parse_policy("cutout, translation")
        ('translation', 'cutout')
    """
    names = [p.strip() for p in policy.split(",") if p.strip()]
    for name in names:
        if name not in TRANSFORMS:
            raise UserError(f"config key 'loss.augment' lists unknown transform {name!r}; known: "
                            f"{', '.join(TRANSFORMS)} (comma separated, \"\" = off); got {policy!r}")
    if len(set(names)) != len(names):
        raise UserError(f"config key 'loss.augment' lists a transform twice; got {policy!r}")
    return tuple(t for t in TRANSFORMS if t in names)


def check_policy(policy: tuple[str, ...], shape: tuple[int, ...]) -> None:
    """UserError in one line when the policy cannot augment data of this shape (per sample, no batch dim)."""
    if policy and len(shape) != 3:
        raise UserError(f"loss.augment={','.join(policy)!r} augments images [C, H, W]; this data has shape "
                        f"{list(shape)}; set loss.augment=\"\"")
    if "color" in policy and shape[0] != 3:
        raise UserError(f"loss.augment's 'color' changes saturation, so it needs RGB images (3 channels); this "
                        f"data has {shape[0]}; drop 'color' from loss.augment")


def translation_radius(size: int) -> int:
    """The largest shift, in pixels, along an axis of ``size`` pixels: round(size / 8)."""
    return int(size * TRANSLATION_RATIO + 0.5)


def cutout_size(size: int) -> int:
    """The side of the cutout square, in pixels, along an axis of ``size`` pixels: round(size / 2)."""
    return int(size * CUTOUT_RATIO + 0.5)


def sample_params(policy: tuple[str, ...], n: int, shape: tuple[int, ...], generator: torch.Generator | None = None,
                  device: torch.device | str = "cpu", p: float | None = None) -> dict[str, torch.Tensor]:
    """Draw the random parameters of ``policy`` for n images of ``shape`` = (C, H, W), each its own.

    Args:
        policy: transforms from :func:`parse_policy`.
        n: the number of images.
        shape: (C, H, W) of one image.
        generator: the torch.Generator to draw from (on ``device``); None uses the global one.
        device: where the parameters live.
        p: ADA's probability: each transform is applied to each image with probability p (where it is not,
            its parameters are the neutral ones: b = 0, s = k = 1, no shift, a square outside the image).
            None applies every transform to every image (DiffAugment) and draws nothing for it.

    Returns:
        A dict of [n]-leading tensors: ``brightness``, ``saturation``, ``contrast`` [n] (color);
        ``shift`` [n, 2] integer (dy, dx) (translation); ``centre`` [n, 2] integer (row, column) (cutout).
    """
    _, h, w = shape
    out: dict[str, torch.Tensor] = {}

    def uniform(lo: float, hi: float, *size: int) -> torch.Tensor:
        return lo + (hi - lo) * torch.rand(*size, generator=generator, device=device)

    def integers(hi: torch.Tensor) -> torch.Tensor:  # [n, 2]: column j uniform in {0, ..., hi[j] - 1}
        return (torch.rand(n, 2, generator=generator, device=device) * hi).long().clamp_max(hi - 1)

    if "color" in policy:
        out["brightness"] = uniform(-BRIGHTNESS, BRIGHTNESS, n)  # [n]
        out["saturation"] = uniform(*SATURATION, n)  # [n]
        out["contrast"] = uniform(*CONTRAST, n)  # [n]
    if "translation" in policy:
        r = torch.tensor([translation_radius(h), translation_radius(w)], device=device)
        out["shift"] = integers(2 * r + 1) - r  # [n, 2]: (dy, dx) in [-r, r]
    if "cutout" in policy:
        out["centre"] = integers(torch.tensor([h, w], device=device))  # [n, 2]: (row, column) of the centre
    if p is not None:  # one draw per transform and image, whatever p is, so the stream does not depend on p
        for name in policy:
            off = torch.rand(n, generator=generator, device=device) >= p  # [n]: True = leave this image alone
            if name == "color":
                out["brightness"] = out["brightness"].masked_fill(off, 0.0)
                out["saturation"] = out["saturation"].masked_fill(off, 1.0)
                out["contrast"] = out["contrast"].masked_fill(off, 1.0)
            elif name == "translation":
                out["shift"] = out["shift"].masked_fill(off[:, None], 0)
            else:  # a centre this far outside puts the whole square off the image
                out["centre"] = out["centre"].masked_fill(off[:, None], -2 * max(h, w))
    return out


def color(x: torch.Tensor, brightness: torch.Tensor, saturation: torch.Tensor,
          contrast: torch.Tensor) -> torch.Tensor:
    """Brightness, saturation and contrast of [N, C, H, W] images with per-image factors [N] each."""
    x = x + brightness.to(x.dtype).view(-1, 1, 1, 1)  # x + b
    mean = x.mean(1, keepdim=True)  # [N, 1, H, W]: each pixel's mean over channels
    x = (x - mean) * saturation.to(x.dtype).view(-1, 1, 1, 1) + mean  # s (x - mean_c) + mean_c
    mean = x.mean((1, 2, 3), keepdim=True)  # [N, 1, 1, 1]: each image's mean
    return (x - mean) * contrast.to(x.dtype).view(-1, 1, 1, 1) + mean  # k (x - mean) + mean


def translate(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """Shift [N, C, H, W] images by integer (dy, dx) [N, 2] each: out[i, j] = x[i - dy, j - dx], 0 outside.

    One gather along the flattened pixels (its backward is a scatter-add: the gradient of each output pixel
    goes back to the pixel it came from), then a mask of the uncovered border.
    """
    n, c, h, w = x.shape
    rows = torch.arange(h, device=x.device) - shift[:, :1]  # [N, H]: the source row of each output row
    cols = torch.arange(w, device=x.device) - shift[:, 1:]  # [N, W]
    inside = ((rows >= 0) & (rows < h))[:, :, None] & ((cols >= 0) & (cols < w))[:, None, :]  # [N, H, W]
    source = rows.clamp(0, h - 1)[:, :, None] * w + cols.clamp(0, w - 1)[:, None, :]  # [N, H, W]: flat index
    out = x.reshape(n, c, h * w).gather(2, source.view(n, 1, h * w).expand(n, c, h * w))  # [N, C, H*W]
    return out.view(n, c, h, w) * inside[:, None].to(x.dtype)  # [N, C, H, W]


def cutout(x: torch.Tensor, centre: torch.Tensor) -> torch.Tensor:
    """Zero a round(H/2) x round(W/2) square centred at (row, column) [N, 2] of each [N, C, H, W] image."""
    _, _, h, w = x.shape
    top = centre[:, :1] - cutout_size(h) // 2  # [N, 1]: first masked row (may be < 0)
    left = centre[:, 1:] - cutout_size(w) // 2  # [N, 1]
    r, c = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    in_rows = (r >= top) & (r < top + cutout_size(h))  # [N, H]
    in_cols = (c >= left) & (c < left + cutout_size(w))  # [N, W]
    keep = ~(in_rows[:, :, None] & in_cols[:, None, :])  # [N, H, W]: False inside the square
    return x * keep[:, None].to(x.dtype)


def apply_augment(x: torch.Tensor, params: dict[str, torch.Tensor]) -> torch.Tensor:
    """Apply the transforms whose parameters ``params`` holds (from :func:`sample_params`) to [N, C, H, W] images.

    Differentiable in x; the identity for an empty dict. Same params, same output.
    """
    if "brightness" in params:
        x = color(x, params["brightness"], params["saturation"], params["contrast"])
    if "shift" in params:
        x = translate(x, params["shift"])
    if "centre" in params:
        x = cutout(x, params["centre"])
    return x


def diff_augment(x: torch.Tensor, policy: tuple[str, ...], generator: torch.Generator | None = None,
                 p: float | None = None) -> torch.Tensor:
    """T(x): draw fresh per-image parameters of ``policy`` (each applied with probability p; None: always) and apply
    them to [N, C, H, W] images."""
    if not policy:
        return x
    return apply_augment(x, sample_params(policy, x.shape[0], tuple(x.shape[1:]), generator, x.device, p))


def ada_adjust(p: float, r_t: float, target: float, images: int, kimg: float) -> float:
    """ADA's update of the augmentation probability (Karras et al. 2020, section 3).

    r_t = E[sign(D_train)] over the last few minibatches estimates how confidently D calls the training images
    real (0: no better than chance, 1: every one). Above the target, D is overfitting and p rises; below, p
    falls; the step is such that p can cross [0, 1] in ``kimg`` thousand real images.

    Args:
        p: the current probability.
        r_t: the heuristic measured since the last adjustment, in [-1, 1].
        target: the r_t to hold (the paper: 0.6).
        images: real images shown to D since the last adjustment.
        kimg: thousands of images for p to move from 0 to 1 (the paper: 500).

    Returns:
        The new p, clamped to [0, 1].

    Example:
        >>> ada_adjust(0.0, r_t=0.9, target=0.6, images=256, kimg=0.512)
        0.5
    """
    step = images / (kimg * 1000)  # p's change per adjustment
    sign = (r_t > target) - (r_t < target)  # sign(r_t - target)
    return min(1.0, max(0.0, p + sign * step))
