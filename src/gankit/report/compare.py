"""``gankit compare RUN RUN ...``: one self-contained HTML page putting runs side by side.

The curves of every run overlaid (one chart per statistic, one line per run, smoothed as in the
run report), the latest record of each metric ``gankit eval`` wrote, the config keys on which the
runs differ, and each run's latest sample grid. Like ``report.html`` it embeds every picture and
loads nothing else.

Example:
    >>> from gankit.report.compare import write_comparison                      # doctest: +SKIP
    >>> write_comparison(["runs/00000-quick", "runs/00001-quick"], "cmp.html")  # doctest: +SKIP
    PosixPath('cmp.html')
"""

from __future__ import annotations

import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from gankit.errors import UserError
from gankit.report.html import _CSS, _e, _fmt, _img, write_atomically
from gankit.report.plots import _figure, _png, _series, moving_average, smoothing_window
from gankit.report.rundir import read_run

__all__ = ["COMPARED", "write_comparison", "render_comparison", "differing_config"]

COMPARED = ("loss_D", "loss_G", "D_real", "D_fake", "grad_norm_D", "grad_norm_G")  # the statistics overlaid
COLOURS = ("#1f5fbf", "#c0392b", "#2e8b57", "#8e44ad", "#d35400", "#16a085", "#7f8c8d", "#b8860b")


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def differing_config(configs: Sequence[dict]) -> dict[str, list[Any]]:
    """The config keys whose values are not the same in every run: key -> the value in each run (None if absent).

    Example:
        >>> differing_config([{"train": {"seed": 0, "batch": 8}}, {"train": {"seed": 1, "batch": 8}}])
        {'train.seed': [0, 1]}
    """
    flat = [_flatten(c) for c in configs]
    keys = sorted(set().union(*flat))
    return {k: [f.get(k) for f in flat] for k in keys if len({repr(f.get(k)) for f in flat}) > 1}


def _curve(runs: list[dict], key: str) -> bytes | None:
    fig, ax = _figure(height=3.0)
    drawn = False
    for i, run in enumerate(runs):
        steps, vals = _series(run["rows"], key)
        if not any(math.isfinite(v) for v in vals):
            continue
        w = smoothing_window(len(vals))
        ax.plot(steps, moving_average(vals, w) if w > 1 else vals, color=COLOURS[i % len(COLOURS)], linewidth=1.5,
                label=run["label"])
        drawn = True
    if not drawn:
        return None
    ax.set_title(key)
    ax.legend(loc="best", fontsize=8)
    return _png(fig)


def _latest_metrics(runs: list[dict]) -> list[tuple[str, list[Any]]]:
    """(metric.field, the latest value in each run) for every scalar field a run recorded."""
    rows: dict[str, list[Any]] = {}
    for i, run in enumerate(runs):
        for name, records in run["metrics"].items():
            last = records[-1] if isinstance(records, list) else records
            for field, value in last.items():
                if field in ("protocol", "time", "metric", "counts") or isinstance(value, (dict, list)):
                    continue
                rows.setdefault(f"{name}.{field}", [None] * len(runs))[i] = value
    return sorted(rows.items())


def render_comparison(run_dirs: Sequence[str | os.PathLike]) -> str:
    """The page's HTML for the given run directories (at least two)."""
    if len(run_dirs) < 2:
        raise UserError(f"gankit compare needs at least two run directories; got {len(run_dirs)}")
    runs = [read_run(r) for r in run_dirs]
    for run in runs:
        run["label"] = run["run_dir"].resolve().name
    if len({r["label"] for r in runs}) < len(runs):  # same names in different folders: use the paths
        for run in runs:
            run["label"] = str(run["run_dir"])
    head = "".join(f"<th>{_e(r['label'])}</th>" for r in runs)

    charts = [(k, png) for k in COMPARED if (png := _curve(runs, k)) is not None]
    curves = ("<div class='plots'>" + "".join(f"<figure>{_img(png, k, 'plot')}</figure>" for k, png in charts)
              + "</div>") if charts else "<p class='note'>No run has logged statistics yet.</p>"

    metrics = _latest_metrics(runs)
    metrics_html = (f"<table><tr><th>metric</th>{head}</tr>" + "".join(
        f"<tr><td>{_e(k)}</td>" + "".join(f"<td>{'' if v is None else _e(_fmt(v))}</td>" for v in vals) + "</tr>"
        for k, vals in metrics) + "</table>") if metrics else \
        "<p class='note'>No metrics recorded yet (gankit eval RUN writes them).</p>"

    diff = differing_config([r["config"] for r in runs])
    diff.pop("description", None)
    config_html = (f"<table><tr><th>key</th>{head}</tr>" + "".join(
        f"<tr><td>{_e(k)}</td>" + "".join(f"<td>{_e(_fmt(v))}</td>" for v in vals) + "</tr>"
        for k, vals in diff.items()) + "</table>") if diff else "<p class='note'>The configs are the same.</p>"

    grids = "<div class='plots'>" + "".join(
        f"<figure>{_img(r['latest'].read_bytes(), r['label'])}<figcaption>{_e(r['label'])}: "
        f"{_e(r['latest'].name)}</figcaption></figure>" if r["latest"] else
        f"<figure><p class='note'>{_e(r['label'])}: no grid yet</p></figure>" for r in runs) + "</div>"
    steps = "".join(f"<td>{_e(r['rows'][-1]['step'] if r['rows'] else 0)}</td>" for r in runs)
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gankit compare: {_e(", ".join(r["label"] for r in runs))}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>{len(runs)} runs side by side</h1>
<table><tr><th></th>{head}</tr><tr><td>steps logged</td>{steps}</tr></table>
<h2 id="curves">Curves</h2>
{curves}
<h2 id="metrics">Latest metrics</h2>
{metrics_html}
<h2 id="config">Where the configs differ</h2>
{config_html}
<h2 id="samples">Latest samples</h2>
{grids}
<footer>Written by gankit compare at {_e(time.strftime("%Y-%m-%d %H:%M:%S"))}. Self-contained: every picture is
embedded in this file.</footer>
</main>
</body>
</html>
"""


def write_comparison(run_dirs: Sequence[str | os.PathLike], out: str | os.PathLike = "compare.html") -> Path:
    """Write the comparison page of ``run_dirs`` to ``out`` (atomically) and return its path."""
    page = render_comparison(run_dirs)
    target = Path(out)
    if target.is_dir():
        target = target / "compare.html"
    target.parent.mkdir(parents=True, exist_ok=True)
    write_atomically(target, page)
    return target
