"""What gets trained: one module per system, each holding its networks, optimizers and losses and
taking one training step; :func:`gankit.training.loop.fit` trains every one of them. The
image-to-image systems share their base class and config handling in :mod:`gankit.systems.i2i`.

``SYSTEMS`` is the fixed table of names to modules and classes (imported lazily by
:func:`system_class`, never from a user's string beyond this table).
"""

from __future__ import annotations

import importlib

from gankit.errors import UserError

SYSTEMS = {  # name -> (module, class); the names are the config's `model` choices
    "gan": ("gankit.systems.gan", "GANSystem"),
    "vae": ("gankit.systems.vae", "VAESystem"),
    "pix2pix": ("gankit.systems.pix2pix", "Pix2Pix"),
    "cyclegan": ("gankit.systems.cyclegan", "CycleGAN"),
    "srgan": ("gankit.systems.srgan", "SRGAN"),
    "simgan": ("gankit.systems.simgan", "SimGAN"),
}


def system_class(name: str) -> type:
    """The class of system ``name``; UserError naming the choices for anything else."""
    if name not in SYSTEMS:
        raise UserError(f"unknown system {name!r}; choose one of {', '.join(SYSTEMS)}")
    module, cls = SYSTEMS[name]
    return getattr(importlib.import_module(module), cls)
