"""Encoders E: x -> z for a trained generator, and the run's discriminator they train against.

Searching for z image by image (:func:`gankit.apps.invert.invert`) costs hundreds of G passes
per image; an encoder answers in one pass. f-AnoGAN (Schlegl et al. 2019, "f-AnoGAN: Fast
unsupervised anomaly detection with generative adversarial networks", section 2.3.3) trains E
with G and D frozen by the izi_f loss

    izi_f(x) = mean over pixels (x - G(E(x)))^2 + kappa * mean over features (f(x) - f(G(E(x))))^2,

f being D's penultimate features (``D.features``, the model contract of :mod:`gankit.models`).
Both ``gankit fit-encoder`` (any GAN run, :func:`fit_encoder`) and ``gankit anomaly fit``
(:mod:`gankit.apps.anomaly`) train this encoder; ``gankit invert --method encoder|hybrid`` loads
whichever the run has (:func:`load_encoder`).

Files: ``RUN_DIR/encoder.pt`` (:data:`ENCODER_NAME`) from :func:`fit_encoder`, and
``RUN_DIR/anomaly.pt`` (:data:`ANOMALY_NAME`) from ``gankit anomaly fit``: plain dicts of the
encoder's weights and facts (:func:`save_encoder`), read with ``torch.load(weights_only=True)``.

Example:
    >>> import torch
    >>> from gankit.apps.encoder import Encoder
    >>> E = Encoder((1, 8, 8), z_dim=4, hidden=(16,), z_dist="uniform")
    >>> z = E(torch.zeros(2, 1, 8, 8)); tuple(z.shape), bool(z.abs().max() <= 3 ** 0.5)
    ((2, 4), True)
"""

from __future__ import annotations

import math
import os
import sys
from pathlib import Path
from typing import Sequence

import torch
from torch import nn

from gankit.errors import UserError

__all__ = ["ENCODER_NAME", "ENCODER_FORMAT", "ENCODER_VERSION", "ANOMALY_NAME", "ANOMALY_FORMAT",
           "ANOMALY_VERSION", "Encoder", "discriminator_features", "d_features",
           "load_discriminator", "izi_f", "train_encoder", "save_encoder", "encoder_from_state", "read_encoder_file",
           "fit_encoder", "load_encoder", "encode_best_class"]

#: The file :func:`fit_encoder` writes beside a run's checkpoint.
ENCODER_NAME = "encoder.pt"
ENCODER_FORMAT = "gankit-encoder"
ENCODER_VERSION = 1

#: The file ``gankit anomaly fit`` writes beside its run's checkpoint: the encoder plus the scoring facts.
ANOMALY_NAME = "anomaly.pt"
ANOMALY_FORMAT = "gankit-anomaly"
ANOMALY_VERSION = 1


class Encoder(nn.Module):
    """E(x) -> z: an MLP over the flattened image with LeakyReLU(0.2) hidden layers.

    The output is linear for Gaussian z and sqrt(3) tanh(.) for uniform z (so E(x) stays in the
    prior's box [-sqrt 3, sqrt 3]^d, as f-AnoGAN's tanh output keeps z in [-1, 1]^d).
    """

    def __init__(self, data_shape: Sequence[int], z_dim: int, hidden: Sequence[int] = (256, 128),
                 z_dist: str = "normal"):
        super().__init__()
        self.data_shape, self.z_dim, self.hidden, self.z_dist = tuple(data_shape), int(z_dim), tuple(hidden), z_dist
        layers: list[nn.Module] = []
        width = math.prod(self.data_shape)
        for h in self.hidden:
            layers += [nn.Linear(width, h), nn.LeakyReLU(0.2)]
            width = h
        layers.append(nn.Linear(width, self.z_dim))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        z = self.net(x.flatten(1))  # [N, z_dim]
        return 3 ** 0.5 * torch.tanh(z) if self.z_dist == "uniform" else z


# ------------------------------------------------------------------------------------------ D's features


def discriminator_features(D: nn.Module, x: torch.Tensor, c: torch.Tensor | None = None) -> torch.Tensor:
    """D's penultimate features phi(x) [N, F] (``D.features``): the input of its head, the layer before the logit.

    For the MLP discriminator, the output of its last hidden layer (after the activation); for
    DCGAN's, the flattened output of its last convolution block. A conditional D with
    ``cond="concat"`` sees the label as it does in training. Minibatch discrimination, which
    compares each image with the others of the batch, belongs to D's head, so the features of one
    image do not depend on the rest of the batch. Runs in whatever mode D is in (call ``D.eval()``
    for BatchNorm's running statistics, as :func:`gankit.apps.invert.invert` does).

    Raises:
        UserError: D packs images (``pac`` > 1), so its features are not per image.
    """
    if getattr(D, "pac", 1) > 1:
        raise UserError(f"D.pac = {D.pac}: the discriminator sees packs of images, not single ones")
    return D.features(x, c)


