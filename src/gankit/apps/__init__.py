"""Things to do with a trained generator once training is over.

``latent``: paths through latent space (:func:`gankit.apps.latent.interpolate`), finding the z of a
given image by optimisation (:func:`gankit.apps.latent.invert`), and ``gankit interpolate``
(:func:`gankit.apps.latent.interpolate_run`).
"""
