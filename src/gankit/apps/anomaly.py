"""Anomaly detection with a GAN trained on normal data only: AnoGAN, f-AnoGAN and two baselines.

A GAN trained on normal images can draw normal images only. An image that G cannot reproduce, or
whose reproduction D's features tell apart from it, is likely an anomaly. Two ways to find G's
closest image:

- **AnoGAN** (Schlegl et al. 2017, "Unsupervised Anomaly Detection with Generative Adversarial
  Networks to Guide Marker Discovery", IPMI): an iterative search for z per image. With the
  residual loss R(z) = sum |x - G(z)| (L1 over pixels) and the discrimination loss
  D(z) = sum |f(x) - f(G(z))| (L1 over D's penultimate features f), z minimises
  (1 - lambda) R(z) + lambda D(z) by gradient steps (the paper: 500 steps, lambda = 0.1), and the
  anomaly score is that same combination at the last z. :func:`score_anogan`.
- **f-AnoGAN** (Schlegl et al. 2019, "f-AnoGAN: Fast unsupervised anomaly detection with
  generative adversarial networks", Medical Image Analysis 54): after G and D are trained, an
  encoder E: x -> z is trained with G and D frozen by the izi_f loss
  ||x - G(E(x))||^2 / n + kappa ||f(x) - f(G(E(x)))||^2 / n_f (n pixels, n_f features), and the
  anomaly score of an image is that loss for the image: one pass through E, G and D.
  :func:`fit` trains E, :func:`score_fanogan` scores.

Baselines with no GAN: :func:`score_pca` (reconstruction error from the leading principal
components of the normal training images) and :func:`score_knn` (mean distance to the k nearest
normal training images, in pixel space), both by scikit-learn. :func:`auroc` is scikit-learn's
``roc_auc_score``.

Files: :func:`fit` writes a normal gankit run directory (``checkpoint.pt`` from
:func:`gankit.train.train`) and, beside it, ``anomaly.pt``: the encoder's weights and the facts
needed to score (a plain dict, read with ``torch.load(weights_only=True)``).

Example:
    >>> import numpy as np
    >>> from gankit.apps.anomaly import auroc, score_knn
    >>> train_x = np.zeros((20, 4)); x = np.array([[0.0, 0, 0, 0], [3.0, 3, 3, 3]])
    >>> s = score_knn(train_x, x, k=1); [round(float(v), 3) for v in s]
    [0.0, 6.0]
    >>> auroc([0, 1], s)
    1.0
"""

from __future__ import annotations

import copy
import math
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np
import torch
from torch import nn

from gankit.apps.encoder import (ANOMALY_FORMAT, ANOMALY_NAME, ANOMALY_VERSION, Encoder, d_features,
                                 encoder_from_state, read_encoder_file, save_encoder, train_encoder)
from gankit.apps.invert import invert
from gankit.config import RunConfig, apply_overrides, from_dict, load_preset, to_dict, validate
from gankit.errors import UserError, check_out_folder
from gankit.models import sample_z
from gankit.progress import progress_bar

__all__ = ["ANOMALY_NAME", "ANOMALY_FORMAT", "DIGITS_OVERRIDES", "AnomalyModel", "FitResult", "fit", "load_anomaly",
           "d_features", "anogan_score", "score_anogan", "score_fanogan", "score_pca", "score_knn", "auroc",
           "parse_classes", "load_images", "score_images"]

#: An MLP GAN small enough for the 8x8 bundled digits to train in well under a minute on one CPU
#: thread; used by benchmarks/anomaly_digits.py and the tests (on top of the ``quick`` preset).
DIGITS_OVERRIDES = ("data.name=digits", "z_dim=16", "G.hidden=[128, 256]", "G.norm=none", "D.hidden=[256, 128]",
                    "train.batch=64", "train.steps=3000", "train.ema=0.0", "train.snapshot_every=100000",
                    "train.ckpt_every=100000", "train.log_every=500", "train.threads=1")


