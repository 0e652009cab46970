"""Mode collapse over training: the plain GAN (``ring8-vanilla``) against gankit's ``ring8`` preset.

The data is ``ring8``: 8 Gaussians of std 0.01 on a circle of radius 1 (scaled to [-1, 1] by 1/1.03
for training, so radius 0.971 and std 0.0097 in model units). Goodfellow et al. (2014), Theorem 1:
the global optimum of the game is p_g = p_data, so a G at the optimum puts mass on all 8 modes. What
training reaches is another matter; the paper itself names the "Helvetica scenario" (G maps many z
to the same x) as a failure of G trained too far ahead of D. This experiment watches it happen:

- both presets are trained by gankit's own trainer, with the same seed, in segments
  (``train(cfg, steps=s1)``, then ``train(resume=run_dir, steps=s2)``, ...; a resumed run continues
  bitwise where an uninterrupted one would, so the segments change nothing but the pictures);
- after each segment 2,500 samples of G_ema (the same noise, seed 0, as ``gankit eval``) are scored
  with :func:`gankit.metrics.mode_coverage`, the VEEGAN / PacGAN protocol of
  ``docs/mode-collapse.md``: a sample is high quality within 3 std of its nearest centre, a mode is
  covered when at least one high-quality sample falls on it;
- 2,500 points of p_data itself are scored the same way: what a G at the optimum would score. For a
  2-D isotropic Gaussian the share within 3 std is 1 - exp(-9/2) = 98.89%.

The seed is 2, and training is pinned to fp32 on one CPU thread (``train.precision=fp32``,
``train.threads=1``, ``train.device=cpu`` also where a GPU is present). Whether a given seed of the
plain GAN collapses depends on float rounding: on the 2-core reference machine (2026-12-06) seeds 0-9
of ``ring8-vanilla`` covered 7, 8, 0, 6, 8, 7, 8, 8, 8, 8 of 8 modes after 2,000 steps in fp32, and
7, 8, 8, 8, 8, 1, 7, 7, 8, 8 under bf16 autocast, which ``precision=auto`` picks on CPUs with native
bf16. Pinning fp32 makes the experiment the same on CPUs with and without native bf16; seed 2 is the
seed that collapses there. The numbers are this experiment's own, not the benchmark record's.

``ring8-vanilla`` runs its full schedule (2,000 steps). The ``ring8`` preset is trained to 4,000 of
its 20,000 steps of 512, with its own learning-rate schedule (Adam 1e-3 divided by 1.00023 per step,
so 4.0e-4 at step 4,000 instead of 1e-5 at 20,000) and its G_ema. Its full schedule takes several
minutes on one thread of the 2-core reference machine, too long for a theory experiment's budget of
about 3 minutes on a machine shared with other jobs. 4,000 steps keep the part that matters here
(every mode covered); the preset's last 16,000 steps mostly sharpen the modes (docs/mode-collapse.md:
96% to 98% high quality over 10 seeds at 20,000 steps).
"""

from __future__ import annotations

import math
import textwrap
import time
from pathlib import Path

import numpy as np
import torch

from gankit.progress import progress_bar
from gankit.theory import claim
from gankit.errors import written_atomically

SEED = 2  # train.seed of both presets: the plain GAN collapses with it in fp32 (module docstring)
N_SAMPLES = 2500  # samples per snapshot (VEEGAN / PacGAN protocol)
SAMPLE_SEED = 0  # noise seed of the samples: evaluate(run, metrics="modes", seed=0) draws the same ones
N_SIGMA = 3.0  # high-quality radius in standard deviations (gankit.metrics.modes.N_SIGMA)
HQ_GAUSSIAN_2D = 1.0 - math.exp(-N_SIGMA ** 2 / 2)  # P(|x - mu| < 3 std) for a 2-D isotropic Gaussian
PRESETS = ("ring8-vanilla", "ring8")  # the rows of the pictures
# preset -> (steps trained, steps between snapshots); 10 snapshots each.
SCHEDULE = {"ring8-vanilla": (2000, 200), "ring8": (4000, 400)}
QUICK_SCHEDULE = {"ring8-vanilla": (100, 50), "ring8": (100, 50)}
VIEW = 1.5  # scatter panels show [-VIEW, VIEW]^2 (the ring has radius 0.971)
LABELS = {"ring8-vanilla": "ring8-vanilla (plain GAN)", "ring8": "ring8 preset (least squares, 3x128)"}
COLORS = {"ring8-vanilla": "tab:red", "ring8": "tab:blue"}


