"""The one error type a user can cause.

Anything raised as :class:`UserError` is the user's to fix (a wrong path, an unknown name, a bad
value). The command line prints its message as a single line and exits with code 2; the library
raises it like any other exception. Bugs in gankit itself stay ordinary exceptions.
"""

from __future__ import annotations


class UserError(ValueError):
    """Bad input from the user: the message says what was wrong, where, and what was expected."""


class TrainingDiverged(UserError):
    """A loss or gradient became NaN or infinite; the run stops without overwriting its last checkpoint.

    Raised by every system's training alike (the GAN and VAE loop and the image-to-image systems).
    """
