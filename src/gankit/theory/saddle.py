"""Gradient play on two small games: simultaneous steps diverge or converge, alternating steps cycle.

A GAN is a two-player game, min_G max_D V(D, G), and its solution is an equilibrium: a point
where neither player can improve by moving alone. For a smooth V that is a saddle point of V, not
a minimum, and following gradients (G descends, D ascends) need not reach it. Two games of two
scalars show the three things that can happen, with closed forms to check against:

``f(x, y) = x^2 - y^2`` (x minimises, y maximises). Its Hessian is diag(2, -2): eigenvalues +2 and -2,
so (0, 0) is a saddle of f and no minimum; yet it is the game's unique equilibrium. A step of size
eta maps x -> (1 - 2 eta) x and y -> y + eta * (-2 y) = (1 - 2 eta) y: the players do not interact,
simultaneous and alternating play are the same map, and the distance to (0, 0) shrinks by
|1 - 2 eta| per step (converges for 0 < eta < 1). Minimising f in both coordinates instead (treating
the saddle as if it were a minimum) sends y -> (1 + 2 eta) y: away from (0, 0).

``f(x, y) = x * y``. The game's vector field (-df/dx, +df/dy) = (-y, x) is a pure rotation.

- Simultaneous steps: (x, y) -> (x - eta y, y + eta x), the matrix [[1, -eta], [eta, 1]] =
  sqrt(1 + eta^2) times a rotation, so every step multiplies the distance to (0, 0) by exactly
  sqrt(1 + eta^2) > 1: the spiral diverges for every eta > 0.
- Alternating steps (x first, then y with the new x): x' = x - eta y, y' = y + eta x'. The map
  [[1, -eta], [eta, 1 - eta^2]] has determinant 1, and Q(x, y) = x^2 + y^2 - eta x y is conserved
  exactly (Q(x', y') = x'^2 + y^2 + eta x' y = x^2 + y^2 - eta x y). For eta < 2 the level set of Q
  is an ellipse: the iterates cycle on it forever, bounded, never converging. In polar form
  Q = r^2 (1 - (eta/2) sin 2 theta), so r stays within [sqrt(Q / (1 + eta/2)), sqrt(Q / (1 - eta/2))].
  For eta > 2 the map's eigenvalues are real, one of modulus above 1, and alternating play diverges too.

Gradients are taken by autograd (float64) from f itself, so the closed forms above check the
trajectories rather than generate them. A verdict per (game, scheme) is read off the trajectory:
R = (largest distance to (0, 0) in the last quarter of the steps) / (largest in the first quarter);
R > 2 diverges, R < 0.5 converges, anything between (bounded, not shrinking) cycles.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gankit.progress import progress_bar
from gankit.theory import claim
from gankit.errors import written_atomically

ETA = 0.1  # step size of both players
START = (1.0, 1.0)  # (x0, y0)
STEPS = 400  # gradient steps per trajectory (quick and full: the iteration costs milliseconds)
GIF_STEPS = 200  # steps shown in the animation (the spiral reaches about 3.8 from (0, 0))
SWEEP_ETAS = (0.05, 0.1, 0.5, 1.0, 1.9, 2.1)  # step sizes of the x*y sweep
DIVERGE_R, CONVERGE_R = 2.0, 0.5  # verdict thresholds on R (see the module docstring)

GAMES = {  # name -> (f, formula for titles)
    "xy": (lambda x, y: x * y, "x·y"),
    "x2-y2": (lambda x, y: x * x - y * y, "x² − y²"),
}
SCHEMES = ("simultaneous", "alternating")


def play(f, scheme: str, eta: float = ETA, steps: int = STEPS, start=START) -> np.ndarray:
    """Iterate gradient play on ``f(x, y)`` from ``start``; returns the trajectory [steps + 1, 2] (float64).

    scheme: "simultaneous" (both players step from the same point), "alternating" (x steps, then y
    steps from the new x), or "descent" (both coordinates descend f, as if the saddle were a minimum).
    x always descends f; y ascends f except under "descent".
    """
    x = torch.tensor(start[0], dtype=torch.float64, requires_grad=True)
    y = torch.tensor(start[1], dtype=torch.float64, requires_grad=True)
    path = [(start[0], start[1])]
    for _ in range(steps):
        if scheme == "alternating":
            (gx,) = torch.autograd.grad(f(x, y), x)
            x = (x - eta * gx).detach().requires_grad_(True)
            (gy,) = torch.autograd.grad(f(x, y), y)  # y sees the x that was just played
            y = (y + eta * gy).detach().requires_grad_(True)
        else:
            gx, gy = torch.autograd.grad(f(x, y), (x, y))
            sign_y = -1.0 if scheme == "descent" else 1.0
            x, y = (x - eta * gx).detach().requires_grad_(True), (y + sign_y * eta * gy).detach().requires_grad_(True)
        path.append((x.item(), y.item()))
    return np.array(path, dtype=np.float64)  # [steps + 1, 2]


def verdict(path: np.ndarray) -> tuple[str, float]:
    """("converges" | "cycles" | "diverges", R) with R = max distance in the last quarter / in the first."""
    r = np.hypot(path[:, 0], path[:, 1])  # [T + 1]
    q = max(1, len(r) // 4)
    ratio = float(r[-q:].max() / r[:q].max())
    if ratio > DIVERGE_R:
        return "diverges", ratio
    if ratio < CONVERGE_R:
        return "converges", ratio
    return "cycles", ratio


def conserved_q(path: np.ndarray, eta: float = ETA) -> np.ndarray:
    """Q = x^2 + y^2 - eta x y along a trajectory: constant under alternating play on x*y (x first)."""
    x, y = path[:, 0], path[:, 1]
    return x * x + y * y - eta * x * y


def growth_per_step(path: np.ndarray) -> tuple[float, float]:
    """(geometric-mean factor by which the distance to (0, 0) changes per step, its worst single step)."""
    r = np.hypot(path[:, 0], path[:, 1])
    steps = len(r) - 1
    mean = float(np.exp((np.log(r[-1]) - np.log(r[0])) / steps))
    return mean, r[1:] / r[:-1]


def late_growth(path: np.ndarray, window: int = 100) -> float:
    """Per-step factor of the distance to (0, 0) over the last ``window`` steps (transients gone)."""
    r = np.hypot(path[:, 0], path[:, 1])
    return float(np.exp((np.log(r[-1]) - np.log(r[-1 - window])) / window))


def alternating_growth_theory(eta: float) -> float:
    """Largest eigenvalue modulus of the alternating x*y map [[1, -eta], [eta, 1 - eta^2]]."""
    return float(np.abs(np.linalg.eigvals(np.array([[1.0, -eta], [eta, 1.0 - eta * eta]]))).max())


def hessian_eigenvalues(f) -> list[float]:
    """Eigenvalues of f's Hessian at (0, 0), by autograd, ascending."""
    h = torch.autograd.functional.hessian(lambda v: f(v[0], v[1]), torch.zeros(2, dtype=torch.float64))
    return [float(e) for e in torch.linalg.eigvalsh(h)]