def score(x: np.ndarray, centers: np.ndarray, std: float) -> dict:
    """gankit's mode metric on samples ``x`` [N, 2], plus where all samples sit (nearest centre, any distance)."""
    from gankit.metrics import mode_coverage

    m = mode_coverage(x, centers, std)
    d = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)) / std  # [N, K] in std units
    nearest = d.argmin(1)  # [N]
    near_counts = np.bincount(nearest, minlength=len(centers))  # [K] every sample, however far
    share = near_counts[near_counts > 0] / len(x)
    return {"modes_covered": int(m["modes_covered"]), "n_modes": int(m["n_modes"]),
            "high_quality": float(m["high_quality"]), "counts": [int(c) for c in m["counts"]],
            "kl": None if math.isnan(m["kl"]) else float(m["kl"]),  # None: no high-quality sample, KL undefined
            "nearest_counts": [int(c) for c in near_counts], "dominant_mode": int(near_counts.argmax()),
            "dominant_share": float(near_counts.max() / len(x)),
            "effective_modes": float(np.exp(-(share * np.log(share)).sum())),  # 8 when spread evenly, 1 on one mode
            "median_distance_std": float(np.median(d[np.arange(len(x)), nearest]))}


def train_with_snapshots(preset: str, steps: int, every: int, runs: Path, centers: np.ndarray, std: float,
                         bar=None) -> dict:
    """Train ``preset`` (seed SEED, one thread) to ``steps`` in segments of ``every``; score G_ema after each.

    ``bar``: a progress bar (:func:`gankit.progress.progress_bar`) that advances by ``every`` per segment.
    """
    from gankit.config import apply_overrides, load_preset
    from gankit.generate import generate
    from gankit.train import train

    # fp32 on one CPU thread: the documented numbers on CPUs with and without native bf16; one grid per segment
    cfg = apply_overrides(load_preset(preset), [f"train.seed={SEED}", "train.threads=1", "train.device=cpu",
                                                "train.precision=fp32", f"train.snapshot_every={every}"])
    t0 = time.perf_counter()
    result, snaps, samples = None, [], []
    for target in range(every, steps + 1, every):
        report = target + every > steps  # one report.html, after the last segment, not one per segment
        if result is None:
            result = train(cfg, out=runs, steps=target, progress=False, report=report)
        else:
            result = train(resume=result.run_dir, steps=target, progress=False, report=report)
        assert result.step == target, (preset, result.step, target)
        x = generate(result.G_ema, N_SAMPLES, seed=SAMPLE_SEED).numpy().astype(np.float64)  # [N, 2]
        samples.append(x)
        snaps.append({"step": target, **score(x, centers, std)})
        if bar is not None:
            bar.update(every)
    return {"preset": preset, "run_dir": str(result.run_dir), "steps": steps, "every": every,
            "full_steps": cfg.train.steps,  # the preset's own schedule, of which ``steps`` were trained
            "lr_end": float(cfg.optim.lr_g / cfg.optim.lr_decay ** steps),
            "seconds": time.perf_counter() - t0, "snapshots": snaps, "samples": np.stack(samples)}  # [S, N, 2]


def _scatter(ax, x: np.ndarray, centers: np.ndarray, std: float, snap: dict, title: str, point: float) -> None:
    """Samples over the 8 true centres: 3-std circles to scale, covered modes ringed in green."""
    from matplotlib.patches import Circle

    d = np.sqrt(((x[:, None, :] - centers[None, :, :]) ** 2).sum(-1)).min(1) / std
    good = d < N_SIGMA
    ax.scatter(x[~good, 0], x[~good, 1], s=point, c="tab:red", alpha=0.35, lw=0, rasterized=True)
    ax.scatter(x[good, 0], x[good, 1], s=point, c="black", alpha=0.6, lw=0, rasterized=True)
    covered = np.array(snap["counts"]) > 0
    ax.scatter(centers[covered, 0], centers[covered, 1], s=point * 40, facecolors="none", edgecolors="tab:green",
               lw=1.4)
    ax.scatter(centers[~covered, 0], centers[~covered, 1], s=point * 40, facecolors="none", edgecolors="0.6",
               lw=1.0, ls="--")
    for c in centers:
        ax.add_patch(Circle(tuple(c), N_SIGMA * std, fill=False, color="tab:blue", lw=0.8))
    outside = int((np.abs(x) > VIEW).any(1).sum())
    if outside:
        ax.text(0.03, 0.03, f"{outside} outside view", transform=ax.transAxes, fontsize=7, color="0.3")
    ax.set_xlim(-VIEW, VIEW)
    ax.set_ylim(-VIEW, VIEW)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=8.5)


