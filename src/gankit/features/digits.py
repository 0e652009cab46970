"""A small CNN digit classifier: features and labels for MNIST-like 28x28 digits.

gankit ships its weights (``digits_cnn.pt``, trained by :func:`train_digits_classifier` on the
4,000 bundled ``mnist-5k`` training images, seed 0), so evaluating a digit GAN needs no network
and no download. Its 128-d penultimate activations are the feature space of "digits FID" (a
Fréchet distance in these features; **not comparable** with Inception-based FIDs), and its
predicted labels feed the class-coverage metrics of :mod:`gankit.metrics.classes`.

Architecture (LeNet-like, in the spirit of the small MNIST classifiers used for mode counting in
Metz et al. 2017 and Lin et al. 2018)::

    x [N, 1, 28, 28] in [-1, 1]
    conv 3x3, 1 -> 32, ReLU, max-pool 2     -> [N, 32, 13, 13]
    conv 3x3, 32 -> 64, ReLU, max-pool 2    -> [N, 64, 5, 5]
    flatten, linear 1600 -> 128, ReLU       -> [N, 128]   features(x)
    dropout 0.5 (training only), linear 128 -> 10   -> [N, 10]   forward(x), logits

Inputs of another size (the 8x8 ``digits`` set, 32x32 or 64x64 generator outputs) are resized to
28x28 bilinearly inside the network (antialiased when shrinking), and 3-channel inputs are
averaged to gray, so any ``[N, C, H, W]`` with C in {1, 3} is accepted.

Reproduce the shipped weights (about a minute on 2 CPU cores)::

    python -m gankit.features.digits --seed 0 --out src/gankit/features/digits_cnn.pt

Example:
    >>> import torch
    >>> model = load_digits_classifier()
    >>> model.features(torch.zeros(2, 1, 8, 8)).shape
    torch.Size([2, 128])
"""

from __future__ import annotations

import argparse
import math
import pickle
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import UserError

__all__ = [
    "DigitsClassifier",
    "SHIPPED_WEIGHTS",
    "load_digits_classifier",
    "train_digits_classifier",
]

SHIPPED_WEIGHTS = Path(__file__).with_name("digits_cnn.pt")
WEIGHTS_FORMAT = "gankit-digits-cnn-v1"  # the "format" key of a weights file; bump on any change
INPUT_SIZE = 28  # pixels: MNIST's 28x28
FEATURE_DIM = 128  # width of the penultimate layer = the digits-FID feature dimension
N_CLASSES = 10

# Training recipe of the shipped weights (train_digits_classifier's defaults).
EPOCHS = 15  # passes over the 4,000 mnist-5k training images
BATCH = 64  # images per Adam step
LR = 1e-3  # Adam learning rate (PyTorch's default betas)
MAX_SHIFT = 2  # augmentation: random translation of up to +-2 pixels in x and y
MAX_ROTATION = 10.0  # augmentation: random rotation of up to +-10 degrees
ZOOM = (0.9, 1.6)  # augmentation: random zoom; lifted 8x8-digits test accuracy 0.694 -> 0.850 (docs)
DROPOUT = 0.5  # on the 128 features, before the last layer, during training only
TRAIN_THREADS = 1  # intra-op threads while training: weights independent of the core count


