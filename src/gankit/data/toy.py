"""Toy distributions with known densities: equally weighted mixtures of isotropic Gaussians.

Each set is a pure function of (n, seed, std) that returns raw points, the index of the mode each
point came from, and the :class:`Mixture` it was drawn from. Because the density is known in
closed form (:func:`toy_log_density`), the optimal discriminator of Goodfellow et al. (2014),
Prop. 1, ``D*(x) = p_data(x) / (p_data(x) + p_g(x))``, can be computed exactly for these sets.

Raw units are the ones the papers use. The model sees ``x_model = x_raw * scale`` with one
factor per set, ``scale = 1 / (max |centre coordinate| + 3 * std)``, so every centre +- 3 std
lies in [-1, 1]; a point in the far tail (beyond 3 std, about 0.3% of a 1-D Gaussian) may lie a
little outside. Nothing is clipped: clipping would change the density.

Example:
    >>> from gankit.data.toy import ring8, toy_log_density
    >>> draw = ring8(n=1000, seed=0)
    >>> draw.points.shape, draw.labels.shape, draw.mixture.centers.shape
    ((1000, 2), (1000,), (8, 2))
    >>> bool(toy_log_density("ring8", draw.mixture.centers[:1])[0] > 0)
    True
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from gankit.errors import UserError


@dataclass(frozen=True)
class Mixture:
    """An equally weighted mixture of isotropic Gaussians, in raw units.

    Attributes:
        name: the toy set's name ("ring8", ...).
        centers: [K, D] float64, the mode means.
        std: the standard deviation of every mode, in each coordinate.
        description: one line saying what the set is and where it comes from.
    """

    name: str
    centers: np.ndarray  # [K, D] raw units
    std: float  # raw units, same for every mode and coordinate
    description: str

    @property
    def n_modes(self) -> int:
        return int(self.centers.shape[0])

    @property
    def dim(self) -> int:
        return int(self.centers.shape[1])

    @property
    def scale(self) -> float:
        """Factor from raw to model space: centres +- 3 std land inside [-1, 1]."""
        return 1.0 / (float(np.abs(self.centers).max()) + 3.0 * self.std)


@dataclass(frozen=True)
class ToyDraw:
    """Points drawn from a toy mixture.

    Attributes:
        points: [n, D] float64 raw points.
        labels: [n] int64, the index of the mode (row of ``mixture.centers``) of each point.
        mixture: the mixture they were drawn from.
    """

    points: np.ndarray  # [n, D]
    labels: np.ndarray  # [n]
    mixture: Mixture


# The standard settings. Each entry: (centres [K, D] in raw units, standard std, description).
def _gauss1d_centers() -> np.ndarray:
    # Our choice, not the paper's: Figure 1 of Goodfellow et al. (2014) is illustrative and gives
    # no numbers. One Gaussian N(4, 0.5^2) is what common reproductions of the figure use.
    return np.array([[4.0]])  # [1, 1]


def _ring8_centers() -> np.ndarray:
    # 8 modes on the unit circle at angles 2*pi*i/8 (the PacGAN / VEEGAN 2-D ring).
    angles = 2.0 * math.pi * np.arange(8) / 8
    return np.stack([np.cos(angles), np.sin(angles)], axis=1)  # [8, 2]


def _grid25_centers() -> np.ndarray:
    # 25 modes at {-4, -2, 0, 2, 4}^2 (the PacGAN / VEEGAN 2-D grid), row-major in (x, y).
    coords = np.array([-4.0, -2.0, 0.0, 2.0, 4.0])
    gx, gy = np.meshgrid(coords, coords, indexing="ij")
    return np.stack([gx.ravel(), gy.ravel()], axis=1)  # [25, 2]


_SETTINGS: dict[str, tuple[Callable[[], np.ndarray], float, str]] = {
    "gauss1d": (
        _gauss1d_centers,
        0.5,  # raw std; our choice (see above)
        "1-D Gaussian N(4, 0.5^2), our stand-in for Fig. 1 of Goodfellow et al. 2014 [N, 1]",
    ),
    "ring8": (
        _ring8_centers,
        0.01,  # raw std, as in PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017)
        "8 Gaussians (std 0.01) on a circle of radius 1, the PacGAN/VEEGAN ring [N, 2]",
    ),
    "grid25": (
        _grid25_centers,
        0.05,  # raw std, as in PacGAN (Lin et al. 2018) and VEEGAN (Srivastava et al. 2017)
        "5x5 grid of Gaussians (std 0.05) at {-4,-2,0,2,4}^2, the PacGAN/VEEGAN grid [N, 2]",
    ),
}

TOY_NAMES: tuple[str, ...] = tuple(_SETTINGS)


def toy_descriptions() -> dict[str, str]:
    """Every toy set's name -> one-line description.

    Example:
        >>> sorted(toy_descriptions())
        ['gauss1d', 'grid25', 'ring8']
    """
    return {name: setting[2] for name, setting in _SETTINGS.items()}


def toy_mixture(name: str, std: float | None = None) -> Mixture:
    """The mixture behind a toy set; ``std`` (raw units, > 0) replaces the standard std.

    Raises:
        UserError: unknown name or a std that is not positive.

    Example:
        >>> m = toy_mixture("grid25")
        >>> m.n_modes, m.std, round(m.scale, 4)
        (25, 0.05, 0.241)
    """
    if name not in _SETTINGS:
        raise UserError(f"unknown toy dataset {name!r}; known toy sets: {', '.join(TOY_NAMES)}")
    make_centers, std_default, description = _SETTINGS[name]
    if std is None:
        std = std_default
    elif not (isinstance(std, (int, float)) and math.isfinite(std) and std > 0):
        raise UserError(f"toy std for {name!r} must be a positive number of raw units, got {std!r}")
    return Mixture(name=name, centers=make_centers(), std=float(std), description=description)


def sample_mixture(mixture: Mixture, n: int, seed: int | Sequence[int]) -> ToyDraw:
    """Draw ``n`` points: a uniformly chosen mode, then its Gaussian. Same seed, same points.

    ``seed`` is anything ``numpy.random.default_rng`` takes (an int or a list of ints).

    Example:
        >>> draw = sample_mixture(toy_mixture("gauss1d"), n=3, seed=0)
        >>> draw.points.shape, draw.labels.tolist()
        ((3, 1), [0, 0, 0])
    """
    if n < 0:
        raise UserError(f"number of toy points must be >= 0, got {n}")
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, mixture.n_modes, size=n).astype(np.int64)  # [n]
    noise = rng.standard_normal((n, mixture.dim))  # [n, D]
    points = mixture.centers[labels] + mixture.std * noise  # [n, D]
    return ToyDraw(points=points, labels=labels, mixture=mixture)


def gauss1d(n: int, seed: int, std: float | None = None) -> ToyDraw:
    """``n`` points of the 1-D Gaussian N(4, 0.5^2) (our choice for Fig. 1 of the 2014 paper).

    Example:
        >>> gauss1d(5, seed=0).points.shape
        (5, 1)
    """
    return sample_mixture(toy_mixture("gauss1d", std), n, seed)


def ring8(n: int, seed: int, std: float | None = None) -> ToyDraw:
    """``n`` points of 8 Gaussians (std 0.01) at angles 2*pi*i/8 on the unit circle.

    Example:
        >>> ring8(5, seed=0).points.shape
        (5, 2)
    """
    return sample_mixture(toy_mixture("ring8", std), n, seed)


def grid25(n: int, seed: int, std: float | None = None) -> ToyDraw:
    """``n`` points of 25 Gaussians (std 0.05) at {-4, -2, 0, 2, 4}^2.

    Example:
        >>> grid25(5, seed=0).points.shape
        (5, 2)
    """
    return sample_mixture(toy_mixture("grid25", std), n, seed)


def toy_log_density(name: str, points_raw: np.ndarray, std: float | None = None) -> np.ndarray:
    """Natural log of the mixture density at raw points.

    ``log p(x) = logsumexp_k( -|x - c_k|^2 / (2 std^2) ) - log K - (D / 2) log(2 pi std^2)``

    Args:
        name: a toy set ("gauss1d", "ring8", "grid25").
        points_raw: [N, D] raw points (for a 1-D set also [N]).
        std: the mode std in raw units; None = the set's standard value.

    Returns:
        [N] float64 log-densities with respect to Lebesgue measure in raw units. (A density in
        model space is this plus ``-D * log(scale)``.)

    Raises:
        UserError: unknown name, bad std, or points whose last dimension is not D.

    Example:
        >>> import numpy as np
        >>> logp = toy_log_density("gauss1d", np.array([[4.0]]))  # -log(0.5 sqrt(2 pi))
        >>> round(float(logp[0]), 4)
        -0.2258
    """
    mixture = toy_mixture(name, std)
    points = np.asarray(points_raw, dtype=np.float64)
    if points.ndim == 1 and mixture.dim == 1:
        points = points[:, None]  # [N] -> [N, 1]
    if points.ndim != 2 or points.shape[1] != mixture.dim:
        raise UserError(
            f"toy_log_density({name!r}): points must have shape [N, {mixture.dim}], "
            f"got {list(points.shape)}"
        )
    diff = points[:, None, :] - mixture.centers[None, :, :]  # [N, K, D]
    exponent = -0.5 * np.sum(diff * diff, axis=2) / mixture.std**2  # [N, K]
    top = exponent.max(axis=1, keepdims=True)  # [N, 1], for a stable logsumexp
    log_sum = top[:, 0] + np.log(np.exp(exponent - top).sum(axis=1))  # [N]
    variance = mixture.std**2
    log_norm = math.log(mixture.n_modes) + 0.5 * mixture.dim * math.log(2 * math.pi * variance)
    return log_sum - log_norm