def d_features(D: nn.Module, x: torch.Tensor) -> torch.Tensor:
    """f(x) of the anomaly scores: :func:`discriminator_features` of an unconditional D, [N, F].

    Anomaly scores compare an image with its reconstruction without labels, so the D must be
    unconditional and see one image at a time (c_dim = 0, pac = 1).
    """
    if getattr(D, "c_dim", 0) or getattr(D, "pac", 1) != 1:
        raise UserError("anomaly detection needs an unconditional discriminator without packing (c_dim = 0, D.pac = 1)")
    return D.features(x).flatten(1)


def load_discriminator(run_or_ckpt: str | os.PathLike, device: str | torch.device = "cpu") -> nn.Module:
    """Rebuild a run's discriminator D from its checkpoint, in eval mode and without gradients for its weights."""
    from gankit.run import load_run

    run = load_run(run_or_ckpt)
    if run.system != "gan":
        raise UserError(f"{run_or_ckpt} has no discriminator (a {run.system} run); use --features none or digits")
    return run.discriminator(device)


# ------------------------------------------------------------------------------------------ training E


def izi_f(G: nn.Module, D: nn.Module | None, E: nn.Module, x: torch.Tensor, kappa: float = 1.0,
          c: torch.Tensor | None = None) -> torch.Tensor:
    """Per image: mean over pixels of (x - G(E(x)))^2 + kappa * mean over features of (f(x) - f(G(E(x))))^2. [N].

    ``kappa`` 0 is the plain izi loss (pixels only; D is not used and may be None). ``c``: labels
    [N] for a conditional G (then kappa must be 0: D's features are read without labels).
    """
    x_hat = G(E(x), c)
    residual = ((x - x_hat) ** 2).flatten(1).mean(1)
    if kappa == 0:
        return residual
    feats = ((d_features(D, x) - d_features(D, x_hat)) ** 2).mean(1)
    return residual + kappa * feats


def train_encoder(G: nn.Module, D: nn.Module | None, x: torch.Tensor, z_dim: int, z_dist: str, steps: int = 2000,
                  lr: float = 1e-3, hidden: Sequence[int] = (256, 128), kappa: float = 1.0, seed: int = 0,
                  batch: int = 64, labels: torch.Tensor | None = None,
                  progress: bool = False) -> tuple[Encoder, list[float]]:
    """Train E: x -> z with G (and D) frozen, by the izi_f loss (:func:`izi_f`) on the images ``x``.

    Adam (``lr``, betas (0.5, 0.999)) on random minibatches of ``batch`` images of ``x`` (on G's
    device), seeded by ``seed`` (E's init and the minibatches). ``labels`` [N]: a conditional G's
    labels of ``x`` (then ``kappa`` must be 0).

    Returns:
        (E in eval mode with gradients off, the loss averaged over every 100 steps).
    """
    if labels is not None and kappa:
        raise UserError("the encoder of a conditional generator trains on pixels only: use kappa=0")
    device = next(G.parameters()).device
    torch.manual_seed(seed)
    E = Encoder(tuple(x.shape[1:]), z_dim, tuple(hidden), z_dist).to(device)
    opt = torch.optim.Adam(E.parameters(), lr=lr, betas=(0.5, 0.999))
    gen = torch.Generator().manual_seed(seed)
    xs = x.to(device)
    ys = None if labels is None else labels.to(device)
    batch = min(batch, len(xs))
    from tqdm import tqdm

    losses, running = [], 0.0
    E.train()
    for step in tqdm(range(steps), unit="step", desc="encoder", disable=not progress, file=sys.stderr,
                     dynamic_ncols=True, leave=False):
        idx = torch.randint(len(xs), (batch,), generator=gen).to(device)
        loss = izi_f(G, D, E, xs[idx], kappa, None if ys is None else ys[idx]).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        running += float(loss.detach())
        if (step + 1) % 100 == 0 or step + 1 == steps:
            losses.append(running / ((step % 100) + 1))
            running = 0.0
    E.eval().requires_grad_(False)
    return E, losses



def save_encoder(E: Encoder, path: str | os.PathLike, fmt: str, version: int, **facts) -> Path:
    """Write E's weights, its shape facts and ``facts`` (JSON-like values) to ``path`` atomically (temp, rename)."""
    path = Path(path)
    state = {"format": fmt, "version": version, "E": {k: v.cpu() for k, v in E.state_dict().items()},
             "encoder": {"data_shape": list(E.data_shape), "z_dim": E.z_dim, "hidden": list(E.hidden),
                         "z_dist": E.z_dist}, **facts}
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)
    return path


