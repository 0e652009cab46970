"""Latent space: paths between two z, the z of a given image, latent arithmetic, and the commands
``gankit interpolate``, ``gankit invert`` and ``gankit arithmetic`` (docs/latent.md).

Goodfellow et al. (2014), Figure 3, walks in a straight line between two points of z and draws G
along the way: the digits change smoothly into one another instead of jumping between memorised
training images. This module draws such walks for any gankit checkpoint, between two random z or
between two *real* images, whose z it first finds by optimisation (:func:`invert`).

Library functions:

- :func:`interpolate` (z0, z1 -> the path [steps, z_dim]; slerp or lerp);
- :func:`invert` (G, images -> their best z and per-image reconstruction errors);
- :func:`latent_paths` (G, pairs of z -> the paths and G's outputs along them, plus the tiles of
  the picture, real images at the row ends if given);
- :func:`interpolate_run` (what ``gankit interpolate`` does: checkpoint in, PNG or NPZ out);
- :func:`fit_encoder` (what ``gankit fit-encoder`` does: an encoder E: x -> z for a trained GAN)
  and :func:`load_encoder` (that one, a VAE's own encoder, or f-AnoGAN's);
- :func:`invert_run` (what ``gankit invert`` does: images in, z, reconstructions and errors out,
  by search, by an encoder in one pass, or both),
  with :func:`load_images`, :func:`invert_best_class` (conditional G without labels),
  :func:`discriminator_features` and :func:`load_discriminator` (the "D" feature loss);
- :func:`arithmetic` (what ``gankit arithmetic`` does: z = sum(plus) - sum(minus), drawn), with
  :func:`parse_operand` and :func:`seed_z`.

Example:
    >>> import torch
    >>> from gankit.apps.latent import interpolate
    >>> z0, z1 = torch.tensor([3.0, 0.0]), torch.tensor([0.0, 3.0])
    >>> path = interpolate(z0, z1, 3, mode="slerp")
    >>> [round(float(v), 4) for v in path[1]], round(float(path[1].norm()), 4)
    ([2.1213, 2.1213], 3.0)
    >>> [round(float(v), 4) for v in interpolate(z0, z1, 3, mode="lerp")[1]]
    [1.5, 1.5]
"""

from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.errors import UserError
from gankit.models import sample_z

__all__ = ["MODES", "interpolate", "resolve_mode", "invert", "LatentPaths", "latent_paths", "interpolate_run",
           "POOR_RECONSTRUCTION", "FEATURES", "FEATURE_WEIGHT", "discriminator_features", "load_discriminator",
           "invert_best_class", "load_images", "invert_run", "METHODS", "ENCODER_NAME", "fit_encoder", "load_encoder",
           "encode_best_class", "parse_operand", "seed_z", "arithmetic", "PER_CLASS",
           "ARITHMETIC_NOISE"]

MODES = ("slerp", "lerp")

#: A reconstruction counts as poor when its mean squared error is more than this share of the data's
#: variance (the split's per-pixel variance, averaged over pixels). Drawing the split's mean image
#: instead of the example scores about 1 on average, so above 0.5 G's best attempt is less than
#: twice as close as that baseline.
POOR_RECONSTRUCTION = 0.5

#: Feature spaces of :func:`invert`'s optional feature loss.
FEATURES = ("none", "D", "digits")

#: Default weight of the relative feature error when a feature loss is asked for: with it a
#: feature error of half the target's squared norm costs 0.05, about the pixel error of a fair
#: reconstruction on the [-1, 1] scale, so neither term swamps the other.
FEATURE_WEIGHT = 0.1


def resolve_mode(mode: str, z_dist: str) -> str:
    """The mode to use: "auto" is slerp for Gaussian z and lerp for uniform z; "slerp" and "lerp" pass through."""
    if mode == "auto":
        return "lerp" if z_dist == "uniform" else "slerp"
    if mode not in MODES:
        raise UserError(f"unknown interpolation mode {mode!r}; expected slerp, lerp or auto")
    return mode