# ------------------------------------------------------------------------------------------ fit


@dataclass
class AnomalyModel:
    """What scoring needs: G, D and E in eval mode (gradients off), plus the anomaly file's facts."""

    G: nn.Module
    D: nn.Module
    E: Encoder
    cfg: RunConfig
    info: dict  # "kappa", "normal_classes", "data" (the original DataConfig as a dict), "run_dir", ...


@dataclass
class FitResult:
    run_dir: Path  # the GAN's run directory (checkpoint.pt, config.json, ...)
    anomaly: Path  # run_dir / anomaly.pt: the encoder and the scoring facts
    model: AnomalyModel
    encoder_loss: list[float]  # izi_f loss, mean over every 100 encoder steps


def parse_classes(spec: str | Sequence[int] | None) -> list[int] | None:
    """"0,1,2" or [0, 1, 2] -> sorted unique ints; None or "" -> None (all classes are normal)."""
    if spec is None or spec == "":
        return None
    if isinstance(spec, str):
        parts = [p.strip() for p in spec.split(",")]
        if not all(re.fullmatch(r"\d+", p) for p in parts):
            raise UserError(f"--normal-classes must be comma-separated class numbers like 0,1,2; got {spec!r}")
        spec = [int(p) for p in parts]
    return sorted({int(c) for c in spec})


def _normal_subset(data, classes: list[int] | None, what: str) -> torch.Tensor:
    if classes is None:
        return data.x
    if data.y is None:
        raise UserError(f"--normal-classes needs labelled data, but {data.name!r} has no labels")
    n_classes = int(data.info.get("n_classes") or int(data.y.max()) + 1)
    bad = [c for c in classes if not 0 <= c < n_classes]
    if bad:
        raise UserError(f"unknown class {bad[0]} in --normal-classes: {data.name} has classes 0..{n_classes - 1}")
    if len(classes) == n_classes:
        raise UserError(f"--normal-classes names every class of {data.name}; leave at least one out as the anomaly")
    keep = torch.isin(data.y, torch.tensor(classes))
    if not bool(keep.any()):
        raise UserError(f"the {what} split of {data.name} has no images of classes {classes}")
    return data.x[keep]


