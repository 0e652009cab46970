"""Kept for compatibility: the latent-space tools now live in one module per concept.

- :mod:`gankit.apps.interpolate`: paths between two z and ``gankit interpolate``;
- :mod:`gankit.apps.invert`: the z of given images and ``gankit invert``;
- :mod:`gankit.apps.encoder`: encoders x -> z, ``gankit fit-encoder``, the run's D and its features;
- :mod:`gankit.apps.arithmetic`: ``gankit arithmetic``.

``from gankit.apps.latent import invert`` (and the other public names below) keeps working; new
code imports from the modules above.
"""

from gankit.apps.arithmetic import ARITHMETIC_NOISE, PER_CLASS, arithmetic, parse_operand, seed_z
from gankit.apps.encoder import (ENCODER_NAME, discriminator_features, encode_best_class, fit_encoder,
                                 load_discriminator, load_encoder)
from gankit.apps.interpolate import (MODES, POOR_RECONSTRUCTION, LatentPaths, interpolate, interpolate_run,
                                     latent_paths, resolve_mode)
from gankit.apps.invert import FEATURE_WEIGHT, FEATURES, METHODS, invert, invert_best_class, invert_run, load_images

__all__ = ["MODES", "interpolate", "resolve_mode", "invert", "LatentPaths", "latent_paths", "interpolate_run",
           "POOR_RECONSTRUCTION", "FEATURES", "FEATURE_WEIGHT", "discriminator_features", "load_discriminator",
           "invert_best_class", "load_images", "invert_run", "METHODS", "ENCODER_NAME", "fit_encoder", "load_encoder",
           "encode_best_class", "parse_operand", "seed_z", "arithmetic", "PER_CLASS", "ARITHMETIC_NOISE"]
