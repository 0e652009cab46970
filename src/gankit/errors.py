"""The one error type a user can cause.

Anything raised as :class:`UserError` is the user's to fix (a wrong path, an unknown name, a bad
value). The command line prints its message as a single line and exits with code 2; the library
raises it like any other exception. Bugs in gankit itself stay ordinary exceptions.

Beside it, the checks and helpers of writing an output so that a failure stays one line and leaves
nothing half-written: :func:`check_out_folder`, :func:`note_output`, :func:`written_atomically`.
"""

from __future__ import annotations

import os
from contextlib import contextmanager


class UserError(ValueError):
    """Bad input from the user: the message says what was wrong, where, and what was expected."""


class TrainingDiverged(UserError):
    """A loss or gradient became NaN or infinite; the run stops without overwriting its last checkpoint.

    Raised by every system's training alike (the GAN and VAE loop and the image-to-image systems).
    """


def space_hint(e: OSError) -> str:
    """What to do about a write that failed for want of room, as a parenthesis to end a one-line error ("" for
    other failures).

    >>> import errno
    >>> space_hint(OSError(errno.ENOSPC, "No space left on device"))
    ' (the disk is full: free some space and run again)'
    >>> space_hint(OSError(errno.EACCES, "Permission denied"))
    ''
    """
    import errno

    if e.errno == errno.ENOSPC:
        return " (the disk is full: free some space and run again)"
    if e.errno == errno.EFBIG:
        return " (a file reached the size limit of this process: see `ulimit -f`)"
    return ""


_LAST_OUTPUT: list = [None]  # the output this process announced last (note_output)


def note_output(path) -> None:
    """Remember that this process is about to write ``path`` (a file or a run directory), so that a failed write
    that names no file (a full disk: ``write()`` has no filename) can still say where it was writing."""
    _LAST_OUTPUT[0] = path


def last_output():
    """The newest path given to :func:`note_output` (or :func:`check_out_folder`), or None."""
    return _LAST_OUTPUT[0]


@contextmanager
def written_atomically(path: str | os.PathLike):
    """A temporary name beside ``path`` (same suffix) to write to; renamed to ``path`` when the block ends
    without an error, removed when it raises (a full disk leaves no half-written picture or array).

    >>> import tempfile
    >>> from pathlib import Path
    >>> d = Path(tempfile.mkdtemp())
    >>> with written_atomically(d / "a.txt") as tmp:
    ...     _ = tmp.write_text("done")
    >>> sorted(p.name for p in d.iterdir()), (d / "a.txt").read_text()
    (['a.txt'], 'done')
    """
    from pathlib import Path

    path = Path(path)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp{path.suffix}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)




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