def fit(cfg_or_preset: RunConfig | str = "quick-mlp", normal_classes: str | Sequence[int] | None = None,
        out: str | os.PathLike = "runs", overrides: Sequence[str] = (), steps: int | None = None,
        encoder_steps: int = 2000, encoder_lr: float = 1e-3, encoder_hidden: Sequence[int] = (256, 128),
        kappa: float = 1.0, seed: int = 0, progress: bool = False) -> FitResult:
    """Train a GAN on the normal data only (gankit's trainer), then f-AnoGAN's encoder.

    Normal data: the training split of ``cfg.data`` restricted to ``normal_classes`` (all of it
    when None). gankit's configs name a dataset but not a subset of its classes, so the normal
    images are written to ``out/anomaly-<data>-normal-<classes>.npz`` (floats in [0, 1], which
    gankit's array loader maps back to the same [-1, 1] values) and the GAN trains on that file
    with ``data.size`` and ``data.channels`` reset to 0 (the images are already resized).

    The encoder (Schlegl et al. 2019, izi_f): G (G_ema when the run keeps one, the G that
    sampling uses) and D are frozen in eval mode; E is trained by Adam (``encoder_lr``, betas
    (0.5, 0.999)) on minibatches of ``cfg.train.batch`` normal images to minimise
    ``mean((x - G(E(x)))^2) + kappa * mean((f(x) - f(G(E(x))))^2)``, the means over the n pixels
    and the n_f features of D's penultimate layer. kappa = 1 is the value the public f-AnoGAN
    reimplementations use by default.

    Args:
        cfg_or_preset: a RunConfig or a preset name; ``overrides`` (``key=value``) go on top and
            ``steps`` sets train.steps.
        normal_classes: "0,1,..." or a list of class numbers; None = every training image is normal.
        out: parent folder of the run directory (and of the normal-data .npz).
        encoder_steps, encoder_lr, encoder_hidden, kappa: the encoder's training.
        seed: seed of the encoder's init and minibatches (the GAN uses cfg.train.seed).
        progress: progress bars on stderr, the GAN's training and then the encoder's.

    Returns:
        A :class:`FitResult`.

    Raises:
        UserError: a bad preset, override, class or option.
    """
    from gankit.data import build_dataset
    from gankit.train import train

    cfg = load_preset(cfg_or_preset) if isinstance(cfg_or_preset, str) else cfg_or_preset
    extra = list(overrides) + ([f"train.steps={int(steps)}"] if steps is not None else [])
    cfg = apply_overrides(cfg, extra) if extra else validate(cfg)
    if getattr(cfg, "model", "gan") != "gan":
        raise UserError(f"anomaly detection needs a GAN (its D scores the residual's features); preset "
                        f"{cfg.preset!r} trains model={cfg.model!r}")
    if cfg.c_dim:
        raise UserError("anomaly detection trains an unconditional GAN: set c_dim=0")
    if not isinstance(encoder_steps, int) or encoder_steps < 1:
        raise UserError(f"--encoder-steps must be a positive integer; got {encoder_steps!r}")
    if not kappa >= 0:
        raise UserError(f"kappa must be >= 0; got {kappa}")
    classes = parse_classes(normal_classes)
    original_data = cfg.data
    data = build_dataset(cfg.data, "train")
    x_normal = _normal_subset(data, classes, "train")  # [M, *shape] in [-1, 1]
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    train_cfg = cfg
    if classes is not None:
        stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(cfg.data.name).stem or cfg.data.name)
        npz = (out / f"anomaly-{stem}-normal-{'-'.join(map(str, classes))}.npz").resolve()
        np.savez(npz, x=((x_normal.numpy().astype(np.float64) + 1.0) / 2.0).clip(0.0, 1.0))
        train_cfg = apply_overrides(cfg, [f"data.name={npz}", "data.size=0", "data.channels=0"])
    result = train(train_cfg, out=out, progress=progress)
    averaged = cfg.train.averages_g
    G = copy.deepcopy(result.G_ema if averaged else result.G)
    D = copy.deepcopy(result.D)
    device = next(G.parameters()).device
    for net in (G, D):
        net.eval().requires_grad_(False)

    E, losses = train_encoder(G, D, x_normal.to(device), cfg.z_dim, cfg.z_dist, steps=encoder_steps, lr=encoder_lr,
                              hidden=encoder_hidden, kappa=kappa, seed=seed, batch=cfg.train.batch,
                              progress=progress)
    info = {"kappa": float(kappa), "normal_classes": classes, "data": to_dict(original_data),
            "encoder_steps": encoder_steps, "encoder_lr": float(encoder_lr), "seed": seed,
            "encoder_loss_last": losses[-1], "n_normal_train": len(x_normal), "g_is_ema": averaged}
    path = save_encoder(E, Path(result.run_dir) / ANOMALY_NAME, ANOMALY_FORMAT, ANOMALY_VERSION, **info)
    model = AnomalyModel(G=G, D=D, E=E, cfg=cfg, info={**info, "run_dir": str(result.run_dir)})
    return FitResult(run_dir=Path(result.run_dir), anomaly=path, model=model, encoder_loss=losses)