def interpolate(z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp") -> torch.Tensor:
    """The path from z0 to z1 in ``steps`` evenly spaced points, both ends included and exact.

    ``lerp`` is the straight line (1 - t) z0 + t z1. It suits uniform z: the prior's support, the
    box [-sqrt 3, sqrt 3]^d, is convex, so every point of the line is a z the generator was trained
    on (and a curved path could leave the box).

    ``slerp`` walks the great circle between the directions of z0 and z1 and moves the length
    linearly from |z0| to |z1|:

        z(t) = ((1 - t)|z0| + t|z1|) * (sin((1 - t) theta) u0 + sin(t theta) u1) / sin(theta),

    with u = z / |z| and theta the angle between z0 and z1. It suits Gaussian z: in d dimensions
    almost all of N(0, I)'s mass lies near the sphere of radius sqrt(d), and two random z are
    nearly orthogonal, so the straight line's midpoint has length about sqrt(d / 2), a z the
    generator practically never saw in training. White (2016), "Sampling Generative Networks",
    proposes slerp for this reason. For |z0| = |z1| this is exactly White's formula
    (sin((1 - t) theta) z0 + sin(t theta) z1) / sin(theta), and |z(t)| stays constant; for
    unequal lengths the length moves linearly, so it always stays between |z0| and |z1|.

    Degenerate cases of slerp: parallel directions (theta near 0) take the straight line; a zero
    endpoint takes the straight line; opposite directions (theta near pi), where every great circle
    through u0 is as good as another, turn through a fixed direction perpendicular to u0 (the unit
    axis on which u0 is smallest, made orthogonal to u0); for z_dim = 1 the straight line.

    Args:
        z0, z1: [z_dim] each.
        steps: number of points, >= 2.
        mode: "slerp" or "lerp".

    Returns:
        [steps, z_dim] in z0's dtype; row 0 is z0 and row -1 is z1, bit for bit.

    Raises:
        UserError: mismatched shapes, steps < 2 or an unknown mode.
    """
    z0, z1 = torch.as_tensor(z0), torch.as_tensor(z1)
    if z0.dim() != 1 or z0.shape != z1.shape:
        raise UserError(f"interpolate needs two z of the same shape [z_dim]; got {list(z0.shape)} and {list(z1.shape)}")
    if not isinstance(steps, int) or steps < 2:
        raise UserError(f"--steps must be an integer >= 2 (the path includes both ends); got {steps!r}")
    if mode not in MODES:
        raise UserError(f"unknown interpolation mode {mode!r}; expected slerp or lerp")
    a, b = z0.double(), z1.double()
    t = torch.linspace(0.0, 1.0, steps, dtype=torch.float64, device=a.device)[:, None]  # [steps, 1]
    path = (1 - t) * a + t * b  # [steps, z_dim]: lerp, and the fallback of the degenerate cases
    na, nb = a.norm(), b.norm()
    if mode == "slerp" and len(a) > 1 and na > 1e-12 and nb > 1e-12:
        u0, u1 = a / na, b / nb
        theta = 2 * torch.atan2((u0 - u1).norm(), (u0 + u1).norm())  # accurate at every angle, unlike acos
        radius = (1 - t) * na + t * nb  # [steps, 1]
        if torch.sin(theta) > 1e-6:
            direction = (torch.sin((1 - t) * theta) * u0 + torch.sin(t * theta) * u1) / torch.sin(theta)
            path = radius * direction
        elif theta > 1.0:  # opposite: half a turn through a fixed perpendicular axis
            k = int(u0.abs().argmin())
            w = -u0[k] * u0
            w[k] += 1.0  # e_k - (e_k . u0) u0
            w = w / w.norm()
            path = radius * (torch.cos(math.pi * t) * u0 + torch.sin(math.pi * t) * w)
        # else parallel: the straight line already runs along the common direction
    path = path.to(z0.dtype)
    path[0], path[-1] = z0, z1
    return path


def invert(G: nn.Module, x: torch.Tensor, steps: int = 500, lr: float = 0.05, restarts: int = 4, seed: int = 0,
           c: int | torch.Tensor | None = None, prior_weight: float = 0.0, batch: int = 256,
           z_dist: str | None = None, features: str = "none", feature_weight: float | None = None,
           D: nn.Module | None = None, z_init: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Find z with G(z) close to each image of x: minimise ||G(z) - x||^2 over z by Adam.

    Each image gets ``restarts`` starting points drawn from the prior (seeded by ``seed``); each
    start runs ``steps`` Adam steps with a cosine learning-rate decay from ``lr`` to lr / 100, and
    the start with the smallest final error is kept, per image. z stays in the prior's support:
    for uniform z each step ends by clamping z to the box [-sqrt 3, sqrt 3]^d; for Gaussian z
    (support everywhere) ``prior_weight`` > 0 adds prior_weight * ||z||^2 / z_dim to the loss,
    which pulls z towards the prior's typical lengths instead of letting it wander far out to
    match an image G cannot draw (0, the default, is the plain least-squares fit).

    The images are independent: the loss is a sum over images, G runs in eval mode (BatchNorm uses
    its running statistics, so no image affects another) and Adam's steps are per coordinate; so
    an image's result does not depend on ``batch`` or on the other images. Only z receives
    gradients (``torch.autograd.grad`` with respect to z): G's weights and their ``.grad`` stay
    untouched, and G's train/eval mode is restored afterwards. (AnoGAN-style anomaly scores start
    from exactly this fit: the residual error of the best z.)

    Feature loss (``features`` "D" or "digits"): pixels alone reward a blurry average of the
    plausible images, so the loss can add ``feature_weight`` times the *relative* squared feature
    error ||f(G(z)) - f(x)||^2 / ||f(x)||^2 (per image, so the weight does not depend on the
    features' scale), with f the penultimate layer of the run's own discriminator (``"D"``, pass
    ``D``; :func:`discriminator_features`) or of gankit's shipped digits classifier
    (``"digits"``, 128-d, any 1- or 3-channel image size, resized to 28x28 inside; meaningful for
    digit images only). ``feature_weight`` None means 0 without features and
    :data:`FEATURE_WEIGHT` (0.1) with them. The start kept per image is the one with the smallest
    final loss (pixels + features); the returned error is always the pixel error alone, so errors
    with and without the feature loss compare directly.

    Args:
        G: a gankit generator (``G(z, c)``, ``G.z_dim``, ``G.c_dim``, ``G.data_shape``).
        x: [N, *G.data_shape] target images in [-1, 1] (any device; moved to G's).
        steps: Adam steps per start.
        lr: Adam's initial learning rate.
        restarts: random starts per image (the best is kept).
        seed: seed of the starting points.
        c: a conditional G's labels, one int for all images or a tensor [N]; None for an
            unconditional G.
        prior_weight: weight of ||z||^2 / z_dim for Gaussian z (ignored for uniform z).
        batch: images optimised at once (all their restarts together).
        z_dist: "normal" or "uniform"; default ``G.z_dist`` (else normal).
        features: "none" (pixels only, the default), "D" or "digits" (see above).
        feature_weight: weight of the relative feature error; None = 0.1 with features, else 0.
        D: the run's discriminator (``D(x, c)``), needed for ``features="D"``
            (:func:`load_discriminator` rebuilds it from a checkpoint).
        z_init: [N, z_dim] one more starting point per image, ahead of the ``restarts`` random
            ones (``restarts`` may then be 0): an encoder's guess E(x), refined by the same
            steps. Since the starts never interact, the best of them is never worse than the
            best of the random starts alone.

    Returns:
        (z [N, z_dim], err [N]) on the CPU: the best z per image and its reconstruction error,
        the mean over pixels of (G(z) - x)^2 on the [-1, 1] scale.

    Raises:
        UserError: x of the wrong shape, bad labels, or non-positive steps / restarts / batch.
    """
    shape = tuple(G.data_shape)
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise UserError(f"images to invert must have shape [N, {', '.join(map(str, shape))}] for this generator; "
                        f"got {list(x.shape)}")
    for name, v in (("steps", steps), ("restarts", restarts + (z_init is not None)), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise UserError(f"invert: {name} must be a positive integer; got {v!r}")
    n, z_dim = len(x), G.z_dim
    if z_init is not None and tuple(z_init.shape) != (n, z_dim):
        raise UserError(f"invert: z_init must have shape [{n}, {z_dim}]; got {list(z_init.shape)}")
    dist = z_dist or getattr(G, "z_dist", "normal")
    labels = _labels(G, c, n)
    feat_fn, weight = _feature_loss(G, features, feature_weight, D)
    device = next(G.parameters()).device
    gen = torch.Generator().manual_seed(seed)
    z_start = sample_z(restarts * n, z_dim, dist, gen).view(restarts, n, z_dim)  # drawn once: independent of batch
    if z_init is not None:  # the given start first, then the random ones
        z_start = torch.cat([z_init.detach().float().cpu()[None], z_start])
        restarts += 1
    bound = 3 ** 0.5
    best_z, best_err = torch.empty(n, z_dim), torch.empty(n)
    was_training = G.training
    d_was_training = None if D is None or feat_fn is None else D.training
    G.eval()
    if d_was_training is not None:
        D.eval()  # BatchNorm's running statistics: each image's features on their own
    try:
        with torch.enable_grad():
            for s in range(0, n, batch):
                b = min(batch, n - s)
                xb = x[s:s + b].to(device, torch.float32).repeat(restarts, *([1] * len(shape)))  # [R*b, ...]
                cb = None if labels is None else labels[s:s + b].to(device).repeat(restarts)  # [R*b]
                z = z_start[:, s:s + b].reshape(restarts * b, z_dim).to(device).clone().requires_grad_(True)
                opt = torch.optim.Adam([z], lr=lr)
                target = None
                if feat_fn is not None:
                    with torch.no_grad():
                        fx = feat_fn(xb, cb)  # [R*b, F]
                        target = (fx, (fx ** 2).sum(1).clamp_min(1e-8))  # features and their squared norms

                def fit(z):
                    """Per-image loss [R*b] (pixels + weighted features) and the pixel error [R*b]."""
                    gz = G(z, cb)
                    pixel = ((gz - xb) ** 2).flatten(1).mean(1)
                    total = pixel
                    if target is not None:
                        total = pixel + weight * ((feat_fn(gz, cb) - target[0]) ** 2).sum(1) / target[1]
                    return total, pixel

                for i in range(steps):
                    for group in opt.param_groups:
                        group["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * i / steps)))
                    loss = fit(z)[0].sum()
                    if prior_weight and dist != "uniform":
                        loss = loss + prior_weight * (z ** 2).mean(1).sum()
                    (z.grad,) = torch.autograd.grad(loss, [z])
                    opt.step()
                    if dist == "uniform":
                        with torch.no_grad():
                            z.clamp_(-bound, bound)
                with torch.no_grad():
                    total, err = (v.view(restarts, b) for v in fit(z))  # [R, b] each
                    pick = total.argmin(0)  # [b]
                    cols = torch.arange(b, device=device)
                    best_z[s:s + b] = z.detach().view(restarts, b, z_dim)[pick, cols].cpu()
                    best_err[s:s + b] = err[pick, cols].cpu()
    finally:
        G.train(was_training)
        if d_was_training is not None:
            D.train(d_was_training)
    return best_z, best_err


def _labels(G: nn.Module, c: int | torch.Tensor | None, n: int) -> torch.Tensor | None:
    """Labels [n] for a conditional G (from one int or a tensor); None for an unconditional one."""
    if not G.c_dim:
        if c is not None:
            raise UserError("this generator is unconditional (c_dim = 0); do not pass class labels")
        return None
    if c is None:
        raise UserError(f"this generator is conditional (c_dim = {G.c_dim}): pass the images' class labels")
    labels = torch.full((n,), int(c), dtype=torch.long) if isinstance(c, int) else torch.as_tensor(c).long().cpu()
    if labels.shape != (n,) or (n and (int(labels.min()) < 0 or int(labels.max()) >= G.c_dim)):
        raise UserError(f"class labels must be {n} integers in 0..{G.c_dim - 1}; got {list(labels.shape)} values")
    return labels


def _feature_loss(G: nn.Module, features: str, feature_weight: float | None,
                  D: nn.Module | None):
    """(f(x, c) -> [N, F] or None, weight): the feature map and weight of :func:`invert`'s feature term."""
    if features not in FEATURES:
        raise UserError(f"unknown features {features!r}; expected one of {', '.join(FEATURES)}")
    if features == "none":
        if feature_weight:
            raise UserError(f"a feature weight ({feature_weight}) needs a feature space: features D or digits")
        return None, 0.0
    weight = FEATURE_WEIGHT if feature_weight is None else feature_weight
    if not isinstance(weight, (int, float)) or not weight > 0 or not math.isfinite(weight):
        raise UserError(f"--feature-weight must be a positive number with --features {features}; got {weight!r}")
    shape = tuple(G.data_shape)
    device = next(G.parameters()).device
    if features == "digits":
        if len(shape) != 3 or shape[0] not in (1, 3):
            raise UserError(f"--features digits needs 1- or 3-channel images; this generator makes shape {list(shape)}")
        from gankit.features import get_feature_extractor

        net = get_feature_extractor("digits", device=str(device)).requires_grad_(False)
        return (lambda x, c: net.features(x)), float(weight)
    if D is None:
        raise UserError("--features D needs the run's discriminator: pass D (gankit.apps.latent.load_discriminator)")
    if tuple(D.data_shape) != shape:
        raise UserError(f"the discriminator takes shape {list(D.data_shape)} but the generator makes {list(shape)}")
    if getattr(D, "pac", 1) > 1:
        raise UserError(f"this discriminator packs {D.pac} images into one input (D.pac), so its features are not "
                        f"per image; use --features digits or none")
    return (lambda x, c: discriminator_features(D, x, c)), float(weight)


def discriminator_features(D: nn.Module, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
    """D's penultimate features phi(x) [N, F]: the input of its last linear layer, the layer before the logit.

    For the MLP discriminator, the output of its last hidden layer (after the activation); for
    DCGAN's, the flattened output of its last convolution block. A conditional D with
    ``cond="concat"`` sees the label as it does in training. Minibatch discrimination, which
    compares each image with the others of the batch, is left out, so the features of one image
    do not depend on the rest of the batch. Runs in whatever mode D is in (call ``D.eval()`` for
    BatchNorm's running statistics, as :func:`invert` does).

    Raises:
        UserError: D is not a gankit discriminator or packs images (``pac`` > 1).
    """
    from gankit.models.dcgan import DCGANDiscriminator
    from gankit.models.mlp import MLPDiscriminator

    if getattr(D, "pac", 1) > 1:
        raise UserError(f"D.pac = {D.pac}: the discriminator sees packs of images, not single ones")
    if isinstance(D, MLPDiscriminator):
        h = x.flatten(1)  # [N, F]
        if D.embed is not None and D.cond == "concat":
            h = torch.cat([h, D.embed(c)], dim=1)  # [N, F + c_dim]
        return D.net[:-1](h)  # [N, hidden[-1]]
    if isinstance(D, DCGANDiscriminator):
        if D.c_dim and D.cond == "concat":
            planes = nn.functional.one_hot(c, D.c_dim).to(x.dtype)[:, :, None, None]  # [N, c_dim, 1, 1]
            x = torch.cat([x, planes.expand(-1, -1, *x.shape[2:])], dim=1)
        return D.body(x)  # [N, channels * s0 * s0]
    raise UserError(f"discriminator_features knows gankit's MLP and DCGAN discriminators; got {type(D).__name__}")


def load_discriminator(run_or_ckpt: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a run's discriminator D from its checkpoint, in eval mode and without gradients for its weights."""
    from gankit.checkpoint import load_checkpoint
    from gankit.config import from_dict, validate
    from gankit.models import build_discriminator

    state = load_checkpoint(run_or_ckpt)
    cfg = validate(from_dict(state["config"]))
    if "D" not in state:
        raise UserError(f"{run_or_ckpt} has no discriminator (a {getattr(cfg, 'model', 'gan')} run); "
                        "use --features none or digits")
    D = build_discriminator(cfg, tuple(state["data_shape"]))
    D.load_state_dict(state["D"])
    return D.to(device).eval().requires_grad_(False)


def invert_best_class(G: nn.Module, x: torch.Tensor, **kw) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`invert` for a conditional G without labels: try every class, keep the best per image.

    Each image is inverted once per class (c_dim times the work of :func:`invert`); the class
    whose best z gives the smallest pixel error wins. That is the label G reconstructs the image
    best with, a guess at the class, not a classifier's answer.

    Returns:
        (z [N, z_dim], err [N], labels [N] int64).
    """
    if not G.c_dim:
        raise UserError("invert_best_class needs a conditional generator (c_dim > 0)")
    if "c" in kw:
        raise UserError("invert_best_class chooses the labels itself; do not pass c")
    results = [invert(G, x, c=k, **kw) for k in range(G.c_dim)]
    errs = torch.stack([e for _, e in results])  # [K, N]
    labels = errs.argmin(0)  # [N]
    cols = torch.arange(len(x))
    z = torch.stack([z for z, _ in results])[labels, cols]  # [N, z_dim]
    return z, errs[labels, cols], labels


# ---------------------------------------------------------------- encoders: x -> z in one pass

#: The file :func:`fit_encoder` writes beside a run's checkpoint.
ENCODER_NAME = "encoder.pt"
ENCODER_FORMAT = "gankit-encoder"
ENCODER_VERSION = 1
METHODS = ("optimize", "encoder", "hybrid")


def fit_encoder(run_or_ckpt: str | os.PathLike, steps: int = 2000, lr: float = 1e-3, kappa: float | None = None,
                hidden: tuple[int, ...] = (256, 128), batch: int = 64, seed: int = 0, device: str = "cpu") -> dict:
    """Train an encoder E: x -> z for a trained GAN and write it to ``RUN_DIR/encoder.pt``.

    G (G_ema, the generator sampling uses) and D are frozen; E (an MLP, :class:`gankit.apps.anomaly.Encoder`)
    learns on the run's own training images to minimise the izi_f loss of f-AnoGAN (Schlegl et al.
    2019, section 2.3.3): mean((x - G(E(x)))^2) + kappa * mean((f(x) - f(G(E(x))))^2), with f the
    penultimate features of the run's D (:func:`gankit.apps.anomaly.train_encoder`). ``kappa`` None
    means 1 for an unconditional GAN and 0 (pixels only) for a conditional one, whose E is trained
    with the images' labels as c.

    Returns:
        dict with "path", "loss" (the loss averaged over every 100 steps) and "kappa".
    """
    from gankit.apps.anomaly import train_encoder
    from gankit.checkpoint import find_checkpoint
    from gankit.data import build_dataset
    from gankit.generate import load_generator

    for name, v in (("steps", steps), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise UserError(f"fit-encoder: {name} must be a positive integer; got {v!r}")
    G, cfg, _ = load_generator(run_or_ckpt, device=device)
    if getattr(cfg, "model", "gan") == "vae":
        raise UserError(f"{run_or_ckpt} is a VAE run: it has its own encoder, which `gankit invert --method encoder` "
                        "uses directly")
    kappa = (0.0 if G.c_dim else 1.0) if kappa is None else float(kappa)
    if not kappa >= 0:
        raise UserError(f"kappa must be >= 0; got {kappa}")
    if G.c_dim and kappa:
        raise UserError("the encoder of a conditional generator trains on pixels only: use --kappa 0")
    D = load_discriminator(run_or_ckpt, device) if kappa else None
    data = build_dataset(cfg.data, "train")
    if G.c_dim and data.y is None:
        raise UserError(f"the run's data {cfg.data.name!r} has no labels, but its generator is conditional")
    E, losses = train_encoder(G, D, data.x, G.z_dim, getattr(G, "z_dist", cfg.z_dist), steps=steps, lr=lr,
                              hidden=hidden, kappa=kappa, seed=seed, batch=batch,
                              labels=data.y if G.c_dim else None)
    path = find_checkpoint(run_or_ckpt).parent / ENCODER_NAME
    state = {"format": ENCODER_FORMAT, "version": ENCODER_VERSION, "E": {k: v.cpu() for k, v in E.state_dict().items()},
             "encoder": {"data_shape": list(E.data_shape), "z_dim": E.z_dim, "hidden": list(E.hidden), "z_dist": E.z_dist},
             "kappa": kappa, "steps": steps, "lr": float(lr), "seed": seed, "loss_last": losses[-1]}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return {"path": path, "loss": losses, "kappa": kappa}


class _VAEMean(nn.Module):
    """A VAE's encoder as x -> z: the mean of q(z|x)."""

    def __init__(self, E: nn.Module):
        super().__init__()
        self.E = E

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.E(x)[0]


def load_encoder(run_or_ckpt: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[nn.Module, str]:
    """The run's encoder x -> z, in eval mode, and where it came from.

    In this order: a VAE run's own encoder (the mean of q(z|x)); ``RUN_DIR/encoder.pt`` from
    :func:`fit_encoder` (``gankit fit-encoder``); ``RUN_DIR/anomaly.pt`` from ``gankit anomaly fit``
    (f-AnoGAN's encoder). UserError when the run has none.
    """
    from gankit.apps.anomaly import ANOMALY_NAME, Encoder
    from gankit.checkpoint import find_checkpoint, load_checkpoint
    from gankit.config import from_dict, validate

    ckpt_path = find_checkpoint(run_or_ckpt)
    state = load_checkpoint(ckpt_path)
    cfg = validate(from_dict(state["config"]))
    if getattr(cfg, "model", "gan") == "vae":
        from gankit.models.vae import build_encoder

        E = build_encoder(cfg, tuple(state["data_shape"]))
        E.load_state_dict(state["E"])
        return _VAEMean(E).to(device).eval().requires_grad_(False), "the VAE's encoder (mean of q(z|x))"
    for name, fmt in ((ENCODER_NAME, ENCODER_FORMAT), (ANOMALY_NAME, "gankit-anomaly")):
        path = ckpt_path.parent / name
        if not path.is_file():
            continue
        try:
            enc_state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # not a file torch can read safely
            raise UserError(f"{str(path)!r} is not a gankit encoder file ({(str(e).splitlines() or [type(e).__name__])[0][:120]})") from None
        if not isinstance(enc_state, dict) or enc_state.get("format") != fmt:
            raise UserError(f"{str(path)!r} is not a gankit encoder file (no {fmt!r} marker)")
        enc = enc_state["encoder"]
        E = Encoder(enc["data_shape"], enc["z_dim"], enc["hidden"], enc["z_dist"])
        E.load_state_dict(enc_state["E"])
        return E.to(device).eval().requires_grad_(False), str(path)
    raise UserError(f"{str(ckpt_path.parent)!r} has no encoder; train one with `gankit fit-encoder {ckpt_path.parent}` "
                    f"(or use --method optimize)")


@torch.no_grad()
def encode_best_class(G: nn.Module, E: nn.Module, x: torch.Tensor, c: torch.Tensor | None = None
                      ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """z = E(x) and the pixel error of G(z, c) per image; a conditional G without ``c`` tries
    every class and keeps the best per image.

    Returns:
        (z [N, z_dim], err [N] mean squared pixel error on the [-1, 1] scale, c [N] or None).
    """
    device = next(G.parameters()).device
    x = x.to(device)
    z = E(x)
    if not G.c_dim:
        return z.cpu(), ((G(z) - x) ** 2).flatten(1).mean(1).cpu(), None
    if c is not None:
        c = c.to(device).long()
        return z.cpu(), ((G(z, c) - x) ** 2).flatten(1).mean(1).cpu(), c.cpu()
    errs = torch.stack([((G(z, torch.full((len(x),), k, device=device)) - x) ** 2).flatten(1).mean(1)
                        for k in range(G.c_dim)])  # [K, N]
    best = errs.argmin(0)
    return z.cpu(), errs[best, torch.arange(len(x), device=device)].cpu(), best.cpu()


@dataclass
class LatentPaths:
    """Paths through latent space and what G makes of them.

    Attributes:
        t: [steps] positions along each path, 0 to 1.
        z: [P, steps, z_dim] the z of each path.
        x: [P, steps, *data_shape] G(z) along each path.
        y: [P, steps] the class labels used (conditional G), or None.
        tiles: [P * columns, *data_shape] the picture's tiles row by row: each path, with the real
            images at its ends when they were given (columns = steps + 2), else columns = steps.
        columns: tiles per row.
    """

    t: torch.Tensor
    z: torch.Tensor
    x: torch.Tensor
    y: torch.Tensor | None
    tiles: torch.Tensor
    columns: int


@torch.no_grad()
def latent_paths(G: nn.Module, z0: torch.Tensor, z1: torch.Tensor, steps: int, mode: str = "slerp",
                 c: torch.Tensor | None = None, ends: tuple[torch.Tensor, torch.Tensor] | None = None) -> LatentPaths:
    """Interpolate each pair (z0[p], z1[p]) and run G along the path (in eval mode).

    Args:
        G: a gankit generator.
        z0, z1: [P, z_dim] the start and end of each path.
        steps: points per path (>= 2), ends included.
        mode: "slerp" or "lerp" (see :func:`interpolate`).
        c: a conditional G's labels: [P] (one class per path) or [P, steps] (a class per point).
        ends: optional real images (left [P, *data_shape], right [P, *data_shape]) placed at the
            ends of each row of the picture.

    Returns:
        A :class:`LatentPaths`.
    """
    if z0.dim() != 2 or z0.shape != z1.shape or z0.shape[1] != G.z_dim:
        raise UserError(f"latent_paths needs z0, z1 of shape [P, {G.z_dim}]; got {list(z0.shape)} and {list(z1.shape)}")
    p = len(z0)
    z = torch.stack([interpolate(z0[i], z1[i], steps, mode) for i in range(p)])  # [P, steps, z_dim]
    y = None
    if G.c_dim:
        if c is None:
            raise UserError(f"this generator is conditional (c_dim = {G.c_dim}): pass the paths' labels")
        y = (c[:, None].expand(p, steps) if c.dim() == 1 else c).long().cpu()  # [P, steps]
    elif c is not None:
        raise UserError("this generator is unconditional (c_dim = 0); do not pass class labels")
    device = next(G.parameters()).device
    was_training = G.training
    G.eval()
    try:
        flat_y = None if y is None else y.reshape(-1).to(device)
        x = G(z.reshape(p * steps, -1).to(device), flat_y).cpu()  # [P*steps, *shape]
    finally:
        G.train(was_training)
    x = x.view(p, steps, *x.shape[1:])
    tiles, columns = x, steps
    if ends is not None:
        left, right = (e.detach().float().cpu().view(p, 1, *x.shape[2:]) for e in ends)
        tiles, columns = torch.cat([left, x, right], dim=1), steps + 2
    t = torch.linspace(0.0, 1.0, steps)
    return LatentPaths(t=t, z=z.cpu(), x=x, y=y, tiles=tiles.reshape(p * columns, *x.shape[2:]), columns=columns)


def interpolate_run(run_or_ckpt: str | os.PathLike, out: str | os.PathLike = "interpolation.png", steps: int = 10,
                    pairs: int = 4, seed: int = 0, mode: str = "auto", between_real: tuple[int, int] | None = None,
                    split: str = "test", invert_steps: int = 500, restarts: int = 4, prior_weight: float = 0.0,
                    between_seeds: tuple[int, int] | None = None) -> dict:
    """What ``gankit interpolate`` does: paths through a trained G's latent space, drawn or saved.

    Without ``between_real``: ``pairs`` random pairs of z from the prior (seeded by ``seed``), one
    row per pair with G(z_t) along the path. With ``between_real = (i, j)``: real images i and j of
    the run's dataset (``split``, test by default) are inverted (:func:`invert`, ``invert_steps``
    Adam steps, ``restarts`` starts, seed ``seed``, ``prior_weight``) and the one row is real i, G along the path
    from z_i to z_j, real j. With ``between_seeds = (a, b)``: the one row walks from the z of seed a
    to that of seed b (:func:`seed_z`, the same z as ``gankit arithmetic``'s ``seed:N`` operands).

    A conditional G (c_dim > 0) draws each random row with one class, drawn from the seed, at
    both ends. Between real images each image is inverted with its own label, and the path uses
    the label of image i for t < 1/2 and of image j from t = 1/2 on (the class is discrete; only z
    moves smoothly).

    Images give a grid PNG (one row per path). 2-D vector data (the toy sets) give a scatter plot:
    the data in grey, each path as a line of points coloured by t, real endpoints as stars. Other
    vector data (1-D, or more than 2-D) are refused with a UserError. ``out`` ending in .npz
    writes the arrays instead: t [steps], z [P, steps, z_dim], x [P, steps, *shape], mode, seed,
    y [P, steps] for a conditional G, and between real images also index [2], real [2, *shape],
    error [2] (the reconstruction errors) and labels [2] where the data have labels.

    Returns:
        dict with "out" (the path written), "mode" (the resolved mode), "rows", "columns", and
        between real images "index", "labels" (or None), "error" (per image, mean squared error
        on the [-1, 1] scale), "relative_error" (error / the split's per-pixel variance averaged
        over pixels) and "poor" (a bool per image: relative error above :data:`POOR_RECONSTRUCTION`).

    Raises:
        UserError: a bad checkpoint, option, index or output path, or data that are not images or
            2-D points.
    """
    from gankit.data import build_dataset
    from gankit.generate import load_generator

    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"the folder of --out does not exist: {str(out.parent)!r}")
    if not isinstance(steps, int) or steps < 2:
        raise UserError(f"--steps must be >= 2 (the path includes both ends); got {steps}")
    if between_real is not None and between_seeds is not None:
        raise UserError("give --between-real or --between, not both")
    if between_real is None and (not isinstance(pairs, int) or pairs < 1):
        raise UserError(f"--pairs must be >= 1; got {pairs}")
    if invert_steps < 1 or restarts < 1:
        raise UserError(f"--invert-steps and --restarts must be >= 1; got {invert_steps} and {restarts}")
    if not prior_weight >= 0:
        raise UserError(f"--prior-weight must be >= 0; got {prior_weight}")
    G, cfg, info = load_generator(run_or_ckpt)
    shape = tuple(G.data_shape)
    is_image = len(shape) == 3
    if not is_image and shape != (2,):
        raise UserError(f"gankit interpolate draws images or 2-D points; this run's data are vectors of shape "
                        f"{list(shape)}")
    dist = getattr(G, "z_dist", cfg.z_dist)
    mode = resolve_mode(mode, dist)
    gen = torch.Generator().manual_seed(seed)
    result: dict = {"mode": mode}
    ends = real = y_real = None
    data = None
    if between_real is not None:
        data = build_dataset(cfg.data, split)
        i, j = (int(v) for v in between_real)
        n = len(data)
        for v in (i, j):
            if not 0 <= v < n:
                raise UserError(f"--between-real index {v} is out of range: the {split} split of {data.name} has "
                                f"{n} examples, valid indices are 0..{n - 1}")
        real = data.x[[i, j]]  # [2, *shape]
        y_real = None if data.y is None else data.y[[i, j]]
        c = None
        if G.c_dim:
            if y_real is None:
                raise UserError(f"this generator is conditional but the {split} split of {data.name} has no labels")
            c = y_real
        z_real, err = invert(G, real, steps=invert_steps, restarts=restarts, seed=seed, c=c, z_dist=dist,
                             prior_weight=prior_weight)
        z0, z1 = z_real[:1], z_real[1:]
        c_path = None
        if G.c_dim:
            t = torch.linspace(0.0, 1.0, steps)
            c_path = torch.where(t < 0.5, y_real[0], y_real[1]).long()[None]  # [1, steps]
        paths = latent_paths(G, z0, z1, steps, mode, c=c_path, ends=(real[:1], real[1:]) if is_image else None)
        ends = real
        variance = float(data.x.flatten(1).var(0, unbiased=False).mean().clamp_min(1e-12))  # mean per-pixel variance
        rel = err / variance
        result.update(index=[i, j], labels=None if y_real is None else [int(v) for v in y_real],
                      error=[float(e) for e in err], relative_error=[float(r) for r in rel],
                      poor=[bool(r > POOR_RECONSTRUCTION) for r in rel])
    elif between_seeds is not None:
        z0, z1 = (seed_z(int(v), G.z_dim, dist)[None] for v in between_seeds)  # [1, z_dim] each
        c = torch.randint(G.c_dim, (1,), generator=gen) if G.c_dim else None
        paths = latent_paths(G, z0, z1, steps, mode, c=c)
        result["seeds"] = [int(v) for v in between_seeds]
    else:
        z0 = sample_z(pairs, G.z_dim, dist, gen)
        z1 = sample_z(pairs, G.z_dim, dist, gen)
        c = torch.randint(G.c_dim, (pairs,), generator=gen) if G.c_dim else None
        paths = latent_paths(G, z0, z1, steps, mode, c=c)
    result.update(rows=len(paths.z), columns=paths.columns)
    if out.suffix.lower() == ".npz":
        arrays = {"t": paths.t.numpy(), "z": paths.z.numpy(), "x": paths.x.numpy(), "mode": np.str_(mode),
                  "seed": np.int64(seed)}
        if paths.y is not None:
            arrays["y"] = paths.y.numpy()
        if between_real is not None:
            arrays.update(index=np.array(result["index"], dtype=np.int64), real=real.numpy(),
                          error=np.array(result["error"], dtype=np.float32))
            if y_real is not None:
                arrays["labels"] = y_real.numpy()
        np.savez_compressed(out, **arrays)
    elif is_image:
        from gankit.viz import save_image_grid

        save_image_grid(paths.tiles, out, nrow=paths.columns, scale=tile_scale(shape[-1]))
    else:
        if data is None:
            try:
                data = build_dataset(cfg.data, split)
            except UserError:  # the picture is still useful without the data behind it
                data = None
        title = f"{cfg.preset}: {mode} paths, {steps} steps" + ("" if between_real is None else " between real points")
        save_path_plot(paths.x, out, data=None if data is None else data.x, ends=ends, title=title)
    result["out"] = out
    return result


def tile_scale(width: int) -> int:
    """Enlargement of the interpolation picture: 2x for MNIST-sized tiles, up to 4x for tiny ones, 1x from 64 px."""
    return max(1, min(4, 64 // max(1, width)))


def save_path_plot(x: torch.Tensor, path: str | os.PathLike, data: torch.Tensor | None = None,
                   ends: torch.Tensor | None = None, title: str = "") -> Path:
    """2-D points along paths [P, steps, 2] as lines of dots coloured by t, over the data [M, 2] in grey;
    ``ends`` [2, 2] (real points a path starts and ends near) as stars."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    x = x.detach().float().cpu().numpy()  # [P, steps, 2]
    fig, ax = plt.subplots(figsize=(5, 4.5), dpi=100)
    if data is not None:
        d = data.cpu().numpy()[:5000]
        ax.scatter(d[:, 0], d[:, 1], s=3, c="0.7", alpha=0.5, label="data")
    t = np.linspace(0, 1, x.shape[1])
    sc = None
    for p in range(len(x)):
        ax.plot(x[p, :, 0], x[p, :, 1], "-", c="0.3", lw=0.8, zorder=2)
        sc = ax.scatter(x[p, :, 0], x[p, :, 1], c=t, cmap="viridis", s=18, zorder=3)
    if ends is not None:
        e = ends.detach().float().cpu().numpy()
        ax.scatter(e[:, 0], e[:, 1], marker="*", s=120, c="tab:red", edgecolors="k", zorder=4, label="real points")
    if sc is not None:
        fig.colorbar(sc, ax=ax, label="t along the path")
    lim = min(3.0, max(1.1, float(np.abs(x).max()) * 1.05 if np.isfinite(x).all() else 1.1))
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    if data is not None or ends is not None:
        ax.legend(loc="upper right", fontsize=8)
    ax.set_title(title, fontsize=9)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path)
    plt.close(fig)
    return path


# ---------------------------------------------------------------- inverting given images: gankit invert

_INDEX_SPEC = re.compile(r"^(train|test|all):(.*)$")


def _dataset_split(cfg, split: str, cache: dict | None = None):
    """The run's dataset split (built once per call site through ``cache``)."""
    from gankit.data import build_dataset

    if cache is not None and split in cache:
        return cache[split]
    data = build_dataset(cfg.data, split)
    if cache is not None:
        cache[split] = data
    return data


def _check_index(v: int, data, split: str, what: str) -> None:
    n = len(data)
    if not 0 <= v < n:
        raise UserError(f"{what} index {v} is out of range: the {split} split of {data.name} has {n} examples, "
                        f"valid indices are 0..{n - 1}")


def load_images(spec: str | os.PathLike, G: nn.Module, cfg) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The images ``gankit invert`` takes, as [N, *G.data_shape] in [-1, 1], with labels and names.

    ``spec`` is ``train:I,J,K`` / ``test:I,J,K`` / ``all:I,J,K`` (examples of the run's own
    dataset, ``cfg.data``), a folder of images (class subfolders give labels), one image file
    (.png, .jpg, ...) or a .npy / .npz array ("y" gives labels). Files are read by gankit's data
    loaders (:mod:`gankit.data.images`, the same rules as ``gankit train --data``) and then
    converted to G's channels and resized to G's size (bilinear, antialiased).

    Returns:
        (x [N, *shape], labels [N] or None, names: "test:4" or the file's name per image).

    Raises:
        UserError: bad index syntax or an index out of range, a missing or unreadable file, or
            data of a shape G does not make.
    """
    from gankit.data.images import read_images

    shape = tuple(G.data_shape)
    text = str(spec)
    m = _INDEX_SPEC.match(text)
    if m is not None:
        split, body = m.groups()
        parts = [p.strip() for p in body.split(",")]
        if not body.strip() or not all(re.fullmatch(r"-?\d+", p) for p in parts):
            raise UserError(f"bad image spec {text!r}: expected {split}:I,J,K with whole-number indices, e.g. {split}:0,5,9")
        data = _dataset_split(cfg, split)
        idx = [int(p) for p in parts]
        for v in idx:
            _check_index(v, data, split, "image")
        y = None if data.y is None else data.y[idx]
        return data.x[idx], y, [f"{split}:{v}" for v in idx]
    return read_images(text, shape, also="train:I,J / test:I,J indices into the run's dataset", what="this generator makes")


def _pair_rows(top: torch.Tensor, bottom: torch.Tensor, columns: int = 16) -> tuple[torch.Tensor, int]:
    """Tiles for a picture with rows of ``top`` over rows of ``bottom``, ``columns`` per row, blanks (-1) at the end."""
    n = len(top)
    cols = max(1, min(columns, n))
    pad = (-n) % cols
    blank = -torch.ones(pad, *top.shape[1:])
    top, bottom = torch.cat([top, blank]), torch.cat([bottom, blank])
    rows = [t for r in range(len(top) // cols) for t in (top[r * cols:(r + 1) * cols], bottom[r * cols:(r + 1) * cols])]
    return torch.cat(rows), cols


def invert_run(run_or_ckpt: str | os.PathLike, images: str | os.PathLike, out: str | os.PathLike = "z.npz",
               steps: int = 500, restarts: int = 4, seed: int = 0, features: str = "none",
               feature_weight: float | None = None, prior_weight: float = 0.0, lr: float = 0.05,
               method: str = "optimize") -> dict:
    """What ``gankit invert`` does: find z (and c) for given images and write them with G's reconstructions.

    ``method``: "optimize" (the search below, from random starts), "encoder" (z = E(x) in one
    pass, with the run's encoder, :func:`load_encoder`; no search) or "hybrid" (the search with
    E(x) as one more start: never worse than "optimize" with the same seed and restarts).

    ``images``: see :func:`load_images`. The fit is :func:`invert` (``steps``, ``restarts``,
    ``seed``, ``features`` none / D / digits, ``feature_weight``, ``prior_weight``, ``lr``). A
    conditional G uses the images' labels when they come with some (a split of a labelled dataset,
    class subfolders, an .npz with "y"), and otherwise tries every class and keeps the best per
    image (:func:`invert_best_class`).

    Writes ``out`` (.npz): z [N, z_dim], recon [N, *shape] (G(z, c)), x [N, *shape] (the
    originals on the [-1, 1] scale), error [N] (mean squared pixel error, [-1, 1] scale), names [N],
    c [N] for a conditional G, labels [N] where the images have labels, and the settings (steps,
    restarts, seed, features, feature_weight, prior_weight). For images, also a PNG beside it
    (``out`` with suffix .png): rows of up to 16 originals, each over the row of their
    reconstructions.

    Returns:
        dict with "out", "png" (None for vector data), "names", "error" (list of floats), "z",
        "c" (tensor or None), "labels" (tensor or None), "label_source" ("data", "best" or None).
    """
    from gankit.generate import load_generator

    out = Path(out)
    if out.suffix.lower() != ".npz":
        raise UserError(f"--out must end in .npz (z, reconstructions and errors as arrays); got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"the folder of --out does not exist: {str(out.parent)!r}")
    if features not in FEATURES:
        raise UserError(f"unknown features {features!r}; expected one of {', '.join(FEATURES)}")
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    G, cfg, _ = load_generator(run_or_ckpt)
    E, encoder_source = load_encoder(run_or_ckpt) if method != "optimize" else (None, None)
    x, labels, names = load_images(images, G, cfg)
    D = load_discriminator(run_or_ckpt) if features == "D" and method != "encoder" else None
    kw = dict(steps=steps, restarts=restarts, seed=seed, features=features, feature_weight=feature_weight,
              prior_weight=prior_weight, lr=lr, D=D, z_dist=getattr(G, "z_dist", cfg.z_dist))
    if E is not None and method == "hybrid":
        with torch.no_grad():
            kw["z_init"] = E(x)
    c = None
    source = None
    if G.c_dim and labels is not None and int(labels.max()) < G.c_dim:
        c, source = labels.long(), "data"
    if method == "encoder":
        z, err, c_best = encode_best_class(G, E, x, c)
        if G.c_dim and c is None:
            c, source = c_best, "best"
    elif c is not None:
        z, err = invert(G, x, c=c, **kw)
    elif G.c_dim:
        z, err, c = invert_best_class(G, x, **kw)
        source = "best"
    else:
        z, err = invert(G, x, **kw)
    with torch.no_grad():
        recon = G(z, c)
    weight = 0.0 if features == "none" else (FEATURE_WEIGHT if feature_weight is None else float(feature_weight))
    arrays = {"z": z.numpy(), "recon": recon.numpy(), "x": x.numpy(), "error": err.numpy(),
              "names": np.array(names, dtype=np.str_), "steps": np.int64(steps), "restarts": np.int64(restarts),
              "seed": np.int64(seed), "features": np.str_(features), "feature_weight": np.float64(weight),
              "prior_weight": np.float64(prior_weight), "method": np.str_(method),
              "encoder": np.str_(encoder_source or "")}
    if c is not None:
        arrays["c"] = c.numpy()
    if labels is not None:
        arrays["labels"] = labels.numpy()
    np.savez_compressed(out, **arrays)
    png = None
    if len(G.data_shape) == 3:
        from gankit.viz import save_image_grid

        tiles, cols = _pair_rows(x, recon)
        png = save_image_grid(tiles, out.with_suffix(".png"), nrow=cols, scale=tile_scale(G.data_shape[-1]))
    return {"out": out, "png": png, "names": names, "error": [float(e) for e in err], "z": z, "c": c,
            "labels": labels, "label_source": source, "encoder": encoder_source}


# ---------------------------------------------------------------- latent arithmetic: gankit arithmetic

#: Real images averaged per ``class:K`` operand of an unconditional G, as Radford et al. (2016),
#: section 6.3, average the z of three exemplars per concept.
PER_CLASS = 3

#: Half-width of the uniform noise added to the result z for the extra samples (Radford et al.
#: 2016, Figure 7: the other samples are the result plus noise of scale +-0.25).
ARITHMETIC_NOISE = 0.25

_OPERAND = {"seed": re.compile(r"^seed:(\d+)$"), "real": re.compile(r"^real:(?:(train|test|all):)?(\d+)$"),
            "class": re.compile(r"^class:(\d+)$")}


def parse_operand(spec: str) -> tuple:
    """``seed:N`` -> ("seed", N); ``real:test:I`` (or ``real:I``, the test split) -> ("real", split, I); ``class:K`` -> ("class", K).

    Example:
        >>> parse_operand("seed:3"), parse_operand("real:train:7"), parse_operand("class:1")
        (('seed', 3), ('real', 'train', 7), ('class', 1))
    """
    text = str(spec).strip()
    for kind, rx in _OPERAND.items():
        m = rx.match(text)
        if m:
            if kind == "real":
                return ("real", m.group(1) or "test", int(m.group(2)))
            return (kind, int(m.group(1)))
    raise UserError(f"bad z operand {spec!r}: expected seed:N (a draw from the prior), real:test:I (or real:train:I; "
                    f"a real example, inverted) or class:K (a class's mean z)")


def seed_z(seed: int, z_dim: int, dist: str) -> torch.Tensor:
    """The z of ``seed:N``: the first draw [z_dim] of the prior from a generator seeded with N."""
    return sample_z(1, z_dim, dist, torch.Generator().manual_seed(int(seed)))[0]


def arithmetic(run_or_ckpt: str | os.PathLike, plus: list[str], minus: list[str] = (),
               out: str | os.PathLike = "arithmetic.png", n: int = 8, seed: int = 0, noise: float = ARITHMETIC_NOISE,
               per_class: int = PER_CLASS, invert_steps: int = 500, restarts: int = 4) -> dict:
    """What ``gankit arithmetic`` does: z = sum(plus) - sum(minus), drawn with its operands.

    Operands (:func:`parse_operand`): ``seed:N`` is the prior draw :func:`seed_z`;
    ``real:SPLIT:I`` is the z :func:`invert` finds for example I of the run's dataset (seed
    ``seed``, ``invert_steps``, ``restarts``); ``class:K`` is, for an unconditional G, the mean z
    of the inversions of the first ``per_class`` examples of class K in the test split (the
    dataset needs labels). A conditional G keeps the class in c, not in z: there ``class:K``
    adds nothing to z and sets the result's label (the last ``--plus`` operand that carries a
    label, class:K or a real example, decides it; one is needed), and every operand is drawn
    with its own label (seed operands with the result's).

    The picture (``out`` .png): the first row holds each plus operand's G(z), then each minus
    operand's, then the result G(z); with ``n`` > 0 a second row holds ``n`` samples of G at the
    result plus uniform noise in [-noise, noise] per coordinate (seeded by ``seed``). Blank tiles
    fill the shorter row. ``out`` ending in .npz writes the arrays instead: z_ops [K, z_dim],
    signs [K] (+1 / -1), ops [K], z [z_dim], x [*shape] (G of the result), samples [n, *shape],
    z_samples [n, z_dim], and c_ops / c for a conditional G.

    Returns:
        dict with "out", "operands" (list of dicts: spec, sign, z, label, error for real or class
        operands), "z" (the result), "label" (or None), "columns", "rows".
    """
    from gankit.generate import load_generator

    out = Path(out)
    if out.suffix.lower() not in (".png", ".npz"):
        raise UserError(f"--out must end in .png (a picture) or .npz (arrays); got {str(out)!r}")
    if not out.parent.exists():
        raise UserError(f"the folder of --out does not exist: {str(out.parent)!r}")
    if not plus:
        raise UserError("latent arithmetic needs at least one --plus operand")
    if not isinstance(n, int) or n < 0:
        raise UserError(f"--n must be an integer >= 0; got {n!r}")
    if not isinstance(per_class, int) or per_class < 1:
        raise UserError(f"per_class must be >= 1; got {per_class!r}")
    if not noise >= 0:
        raise UserError(f"--noise must be >= 0; got {noise}")
    ops = [(s, +1, parse_operand(s)) for s in plus] + [(s, -1, parse_operand(s)) for s in minus]
    G, cfg, _ = load_generator(run_or_ckpt)
    shape = tuple(G.data_shape)
    if len(shape) != 3:
        raise UserError(f"gankit arithmetic draws images; this run's data are vectors of shape {list(shape)}")
    dist = getattr(G, "z_dist", cfg.z_dist)
    cache: dict = {}
    operands = []
    for spec, sign, op in ops:
        entry = {"spec": spec, "sign": sign, "label": None, "error": None}
        if op[0] == "seed":
            entry["z"] = seed_z(op[1], G.z_dim, dist)
        elif op[0] == "real":
            split, i = op[1], op[2]
            data = _dataset_split(cfg, split, cache)
            _check_index(i, data, split, f"{spec}:")
            y = None if data.y is None else data.y[i:i + 1]
            if G.c_dim and y is None:
                raise UserError(f"this generator is conditional but the {split} split of {data.name} has no labels")
            z, err = invert(G, data.x[i:i + 1], steps=invert_steps, restarts=restarts, seed=seed,
                            c=y if G.c_dim else None, z_dist=dist)
            entry.update(z=z[0], error=[float(err[0])], label=None if y is None else int(y[0]))
        else:
            k = op[1]
            if G.c_dim:
                if not 0 <= k < G.c_dim:
                    raise UserError(f"{spec}: this conditional generator has classes 0..{G.c_dim - 1}")
                entry.update(z=torch.zeros(G.z_dim), label=k)
            else:
                data = _dataset_split(cfg, "test", cache)
                if data.y is None:
                    raise UserError(f"{spec} needs labelled data, but the test split of {data.name} has no labels")
                idx = torch.nonzero(data.y == k).flatten()[:per_class]
                if len(idx) == 0:
                    raise UserError(f"{spec}: the test split of {data.name} has no example of class {k} "
                                    f"(labels 0..{int(data.y.max())})")
                z, err = invert(G, data.x[idx], steps=invert_steps, restarts=restarts, seed=seed, z_dist=dist)
                entry.update(z=z.mean(0), error=[float(e) for e in err], index=[int(v) for v in idx])
        operands.append(entry)
    z_plus = torch.stack([o["z"] for o in operands if o["sign"] > 0]).sum(0)
    z_minus = [o["z"] for o in operands if o["sign"] < 0]
    z_res = z_plus - torch.stack(z_minus).sum(0) if z_minus else z_plus  # [z_dim]
    label = None
    if G.c_dim:
        carried = [o["label"] for o in operands if o["sign"] > 0 and o["label"] is not None]
        if not carried:
            raise UserError("this generator is conditional: give the result a class with --plus class:K "
                            "(or a --plus real:SPLIT:I operand)")
        label = carried[-1]
    gen = torch.Generator().manual_seed(seed)
    z_samples = z_res + noise * (2 * torch.rand(n, G.z_dim, generator=gen) - 1)  # [n, z_dim]
    z_ops = torch.stack([o["z"] for o in operands])  # [K, z_dim]
    c_ops = c_res = c_samples = None
    if G.c_dim:
        c_ops = torch.tensor([label if o["label"] is None else o["label"] for o in operands])
        c_res, c_samples = torch.tensor([label]), torch.full((n,), label)
    was_training = G.training
    G.eval()
    try:
        with torch.no_grad():
            x_ops = G(z_ops, c_ops)  # [K, *shape]
            x_res = G(z_res[None], c_res)  # [1, *shape]
            x_samples = G(z_samples, c_samples) if n else torch.empty(0, *shape)
    finally:
        G.train(was_training)
    first = torch.cat([x_ops, x_res])  # [K + 1, *shape]
    columns = max(len(first), n)
    rows = 1 + (n > 0)
    if out.suffix.lower() == ".npz":
        arrays = {"z_ops": z_ops.numpy(), "signs": np.array([o["sign"] for o in operands], dtype=np.int64),
                  "ops": np.array([o["spec"] for o in operands], dtype=np.str_), "z": z_res.numpy(),
                  "x": x_res[0].numpy(), "x_ops": x_ops.numpy(), "samples": x_samples.numpy(),
                  "z_samples": z_samples.numpy(), "seed": np.int64(seed), "noise": np.float64(noise)}
        if G.c_dim:
            arrays.update(c_ops=c_ops.numpy(), c=np.int64(label))
        np.savez_compressed(out, **arrays)
    else:
        from gankit.viz import save_image_grid

        def padded(t):
            return torch.cat([t, -torch.ones(columns - len(t), *shape)])

        tiles = torch.cat([padded(first)] + ([padded(x_samples)] if n else []))
        save_image_grid(tiles, out, nrow=columns, scale=tile_scale(shape[-1]))
    return {"out": out, "operands": operands, "z": z_res, "label": label, "columns": columns, "rows": rows,
            "x": x_res[0], "samples": x_samples, "z_samples": z_samples}