def _plot_panels(paths: dict, descent: np.ndarray, verdicts: dict, path_png: Path, dpi: int) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(2, 2, figsize=(11, 9.6), dpi=dpi)
    for row, (game, (f, formula)) in enumerate(GAMES.items()):
        for col, scheme in enumerate(SCHEMES):
            ax = axes[row, col]
            p = paths[game][scheme]
            lim = max(1.8, 1.08 * float(np.abs(p).max()))
            g = np.linspace(-lim, lim, 121)
            X, Y = np.meshgrid(g, g)
            F = f(X, Y)
            cf = ax.contourf(X, Y, F, levels=21, cmap="RdBu_r", alpha=0.45)
            ax.contour(X, Y, F, levels=[0.0], colors="0.4", linewidths=0.6)
            gs = np.linspace(-lim, lim, 17)
            Xs, Ys = np.meshgrid(gs, gs)
            Xt, Yt = torch.tensor(Xs, requires_grad=True), torch.tensor(Ys, requires_grad=True)
            dfx, dfy = torch.autograd.grad(f(Xt, Yt).sum(), (Xt, Yt))
            u, v = -dfx.numpy(), dfy.numpy()  # the game's field: x down its gradient, y up its gradient
            norm = np.hypot(u, v) + 1e-12
            ax.quiver(Xs, Ys, u / norm, v / norm, color="0.35", alpha=0.7, width=0.003, scale=30)  # directions only
            ax.plot(p[:, 0], p[:, 1], "-", color="black", lw=1.2, label=f"{scheme} play, {len(p) - 1} steps")
            ax.plot(p[:, 0], p[:, 1], ".", color="black", ms=2)
            ax.plot(*p[0], "o", color="tab:green", ms=8, label=f"start {START}")
            ax.plot(*p[-1], "s", color="tab:red", ms=7, label="end")
            ax.plot(0, 0, "*", color="gold", mec="black", ms=14, label="equilibrium (0, 0)")
            if game == "x2-y2":
                d = descent[np.abs(descent).max(1) <= lim]
                ax.plot(d[:, 0], d[:, 1], "--o", color="tab:purple", ms=3, lw=1.2,
                        label="both minimise f (leaves the saddle)")
            v, ratio = verdicts[game][scheme]
            r_end = math.hypot(*p[-1])
            ax.set_title(f"{formula}, {scheme}: {v}\n|(x, y)| from {math.hypot(*START):.3g} to {r_end:.3g}; "
                         f"R = {ratio:.3g}", fontsize=10)
            ax.set_xlim(-lim, lim)
            ax.set_ylim(-lim, lim)
            ax.set_aspect("equal")
            ax.set_xlabel("x (minimises f)")
            ax.set_ylabel("y (maximises f)")
            fig.colorbar(cf, ax=ax, shrink=0.8, label="f(x, y)")
    handles, labels = axes[1, 1].get_legend_handles_labels()
    labels[0] = f"gradient play ({len(p) - 1} steps)"
    fig.legend(handles, labels, loc="lower center", ncol=5, fontsize=9, frameon=False)
    fig.suptitle(f"Gradient play, step size eta = {ETA}: contours of f; arrows: direction of (−∂f/∂x, +∂f/∂y)",
                 fontsize=12)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    with written_atomically(path_png) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _animate(sim: np.ndarray, alt: np.ndarray, path_gif: Path, frames: int, bar=None) -> None:
    """GIF of the first GIF_STEPS steps of both x*y trajectories unfolding; ``bar`` advances by one per frame."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from PIL import Image

    sim, alt = sim[: GIF_STEPS + 1], alt[: GIF_STEPS + 1]
    lim = 1.1 * float(max(np.abs(sim).max(), np.abs(alt).max()))
    q0 = conserved_q(alt[:1])[0]
    fig, ax = plt.subplots(figsize=(4.6, 5.2), dpi=72)
    g = np.linspace(-lim, lim, 15)
    X, Y = np.meshgrid(g, g)
    ax.quiver(X, Y, -Y, X, color="0.75", width=0.004)  # the x*y game field (-y, x): a rotation
    (l_sim,) = ax.plot([], [], "-", color="tab:red", lw=1.5, label="simultaneous: spirals out")
    (l_alt,) = ax.plot([], [], "-", color="tab:blue", lw=1.5, label="alternating: cycles on Q = const")
    (h_sim,) = ax.plot([], [], "o", color="tab:red", mec="black", ms=8, zorder=5)
    (h_alt,) = ax.plot([], [], "o", color="tab:blue", mec="black", ms=8, zorder=5)
    ax.plot(0, 0, "*", color="black", ms=11, label="equilibrium (0, 0)")
    ax.set_xlim(-lim, lim)
    ax.set_ylim(-lim, lim)
    ax.set_aspect("equal")
    ax.set_xlabel("x (minimises x·y)")
    ax.set_ylabel("y (maximises x·y)")
    fig.legend(loc="lower center", ncol=2, fontsize=7, frameon=False)
    title = ax.set_title("line 1\nline 2", fontsize=8)  # two lines, so tight_layout leaves room for them
    fig.tight_layout(rect=(0, 0.08, 1, 1))
    images = []
    for t in np.linspace(0, GIF_STEPS, frames).round().astype(int):
        l_sim.set_data(sim[: t + 1, 0], sim[: t + 1, 1])
        l_alt.set_data(alt[: t + 1, 0], alt[: t + 1, 1])
        h_sim.set_data([sim[t, 0]], [sim[t, 1]])
        h_alt.set_data([alt[t, 0]], [alt[t, 1]])
        title.set_text(f"min_x max_y x·y, eta = {ETA}, step {t}\n"
                       f"|sim| = {math.hypot(*sim[t]):.2f}, |alt| = {math.hypot(*alt[t]):.2f}, "
                       f"Q(alt) = {conserved_q(alt[t:t + 1])[0]:.4f} (start {q0:.4f})")
        fig.canvas.draw()
        rgb = np.asarray(fig.canvas.buffer_rgba())[..., :3]
        images.append(Image.fromarray(rgb.copy()).convert("P", palette=Image.Palette.ADAPTIVE, colors=64))
        if bar is not None:
            bar.update(1)
    plt.close(fig)
    durations = [90] * (len(images) - 1) + [1500]  # hold the last frame
    with written_atomically(path_gif) as tmp:
        images[0].save(tmp, save_all=True, append_images=images[1:], duration=durations, loop=0, optimize=True)


def run(out: Path, quick: bool = False, progress: bool = False) -> dict:
    """Play both games with both schemes, draw them, and return the measured numbers beside theory."""
    out = Path(out)
    paths = {game: {s: play(f, s) for s in SCHEMES} for game, (f, _) in GAMES.items()}
    descent = play(GAMES["x2-y2"][0], "descent", steps=40)
    verdicts = {game: {s: verdict(paths[game][s]) for s in SCHEMES} for game in GAMES}

    r0 = math.hypot(*START)
    numbers: dict = {}
    for game in GAMES:
        for s in SCHEMES:
            p = paths[game][s]
            g_mean, g_steps = growth_per_step(p)
            q = conserved_q(p)
            numbers[f"{game}/{s}"] = {
                "final_distance": float(math.hypot(*p[-1])), "start_distance": r0,
                "growth_per_step": g_mean, "growth_per_step_min": float(g_steps.min()),
                "growth_per_step_max": float(g_steps.max()),
                "Q_drift": float(np.abs(q - q[0]).max() / abs(q[0])) if game == "xy" else None,
                "R": verdicts[game][s][1], "verdict": verdicts[game][s][0],
            }

    eta = ETA
    sim_theory = math.sqrt(1 + eta * eta)
    sat_theory = abs(1 - 2 * eta)
    xs, xa = numbers["xy/simultaneous"], numbers["xy/alternating"]
    ss, sa = numbers["x2-y2/simultaneous"], numbers["x2-y2/alternating"]
    sim_worst = max(abs(xs["growth_per_step_min"] - sim_theory), abs(xs["growth_per_step_max"] - sim_theory))
    q0 = conserved_q(np.array([START]))[0]
    r_lo, r_hi = math.sqrt(q0 / (1 + eta / 2)), math.sqrt(q0 / (1 - eta / 2))
    r_alt = np.hypot(paths["xy"]["alternating"][:, 0], paths["xy"]["alternating"][:, 1])
    eig = hessian_eigenvalues(GAMES["x2-y2"][0])
    g_desc, _ = growth_per_step(descent * np.array([0.0, 1.0]))  # |y| under descent on both coordinates

    sweep = []
    for e in SWEEP_ETAS:
        ps = play(GAMES["xy"][0], "simultaneous", eta=e)
        pa = play(GAMES["xy"][0], "alternating", eta=e)
        qa = conserved_q(pa, e)
        sweep.append({"eta": e, "simultaneous_growth": growth_per_step(ps)[0],
                      "simultaneous_theory": math.sqrt(1 + e * e),
                      "alternating_growth": late_growth(pa),
                      "alternating_theory": alternating_growth_theory(e),
                      "alternating_max_distance_ratio": float(np.hypot(pa[:, 0], pa[:, 1]).max() / r0),
                      "alternating_Q_drift": float(np.abs(qa - qa[0]).max() / abs(qa[0])),
                      "alternating_verdict": verdict(pa)[0]})
    sweep_err = max(abs(s["simultaneous_growth"] / s["simultaneous_theory"] - 1) for s in sweep)
    above2 = next(s for s in sweep if s["eta"] > 2)

    claims = [
        claim(f"x*y, simultaneous: every step multiplies |(x, y)| by sqrt(1 + eta^2) (eta = {eta}); per-step factor",
              xs["growth_per_step"], sim_theory, "every single step within 1e-9",
              sim_worst < 1e-9),
        claim(f"x*y, simultaneous: |(x, y)| after {STEPS} steps", xs["final_distance"], r0 * sim_theory ** STEPS,
              "relative 1e-9", abs(xs["final_distance"] / (r0 * sim_theory ** STEPS) - 1) < 1e-9),
        claim("x*y, alternating (x first): Q = x^2 + y^2 - eta*x*y is conserved; largest relative drift of Q",
              xa["Q_drift"], 0.0, "< 1e-10, float64 rounding", xa["Q_drift"] < 1e-10),
        claim("x*y, alternating: |(x, y)| stays on the ellipse Q = Q0; smallest distance reached",
              float(r_alt.min()), r_lo,
              f"r within [sqrt(Q0/(1+eta/2)), sqrt(Q0/(1-eta/2))] = [{r_lo:.4f}, {r_hi:.4f}] (+-1e-9), min within 1%",
              bool(r_alt.min() >= r_lo - 1e-9 and r_alt.max() <= r_hi + 1e-9 and r_alt.min() <= 1.01 * r_lo)),
        claim("x^2 - y^2, simultaneous: per-step factor |1 - 2 eta|", ss["growth_per_step"], sat_theory,
              "every single step within 1e-9",
              max(abs(ss["growth_per_step_min"] - sat_theory), abs(ss["growth_per_step_max"] - sat_theory)) < 1e-9),
        claim("x^2 - y^2, alternating: the same factor (x and y do not interact)", sa["growth_per_step"], sat_theory,
              "every single step within 1e-9",
              max(abs(sa["growth_per_step_min"] - sat_theory), abs(sa["growth_per_step_max"] - sat_theory)) < 1e-9),
        claim("Hessian of x^2 - y^2 at (0, 0): largest eigenvalue (x curves up)", eig[1], 2.0, "1e-12",
              abs(eig[1] - 2) < 1e-12),
        claim("Hessian of x^2 - y^2 at (0, 0): smallest eigenvalue (y curves down: a saddle, not a minimum)",
              eig[0], -2.0, "1e-12", abs(eig[0] + 2) < 1e-12),
        claim("x^2 - y^2, both coordinates minimising f: |y| grows by 1 + 2 eta per step (leaves the saddle)",
              g_desc, 1 + 2 * eta, "relative 1e-9", abs(g_desc / (1 + 2 * eta) - 1) < 1e-9),
        claim(f"x*y, simultaneous: sqrt(1 + eta^2) at every eta in {list(SWEEP_ETAS)}; worst relative error",
              sweep_err, 0.0, "< 1e-9", sweep_err < 1e-9),
        claim(f"x*y, alternating at eta = {above2['eta']} > 2: diverges at the map's largest |eigenvalue| per step "
              "(last 100 steps)",
              above2["alternating_growth"], above2["alternating_theory"], "relative 1e-6",
              abs(above2["alternating_growth"] / above2["alternating_theory"] - 1) < 1e-6),
    ]
    expected = {"xy": {"simultaneous": "diverges", "alternating": "cycles"},
                "x2-y2": {"simultaneous": "converges", "alternating": "converges"}}
    for game, text in (("xy", "x*y"), ("x2-y2", "x^2 - y^2")):
        for s in SCHEMES:
            v, ratio = verdicts[game][s]
            claims.append(claim(f"{text}, {s}: {v} (R = largest distance in the last quarter / in the first)", ratio,
                                expected[game][s], f"R > {DIVERGE_R} diverges, R < {CONVERGE_R} converges, else cycles",
                                v == expected[game][s]))

    # The games take milliseconds; the pictures take the time: a bar over the GIF's frames, then the panels.
    png, gif = out / "saddle.png", out / "saddle.gif"
    frames = 12 if quick else 60
    with progress_bar(frames + 1, "saddle: drawing", unit="frame", enabled=progress) as bar:
        _animate(paths["xy"]["simultaneous"], paths["xy"]["alternating"], gif, frames=frames, bar=bar)
        _plot_panels(paths, descent, verdicts, png, dpi=60 if quick else 90)
        bar.update(1)

    v = {k: n["verdict"] for k, n in numbers.items()}
    summary = (f"eta = {eta}, {STEPS} steps from {START}: x*y simultaneous {v['xy/simultaneous']} "
               f"(x{xs['growth_per_step']:.6f}/step), alternating {v['xy/alternating']} (Q drift {xa['Q_drift']:.1e}); "
               f"x^2 - y^2 {v['x2-y2/simultaneous']} (x{ss['growth_per_step']:.3f}/step) with both schemes")
    return {"name": "saddle", "summary": summary, "claims": claims, "files": [str(png), str(gif)],
            "eta": eta, "start": list(START), "steps": STEPS, "schemes": numbers,
            "verdicts": v, "hessian_eigenvalues": eig, "eta_sweep": sweep}
