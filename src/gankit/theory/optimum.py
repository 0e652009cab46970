"""``gankit theory optimum``: the virtual training criterion goes to -log 4 (Goodfellow et al. 2014, Theorem 1).

With D at its optimum D*, the game's value for G is C(G) = V(D*, G) = -log 4 + 2 JSD(p_data || p_g):
it is -log 4 exactly when p_g = p_data and larger otherwise. On gauss1d both densities are known
on a grid (gankit.theory.oned), so C(G) and the JSD are computed at each snapshot of a real training
run, and the identity is checked numerically at every one. Beside them: V(D, G) as training sees it,
-loss_D of the live discriminator, which is at most C(G) for the same G.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from gankit.progress import progress_bar
from gankit.theory import claim
from gankit.theory import oned
from gankit.errors import written_atomically


def run(out: Path, quick: bool = False, progress: bool = False) -> dict:
    cfg = oned.preset(quick)
    total = cfg.train.steps
    steps = sorted({0, *np.unique(np.geomspace(10, total, 12).astype(int)).tolist()})
    with progress_bar(total, "optimum", enabled=progress) as bar:
        snaps = oned.train_snapshots(cfg, out / "optimum-run", steps, bar=bar)
    x = oned.x_grid()
    p = oned.data_density(x)
    c = np.array([oned.virtual_training_criterion(p, s.p_g) for s in snaps])
    j = np.array([oned.jsd(p, s.p_g) for s in snaps])
    v_live = np.array([s.v_live for s in snaps])
    identity_gap = float(np.max(np.abs(c - (-oned.LOG4 + 2 * j))))
    c_gap = float(c[-1] + oned.LOG4)
    v_gap = float(abs(v_live[-1] + oned.LOG4))
    files = [str(_figure(out / "optimum.png", [s.step for s in snaps], c, j, v_live))]
    claims = [
        claim("C(G) = -log 4 + 2 JSD(p_data || p_g) at every snapshot (largest residual)", identity_gap, 0.0, "< 1e-9",
              identity_gap < 1e-9),
        claim("C(G) at the end, minus (-log 4) (= 2 JSD >= 0)", c_gap, 0.0,
              f"0 <= gap < 1/10 of the gap at step 0 ({c[0] + oned.LOG4:.3f})", 0 <= c_gap < (c[0] + oned.LOG4) / 10),
        claim(f"JSD fell from {j[0]:.3f} at step 0 to (end)", j[-1], 0.0, "< 1/5 of the start", j[-1] < j[0] / 5),
        claim("V(D, G) of the live D at the end (-loss_D), distance to -log 4", v_gap, 0.0, "< 0.05", v_gap < 0.05),
    ]
    return {"name": "optimum",
            "summary": f"gauss1d, {total} steps: C(G) {c[0]:.3f} -> {c[-1]:.3f} (-log 4 = {-oned.LOG4:.4f})",
            "claims": claims, "files": files, "steps": [s.step for s in snaps], "C": c.tolist(), "jsd": j.tolist(),
            "v_live": v_live.tolist()}


def _figure(path: Path, steps, c, j, v_live) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a1, a2) = plt.subplots(1, 2, figsize=(11, 3.8))
    s = np.maximum(np.asarray(steps), 1)
    a1.plot(s, c, "o-", color="tab:green", label="C(G) = V(D*, G), from the densities")
    a1.plot(s[1:], v_live[1:], "s--", color="tab:blue", ms=4, label="V(D, G) = -loss_D, the live D")
    a1.axhline(-oned.LOG4, color="black", lw=1, ls=":", label="-log 4")
    a1.set_xscale("log")
    a1.set_xlabel("training step (step 0 drawn at 1)")
    a1.set_ylabel("value of the game")
    a1.set_title("the value approaches -log 4 = -1.386")
    a1.legend(fontsize=8, frameon=False)
    a2.plot(s, j, "o-", color="tab:red")
    a2.set_xscale("log")
    a2.set_yscale("log")
    a2.set_xlabel("training step")
    a2.set_ylabel("JSD(p_data || p_g), nats")
    a2.set_title("C(G) = -log 4 + 2 JSD: the gap is the divergence")
    fig.suptitle("Goodfellow et al. (2014), Theorem 1, measured on gauss1d: gankit theory optimum")
    fig.tight_layout()
    with written_atomically(path) as tmp:
        fig.savefig(tmp, dpi=90)
    plt.close(fig)
    return path
