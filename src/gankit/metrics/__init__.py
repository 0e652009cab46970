"""Evaluation metrics as pure functions on samples or features; the generated side comes first.

Feature extraction and sampling from a generator live elsewhere; these functions take tensors or
NumPy arrays and return floats, tensors or small dicts with stable keys. See docs/metrics.md.

- :func:`parzen_log_likelihood`, :func:`parzen_select_sigma`, :func:`parzen_evaluate`,
  :func:`to_unit_interval`: the Parzen-window protocol of Goodfellow et al. (2014).
- :func:`frechet_distance`, :func:`frechet_distance_from_stats`, :func:`feature_statistics`:
  FID maths (Heusel et al. 2017); :func:`kid`: KID (Binkowski et al. 2018).
- :func:`prdc`: precision/recall (Kynkäänniemi et al. 2019), density/coverage (Naeem et al. 2020).
- :func:`mode_coverage`: modes, high-quality share and reverse KL on toy mixtures (VEEGAN, PacGAN).
- :func:`ndb`: number of statistically different bins and JS (Richardson & Weiss 2018).
"""

from gankit.metrics.classes import class_coverage, classify_digits, stacked_mnist_coverage
from gankit.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
    kid,
)
from gankit.metrics.modes import mode_coverage
from gankit.metrics.ndb import ndb
from gankit.metrics.parzen import (
    parzen_evaluate,
    parzen_log_likelihood,
    parzen_select_sigma,
    to_unit_interval,
)
from gankit.metrics.prdc import prdc

__all__ = [
    "class_coverage",
    "classify_digits",
    "stacked_mnist_coverage",
    "feature_statistics",
    "frechet_distance",
    "frechet_distance_from_stats",
    "kid",
    "mode_coverage",
    "ndb",
    "parzen_evaluate",
    "parzen_log_likelihood",
    "parzen_select_sigma",
    "prdc",
    "to_unit_interval",
]
