"""``gankit report``: one self-contained HTML page about a training run.

The page shows the run's config, its sample grids over time, the loss curves, D's verdicts
(D(x) and D(G(z)) for the paper's bce game, raw critic scores for the other losses), the gradient
norms, the latest record of each metric written by ``gankit eval``, and a warning for each known
failure the numbers show: D winning outright, a collapsed histogram of modes or classes, and
non-finite values. Every picture is a PNG embedded as a ``data:`` URI; the page loads nothing
else (no scripts, stylesheets, fonts or network), so it can be mailed or archived as one file.

The warnings are pure functions of the rows of ``stats.jsonl`` and of the metric records
(:func:`warn_d_wins`, :func:`warn_mode_collapse`, :func:`warn_nonfinite`, all three through
:func:`find_warnings`); their thresholds are the constants below and are explained in
docs/report.md.

Example:
    >>> from gankit.report import write_report                        # doctest: +SKIP
    >>> write_report("runs/00000-quick")                              # doctest: +SKIP
    PosixPath('runs/00000-quick/report.html')
    >>> write_report("runs/00000-quick", out="/tmp/quick.html")       # doctest: +SKIP
    PosixPath('/tmp/quick.html')
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import struct
import time
from pathlib import Path
from typing import Any, Sequence

from gankit.errors import UserError

REPORT_NAME = "report.html"
MAX_GRIDS = 12  # sample grids shown at most, evenly spaced over the run, first and last included

# Thresholds of the warnings (docs/report.md says why each is where it is).
TAIL = 0.2  # the warnings on curves judge the last 20% of the logged steps
MIN_ROWS = 10  # fewer logged steps than this: too few to judge the curves
D_WIN_REAL = 0.95  # bce: mean D(x) above this over the tail ...
D_WIN_FAKE = 0.05  # ... and mean D(G(z)) below this: D separates real from generated almost always
D_WIN_LOSS = 0.05  # hinge / ls: mean loss_D below this over the tail (chance: 2 for hinge, 0.25 for ls) ...
# ... while loss_G's mean over the tail is above its mean over the 20% of steps before it.
MIN_COVERAGE = 0.5  # modes / classes covered below half of what a perfect generator would cover
MAX_CLASS_KL = 0.5  # nats: KL(class histogram || uniform); spread evenly over 6 of 10 classes it is 0.51

_STEM = re.compile(r"^(?:samples|preview)-(\d+)\.png$")  # GAN / VAE grids; image-to-image previews
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_VERDICTS = {"bce": ("D_real", "D_fake")}
_SCORES = ("score_real", "score_fake")


# ----------------------------------------------------------------------------------------------
# Reading a run directory


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything the page shows, read from a run directory.

    Returns:
        dict with ``run_dir`` (Path), ``config`` (dict from config.json), ``rows`` (stats rows,
        sorted by step; [] before the first log), ``grids`` ([(step, Path)] of samples-*.png in
        step order), ``latest`` (Path of samples.png or None), ``metrics`` ({name: [records in
        file order]}) and ``checkpoint`` (Path or None).

    Raises:
        UserError: the folder or its config.json is missing, or a JSON file in it is malformed.
    """
    run = Path(run_dir)
    expected = "expected a run directory written by gankit train (config.json, stats.jsonl, samples-*.png)"
    if not run.exists():
        raise UserError(f"run directory {str(run)!r} does not exist; {expected}")
    if not run.is_dir():
        raise UserError(f"{str(run)!r} is a file, not a run directory; {expected}")
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{str(run)!r} has no config.json, so it is not a gankit run directory; {expected}")
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(
            f"{cfg_path} is not valid JSON ({_reason(e)}); expected the config gankit train writes"
        ) from None
    if not isinstance(config, dict):
        raise UserError(
            f"{cfg_path} holds a JSON {type(config).__name__}, not an object; expected the config gankit train writes"
        )
    stats_path = run / "stats.jsonl"
    rows = read_stats_rows(stats_path) if stats_path.is_file() else []
    grids = sorted((int(m.group(1)), p) for p in run.iterdir() if (m := _STEM.match(p.name)) and p.is_file())
    metrics = {}
    for p in sorted(run.glob("metric-*.jsonl")):
        records = [obj for _, obj in _read_jsonl(p, "one JSON object per line, as gankit eval writes")]
        if records:
            metrics[p.name[len("metric-"):-len(".jsonl")]] = records
    latest = run / "samples.png"
    if not latest.is_file():  # an image-to-image run's latest picture
        latest = run / "preview.png"
    ckpt = run / "checkpoint.pt"
    return {"run_dir": run, "config": config, "rows": rows, "grids": grids,
            "latest": latest if latest.is_file() else None, "metrics": metrics,
            "checkpoint": ckpt if ckpt.is_file() else None}


