"""Things to do with a trained generator once training is over, one module per use.

- :mod:`~gankit.apps.interpolate`: paths through latent space, ``gankit interpolate``;
- :mod:`~gankit.apps.invert`: the z of given images by search, ``gankit invert``;
- :mod:`~gankit.apps.encoder`: an encoder x -> z in one pass, ``gankit fit-encoder``;
- :mod:`~gankit.apps.arithmetic`: sums of z, ``gankit arithmetic``;
- :mod:`~gankit.apps.anomaly`: AnoGAN and f-AnoGAN scores, ``gankit anomaly``;
- :mod:`~gankit.apps.augment`: labelled synthetic data, ``gankit augment``.

(:mod:`~gankit.apps.latent` re-exports the first four for code written before the split.)
"""