def encoder_from_state(state: dict) -> Encoder:
    """The :class:`Encoder` of a dict written by :func:`save_encoder`, in train mode on the CPU."""
    enc = state["encoder"]
    E = Encoder(enc["data_shape"], enc["z_dim"], enc["hidden"], enc["z_dist"])
    E.load_state_dict(state["E"])
    return E


def read_encoder_file(path: Path, fmt: str, version: int | None = None) -> dict:
    """The dict of an encoder file, checked: UserError (one line) for a file that is not one of ``fmt``."""
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # not a file torch can read safely
        first = (str(e).splitlines() or [type(e).__name__])[0][:120]
        raise UserError(f"{str(path)!r} is not a gankit encoder file ({first})") from None
    if not isinstance(state, dict) or state.get("format") != fmt:
        raise UserError(f"{str(path)!r} is not a gankit encoder file (no {fmt!r} marker)")
    if version is not None and state.get("version") != version:
        raise UserError(f"{str(path)!r} is not a gankit {fmt} file of version {version}")
    return state


# ------------------------------------------------------------------------------------------ gankit fit-encoder


def fit_encoder(run_or_ckpt: str | os.PathLike, steps: int = 2000, lr: float = 1e-3, kappa: float | None = None,
                hidden: tuple[int, ...] = (256, 128), batch: int = 64, seed: int = 0, device: str = "cpu",
                progress: bool = False) -> dict:
    """Train an encoder E: x -> z for a trained GAN and write it to ``RUN_DIR/encoder.pt``.

    G (G_ema, the generator sampling uses) and D are frozen; E (an MLP, :class:`Encoder`) learns on
    the run's own training images to minimise the izi_f loss of f-AnoGAN (Schlegl et al. 2019,
    section 2.3.3): mean((x - G(E(x)))^2) + kappa * mean((f(x) - f(G(E(x))))^2), with f the
    penultimate features of the run's D (:func:`train_encoder`). ``kappa`` None
    means 1 for an unconditional GAN and 0 (pixels only) for a conditional one, whose E is trained
    with the images' labels as c.

    Returns:
        dict with "path", "loss" (the loss averaged over every 100 steps) and "kappa".
    """
    from gankit.checkpoint import find_checkpoint
    from gankit.data import build_dataset
    from gankit.generate import load_generator

    for name, v in (("steps", steps), ("batch", batch)):
        if not isinstance(v, int) or v < 1:
            raise UserError(f"fit-encoder: {name} must be a positive integer; got {v!r}")
    G, cfg, _ = load_generator(run_or_ckpt, device=device)
    if getattr(cfg, "model", "gan") == "vae":
        raise UserError(f"{run_or_ckpt} is a VAE run: it has its own encoder, which "
                        "`gankit invert --method encoder` uses directly")
    kappa = (0.0 if G.c_dim else 1.0) if kappa is None else float(kappa)
    if not kappa >= 0:
        raise UserError(f"kappa must be >= 0; got {kappa}")
    if G.c_dim and kappa:
        raise UserError("the encoder of a conditional generator trains on pixels only: use --kappa 0")
    D = load_discriminator(run_or_ckpt, device) if kappa else None
    data = build_dataset(cfg.data, "train")
    if G.c_dim and data.y is None:
        raise UserError(f"the run's data {cfg.data.name!r} has no labels, but its generator is conditional")
    E, losses = train_encoder(G, D, data.x, G.z_dim, G.z_dist, steps=steps, lr=lr,
                              hidden=hidden, kappa=kappa, seed=seed, batch=batch,
                              labels=data.y if G.c_dim else None, progress=progress)
    path = save_encoder(E, find_checkpoint(run_or_ckpt).parent / ENCODER_NAME, ENCODER_FORMAT, ENCODER_VERSION,
                        kappa=kappa, steps=steps, lr=float(lr), seed=seed, loss_last=losses[-1])
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
    from gankit.run import load_run

    run = load_run(run_or_ckpt)
    ckpt_path = run.path
    if run.system == "vae":
        return _VAEMean(run.vae_encoder(device)).eval().requires_grad_(False), "the VAE's encoder (mean of q(z|x))"
    for name, fmt in ((ENCODER_NAME, ENCODER_FORMAT), (ANOMALY_NAME, ANOMALY_FORMAT)):
        path = ckpt_path.parent / name
        if path.is_file():
            E = encoder_from_state(read_encoder_file(path, fmt))
            return E.to(device).eval().requires_grad_(False), str(path)
    raise UserError(f"{str(ckpt_path.parent)!r} has no encoder; train one with "
                    f"`gankit fit-encoder {ckpt_path.parent}` (or use --method optimize)")


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

