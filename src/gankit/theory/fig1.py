"""``gankit theory fig1``: Figure 1 of Goodfellow et al. (2014), measured on gauss1d.

The figure's four panels are: (a) G and D part-way through training; (b) D trained to convergence
for that fixed G, where it becomes D*(x) = p_data(x) / (p_data(x) + p_g(x)) (Prop. 1); (c) after
more G updates, p_g has moved towards p_data; (d) at the end, p_g = p_data and D(x) = 1/2
everywhere. Here every curve is computed: p_data in closed form, p_g exactly from G (z is 1-D and
uniform, gankit.theory.oned), D from the network, D* from the two densities.

Numbers: the largest gap between the converged D of panel (b) and D*, where the densities carry
mass; and how far the final D and D* are from 1/2, weighted by p_data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gankit.progress import progress_bar
from gankit.theory import claim
from gankit.theory import oned
from gankit.errors import written_atomically

MASS_FLOOR = 0.05  # D and D* are compared where p_data + p_g exceeds this share of its maximum


def run(out: Path, quick: bool = False, progress: bool = False) -> dict:
    cfg = oned.preset(quick)
    total = cfg.train.steps
    steps = sorted({0, *(int(total * f) for f in (0.02, 0.05, 0.1, 0.2, 0.3, 0.45, 0.6, 0.8, 1.0))})
    d_steps = 300 if quick else 1500  # panel (b): D trained alone for a fixed G
    with progress_bar(total + d_steps, "fig1", enabled=progress) as bar:  # the GAN's steps, then D's alone
        snaps = oned.train_snapshots(cfg, out / "fig1-run", steps, bar=bar)
        # (b): the snapshot where p_g is still clearly off, its D trained to convergence with G held fixed.
        early = next((s for s in snaps if s.step >= total * 0.1), snaps[1])
        d_fixed_g = oned.train_d_to_convergence(early.G, early.D, steps=d_steps, bar=bar)
    x, p = oned.x_grid(), oned.data_density(oned.x_grid())
    d_conv = oned.discriminator_on(d_fixed_g, x)
    d_star = oned.optimal_d(p, early.p_g)
    mix = (p + early.p_g) / (p + early.p_g).sum()  # where D's training samples fall: (p_data + p_g) / 2
    where = mix > 0
    gap = float(np.sum(mix[where] * np.abs(d_conv - d_star)[where]))  # mean |D - D*| over those samples
    gap_live = float(np.sum(mix[where] * np.abs(early.d_x - d_star)[where]))  # the same for the D of training
    gap_max = float(np.nanmax(np.abs(d_conv - d_star)[(p + early.p_g) > MASS_FLOOR * (p + early.p_g).max()]))

    last = snaps[-1]
    w = p / p.sum()
    d_final_off = float(np.sum(w * np.abs(last.d_x - 0.5)))
    d_star_final = oned.optimal_d(p, last.p_g)
    d_star_off = float(np.nansum(w * np.abs(d_star_final - 0.5)))
    middle = next((s for s in snaps if s.step >= total * 0.3), snaps[len(snaps) // 2])

    files = [str(_figure(out / "fig1.png", x, p, [(early, early.d_x, "(a) during training"),
                                                  (early, d_conv, "(b) D trained to convergence, G fixed"),
                                                  (middle, middle.d_x, "(c) after more G updates"),
                                                  (last, last.d_x, "(d) end of training")])),
             str(_animation(out / "fig1.gif", x, p, snaps))]
    claims = [
        claim(f"D trained to convergence for the step-{early.step} G equals D* = p_data/(p_data+p_g) "
              "(mean |D - D*| over (p_data + p_g) / 2)", gap, 0.0,
              f"< 0.1, and < 1/2 of the gap of the D of training at that step ({gap_live:.3f})",
              gap < 0.1 and gap < gap_live / 2),
        claim("at the end D(x) is 1/2 (mean |D - 1/2| over p_data)", d_final_off, 0.0, "< 0.1", d_final_off < 0.1),
        claim("at the end D*(x) is near 1/2, i.e. p_g near p_data (mean |D* - 1/2| over p_data)", d_star_off, 0.0,
              "< 0.15 (p_g stays lumpy: a piecewise-linear G gives a piecewise-constant density)", d_star_off < 0.15),
    ]
    return {"name": "fig1",
            "summary": f"gauss1d, {total} steps of {cfg.preset}; converged D vs D*: mean gap {gap:.3f}, "
                       f"largest {gap_max:.3f} (at the jumps of D*, where p_g's support ends)",
            "claims": claims, "files": files, "steps": [s.step for s in snaps], "d_vs_d_star_max": gap_max,
            "d_live_vs_d_star": gap_live,
            "jsd": [oned.jsd(p, s.p_g) for s in snaps]}


def _panel(ax, x, p, snap, d, title: str) -> None:
    d_star = oned.optimal_d(p, snap.p_g)
    keep = (x > 0.3) & (x < 1.15)
    ax.plot(x[keep], p[keep], ":", color="black", lw=2, label="p_data")
    ax.plot(x[keep], snap.p_g[keep], "-", color="tab:green", lw=1.5, label="p_g (from G)")
    ax.set_ylim(0, max(6.0, float(np.nanmax(p)) * 1.3))
    ax.set_xlabel("x")
    ax.set_ylabel("density")
    ax.set_title(f"{title}\nstep {snap.step}", fontsize=9)
    ax2 = ax.twinx()
    ax2.plot(x[keep], d[keep], "--", color="tab:blue", lw=1.5, label="D(x)")
    ax2.plot(x[keep], d_star[keep], "-", color="0.55", lw=0.8, label="D* = p_data/(p_data+p_g)")
    ax2.axhline(0.5, color="0.85", lw=0.8)
    ax2.set_ylim(0, 1.05)
    ax2.set_ylabel("D(x)")
    return ax2


def _figure(path: Path, x, p, panels) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 4, figsize=(17, 3.8))
    for ax, (snap, d, title) in zip(axes, panels):
        ax2 = _panel(ax, x, p, snap, d, title)
    h1, l1 = axes[0].get_legend_handles_labels()
    h2, l2 = ax2.get_legend_handles_labels()
    fig.legend(h1 + h2, l1 + l2, loc="lower center", ncol=4, frameon=False)
    fig.suptitle("Goodfellow et al. (2014), Figure 1, measured: gauss1d, gankit theory fig1")
    fig.tight_layout(rect=(0, 0.08, 1, 0.95))
    with written_atomically(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path


def _animation(path: Path, x, p, snaps) -> Path:
    import io

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    frames = []
    for s in snaps:
        fig, ax = plt.subplots(figsize=(6, 3.6))
        ax2 = _panel(ax, x, p, s, s.d_x, "p_g, D and D* during training")
        h1, l1 = ax.get_legend_handles_labels()
        h2, l2 = ax2.get_legend_handles_labels()
        ax.legend(h1 + h2, l1 + l2, loc="upper left", fontsize=7, frameon=False)
        fig.tight_layout()
        buf = io.BytesIO()
        fig.savefig(buf, format="png", dpi=70)
        plt.close(fig)
        frames.append(Image.open(io.BytesIO(buf.getvalue())).convert("P", palette=Image.ADAPTIVE))
    with written_atomically(path) as tmp:
        frames[0].save(tmp, save_all=True, append_images=frames[1:], duration=600, loop=0)
    return path
