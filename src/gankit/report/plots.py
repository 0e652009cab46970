"""The report's pictures: loss, verdict and gradient-norm curves and histogram bar charts as PNG bytes.

matplotlib is imported lazily and used without pyplot (no global state, no backend switch).
"""

from __future__ import annotations

import io
import math
import struct
from typing import Sequence

from gankit.report.diagnose import _finite

_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_VERDICTS = {"bce": ("D_real", "D_fake")}
_SCORES = ("score_real", "score_fake")


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
