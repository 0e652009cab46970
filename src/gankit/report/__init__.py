"""``gankit report``: one self-contained HTML page about a training run.

The page shows the run's config, its sample grids over time, the loss curves, D's verdicts
(D(x) and D(G(z)) for the paper's bce game, raw critic scores for the other losses), the gradient
norms, the latest record of each metric written by ``gankit eval``, and a warning for each known
failure the numbers show: D winning outright, a collapsed histogram of modes or classes, and
non-finite values. Every picture is a PNG embedded as a ``data:`` URI; the page loads nothing
else (no scripts, stylesheets, fonts or network), so it can be mailed or archived as one file.

The warnings are pure functions of the rows of ``stats.jsonl`` and of the metric records
(:func:`warn_d_wins`, :func:`warn_mode_collapse`, :func:`warn_nonfinite`, all three through
:func:`find_warnings`); their thresholds are the constants in :mod:`gankit.report.diagnose` and
are explained in docs/report.md.

The package: ``rundir`` reads and checks a run directory, ``diagnose`` holds the warning rules,
``plots`` draws the curves and histograms, and ``html`` lays out and writes the page. Everything
public is importable from ``gankit.report`` itself.

Example:
    >>> from gankit.report import write_report                        # doctest: +SKIP
    >>> write_report("runs/00000-quick")                              # doctest: +SKIP
    PosixPath('runs/00000-quick/report.html')
    >>> write_report("runs/00000-quick", out="/tmp/quick.html")       # doctest: +SKIP
    PosixPath('/tmp/quick.html')
"""

from gankit.report.diagnose import (D_WIN_FAKE, D_WIN_LOSS, D_WIN_REAL, MAX_CLASS_KL, MIN_COVERAGE, MIN_ROWS, TAIL,
                                    find_warnings, warn_d_wins, warn_mode_collapse, warn_nonfinite)
from gankit.report.html import MAX_GRIDS, REPORT_NAME, pick_grids, render_html, write_report
from gankit.report.plots import counts_png, curve_pngs, moving_average, smoothing_window
from gankit.report.rundir import read_run, read_stats_rows

__all__ = [
    "D_WIN_FAKE", "D_WIN_LOSS", "D_WIN_REAL", "MAX_CLASS_KL", "MAX_GRIDS", "MIN_COVERAGE", "MIN_ROWS", "REPORT_NAME",
    "TAIL", "counts_png", "curve_pngs", "find_warnings", "moving_average", "pick_grids", "read_run",
    "read_stats_rows", "render_html", "smoothing_window", "warn_d_wins", "warn_mode_collapse", "warn_nonfinite",
    "write_report",
]
