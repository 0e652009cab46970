"""Progress bars for the jobs that take more than a few seconds: one tqdm bar on stderr, gone when it closes.

The rule every long job follows: its library function takes ``progress: bool = False`` (so Python
callers and tests see no bar unless they ask), and its command passes ``progress=not quiet``. A bar
writes to stderr only, so a command's stdout, ``--json`` included, stays exactly what it prints.
Open a bar in a ``with`` block: it closes on an error too, and ``leave=False`` wipes its line, so a
one-line error message that follows starts on a clean line.

The training engine keeps its own bar (``training/loop.py``): it resumes at a step and shows the
system's statistics, and the finished bar stays on screen as the record of the run.

Example:
    >>> from gankit.progress import progress_bar
    >>> with progress_bar(3, "demo", enabled=False) as bar:  # progress=False: nothing is written
    ...     bar.update(3)
    >>> bar.disable
    True
"""

from __future__ import annotations

import sys


def progress_bar(total: int | None, desc: str, unit: str = "step", enabled: bool = True):
    """A tqdm bar on stderr for ``total`` units (None: a counter without an ETA), cleared when closed.

    Args:
        total: the units of work the job will do; its ETA is the rate so far times what is left.
        desc: the label in front of the bar (the command or phase, e.g. ``"fig1"``).
        unit: what one update counts (``"step"``, ``"img"``, ...).
        enabled: False makes every call on the bar a no-op (what ``progress=False`` means).

    Returns:
        A ``tqdm.tqdm``; use it as a context manager.
    """
    from tqdm import tqdm  # imported here: only a job that shows a bar needs it

    # On a terminal the bar redraws ten times a second; into a log file, every 10 s at most (as the engine's bar).
    return tqdm(total=total, desc=desc, unit=unit, disable=not enabled, file=sys.stderr, dynamic_ncols=True,
                leave=False, mininterval=0.1 if sys.stderr.isatty() else 10.0)
