"""The report page: one self-contained HTML file per run, every picture embedded as a ``data:`` URI."""

from __future__ import annotations

import base64
import html
import json
import math
import os
import time
from pathlib import Path
from typing import Any, Sequence

from gankit.config import I2I_SYSTEMS
from gankit.errors import UserError, written_atomically
from gankit.report.diagnose import MIN_ROWS, _record_step, find_warnings
from gankit.report.plots import _png_size, _series, counts_png, curve_pngs
from gankit.report.rundir import read_run

REPORT_NAME = "report.html"
MAX_GRIDS = 12  # sample grids shown at most, evenly spaced over the run, first and last included


def pick_grids(grids: Sequence[Any], limit: int = MAX_GRIDS) -> list[Any]:
    """At most ``limit`` items evenly spaced over ``grids``, the first and the last included.

    Example:
        >>> pick_grids(list(range(100)), 5)
        [0, 25, 50, 74, 99]
    """
    n = len(grids)
    if n <= limit:
        return list(grids)
    if limit <= 1:
        return [grids[-1]]
    idx = sorted({round(i * (n - 1) / (limit - 1)) for i in range(limit)})
    return [grids[i] for i in idx]


def _e(x: Any) -> str:
    return html.escape(str(x), quote=True)


def _img(data: bytes, alt: str, cls: str = "") -> str:
    size = _png_size(data)
    dims = f' width="{size[0]}" height="{size[1]}"' if size else ""
    small = " pixel" if size and size[0] < 400 else ""
    return (f'<img class="{_e(cls + small).strip()}" alt="{_e(alt)}"{dims} '
            f'src="data:image/png;base64,{base64.b64encode(data).decode("ascii")}">')


def _fmt(v: Any) -> str:
    if isinstance(v, bool) or v is None:
        return json.dumps(v)
    if isinstance(v, float):
        return f"{v:.4g}" if math.isfinite(v) else str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_fmt(x) for x in v) + "]" if len(v) <= 12 else f"[{len(v)} values]"
    if isinstance(v, dict):
        return ", ".join(f"{k}={_fmt(x)}" for k, x in v.items())
    return str(v)


def _config_html(cfg: dict) -> str:
    top = {k: v for k, v in cfg.items() if not isinstance(v, dict) and k != "description"}
    sections = [("run", top)] + [(k, v) for k, v in cfg.items() if isinstance(v, dict)]
    parts = []
    for title, items in sections:
        if not items:
            continue
        body = "".join(f"<tr><th>{_e(k)}</th><td>{_e(_fmt(v))}</td></tr>" for k, v in items.items())
        parts.append(f'<table class="cfg"><caption>{_e(title)}</caption>{body}</table>')
    return '<div class="cfgs">' + "".join(parts) + "</div>"


_MAIN = {"parzen": ("mean", "sem", "sigma"), "fid": ("value",), "kid": ("mean", "std"),
         "pr": ("precision", "recall"), "dc": ("density", "coverage"),
         "modes": ("modes_covered", "n_modes", "high_quality", "kl"),
         "classes": ("classes_covered", "n_classes", "modes_covered", "n_modes", "kl"), "ndb": ("ndb", "k", "js")}
_HIDDEN = {"time", "metric", "protocol", "counts", "sigmas_tried", "channel_counts"}