def read_stats_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a stats.jsonl file, checked and sorted by step.

    Each line must be a JSON object with an integer ``step`` and numbers (or null, NaN, inf) for
    the other fields. Raises UserError naming the file and line of the first one that is not.
    """
    path = Path(path)
    what = "one JSON object per line with an integer step and numbers (loss_D, loss_G, ...), as gankit train writes"
    rows = []
    for n, row in _read_jsonl(path, what):
        step = row.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise UserError(f"{path} line {n}: step is {step!r}; expected {what}")
        for k, v in row.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise UserError(f"{path} line {n}: {k} is {v!r}, not a number; expected {what}")
        rows.append(row)
    return sorted(rows, key=lambda r: r["step"])


def _read_jsonl(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of a JSON-lines file; blank lines are skipped."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; expected {what}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path} line {n} is not valid JSON ({_reason(e)}); expected {what}") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path} line {n} is a JSON {type(obj).__name__}, not an object; expected {what}")
        out.append((n, obj))
    return out


def _reason(e: Exception) -> str:
    return f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)


# ----------------------------------------------------------------------------------------------
# Warnings: pure functions of stats rows and metric records


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _mean(rows: Sequence[dict], key: str) -> float | None:
    vals = [r[key] for r in rows if _finite(r.get(key))]
    return sum(vals) / len(vals) if vals else None


def _tail(rows: Sequence[dict], share: float = TAIL) -> tuple[list[dict], list[dict]]:
    """The last ``share`` of the rows, and the same number of rows just before them."""
    k = max(1, math.ceil(share * len(rows)))
    return list(rows[-k:]), list(rows[max(0, len(rows) - 2 * k): len(rows) - k])


def warn_d_wins(rows: Sequence[dict], d_loss: str = "bce") -> str | None:
    """D winning outright: a sentence with the numbers, or None.

    bce runs (rows with D_real / D_fake): over the last 20% of the logged steps the mean D(x) is
    above 0.95 and the mean D(G(z)) below 0.05. hinge and ls runs: the mean loss_D of that tail is
    below 0.05 (it is 2 and 0.25 where D cannot tell real from generated) while the mean loss_G
    rises from the 20% of steps before the tail. Wasserstein critics have no such floor and are not
    judged. Fewer than 10 logged steps are not judged.

    Example:
        >>> rows = [{"step": s, "D_real": 0.99, "D_fake": 0.01} for s in range(1, 101)]
        >>> warn_d_wins(rows).split(":")[0]
        'D is winning outright'
        >>> warn_d_wins([{**r, "D_real": 0.7, "D_fake": 0.3} for r in rows]) is None
        True
    """
    rows = [r for r in rows if isinstance(r, dict)]
    if len(rows) < MIN_ROWS:
        return None
    tail, before = _tail(rows)
    span = f"over the last {round(TAIL * 100)}% of the logged steps (steps {tail[0]['step']}-{tail[-1]['step']})"
    advice = ("try a lower optim.lr_d or fewer train.d_steps, an R1 penalty (loss.r1_gamma=10), "
              "dropout in D (D.dropout=0.3), or spectral normalisation (D.spectral_norm=true)")
    d_real, d_fake = _mean(tail, "D_real"), _mean(tail, "D_fake")
    if d_real is not None and d_fake is not None:
        if d_real > D_WIN_REAL and d_fake < D_WIN_FAKE:
            return (f"D is winning outright: {span} D(x) averaged {d_real:.3f} and D(G(z)) {d_fake:.3f} "
                    f"(warned above {D_WIN_REAL} and below {D_WIN_FAKE}), so D tells every sample apart and G "
                    f"learns little from it; {advice}.")
        return None
    if d_loss not in ("hinge", "ls"):
        return None
    loss_d, loss_g, loss_g_before = _mean(tail, "loss_D"), _mean(tail, "loss_G"), _mean(before, "loss_G")
    if loss_d is None or loss_g is None or loss_g_before is None:
        return None
    if loss_d < D_WIN_LOSS and loss_g > loss_g_before:
        return (f"D is winning outright: {span} loss_D averaged {loss_d:.4f} (warned below {D_WIN_LOSS}; "
                f"{'2' if d_loss == 'hinge' else '0.25'} where D cannot tell real from generated) while loss_G rose "
                f"from {loss_g_before:.4g} to {loss_g:.4g} over the steps before; {advice}.")
    return None


def _expected_coverage(k: int, n: int | None) -> float:
    """Modes a perfect generator covers with n samples spread uniformly over k modes."""
    if not n or n <= 0:
        return float(k)
    return k * (1.0 - (1.0 - 1.0 / k) ** n)


def warn_mode_collapse(metrics: dict[str, dict | Sequence[dict]]) -> list[str]:
    """Collapsed histograms of modes or classes in the latest metric records: sentences, or [].

    ``metrics`` maps a metric name to its record (or its records, the last one counting), as
    ``gankit eval`` writes them to metric-<name>.jsonl. A ``modes`` record warns when fewer than
    half the modes are covered; a ``classes`` record when fewer than half the digit classes have
    samples, or KL(class histogram || uniform) is above 0.5 nats. "Half" is of what a perfect
    generator would cover with the record's sample count (all the modes for the toy sets; fewer
    for stacked MNIST's 1,000 modes and a small sample).

    Example:
        >>> warn_mode_collapse({"modes": {"modes_covered": 2, "n_modes": 8, "n_samples": 2500}})[0][:40]
        'Mode collapse: the latest modes metric f'
        >>> warn_mode_collapse({"modes": {"modes_covered": 8, "n_modes": 8, "n_samples": 2500}})
        []
    """
    out = []
    advice = ("try PacGAN packing (D.pac=2), minibatch discrimination (D.mbd=8), a lower optim.lr_g, or "
              "another loss (loss.d_loss=ls, see docs/mode-collapse.md)")
    for name in ("modes", "classes"):
        rec = metrics.get(name)
        if isinstance(rec, (list, tuple)):
            rec = rec[-1] if rec else None
        if not isinstance(rec, dict):
            continue
        when = f" (step {_record_step(rec)})" if _record_step(rec) is not None else ""
        n = rec.get("n_samples") if isinstance(rec.get("n_samples"), int) else None
        if name == "classes" and _finite(rec.get("classes_covered")) and _finite(rec.get("n_classes")):
            covered, k, kl = int(rec["classes_covered"]), int(rec["n_classes"]), rec.get("kl")
            low = k > 0 and covered < MIN_COVERAGE * _expected_coverage(k, n)
            uneven = _finite(kl) and kl > MAX_CLASS_KL
            if low or uneven:
                kl_text = f"{kl:.3f} nats" if _finite(kl) else "not recorded"
                out.append(f"Mode collapse over classes: the latest classes metric{when} found samples in {covered} "
                           f"of {k} classes with KL to uniform {kl_text} (warned below {round(MIN_COVERAGE * 100)}% "
                           f"of the classes or above {MAX_CLASS_KL} nats); {advice}.")
            continue
        if _finite(rec.get("modes_covered")) and _finite(rec.get("n_modes")):
            covered, k = int(rec["modes_covered"]), int(rec["n_modes"])
            reach = _expected_coverage(k, n) if k > 0 else 0.0
            if k > 0 and covered < MIN_COVERAGE * reach:
                hq = rec.get("high_quality")
                hq_text = f", {hq * 100:.0f}% of the samples high quality" if _finite(hq) else ""
                reach_text = ("" if reach > k - 0.5
                              else f" (a perfect generator reaches about {reach:.0f} with {n} samples)")
                out.append(f"Mode collapse: the latest {name} metric{when} found {covered} of {k} modes covered "
                           f"({covered / k * 100:.0f}%{hq_text}){reach_text}, below the {round(MIN_COVERAGE * 100)}% "
                           f"threshold; {advice}.")
    return out


def warn_nonfinite(rows: Sequence[dict]) -> str | None:
    """NaN, infinite or null values in the stats rows: a sentence with the first one, or None.

    Example:
        >>> warn_nonfinite([{"step": 1, "loss_D": 0.7}, {"step": 2, "loss_D": float("nan")}])[:52]
        'Non-finite values in stats.jsonl: loss_D was nan at '
        >>> warn_nonfinite([{"step": 1, "loss_D": 0.7}]) is None
        True
    """
    first, count, names = None, 0, []
    for r in rows:
        for k, v in r.items():
            if k == "step" or _finite(v):
                continue
            count += 1
            if k not in names:
                names.append(k)
            if first is None:
                first = (r.get("step"), k, "null" if v is None else str(v))
    if first is None:
        return None
    step, key, val = first
    return (f"Non-finite values in stats.jsonl: {key} was {val} at step {step}, the first of {count} such value"
            f"{'s' if count != 1 else ''} (in {', '.join(names)}), so training diverged there; try lower "
            "optim.lr_d and optim.lr_g, a gradient penalty (loss.gp_lambda or loss.r1_gamma), "
            "or train.precision=fp32.")


def find_warnings(rows: Sequence[dict], metrics: dict[str, dict | Sequence[dict]] | None = None,
                  d_loss: str = "bce") -> list[str]:
    """All warnings for a run: non-finite values, D winning outright, mode collapse (in that order)."""
    out = [w for w in (warn_nonfinite(rows), warn_d_wins(rows, d_loss)) if w]
    return out + warn_mode_collapse(metrics or {})


def _record_step(rec: dict) -> int | None:
    """The training step a metric record was taken at: its own "step", else its protocol's."""
    proto = rec.get("protocol")
    step = rec.get("step", proto.get("step") if isinstance(proto, dict) else None)
    return step if isinstance(step, int) and not isinstance(step, bool) else None


