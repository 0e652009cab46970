"""Finding the z of given images: the search :func:`invert` and the command ``gankit invert`` (docs/latent.md).

A trained G maps z to images; inversion goes back, from an image x to the z whose G(z) is
closest to it. :func:`invert` searches by Adam on z from a few random starts (optionally with a
feature loss on the run's D or on gankit's digits classifier, or from an encoder's guess E(x),
:mod:`gankit.apps.encoder`); :func:`invert_run` is ``gankit invert``: the IMAGES argument in
(:func:`gankit.data.images.read_images`), z, reconstructions and errors out. Interpolation
between real images (:mod:`gankit.apps.interpolate`), latent arithmetic on real examples
(:mod:`gankit.apps.arithmetic`) and AnoGAN's start (:mod:`gankit.apps.anomaly`) all use
:func:`invert`.

Example:
    >>> import torch
    >>> from gankit.config import apply_overrides, load_preset
    >>> from gankit.models import build_generator
    >>> _ = torch.manual_seed(0)
    >>> G = build_generator(apply_overrides(load_preset("quick-mlp"), ["z_dim=2", "G.hidden=[8]"]), (3,))
    >>> with torch.no_grad():
    ...     x = G(torch.tensor([[0.5, -1.0]]))
    >>> z, err = invert(G, x, steps=300, restarts=2)
    >>> tuple(z.shape), bool(err[0] < 1e-4)
    ((1, 2), True)
"""

from __future__ import annotations

import math
import sys
import os
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.apps.encoder import discriminator_features, encode_best_class, load_discriminator, load_encoder
from gankit.errors import UserError, check_out_folder
from gankit.models import sample_z

__all__ = ["FEATURES", "FEATURE_WEIGHT", "METHODS", "invert", "invert_best_class", "load_images", "invert_run",
           "tile_scale"]

#: Feature spaces of :func:`invert`'s optional feature loss.
FEATURES = ("none", "D", "digits")

#: Default weight of the relative feature error when a feature loss is asked for: with it a
#: feature error of half the target's squared norm costs 0.05, about the pixel error of a fair
#: reconstruction on the [-1, 1] scale, so neither term swamps the other.
FEATURE_WEIGHT = 0.1

#: How ``gankit invert`` finds z: the search, the run's encoder in one pass, or the search started at E(x) too.
METHODS = ("optimize", "encoder", "hybrid")