def _metrics_html(metrics: dict[str, list[dict]]) -> str:
    if not metrics:
        return ('<p class="note">No metrics recorded yet. <code>gankit eval RUN_DIR --metrics ...</code> '
                "appends each result to metric-&lt;name&gt;.jsonl here, and the next report shows it.</p>")
    rows, charts = [], []
    for name, records in sorted(metrics.items()):
        rec = records[-1]
        if "skipped" in rec:
            main = f"not applicable: {rec['skipped']}"
            rest = ""
        else:
            keys = [k for k in _MAIN.get(name, ()) if k in rec]
            if not keys:
                keys = [k for k, v in rec.items() if k not in _HIDDEN and isinstance(v, (int, float))][:4]
            main = "  ".join(f"{k}={_fmt(rec[k])}" for k in keys)
            rest = ", ".join(f"{k}={_fmt(v)}" for k, v in rec.items() if k not in _HIDDEN and k not in keys)
        proto = rec.get("protocol") if isinstance(rec.get("protocol"), dict) else {}
        proto_text = ", ".join(f"{k}={_fmt(v)}" for k, v in proto.items() if k not in ("checkpoint", "step"))
        step = _record_step(rec)
        rows.append(f"<tr><td><b>{_e(name)}</b></td><td>{_e('' if step is None else step)}</td>"
                    f"<td class='num'>{_e(main)}</td><td class='small'>{_e(rest)}"
                    f"{'<br>' if rest and proto_text else ''}{_e(proto_text)}</td>"
                    f"<td class='small when'>{_e(str(rec.get('time', '')).replace('T', ' '))}<br>"
                    f"{len(records)} record{'s' if len(records) != 1 else ''}</td></tr>")
        counts = rec.get("counts")
        if isinstance(counts, list):
            unit = "class" if "classes_covered" in rec else "mode"
            png = counts_png(counts, f"{name}: samples per {unit}" + (f" (step {step})" if step is not None else ""))
            if png:
                charts.append(f"<figure>{_img(png, f'histogram of samples per mode or class, {name} metric', 'plot')}"
                              f"<figcaption>Histogram of the latest {_e(name)} record; the dashed line is the mean "
                              "(a uniform spread).</figcaption></figure>")
    table = ("<table class='metrics'><thead><tr><th>metric</th><th>step</th><th>main values</th>"
             "<th>details and protocol</th><th>recorded</th></tr></thead><tbody>" + "".join(rows) + "</tbody></table>")
    return table + (f"<div class='plots charts'>{''.join(charts)}</div>" if charts else "")