class DigitsClassifier(nn.Module):
    """The digit CNN: ``features(x) -> [N, 128]``, ``forward(x) -> [N, 10]`` logits.

    Build it with :func:`load_digits_classifier` to get the shipped weights; a fresh instance
    holds PyTorch's random initialisation.

    The architecture is fixed (see the module docstring); the constructor takes no arguments.

    Example:
        >>> import torch
        >>> net = DigitsClassifier().eval()
        >>> net(torch.zeros(3, 3, 32, 32)).shape  # RGB 32x32: averaged to gray, resized to 28x28
        torch.Size([3, 10])
    """

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, kernel_size=3)  # 28 -> 26, pooled to 13
        self.conv2 = nn.Conv2d(32, 64, kernel_size=3)  # 13 -> 11, pooled to 5
        self.fc1 = nn.Linear(64 * 5 * 5, FEATURE_DIM)
        self.dropout = nn.Dropout(DROPOUT)
        self.fc2 = nn.Linear(FEATURE_DIM, N_CLASSES)
        self.meta: dict = {}  # training facts of loaded weights (seed, epochs, test accuracy, ...)

    def prepare(self, x: torch.Tensor) -> torch.Tensor:
        """[N, C, H, W] images in [-1, 1], C in {1, 3} -> [N, 1, 28, 28] on the model's device.

        Raises:
            UserError: ``x`` is not a floating-point tensor of shape [N, 1 or 3, H, W].
        """
        if not isinstance(x, torch.Tensor) or x.ndim != 4 or x.shape[1] not in (1, 3):
            shape = tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__
            raise UserError(f"x: expected images of shape [N, 1 or 3, H, W] in [-1, 1], got {shape}")
        if not x.is_floating_point():
            raise UserError(f"x: expected floating-point images in [-1, 1], got dtype {x.dtype}")
        x = x.to(self.fc2.weight.device, torch.float32)
        if x.shape[1] == 3:
            x = x.mean(dim=1, keepdim=True)  # [N, 1, H, W]: RGB averaged to gray
        if tuple(x.shape[2:]) != (INPUT_SIZE, INPUT_SIZE):
            shrink = x.shape[2] > INPUT_SIZE or x.shape[3] > INPUT_SIZE
            x = F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode="bilinear",
                              align_corners=False, antialias=shrink)  # [N, 1, 28, 28]
        return x

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate activations ``[N, 128]`` (after the ReLU) of images ``[N, C, H, W]``."""
        h = self.prepare(x)  # [N, 1, 28, 28]
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)  # [N, 32, 13, 13]
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)  # [N, 64, 5, 5]
        return F.relu(self.fc1(h.flatten(1)))  # [N, 128]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits ``[N, 10]`` of images ``[N, C, H, W]``."""
        return self.fc2(self.dropout(self.features(x)))  # [N, 10]


def load_digits_classifier(path: str | Path | None = None, device: str = "cpu") -> DigitsClassifier:
    """The digit CNN with trained weights, in eval mode.

    The file is read with ``torch.load(..., weights_only=True)``: tensors and plain data only, no
    code. It may be a file written by :func:`train_digits_classifier` (a dict with "format",
    "state_dict" and "meta") or a bare ``state_dict`` of :class:`DigitsClassifier`.

    Args:
        path: weights file; None = the weights shipped with gankit (``SHIPPED_WEIGHTS``).
        device: where to put the model ("cpu", "cuda", "cuda:1", ...).

    Returns:
        A :class:`DigitsClassifier` in eval mode; ``model.meta`` holds the training facts stored
        with the weights (empty for a bare state_dict).

    Raises:
        UserError: the file is missing, unreadable, not a weights file, or holds the weights of
            another network; or ``device`` is not a device name.

    Example:
        >>> model = load_digits_classifier()
        >>> model.training, model.meta["seed"], model.meta["n_train"]
        (False, 0, 4000)
    """
    path = SHIPPED_WEIGHTS if path is None else Path(path)
    if not path.is_file():
        raise UserError(f"digits classifier weights {path} do not exist (expected a .pt file "
                        f"written by train_digits_classifier, or None for the shipped weights)")
    try:
        device = torch.device(device)
    except (RuntimeError, TypeError) as e:
        raise UserError(f"device: expected a device name like 'cpu' or 'cuda:0', got {device!r}") from e
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # truncated, not a torch file, or it names classes to import
        if isinstance(e, pickle.UnpicklingError) and "Unsupported global" in str(e):
            raise UserError(f"{path} is not a plain weights file: it holds Python objects other "
                            f"than tensors and plain data, which gankit never unpickles") from e
        if isinstance(e, pickle.UnpicklingError):
            reason = "not a PyTorch weights file, or a damaged one"
        else:
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"cannot read digits classifier weights {path}: {reason}") from e
    meta: dict = {}
    if isinstance(obj, dict) and "state_dict" in obj:
        if obj.get("format") != WEIGHTS_FORMAT:
            raise UserError(f"{path} holds weights of format {obj.get('format')!r}; "
                            f"expected {WEIGHTS_FORMAT!r}")
        state, meta = obj["state_dict"], dict(obj.get("meta") or {})
    else:
        state = obj
    model = DigitsClassifier()
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise UserError(f"{path} is not a state_dict of the digits classifier "
                        f"(expected a dict of tensors, got {type(state).__name__})")
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        expected = sorted(model.state_dict())
        raise UserError(f"{path} does not hold the digits classifier's weights: expected keys "
                        f"{', '.join(expected)} with matching shapes, got keys "
                        f"{', '.join(sorted(state)) or 'none'}") from e
    model.meta = meta
    return model.to(device).eval()


