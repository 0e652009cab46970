"""The report's warnings: pure functions of the rows of stats.jsonl and of metric records.

:func:`warn_d_wins`, :func:`warn_mode_collapse` and :func:`warn_nonfinite` each judge one known
failure and return a sentence with the numbers and what to try (or nothing); :func:`find_warnings`
runs all three. Their thresholds are the constants below and are explained in docs/report.md.
Nothing here reads files or draws.
"""

from __future__ import annotations

import math
from typing import Any, Sequence

# Thresholds of the warnings (docs/report.md says why each is where it is).
TAIL = 0.2  # the warnings on curves judge the last 20% of the logged steps
MIN_ROWS = 10  # fewer logged steps than this: too few to judge the curves
D_WIN_REAL = 0.95  # bce: mean D(x) above this over the tail ...
D_WIN_FAKE = 0.05  # ... and mean D(G(z)) below this: D separates real from generated almost always
D_WIN_LOSS = 0.05  # hinge / ls: mean loss_D below this over the tail (chance: 2 for hinge, 0.25 for ls) ...
# ... while loss_G's mean over the tail is above its mean over the 20% of steps before it.
MIN_COVERAGE = 0.5  # modes / classes covered below half of what a perfect generator would cover
MAX_CLASS_KL = 0.5  # nats: KL(class histogram || uniform); spread evenly over 6 of 10 classes it is 0.51


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