def load_anomaly(run_dir: str | os.PathLike, device: str | torch.device = "cpu") -> AnomalyModel:
    """G, D and E of a run made by :func:`fit` (``RUN_DIR/anomaly.pt`` beside ``checkpoint.pt``)."""
    from gankit.run import load_run

    run = Path(run_dir)
    if run.is_file():
        run = run.parent
    path = run / ANOMALY_NAME
    if not path.is_file():
        raise UserError(f"{str(run)!r} has no {ANOMALY_NAME}; make one with `gankit anomaly fit`")
    state = read_encoder_file(path, ANOMALY_FORMAT, ANOMALY_VERSION)
    saved = load_run(run)
    cfg = saved.config
    G = saved.generator(ema=bool(state.get("g_is_ema")), command="anomaly score")
    D = saved.discriminator(command="anomaly score")
    E = encoder_from_state(state)
    info = {k: v for k, v in state.items() if k not in ("format", "version", "E", "encoder")}
    info["run_dir"] = str(run)
    nets = [n.to(device).eval().requires_grad_(False) for n in (G, D, E)]
    return AnomalyModel(G=nets[0], D=nets[1], E=nets[2], cfg=cfg, info=info)


# ------------------------------------------------------------------------------------------ scores


def anogan_score(G: nn.Module, D: nn.Module, x: torch.Tensor, z: torch.Tensor, lam: float = 0.1,
                 parts: bool = False):
    """AnoGAN's score at a given z, per image: (1 - lam) * sum|x - G(z)| + lam * sum|f(x) - f(G(z))|.

    Returns [N] (differentiable in z), or (score, residual, discrimination) with ``parts``.
    """
    x_hat = G(z)
    residual = (x - x_hat).abs().flatten(1).sum(1)  # [N]
    disc = (d_features(D, x) - d_features(D, x_hat)).abs().sum(1)  # [N]
    score = (1 - lam) * residual + lam * disc
    return (score, residual, disc) if parts else score