def _augment(x: torch.Tensor, gen: torch.Generator) -> torch.Tensor:
    """A random similarity transform of each image [B, 1, H, W]: zoom, rotation, shift.

    Zooms of up to 1.6x teach the net the larger, frame-filling digits of the 8x8 ``digits`` set
    (resized 8 -> 28 they are ~1.4x the size of MNIST's 20x20-box digits); the background -1
    fills what moves in from outside.
    """
    b, _, h, w = x.shape
    zoom = ZOOM[0] + (ZOOM[1] - ZOOM[0]) * torch.rand(b, generator=gen)  # [B], > 1 = bigger
    angle = (2 * torch.rand(b, generator=gen) - 1) * math.radians(MAX_ROTATION)  # [B]
    shift = (2 * torch.rand(b, 2, generator=gen) - 1) * MAX_SHIFT * 2 / w  # [B, 2], grid units
    cos, sin = torch.cos(angle) / zoom, torch.sin(angle) / zoom  # output -> input sampling map
    theta = torch.stack([torch.stack([cos, -sin, shift[:, 0]], 1),
                         torch.stack([sin, cos, shift[:, 1]], 1)], 1)  # [B, 2, 3]
    grid = F.affine_grid(theta, [b, 1, h, w], align_corners=False)  # [B, H, W, 2]
    out = F.grid_sample(x + 1.0, grid, mode="bilinear", padding_mode="zeros", align_corners=False)
    return out - 1.0  # [B, 1, H, W]; zero padding of x + 1 = background -1


@torch.no_grad()
def _accuracy(model: DigitsClassifier, x: torch.Tensor, y: torch.Tensor, batch: int = 500) -> float:
    """Share of ``x`` [N, C, H, W] whose argmax logit equals ``y`` [N]."""
    hits = sum(int((model(x[i:i + batch]).argmax(1).cpu() == y[i:i + batch]).sum())
               for i in range(0, len(x), batch))
    return hits / len(x)