_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;margin:0;\
color:#1d2330;background:#f6f7f9;line-height:1.45}
main{max-width:1120px;margin:0 auto;padding:24px 28px 48px}
h1{font-size:1.55em;margin:0 0 4px}\
h2{font-size:1.2em;margin:32px 0 10px;padding-bottom:4px;border-bottom:1px solid #d9dde4}
.sub{color:#5b6475;margin:0 0 14px}nav a{margin-right:14px;color:#2457a6;text-decoration:none}
.box{background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:12px 16px}
.facts{display:grid;grid-template-columns:repeat(auto-fill,minmax(200px,1fr));gap:6px 18px;margin:14px 0}
.facts div{background:#fff;border:1px solid #e3e6eb;border-radius:5px;padding:6px 10px}\
.facts b{display:block;font-size:.78em;color:#5b6475;font-weight:600}
.warn{background:#fff4e5;border:1px solid #f0b45b;border-left:5px solid #e08a00;border-radius:5px;\
padding:10px 14px;margin:8px 0}
.ok{background:#eef8f0;border:1px solid #9fd3aa;border-left:5px solid #2e9b4a;border-radius:5px;\
padding:10px 14px;margin:8px 0}
.grids{display:grid;grid-template-columns:repeat(auto-fill,minmax(230px,1fr));gap:14px}
figure{margin:0;background:#fff;border:1px solid #dde1e7;border-radius:6px;padding:8px;text-align:center}
figure img{max-width:100%;height:auto}img.pixel{image-rendering:pixelated}.grids img.pixel{width:100%}
.latest img.pixel{width:340px}
figcaption{font-size:.85em;color:#5b6475;margin-top:4px}
.plots figure{margin:0 0 14px}.charts{margin-top:14px}\
.latest{display:flex;gap:18px;align-items:flex-start;flex-wrap:wrap}.latest figure{max-width:420px}
table{border-collapse:collapse;background:#fff;font-size:.9em}\
th,td{border:1px solid #e1e4ea;padding:4px 8px;text-align:left;vertical-align:top}
thead th{background:#eef0f4}.cfgs{display:flex;flex-wrap:wrap;gap:12px;align-items:flex-start}
table.cfg caption{text-align:left;font-weight:700;padding:2px 0}\
table.cfg th{font-weight:500;color:#3b4354;background:#f7f8fa}
table.metrics{width:100%}td.num{font-family:"DejaVu Sans Mono",monospace;white-space:pre-wrap}\
td.small{font-size:.85em;color:#4a5263}td.when{white-space:nowrap}
.note{color:#5b6475;font-style:italic}code{background:#eef0f4;padding:1px 4px;border-radius:3px}
footer{margin-top:36px;color:#7a8292;font-size:.85em}
"""


def render_html(run: dict[str, Any]) -> str:
    """The page for what :func:`read_run` returned, as one HTML string."""
    cfg, rows, run_dir = run["config"], run["rows"], run["run_dir"]
    loss = cfg.get("loss") if isinstance(cfg.get("loss"), dict) else {}
    train_cfg = cfg.get("train") if isinstance(cfg.get("train"), dict) else {}
    data_cfg = cfg.get("data") if isinstance(cfg.get("data"), dict) else {}
    d_loss = str(loss.get("d_loss", "bce"))
    warnings = find_warnings(rows, run["metrics"], d_loss)
    name = run_dir.resolve().name
    last_step = rows[-1]["step"] if rows else None
    planned = train_cfg.get("steps")
    old_translation = isinstance(cfg.get("system"), str) and "train" not in cfg  # gankit 0.1's flat translate config
    translation = old_translation or cfg.get("model") in I2I_SYSTEMS
    if old_translation:
        planned = cfg.get("steps")
        data_name, losses = f"task {cfg.get('task', '?')}", f"the {cfg['system']} system's"
    elif cfg.get("model") in I2I_SYSTEMS:  # an image-to-image run: its task section names the data
        task = cfg.get("task") if isinstance(cfg.get("task"), dict) else {}
        data_name, losses = f"task {task.get('name', '?')}", f"the {cfg['model']} system's"
    else:
        data_name, losses = data_cfg.get("name", "?"), f"D {d_loss}, G {loss.get('g_loss', '?')}"

    facts = [("preset", cfg.get("preset", "?")), ("data", data_name),
             ("losses", losses),
             ("steps logged", f"{last_step if last_step is not None else 0}" + (f" of {planned}" if planned else "")),
             ("sample grids", len(run["grids"])), ("metrics recorded", ", ".join(sorted(run["metrics"])) or "none"),
             ("checkpoint", f"{run['checkpoint'].stat().st_size / 1e6:.1f} MB" if run["checkpoint"] else "none yet")]
    if rows:
        _, lrs = _series(rows, "lr_g")
        lrs = [v for v in lrs if math.isfinite(v)]
        if lrs:
            facts.append(("lr_g", f"{lrs[0]:.3g}" if lrs[0] == lrs[-1] else f"{lrs[0]:.3g} → {lrs[-1]:.3g}"))
    facts_html = "".join(f"<div><b>{_e(k)}</b>{_e(v)}</div>" for k, v in facts)

    if warnings:
        warn_html = "".join(f'<div class="warn" role="alert"><b>Warning.</b> {_e(w)}</div>' for w in warnings)
    else:
        judged = ("the curves and metrics" if len(rows) >= MIN_ROWS
                  else f"the metrics (only {len(rows)} steps logged: too few to judge the curves)")
        warn_html = (f'<div class="ok">No known failure seen in {_e(judged)}: checked for D winning outright, '
                     "collapsed modes or classes, and non-finite values.</div>")

    latest = ""
    latest_step = f" (step {run['grids'][-1][0]})" if run["grids"] else ""
    if run["latest"] is not None:
        data = run["latest"].read_bytes()
        if _png_size(data):
            latest = (f'<div class="latest"><figure>{_img(data, "latest sample grid", "grid")}'
                      f"<figcaption>{_e(run['latest'].name)}: the latest grid{latest_step}</figcaption></figure></div>")

    picked = pick_grids(run["grids"])
    figs, bad = [], []
    for step, path in picked:
        data = path.read_bytes()
        if not _png_size(data):
            bad.append(path.name)
            continue
        figs.append(f"<figure>{_img(data, f'sample grid at step {step}', 'grid')}"
                    f"<figcaption>step {step}</figcaption></figure>")
    if figs:
        shown = (f"{len(figs)} of {len(run['grids'])} grids, evenly spaced over the run"
                 if len(run["grids"]) > len(picked) else f"all {len(figs)} grid{'s' if len(figs) != 1 else ''}")
        source = "the same test inputs" if translation else "the same fixed noise batch"
        grids_html = (f"<p class='sub'>From {source} at each snapshot ({_e(shown)}).</p>"
                      f"<div class='grids'>{''.join(figs)}</div>")
    else:
        grids_html = ("<p class='note'>No sample grids yet: gankit train writes samples-NNNNNN.png "
                      "every train.snapshot_every steps.</p>")
    if bad:
        grids_html += f"<p class='note'>Not PNG images, left out: {_e(', '.join(bad))}.</p>"

    curves = curve_pngs(rows, d_loss)
    if curves:
        curves_html = "<div class='plots'>" + "".join(
            f"<figure>{_img(png, title, 'plot')}<figcaption>{_e(caption)}</figcaption></figure>"
            for title, caption, png in curves
        ) + "</div>"
    else:
        curves_html = ("<p class='note'>No statistics logged yet: stats.jsonl gets its first lines "
                       "at step train.log_every.</p>")

    desc = cfg.get("description")
    generated = time.strftime("%Y-%m-%d %H:%M:%S")
    return f"""<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>gankit report: {_e(name)}</title>
<link rel="icon" href="data:,">
<style>{_CSS}</style>
</head>
<body>
<main>
<h1>Run {_e(name)}</h1>
<p class="sub">{_e(desc) if desc else ""}</p>
<nav><a href="#warnings">Warnings</a><a href="#samples">Samples over time</a><a href="#curves">Curves</a>\
<a href="#metrics">Metrics</a><a href="#config">Config</a></nav>
<div class="facts">{facts_html}</div>
<h2 id="warnings">Warnings</h2>
{warn_html}
{latest}
<h2 id="samples">Samples over time</h2>
{grids_html}
<h2 id="curves">Curves</h2>
{curves_html}
<h2 id="metrics">Metrics</h2>
{_metrics_html(run["metrics"])}
<h2 id="config">Config</h2>
{_config_html(cfg)}
<footer>Written by gankit report at {_e(generated)} from {_e(run_dir)}. \
Self-contained: every picture is embedded in this file.</footer>
</main>
</body>
</html>
"""


def write_atomically(target: Path, text: str) -> None:
    """Write ``text`` to ``target`` through a temporary file beside it and a rename: readers see the old page or
    the new one, never half of one, and a failed write (a full disk) leaves no temporary file behind."""
    with written_atomically(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_report(run_dir: str | os.PathLike, out: str | os.PathLike | None = None) -> Path:
    """Write the run's HTML report and return its path.

    Args:
        run_dir: a run directory written by ``gankit train`` (config.json, stats.jsonl,
            samples-*.png, optional metric-<name>.jsonl from ``gankit eval``).
        out: where to write; default ``RUN_DIR/report.html``. An existing folder gets
            ``report.html`` inside it; missing parent folders are made.

    Returns:
        The path of the page written (replaced atomically if it existed).

    Raises:
        UserError: the run directory or its config.json is missing, or a JSON file in it is
            malformed (the message names the file and line).

    Example:
        >>> from gankit.report import write_report                     # doctest: +SKIP
        >>> write_report("runs/00000-quick")                           # doctest: +SKIP
        PosixPath('runs/00000-quick/report.html')
    """
    run = read_run(run_dir)
    target = Path(out) if out is not None else run["run_dir"] / REPORT_NAME
    if target.is_dir():
        target = target / REPORT_NAME
    page = render_html(run)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        write_atomically(target, page)
    except OSError as e:
        raise UserError(
            f"cannot write the report to {str(target)!r}: {e.strerror or e}; expected a writable path"
        ) from None
    return target