def score_anogan(G: nn.Module, D: nn.Module, x: torch.Tensor, lam: float = 0.1, steps: int = 500, lr: float = 0.05,
                 seed: int = 0, batch: int = 512, init: str = "random", parts: bool = False, progress: bool = False):
    """AnoGAN (Schlegl et al. 2017): search z per image, then score at the last z.

    The search minimises the score itself, (1 - lam) R(z) + lam D(z) (:func:`anogan_score`), as
    the paper does (its 500 backpropagation steps, lambda = 0.1), by Adam on z alone with a cosine
    learning-rate decay from ``lr`` to lr / 100; uniform z is clamped to the prior's box after
    each step. ``init`` = "random" starts from one z drawn from the prior (seed ``seed``), the
    paper's start; "invert" starts from :func:`gankit.apps.invert.invert` (a least-squares fit of
    G(z) to x with 4 restarts, ``steps`` // 2 steps each), which costs more but starts closer.
    Images are independent (the loss is a sum over images, Adam acts per coordinate, G and D are
    in eval mode), so batching does not change any image's result. ``progress``: a bar on stderr
    over the search's steps, every batch's (and the inversion's, with "invert").

    Returns:
        [N] scores on the CPU, or (score, residual, discrimination, z) with ``parts``.
    """
    if init not in ("random", "invert"):
        raise UserError(f"AnoGAN init must be 'random' or 'invert'; got {init!r}")
    if not isinstance(steps, int) or steps < 1:
        raise UserError(f"AnoGAN steps must be a positive integer; got {steps!r}")
    device = next(G.parameters()).device
    dist = G.z_dist
    n = len(x)
    if init == "invert":
        z_all, _ = invert(G, x, steps=max(1, steps // 2), seed=seed, progress=progress)
    else:
        z_all = sample_z(n, G.z_dim, dist, torch.Generator().manual_seed(seed))
    modes = (G.training, D.training)
    G.eval(), D.eval()
    outs = []
    try:
        with progress_bar(math.ceil(n / batch) * steps, "anogan", enabled=progress) as bar:
            for s in range(0, n, batch):
                xb = x[s:s + batch].to(device, torch.float32)
                z = z_all[s:s + batch].to(device).clone().requires_grad_(True)
                opt = torch.optim.Adam([z], lr=lr)
                with torch.enable_grad():
                    for i in range(steps):
                        for group in opt.param_groups:
                            group["lr"] = lr * (0.01 + 0.99 * 0.5 * (1 + math.cos(math.pi * i / steps)))
                        loss = anogan_score(G, D, xb, z, lam).sum()
                        (z.grad,) = torch.autograd.grad(loss, [z])
                        opt.step()
                        if dist == "uniform":
                            with torch.no_grad():
                                z.clamp_(-3 ** 0.5, 3 ** 0.5)
                        bar.update(1)
                with torch.no_grad():
                    score, res, disc = anogan_score(G, D, xb, z, lam, parts=True)
                outs.append((score.cpu(), res.cpu(), disc.cpu(), z.detach().cpu()))
    finally:
        G.train(modes[0]), D.train(modes[1])
    score, res, disc, z = (torch.cat(t) for t in zip(*outs))
    return (score, res, disc, z) if parts else score


@torch.no_grad()
def score_fanogan(G: nn.Module, D: nn.Module, E: nn.Module, x: torch.Tensor, kappa: float = 1.0, batch: int = 4096,
                  parts: bool = False, progress: bool = False):
    """f-AnoGAN (Schlegl et al. 2019): A(x) = A_R(x) + kappa A_D(x) in one pass, no search.

    A_R(x) = mean over pixels of (x - G(E(x)))^2 and A_D(x) = mean over D's penultimate features
    of (f(x) - f(G(E(x))))^2: the encoder's izi_f training loss, per image. Returns [N] on the
    CPU, or (score, A_R, A_D) with ``parts``. ``progress``: a bar on stderr over the images.
    """
    device = next(G.parameters()).device
    outs = []
    with progress_bar(len(x), "fanogan", unit="img", enabled=progress) as bar:
        for s in range(0, len(x), batch):
            xb = x[s:s + batch].to(device, torch.float32)
            x_hat = G(E(xb))
            a_r = ((xb - x_hat) ** 2).flatten(1).mean(1)
            a_d = ((d_features(D, xb) - d_features(D, x_hat)) ** 2).mean(1)
            outs.append(((a_r + kappa * a_d).cpu(), a_r.cpu(), a_d.cpu()))
            bar.update(len(xb))
    score, a_r, a_d = (torch.cat(t) for t in zip(*outs))
    return (score, a_r, a_d) if parts else score


def _flat(a) -> np.ndarray:
    a = a.detach().cpu().numpy() if isinstance(a, torch.Tensor) else np.asarray(a)
    return a.reshape(len(a), -1).astype(np.float64)


def score_pca(train_x, x, k: int = 16) -> np.ndarray:
    """Baseline: squared reconstruction error of x from the top ``k`` principal components of
    the normal training images (scikit-learn's PCA, fitted on ``train_x`` flattened). [N]."""
    from sklearn.decomposition import PCA

    tr, xs = _flat(train_x), _flat(x)
    pca = PCA(n_components=min(k, *tr.shape)).fit(tr)
    rec = pca.inverse_transform(pca.transform(xs))
    return ((xs - rec) ** 2).sum(1)


def score_knn(train_x, x, k: int = 5) -> np.ndarray:
    """Baseline: mean Euclidean distance from x to its ``k`` nearest normal training images in
    pixel space (scikit-learn's NearestNeighbors). [N]."""
    from sklearn.neighbors import NearestNeighbors

    tr = _flat(train_x)
    nn_ = NearestNeighbors(n_neighbors=min(k, len(tr))).fit(tr)
    dist, _ = nn_.kneighbors(_flat(x))
    return dist.mean(1)


def auroc(is_anomaly, scores) -> float:
    """Area under the ROC curve with anomalies as positives (scikit-learn's roc_auc_score)."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(is_anomaly).astype(int)
    if y.min() == y.max():
        raise UserError("AUROC needs both normal and anomalous images among the scored ones")
    s = scores.detach().cpu().numpy() if isinstance(scores, torch.Tensor) else np.asarray(scores)
    return float(roc_auc_score(y, s))


# ------------------------------------------------------------------------------------------ the command


def load_images(spec: str, model: AnomalyModel) -> tuple[torch.Tensor, torch.Tensor | None, list[int] | None]:
    """IMAGES of ``gankit anomaly score``: (x [N, *shape], labels [N] or None, dataset indices or None).

    :func:`gankit.data.images.read_images` with the run's *original* dataset (before the
    normal-class filter) for ``test:I,J,...`` / ``train:A-B`` / ``test:all``; also a folder of
    images, an image file or a .npy / .npz ("y" gives labels; a folder of class subfolders too).
    """
    from gankit.config import DataConfig
    from gankit.data.images import read_images

    images = read_images(spec, tuple(model.G.data_shape), dataset=from_dict(model.info["data"], DataConfig),
                         what="this run's G draws")
    return images.x, images.y, images.index


def score_images(run_dir: str | os.PathLike, images: str, method: str = "fanogan", out: str | os.PathLike | None = None,
                 anogan_steps: int = 500, lam: float = 0.1, seed: int = 0, progress: bool = False) -> dict:
    """What ``gankit anomaly score`` does: a score per image, optionally written to .csv or .json.

    ``progress``: a bar on stderr while scoring (over the images for f-AnoGAN, AnoGAN's search steps).

    Returns a dict: "method", "scores" (list), "index" (or None), "labels" (or None),
    "is_anomaly" (labels outside the normal classes, or None), "auroc" (when labels give both
    normal and anomalous images, else None), "seconds_per_image", "out" (path or None).
    """
    if method not in ("fanogan", "anogan"):
        raise UserError(f"--method must be fanogan or anogan; got {method!r}")
    out_path = None if out is None else Path(out)
    if out_path is not None:
        if out_path.suffix.lower() not in (".csv", ".json"):
            raise UserError(f"--out must end in .csv or .json; got {str(out_path)!r}")
        check_out_folder(out_path)
    model = load_anomaly(run_dir)
    x, y, index = load_images(images, model)
    t0 = time.perf_counter()
    if method == "fanogan":
        score = score_fanogan(model.G, model.D, model.E, x, kappa=model.info["kappa"], progress=progress)
    else:
        score = score_anogan(model.G, model.D, x, lam=lam, steps=anogan_steps, seed=seed, progress=progress)
    seconds = (time.perf_counter() - t0) / len(x)
    classes = model.info.get("normal_classes")
    is_anom = None if (y is None or classes is None) else (~torch.isin(y, torch.tensor(classes))).long()
    res = {"method": method, "scores": [float(s) for s in score], "index": index,
           "labels": None if y is None else [int(v) for v in y],
           "is_anomaly": None if is_anom is None else [int(v) for v in is_anom],
           "auroc": None, "seconds_per_image": seconds, "out": None}
    if is_anom is not None and 0 < int(is_anom.sum()) < len(is_anom):
        res["auroc"] = auroc(is_anom.numpy(), score)
    if out_path is not None:
        rows = [{"i": i, "index": None if index is None else index[i], "label": None if y is None else res["labels"][i],
                 "anomaly": None if is_anom is None else res["is_anomaly"][i], "score": res["scores"][i]}
                for i in range(len(x))]
        if out_path.suffix.lower() == ".json":
            import json

            out_path.write_text(json.dumps({"method": method, "run": str(run_dir), "images": images,
                                            "auroc": res["auroc"], "rows": rows}, indent=1))
        else:
            import csv

            with open(out_path, "w", newline="") as f:
                w = csv.DictWriter(f, fieldnames=list(rows[0]))
                w.writeheader()
                w.writerows(rows)
        res["out"] = str(out_path)
    return res