def invert(G: nn.Module, x: torch.Tensor, steps: int = 500, lr: float = 0.05, restarts: int = 4, seed: int = 0,
           c: int | torch.Tensor | None = None, prior_weight: float = 0.0, batch: int = 256,
           z_dist: str | None = None, features: str = "none", feature_weight: float | None = None,
           D: nn.Module | None = None, z_init: torch.Tensor | None = None,
           progress: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
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
        UserError: x of the wrong shape, bad labels, non-positive steps / restarts / batch / lr, or a negative
            prior_weight.
    """
    shape = tuple(G.data_shape)
    if x.dim() != len(shape) + 1 or tuple(x.shape[1:]) != shape:
        raise UserError(f"images to invert must have shape [N, {', '.join(map(str, shape))}] for this generator; "
                        f"got {list(x.shape)}")
    for name, v in (("steps", steps), ("restarts", restarts + (z_init is not None)), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise UserError(f"invert: {name} must be a positive integer; got {v!r}")
    if not prior_weight >= 0:  # also NaN
        raise UserError(f"--prior-weight must be >= 0 (0 = off); got {prior_weight}")
    if not lr > 0:
        raise UserError(f"invert: the learning rate must be > 0; got {lr}")
    n, z_dim = len(x), G.z_dim
    if z_init is not None and tuple(z_init.shape) != (n, z_dim):
        raise UserError(f"invert: z_init must have shape [{n}, {z_dim}]; got {list(z_init.shape)}")
    dist = z_dist or G.z_dist
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
    from tqdm import tqdm

    bar = tqdm(total=math.ceil(n / batch) * steps, unit="step", desc="invert", disable=not progress, file=sys.stderr,
               dynamic_ncols=True, leave=False)
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
                    bar.update(1)
                with torch.no_grad():
                    total, err = (v.view(restarts, b) for v in fit(z))  # [R, b] each
                    pick = total.argmin(0)  # [b]
                    cols = torch.arange(b, device=device)
                    best_z[s:s + b] = z.detach().view(restarts, b, z_dim)[pick, cols].cpu()
                    best_err[s:s + b] = err[pick, cols].cpu()
    finally:
        bar.close()
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
        raise UserError("--features D needs the run's discriminator: pass D "
                        "(gankit.apps.encoder.load_discriminator)")
    if tuple(D.data_shape) != shape:
        raise UserError(f"the discriminator takes shape {list(D.data_shape)} but the generator makes {list(shape)}")
    if getattr(D, "pac", 1) > 1:
        raise UserError(f"this discriminator packs {D.pac} images into one input (D.pac), so its features are not "
                        f"per image; use --features digits or none")
    return (lambda x, c: discriminator_features(D, x, c)), float(weight)


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



def tile_scale(width: int) -> int:
    """Enlargement of the interpolation picture: 2x for MNIST-sized tiles, up to 4x for tiny ones, 1x from 64 px."""
    return max(1, min(4, 64 // max(1, width)))



def load_images(spec: str | os.PathLike, G: nn.Module, cfg) -> tuple[torch.Tensor, torch.Tensor | None, list[str]]:
    """The IMAGES ``gankit invert`` takes, as [N, *G.data_shape] in [-1, 1], with labels and names.

    :func:`gankit.data.images.read_images` with the run's dataset (``cfg.data``) for
    ``SPLIT:INDICES`` (``test:0,5,9``, ``test:0-99``, ``train:all``, ...): also a folder of images
    (class subfolders give labels), one image file or a .npy / .npz array ("y" gives labels),
    converted to G's channels and resized to G's size.

    Returns:
        (x [N, *shape], labels [N] or None, names: "test:4" or the file's name per image).

    Raises:
        UserError: bad index syntax or an index out of range, a missing or unreadable file, or
            data of a shape G does not make.
    """
    from gankit.data.images import read_images

    x, y, names = read_images(spec, tuple(G.data_shape), dataset=cfg.data, what="this generator makes")
    return x, y, names


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
               method: str = "optimize", progress: bool = False) -> dict:
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
    check_out_folder(out)
    if features not in FEATURES:
        raise UserError(f"unknown features {features!r}; expected one of {', '.join(FEATURES)}")
    if method not in METHODS:
        raise UserError(f"unknown method {method!r}; expected one of {', '.join(METHODS)}")
    G, cfg, _ = load_generator(run_or_ckpt)
    E, encoder_source = load_encoder(run_or_ckpt) if method != "optimize" else (None, None)
    x, labels, names = load_images(images, G, cfg)
    D = load_discriminator(run_or_ckpt) if features == "D" and method != "encoder" else None
    kw = dict(steps=steps, restarts=restarts, seed=seed, features=features, feature_weight=feature_weight,
              prior_weight=prior_weight, lr=lr, D=D, z_dist=G.z_dist, progress=progress)
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
        from gankit.viz import save_labelled_grid

        tiles, cols = _pair_rows(x, recon)
        blocks = len(tiles) // (2 * cols)
        how = {"optimize": "search", "encoder": "encoder", "hybrid": "encoder + search"}[method]
        title = f"each image over its reconstruction G(z*) ({how}; mean squared error {float(err.mean()):.3g})"
        png = save_labelled_grid(tiles, out.with_suffix(".png"), nrow=cols, scale=tile_scale(G.data_shape[-1]),
                                 title=title, row_labels=["image", "G(z*)"] * blocks,
                                 col_labels=list(names) if blocks == 1 else None)
    return {"out": out, "png": png, "names": names, "error": [float(e) for e in err], "z": z, "c": c,
            "labels": labels, "label_source": source, "encoder": encoder_source}