# ----------------------------------------------------------------------------------------------
# Pictures


def moving_average(values: Sequence[float], window: int) -> list[float]:
    """Centred moving average over ``window`` points that skips non-finite values (NaN where none).

    Example:
        >>> moving_average([1, 2, 3, float("nan"), 5], 3)
        [1.5, 2.0, 2.5, 4.0, 5.0]
    """
    import numpy as np

    y = np.asarray([v if _finite(v) else np.nan for v in values], dtype=float)
    n, h = len(y), max(0, window // 2)
    ok = np.isfinite(y)
    s = np.concatenate([[0.0], np.cumsum(np.where(ok, y, 0.0))])
    c = np.concatenate([[0], np.cumsum(ok)])
    i = np.arange(n)
    lo, hi = np.clip(i - h, 0, n), np.clip(i + h + 1, 0, n)
    cnt = c[hi] - c[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(cnt > 0, (s[hi] - s[lo]) / np.maximum(cnt, 1), np.nan)
    return out.tolist()


def smoothing_window(n: int) -> int:
    """Points averaged by the curves' smoothing: about 1/25 of the run, odd, between 1 and 201."""
    w = max(1, min(201, n // 25))
    return w if w % 2 else w + 1


def _figure(height: float = 3.2):
    from matplotlib.figure import Figure  # no pyplot: no global state, no backend switch

    fig = Figure(figsize=(10.2, height), dpi=100)
    # fixed margins, not tight_layout: that draws the whole figure once more (half the time of a plot)
    fig.subplots_adjust(left=0.1, right=0.985, top=0.9, bottom=0.5 / height)
    ax = fig.add_subplot(1, 1, 1)
    ax.grid(True, alpha=0.3)
    ax.set_xlabel("step")
    return fig, ax


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()


def _series(rows: Sequence[dict], key: str) -> tuple[list[int], list[float]]:
    steps, vals = [], []
    for r in rows:
        if key in r:
            v = r[key]
            steps.append(r["step"])
            vals.append(float(v) if _finite(v) else math.nan)
    return steps, vals


def _plot(ax, rows: Sequence[dict], key: str, label: str, color: str, log: bool = False) -> bool:
    steps, vals = _series(rows, key)
    if log:
        vals = [v if v > 0 else math.nan for v in vals]
    if not any(math.isfinite(v) for v in vals):
        return False
    few = len(vals) <= 20
    w = smoothing_window(len(vals))
    if w > 1:
        ax.plot(steps, vals, color=color, alpha=0.25, linewidth=0.8)
        ax.plot(steps, moving_average(vals, w), color=color, linewidth=1.6, label=f"{label} (mean of {w} steps)")
    else:
        ax.plot(steps, vals, color=color, linewidth=1.4, marker="o" if few else None, markersize=3, label=label)
    return True


def curve_pngs(rows: Sequence[dict], d_loss: str = "bce") -> list[tuple[str, str, bytes]]:
    """The curves as PNGs: [(title, caption, png bytes)] for losses, D's verdicts, gradient norms."""
    if not rows:
        return []
    out = []
    if any("kl" in r for r in rows):  # a VAE run (model=vae): the negative ELBO and its two terms
        fig, ax = _figure()
        drawn = [_plot(ax, rows, "loss", "loss (negative ELBO)", "tab:blue"),
                 _plot(ax, rows, "recon", "recon", "tab:orange"),
                 _plot(ax, rows, "kl", "kl", "tab:green")]
        if any(drawn):
            ax.set_ylabel("nats per example")
            ax.set_title("VAE: negative ELBO = reconstruction + KL")
            ax.legend(loc="best", fontsize=8)
            out.append(("VAE losses",
                        "The VAE's loss per step and its reconstruction and KL terms: faint lines are the "
                        "raw values, solid lines their moving mean.", _png(fig)))
    fig, ax = _figure()
    drawn = [_plot(ax, rows, "loss_D", "loss_D", "tab:blue"), _plot(ax, rows, "loss_G", "loss_G", "tab:orange")]
    for key, color in (("gp", "tab:green"), ("r1", "tab:purple")):
        if any(key in r for r in rows):
            drawn.append(_plot(ax, rows, key, f"{key} penalty (in loss_D)", color))
    if any(drawn):
        ax.set_ylabel("loss")
        ax.set_title(f"Losses ({d_loss} game)")
        ax.legend(loc="best", fontsize=8)
        out.append(("Losses",
                    "loss_D and loss_G per step: faint lines are the raw values, solid lines their moving mean.",
                    _png(fig)))
    real, fake = _VERDICTS.get(d_loss, _SCORES)
    if not any(real in r for r in rows):  # the rows decide: a config edited after training must not hide the curves
        real, fake = (_SCORES if any(_SCORES[0] in r for r in rows) else ("D_real", "D_fake"))
    fig, ax = _figure()
    probs = real == "D_real"
    names = ("D(x)", "D(G(z))") if probs else ("f(x)", "f(G(z))")
    if any([_plot(ax, rows, real, names[0], "tab:blue"), _plot(ax, rows, fake, names[1], "tab:red")]):
        if probs:
            ax.set_ylim(-0.02, 1.02)
            ax.axhline(0.5, color="gray", linestyle="--", linewidth=0.8)
            ax.set_ylabel("probability")
            ax.set_title("D's verdicts: D(x) on real data, D(G(z)) on generated")
            caption = ("Mean probability D gives real and generated samples; 0.5 (dashed) is the equilibrium "
                       "where D cannot tell them apart.")
        else:
            ax.set_ylabel("critic score")
            ax.set_title("Critic scores: f(x) on real data, f(G(z)) on generated")
            caption = f"Mean raw score of D on real and generated samples ({d_loss} loss: no probabilities)."
        ax.legend(loc="best", fontsize=8)
        out.append(("D(x) and D(G(z))" if probs else "Critic scores", caption, _png(fig)))
    fig, ax = _figure()
    if any([_plot(ax, rows, "grad_norm_D", "grad_norm_D", "tab:blue", log=True),
            _plot(ax, rows, "grad_norm_G", "grad_norm_G", "tab:orange", log=True),
            _plot(ax, rows, "grad_norm_E", "grad_norm_E (VAE encoder)", "tab:green", log=True)]):
        ax.set_yscale("log")
        ax.set_ylabel("L2 norm (log scale)")
        ax.set_title("Gradient norms")
        ax.legend(loc="best", fontsize=8)
        out.append(("Gradient norms", "L2 norm of all of D's and of all of G's parameter gradients at each update.",
                    _png(fig)))
    return out


def counts_png(counts: Sequence[float], title: str) -> bytes | None:
    """A bar chart of a histogram of samples per mode or class (None past 100 bars)."""
    if not counts or len(counts) > 100 or not all(_finite(c) for c in counts):
        return None
    fig, ax = _figure(2.4)
    ax.bar(range(len(counts)), counts, color="tab:blue")
    ax.set_xlabel("mode" if "mode" in title else "class")
    ax.set_ylabel("samples")
    ax.set_title(title)
    ax.axhline(sum(counts) / len(counts), color="gray", linestyle="--", linewidth=0.8)
    if len(counts) <= 25:
        ax.set_xticks(range(len(counts)))
    return _png(fig)


def _png_size(data: bytes) -> tuple[int, int] | None:
    if data[:8] != _PNG_MAGIC or data[12:16] != b"IHDR":
        return None
    return struct.unpack(">II", data[16:24])


# ----------------------------------------------------------------------------------------------
# The page


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
    translation = isinstance(cfg.get("system"), str) and "train" not in cfg  # an image-to-image run's flat config
    if translation:
        planned = cfg.get("steps")
        data_name, losses = f"task {cfg.get('task', '?')}", f"the {cfg['system']} system's"
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
        tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        tmp.write_text(page, encoding="utf-8")
        os.replace(tmp, target)
    except OSError as e:
        raise UserError(
            f"cannot write the report to {str(target)!r}: {e.strerror or e}; expected a writable path"
        ) from None
    return target