def _title(snap: dict) -> str:
    return f"step {snap['step']}: {snap['modes_covered']}/8 modes\n{100 * snap['high_quality']:.1f}% high quality"


def _legend_handles(point: float):
    from matplotlib.lines import Line2D

    return [Line2D([], [], ls="", marker="o", ms=4, color="black",
                   label="sample within 3 std of a centre (high quality)"),
            Line2D([], [], ls="", marker="o", ms=4, color="tab:red", alpha=0.6, label="other sample"),
            Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec="tab:green", mew=1.4, label="mode covered"),
            Line2D([], [], ls="", marker="o", ms=9, mfc="none", mec="0.6", label="mode missed"),
            Line2D([], [], ls="", marker="o", ms=5, mfc="none", mec="tab:blue", label="3-std circle (to scale)")]


def _plot_grid(runs: dict, centers: np.ndarray, std: float, path: Path, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    ncol = max(len(r["snapshots"]) for r in runs.values())
    width = max(1.65 * ncol + 0.5, 9.0)  # wide enough for the title and the legend with few snapshots
    fig, axes = plt.subplots(len(PRESETS), ncol, figsize=(width, 2.2 * len(PRESETS) + 1.0), dpi=dpi, squeeze=False)
    for row, preset in enumerate(PRESETS):
        r = runs[preset]
        for col in range(ncol):
            ax = axes[row, col]
            if col >= len(r["snapshots"]):
                ax.axis("off")
                continue
            snap = r["snapshots"][col]
            _scatter(ax, r["samples"][col], centers, std, snap, _title(snap), point=2.0)
        axes[row, 0].set_ylabel(LABELS[preset].replace(" (", "\n("), fontsize=9)
    fig.legend(handles=_legend_handles(2.0), loc="lower center", ncol=5, fontsize=8, frameon=False)
    v, b = runs["ring8-vanilla"], runs["ring8"]
    title = (f"{N_SAMPLES:,} samples of G over training, seed {SEED}: ring8-vanilla ({v['steps']:,} steps, "
             f"a snapshot every {v['every']:,}) and the ring8 preset ({b['steps']:,} of its {b['full_steps']:,} "
             f"steps, every {b['every']:,})")
    lines = textwrap.wrap(title, width=int(width * 12))  # ~12 characters of 10-pt text per inch: never cut off
    fig.suptitle("\n".join(lines), fontsize=10)
    fig.tight_layout(rect=(0, 0.06, 1, 0.97 - 0.05 * (len(lines) - 1)), w_pad=0.3, h_pad=1.2)
    with written_atomically(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


LINE_STYLES = {"ring8-vanilla": {"marker": "s", "ms": 6, "ls": "--", "mfc": "none", "zorder": 3},
               "ring8": {"marker": "o", "ms": 3.5, "ls": "-", "zorder": 2}}


def _plot_modes(runs: dict, ref: dict, path: Path, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(10, 3.9), dpi=dpi)
    for preset in PRESETS:
        r = runs[preset]
        steps = [s["step"] for s in r["snapshots"]]
        # distinct markers and dashes, so that two curves on the same values (both runs at 0 early on) both show
        style = dict(color=COLORS[preset], label=LABELS[preset], **LINE_STYLES[preset])
        a1.plot(steps, [s["modes_covered"] for s in r["snapshots"]], **style)
        a2.plot(steps, [100 * s["high_quality"] for s in r["snapshots"]], **style)
    a1.axhline(8, color="black", ls="--", lw=1, label="all 8 modes (p_g = p_data)")
    a2.axhline(100 * ref["high_quality"], color="black", ls="--", lw=1,
               label=f"p_data's own samples: {100 * ref['high_quality']:.1f}%")
    a1.set_ylim(-0.4, 8.6)
    a1.set_yticks(range(9))
    a1.set_ylabel("modes covered (of 8)")
    a2.set_ylim(-3, 103)
    a2.set_ylabel("high-quality samples (%)")
    a1.legend(fontsize=8, loc="center right")  # between the two lines, right of where the vanilla one ends
    a2.legend(fontsize=8, loc="upper left", bbox_to_anchor=(0, 0.93))  # under the p_data line
    for ax in (a1, a2):
        ax.set_xlabel("training step")
        ax.grid(alpha=0.3)
    a1.set_title(f"modes covered, {N_SAMPLES:,} samples per snapshot", fontsize=10)
    a2.set_title("share of samples within 3 std of a mode centre", fontsize=10)
    fig.tight_layout()
    with written_atomically(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _animate(runs: dict, centers: np.ndarray, std: float, path: Path) -> None:
    """GIF: the two presets side by side, one frame per snapshot (the k-th snapshot of each)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    n = max(len(r["snapshots"]) for r in runs.values())
    images = []
    for k in range(n):
        fig, axes = plt.subplots(1, 2, figsize=(7.2, 4.3), dpi=90)
        for ax, preset in zip(axes, PRESETS):
            r = runs[preset]
            j = min(k, len(r["snapshots"]) - 1)
            snap = r["snapshots"][j]
            _scatter(ax, r["samples"][j], centers, std, snap,
                     f"{LABELS[preset]}\n{_title(snap).replace(chr(10), ', ')}", point=3.0)
        fig.legend(handles=_legend_handles(3.0)[:4], loc="lower center", ncol=2, fontsize=7.5, frameon=False)
        fig.suptitle(f"ring8, seed {SEED}: snapshot {k + 1} of {n} ({100 * (k + 1) // n}% of each run)", fontsize=10)
        fig.tight_layout(rect=(0, 0.1, 1, 0.97))
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        images.append(Image.fromarray(rgb.copy()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
        plt.close(fig)
    durations = [700] * (len(images) - 1) + [2500]  # hold the last frame
    with written_atomically(path) as tmp:
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)


def run(out: Path, quick: bool = False, progress: bool = False) -> dict:
    """Train both presets with snapshots, draw them, and return modes covered over training."""
    from gankit.config import load_preset
    from gankit.data import build_dataset
    from gankit.evaluate import evaluate

    out = Path(out)
    t0 = time.perf_counter()
    data = build_dataset(load_preset("ring8").data, "train")
    centers = np.asarray(data.info["centers"], dtype=np.float64)  # [8, 2] in model units
    std = float(data.info["std"])
    idx = torch.randperm(len(data.x), generator=torch.Generator().manual_seed(SAMPLE_SEED))[:N_SAMPLES]
    ref = score(data.x[idx].numpy().astype(np.float64), centers, std)  # p_data itself, the optimum's score

    schedule = QUICK_SCHEDULE if quick else SCHEDULE
    with progress_bar(sum(schedule[p][0] for p in PRESETS), "collapse", enabled=progress) as bar:
        runs = {}
        for p in PRESETS:
            bar.set_postfix_str(p)
            runs[p] = train_with_snapshots(p, *schedule[p], out / "runs", centers, std, bar=bar)
    # gankit eval on each final checkpoint: the same 2,500 samples, so the same counts.
    evals = {p: evaluate(runs[p]["run_dir"], metrics="modes", n=N_SAMPLES, seed=SAMPLE_SEED, record=False)["modes"]
             for p in PRESETS}

    van, best = runs["ring8-vanilla"], runs["ring8"]
    vs, bs, full_steps = van["snapshots"], best["snapshots"], best["full_steps"]
    half = bs[len(bs) // 2:]
    b_end, v_end = bs[-1], vs[-1]
    v_max = max(s["modes_covered"] for s in vs)
    v_modes = [s["modes_covered"] for s in vs]
    v_changes = sum(a != b for a, b in zip(v_modes, v_modes[1:]))  # snapshot intervals where modes covered changed
    v_dominant = [s["dominant_mode"] for s in vs]
    v_moves = sum(a != b for a, b in zip(v_dominant, v_dominant[1:]))  # ... where the most-populated centre changed
    v_eff = max(s["effective_modes"] for s in vs)
    b_kl = b_end["kl"] if b_end["kl"] is not None else math.inf  # no high-quality sample: no KL
    eval_mismatch = sum(abs(evals[p]["modes_covered"] - runs[p]["snapshots"][-1]["modes_covered"])
                        + abs(evals[p]["high_quality"] - runs[p]["snapshots"][-1]["high_quality"]) for p in PRESETS)

    optimum = "8 = every mode of p_data (global optimum p_g = p_data, Theorem 1)"
    claims = [
        claim(f"p_data's own {N_SAMPLES:,} samples (what a G at the optimum scores): modes covered",
              ref["modes_covered"], 8, "= 8", ref["modes_covered"] == 8),
        claim("p_data's own samples: share within 3 std of their centre (closed form 1 - exp(-9/2) for a 2-D Gaussian)",
              ref["high_quality"], HQ_GAUSSIAN_2D, "within 0.01 (2,500 samples: binomial std 0.002)",
              abs(ref["high_quality"] - HQ_GAUSSIAN_2D) < 0.01),
        claim(f"ring8 preset (seed {SEED}, {best['steps']:,} of its {full_steps:,} steps) covers all 8 modes "
              f"at the end", b_end["modes_covered"], optimum, "= 8", b_end["modes_covered"] == 8),
        claim(f"ring8 preset keeps all 8 modes from step {half[0]['step']:,} on; fewest modes over those snapshots",
              min(s["modes_covered"] for s in half), 8, "= 8 at every snapshot of the second half",
              all(s["modes_covered"] == 8 for s in half)),
        claim("ring8 preset: share of high-quality samples at the end", b_end["high_quality"], HQ_GAUSSIAN_2D,
              f"> 0.8 (docs/mode-collapse.md, its {full_steps:,} steps: 0.96 to 0.98 over 10 seeds); below theory: "
              "not converged",
              b_end["high_quality"] > 0.8),
        claim("ring8 preset: KL of its high-quality samples over the modes to uniform, at the end (nats)",
              b_kl, 0.0, f"< 0.05 (p_data's own samples: {ref['kl']:.4f})", b_kl < 0.05),
        claim(f"ring8-vanilla (seed {SEED}, its full {van['steps']:,} steps) misses modes at the end: modes covered",
              v_end["modes_covered"], optimum, "fewer than 8 (mode collapse)", v_end["modes_covered"] < 8),
        claim(f"ring8-vanilla never covers all 8 modes: most modes covered at any of its {len(vs)} snapshots",
              v_max, 8, "fewer than 8 at every snapshot", v_max < 8),
        claim("ring8-vanilla: share of high-quality samples at the end", v_end["high_quality"], HQ_GAUSSIAN_2D,
              "< 0.1 (its samples sit beside the modes, not on them)", v_end["high_quality"] < 0.1),
        claim("ring8-vanilla crowds its samples by few centres: effective number of modes, exp(entropy of the "
              "nearest-centre shares of all samples), largest over the snapshots", v_eff, ref["effective_modes"],
              "< 4 at every snapshot (theory: p_data's own samples' value)", v_eff < 4),
        claim(f"ring8-vanilla does not settle: intervals between its {len(vs)} snapshots where the centre nearest "
              "to most samples changed", v_moves, "0 for a G at rest",
              f"more than half of the {len(vs) - 1} intervals", v_moves > (len(vs) - 1) / 2),
        claim("gankit eval (evaluate(run, metrics='modes', seed=0)) on both final checkpoints agrees with the "
              "snapshots: |modes difference| + |high-quality difference|", eval_mismatch, 0.0, "= 0 (the same samples)",
              eval_mismatch == 0),
    ]

    png, modes_png, gif = out / "collapse.png", out / "collapse-modes.png", out / "collapse.gif"
    npz = out / "collapse-samples.npz"
    np.savez_compressed(npz, centers=centers, std=std, **{f"{p}/samples": runs[p]["samples"].astype(np.float32)
                                                          for p in PRESETS},
                        **{f"{p}/steps": np.array([s["step"] for s in runs[p]["snapshots"]]) for p in PRESETS})
    dpi = 60 if quick else 100
    _plot_grid(runs, centers, std, png, dpi)
    _plot_modes(runs, ref, modes_png, dpi)
    _animate(runs, centers, std, gif)

    def trace(r):
        return ", ".join(str(s["modes_covered"]) for s in r["snapshots"])

    summary = (f"seed {SEED}, {N_SAMPLES:,} samples per snapshot: ring8-vanilla covers {trace(van)} of 8 modes "
               f"at steps {vs[0]['step']}..{vs[-1]['step']} (every {van['every']}; "
               f"{100 * v_end['high_quality']:.1f}% high quality at the end); "
               f"ring8 preset {trace(best)} at steps {bs[0]['step']}..{bs[-1]['step']} "
               f"(every {best['every']}; {100 * b_end['high_quality']:.1f}% high quality); "
               f"p_data itself: {ref['modes_covered']} modes, {100 * ref['high_quality']:.1f}%")
    strip = {p: {k: v for k, v in runs[p].items() if k != "samples"} for p in PRESETS}
    return {"name": "collapse", "summary": summary, "claims": claims,
            "files": [str(png), str(modes_png), str(gif), str(npz)],
            "seed": SEED, "n_samples": N_SAMPLES, "sample_seed": SAMPLE_SEED, "quick": quick,
            "ring8_steps": best["steps"], "ring8_full_steps": full_steps,
            "runs": strip, "p_data": ref,
            "eval": {p: {"modes_covered": evals[p]["modes_covered"], "high_quality": evals[p]["high_quality"],
                         "kl": None if math.isnan(evals[p]["kl"]) else evals[p]["kl"]}
                     for p in PRESETS},
            "vanilla_mode_changes": v_changes, "vanilla_dominant_mode_moves": v_moves,
            "seconds": time.perf_counter() - t0}
