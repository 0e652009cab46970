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


_OUTPUTS: list = []  # the outputs this process announced (note_output), newest last


def note_output(path) -> None:
    """Remember that this process is about to write ``path`` (a file or a run directory), so that a failed write
    that names no file (a full disk: ``write()`` has no filename) can still say where it was writing."""
    _OUTPUTS.append(path)


def last_output():
    """The newest path given to :func:`note_output` (or :func:`check_out_folder`), or None."""
    return _OUTPUTS[-1] if _OUTPUTS else None


def check_out_folder(out, flag: str = "--out") -> None:
    """Raise :class:`UserError` unless the folder that will hold ``out`` exists and is a folder.

    Called before the work starts, so a missing folder or a file in its place fails at once rather
    than after minutes of sampling or inversion.

    >>> import tempfile, pathlib
    >>> d = pathlib.Path(tempfile.mkdtemp())
    >>> check_out_folder(d / "a.png")
    >>> (d / "f").write_text("x")
    1
    >>> check_out_folder(d / "f" / "a.png")
    Traceback (most recent call last):
    ...
    gankit.errors.UserError: the folder of --out is a file: ...
    """
    from pathlib import Path

    note_output(out)
    parent = Path(out).parent
    if not parent.is_dir():
        kind = "is a file" if parent.exists() else "does not exist"
        raise UserError(f"the folder of {flag} {kind}: {str(parent)!r}")