def _fit(x: torch.Tensor, y: torch.Tensor, seed: int, epochs: int, gen: torch.Generator) -> DigitsClassifier:
    """The training loop: Adam on cross-entropy over augmented images; global RNG left untouched."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initialisation and dropout
        model = DigitsClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=LR)
        model.train()
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)  # [n]
            for i in range(0, len(x), BATCH):
                idx = order[i:i + BATCH]
                loss = F.cross_entropy(model(_augment(x[idx], gen)), y[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
    return model


def train_digits_classifier(
    seed: int = 0,
    epochs: int = EPOCHS,
    out: str | Path | None = None,
    *,
    n_train: int | None = None,
) -> dict:
    """Train the digit CNN on mnist-5k's training split; deterministic for a fixed seed.

    Adam (lr 1e-3) on cross-entropy, batches of 64 in an order drawn from ``seed``, each image
    randomly zoomed (0.9-1.6x), rotated (+-10 degrees) and shifted (+-2 pixels), dropout 0.5 on
    the features. The
    data are ``build_dataset(DataConfig(name="mnist-5k"), split)`` with the default data seed 0
    (4,000 train / 1,000 test images). The global RNG state is left as it was. Weights are
    bitwise reproducible on one machine and torch build (training runs on one thread, so the
    core count does not matter; another CPU instruction set may change the last bits).

    Args:
        seed: seeds the initialisation, batch order, augmentation and dropout.
        epochs: passes over the training images.
        out: where to save ``{"format", "state_dict", "meta"}`` with ``torch.save``; None saves
            nothing.
        n_train: train on the first ``n_train`` training images only (None = all 4,000); for
            quick checks.

    Returns:
        The metadata dict saved with the weights: ``seed``, ``epochs``, ``n_train``, ``n_test``,
        ``test_accuracy`` (mnist-5k test split), ``digits_test_accuracy`` (the 8x8 ``digits``
        test split, 359 images, resized to 28x28), ``train_seconds``, ``torch`` (version).

    Raises:
        UserError: ``seed`` is not an integer >= 0, or ``epochs`` or ``n_train`` is not one >= 1.

    Example:
        >>> r = train_digits_classifier(seed=0, epochs=1, n_train=256)
        >>> sorted(r)[:4], 0.0 <= r["test_accuracy"] <= 1.0
        (['digits_test_accuracy', 'epochs', 'n_test', 'n_train'], True)
    """
    from gankit.config import DataConfig  # imported here: only training needs the data
    from gankit.data import build_dataset

    checks = (("seed", seed, 0), ("epochs", epochs, 1), ("n_train", 1 if n_train is None else n_train, 1))
    for name, value, low in checks:
        if not isinstance(value, int) or isinstance(value, bool) or value < low:
            raise UserError(f"{name}: expected an integer >= {low}, got {value!r}")
    train = build_dataset(DataConfig(name="mnist-5k"), "train")
    test = build_dataset(DataConfig(name="mnist-5k"), "test")
    x, y = train.x[:n_train], train.y[:n_train]  # [n, 1, 28, 28], [n]
    gen = torch.Generator().manual_seed(seed)  # batch order and augmentation

    start = time.perf_counter()
    threads = torch.get_num_threads()
    torch.set_num_threads(TRAIN_THREADS)
    try:
        model = _fit(x, y, seed, epochs, gen)
    finally:
        torch.set_num_threads(threads)
    seconds = time.perf_counter() - start
    model.eval()

    digits = build_dataset(DataConfig(name="digits"), "test")  # [359, 1, 8, 8]
    meta = {
        "seed": seed,
        "epochs": epochs,
        "n_train": len(x),
        "n_test": len(test),
        "test_accuracy": _accuracy(model, test.x, test.y),
        "digits_test_accuracy": _accuracy(model, digits.x, digits.y),
        "train_seconds": round(seconds, 1),
        "torch": str(torch.__version__),  # str: TorchVersion would need code to unpickle
    }
    if out is not None:
        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"format": WEIGHTS_FORMAT, "state_dict": model.state_dict(), "meta": meta}, out)
    return meta


def main(argv: list[str] | None = None) -> None:
    """``python -m gankit.features.digits --seed 0 --out PATH``: train, save, print accuracy."""
    parser = argparse.ArgumentParser(
        prog="python -m gankit.features.digits",
        description="Train the digits feature/classifier CNN on mnist-5k and save its weights.",
        epilog="example: python -m gankit.features.digits --seed 0 "
               "--out src/gankit/features/digits_cnn.pt",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of init, order, augmentation, dropout (0)")
    parser.add_argument("--epochs", type=int, default=EPOCHS, help=f"passes over the data ({EPOCHS})")
    parser.add_argument("--out", required=True, help="weights file to write (.pt)")
    args = parser.parse_args(argv)
    try:
        meta = train_digits_classifier(seed=args.seed, epochs=args.epochs, out=args.out)
    except UserError as e:
        parser.exit(2, f"error: {e}\n")
    print(f"mnist-5k test accuracy {meta['test_accuracy']:.4f} ({meta['n_test']} images); "
          f"digits 8x8 test accuracy {meta['digits_test_accuracy']:.4f}; "
          f"trained {meta['epochs']} epochs on {meta['n_train']} images in "
          f"{meta['train_seconds']} s, seed {meta['seed']}; saved {args.out}")


if __name__ == "__main__":
    main()
