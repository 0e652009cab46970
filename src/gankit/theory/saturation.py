"""The gradient G gets early in training: saturating log(1 - D(G(z))) against non-saturating -log D(G(z)).

Goodfellow et al. (2014), section 3: "Early in learning, when G is poor, D can reject samples with
high confidence because they are clearly different from the training data. In this case,
log(1 - D(G(z))) saturates. Rather than training G to minimize log(1 - D(G(z))) we can train G to
maximize log D(G(z))." Both losses push D(G(z)) up and share their fixed point; they differ in how
hard they push when D(G(z)) is near 0.

Closed form. Write a = D's logit of a fake sample and D = sigmoid(a), so dD/da = D (1 - D). Then

    d/da log(1 - sigmoid(a)) = -D          (gankit's "minimax" G loss, G minimises it)
    d/da [-log sigmoid(a)]   = -(1 - D)    (gankit's "nonsaturating" G loss)

so per sample the saturating gradient is the non-saturating one times D / (1 - D), which goes to 0
with D. Because everything between G's parameters and the logit is shared, the gradient of the
whole batch w.r.t. G's parameters obeys the exact identity

    grad_theta L_minimax = grad_theta (1/n) sum_i r_i * softplus(-a_i),   r_i = D_i / (1 - D_i) held fixed:

the saturating gradient is the non-saturating one with every sample's share scaled by r_i.

The experiment, on the nets of the ``ring8-vanilla`` preset (G: z8 -> 128 -> 128 -> 2, D: 2 -> 128
-> 128 -> 1) in float64: a freshly initialised G is held fixed while D trains (Adam, the preset's
settings) against it until mean D(G(z)) falls below 1e-3. Along the way, on one fixed batch of
noise, both G losses (gankit.losses.G_LOSSES) are differentiated w.r.t. D's logits and w.r.t. G's
parameters, on the same networks. Then, from that confident D, training goes on with Algorithm 1
(one D step, one G step) with each G loss from the same start, with SGD and with Adam for G.
"""

from __future__ import annotations

import copy
import math
from pathlib import Path

import numpy as np
import torch

from gankit.config import load_preset
from gankit.data.toy import ring8, toy_mixture
from gankit.losses import G_LOSSES, d_loss_bce
from gankit.models import build_discriminator, build_generator, sample_z
from gankit.progress import progress_bar
from gankit.theory import claim
from gankit.errors import written_atomically

PRESET = "ring8-vanilla"
TARGET_D = 1e-3  # D trains until mean D(G(z)) on the measurement batch is below this
MAX_D_STEPS = 3000
SAT, NS = "minimax", "nonsaturating"  # gankit's names of the saturating and non-saturating G losses
# Tolerance of the exact identities, float64. F.softplus is linear for inputs above 20, so past |a| = 20
# gankit's losses return slope exactly 1 where the closed form has 1 - e^-20: a relative error up to 2e-9.
TOL, TOL_TEXT = 1e-8, "< 1e-8, float64; softplus is linear past |a| = 20"


def _settings(quick: bool) -> dict:
    if quick:
        return {"batch": 64, "lr_d": 3e-3, "n_measure": 256, "measure_every": 3, "train_steps": 30}
    return {"batch": 256, "lr_d": 1e-3, "n_measure": 512, "measure_every": 2, "train_steps": 200}


def _grad_norm(grads) -> float:
    return math.sqrt(sum(float((g * g).sum()) for g in grads))


def measure(G, D, z: torch.Tensor) -> dict:
    """Both G losses on the same nets and the same noise: logit and parameter gradients, and the checks."""
    params = [p for p in G.parameters()]
    n = len(z)
    with torch.no_grad():
        logits = D(G(z))  # [n]
    d = torch.sigmoid(logits)  # [n] D(G(z))
    d_bar = torch.sigmoid(-logits)  # [n] 1 - D(G(z)), without the cancellation of 1 - d when D is near 1
    a = logits.clone().requires_grad_(True)
    (g_sat,) = torch.autograd.grad(G_LOSSES[SAT](a), a)  # [n]: dL/da_i of gankit's minimax loss
    (g_ns,) = torch.autograd.grad(G_LOSSES[NS](a), a)  # [n]
    r = d / d_bar  # [n] D / (1 - D), the closed-form per-sample ratio
    a2 = D(G(z))  # [n], one graph for the three gradients below
    p_sat = torch.autograd.grad(G_LOSSES[SAT](a2), params, retain_graph=True)
    p_ns = torch.autograd.grad(G_LOSSES[NS](a2), params, retain_graph=True)
    p_rew = torch.autograd.grad((r * torch.nn.functional.softplus(-a2)).mean(), params)  # the identity's right side
    rew_err = _grad_norm([x - y for x, y in zip(p_sat, p_rew)]) / _grad_norm(p_sat)
    return {
        "mean_D": float(d.mean()), "D": d.numpy().copy(),
        "logit_grad_sat": (n * g_sat).numpy().copy(), "logit_grad_ns": (n * g_ns).numpy().copy(),
        "err_sat": float((n * g_sat + d).abs().max()),  # n dL_sat/da_i = -D_i
        "err_ns": float((n * g_ns + d_bar).abs().max()),  # n dL_ns/da_i = -(1 - D_i)
        "err_ratio": float(((g_sat / g_ns) / r - 1).abs().max()),  # ratio = D / (1 - D)
        "err_reweight": float(rew_err),
        "norm_sat": _grad_norm(p_sat), "norm_ns": _grad_norm(p_ns),
        "mean_r": float(r.mean()), "min_r": float(r.min()), "max_r": float(r.max()),
    }


def _train_d(G, D, real: torch.Tensor, z_meas: torch.Tensor, s: dict, gen: torch.Generator, cfg, bar=None):
    """Train D against the fixed G until mean D(G(z_meas)) < TARGET_D; measure along the way.

    ``bar``: a progress bar that advances by one per D step and shows the mean D(G(z)) last measured.
    """
    opt = torch.optim.Adam(D.parameters(), lr=s["lr_d"], betas=(cfg.optim.beta1, cfg.optim.beta2))
    sweep, step = [], 0
    while True:
        if step % s["measure_every"] == 0:
            m = measure(G, D, z_meas)
            m["d_step"] = step
            sweep.append(m)
            if m["mean_D"] < TARGET_D:
                break
            if bar is not None:
                bar.set_postfix_str(f"mean D(G(z)) {m['mean_D']:.2g}, stops below {TARGET_D:g}", refresh=False)
        if step >= MAX_D_STEPS:
            sweep.append({**measure(G, D, z_meas), "d_step": step})
            break
        idx = torch.randint(0, len(real), (s["batch"],), generator=gen)
        with torch.no_grad():
            fake = G(sample_z(s["batch"], cfg.z_dim, cfg.z_dist, gen).double())
        loss = d_loss_bce(D(real[idx]), D(fake))
        opt.zero_grad()
        loss.backward()
        opt.step()
        step += 1
        if bar is not None:
            bar.update(1)
    return sweep, opt


def _train_both(G, D, opt_d, real, z_meas, s: dict, cfg, g_opt: str, bar=None) -> dict:
    """Algorithm 1 (1 D step, 1 G step) from the same (G, D, D's optimizer) with each G loss.

    ``bar``: a progress bar that advances by one per step of Algorithm 1.
    """
    with torch.no_grad():
        x0 = G(z_meas)
    mean0 = x0.mean(0)
    out = {}
    for loss_name in (SAT, NS):
        G2, D2 = copy.deepcopy(G), copy.deepcopy(D)
        od = torch.optim.Adam(D2.parameters(), lr=s["lr_d"], betas=(cfg.optim.beta1, cfg.optim.beta2))
        od.load_state_dict(opt_d.state_dict())
        if g_opt == "sgd":
            og = torch.optim.SGD(G2.parameters(), lr=0.01)
        else:
            og = torch.optim.Adam(G2.parameters(), lr=cfg.optim.lr_g, betas=(cfg.optim.beta1, cfg.optim.beta2))
        gen = torch.Generator().manual_seed(2)  # the same data and noise for both losses
        with torch.no_grad():
            d0 = float(torch.sigmoid(D(x0)).mean())
        moved, mean_d, first_step, first_theory = [0.0], [d0], None, None
        for t in range(s["train_steps"]):
            idx = torch.randint(0, len(real), (s["batch"],), generator=gen)
            with torch.no_grad():
                fake = G2(sample_z(s["batch"], cfg.z_dim, cfg.z_dist, gen).double())
            ld = d_loss_bce(D2(real[idx]), D2(fake))
            od.zero_grad()
            ld.backward()
            od.step()
            z = sample_z(s["batch"], cfg.z_dim, cfg.z_dist, gen).double()
            lg = G_LOSSES[loss_name](D2(G2(z)))
            og.zero_grad()
            lg.backward()
            before = [p.detach().clone() for p in G2.parameters()] if t == 0 else None
            if t == 0 and g_opt == "adam":  # Adam's first step, closed form: lr * g / (|g| + eps) per parameter
                lr, eps = og.defaults["lr"], og.defaults["eps"]
                first_theory = _grad_norm([lr * p.grad / (p.grad.abs() + eps) for p in G2.parameters()])
            og.step()
            if t == 0:
                first_step = _grad_norm([p.detach() - b for p, b in zip(G2.parameters(), before)])
            with torch.no_grad():
                x = G2(z_meas)
                moved.append(float((x.mean(0) - mean0).norm()))
                mean_d.append(float(torch.sigmoid(D2(x)).mean()))
            if bar is not None:
                bar.update(1)
        out[loss_name] = {"moved": moved, "mean_D": mean_d, "first_step": first_step, "first_step_theory": first_theory}
    return out


def _plot(sweep: list, train: dict, path: Path, dpi: int, s: dict) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    c_sat, c_ns = "tab:red", "tab:blue"
    fig, axes = plt.subplots(2, 2, figsize=(12, 9.5), dpi=dpi)

    ax = axes[0, 0]  # the two losses as functions of D
    dd = np.linspace(1e-3, 0.999, 500)
    ax.plot(dd, np.log(1 - dd), color=c_sat, lw=2, label="saturating: log(1 − D)   (G minimises)")
    ax.plot(dd, -np.log(dd), color=c_ns, lw=2, label="non-saturating: −log D   (G minimises)")
    d0 = 0.05
    for f, slope, c in ((lambda u: np.log(1 - u), -1 / (1 - d0), c_sat), (lambda u: -np.log(u), -1 / d0, c_ns)):
        u = np.array([0.0, 0.15]) if c == c_sat else np.array([0.015, 0.12])
        ax.plot(u, f(d0) + slope * (u - d0), "--", color="black", lw=1)
        ax.plot(d0, f(d0), "o", color=c, mec="black")
        ax.annotate(f"slope {slope:.3g}", (d0, f(d0)), textcoords="offset points",
                    xytext=(12, 10 if c == c_ns else -16), fontsize=9, color=c)
    ax.axvspan(0, 0.1, color="0.9", zorder=0)
    ax.text(0.012, -4.6, "early training:\nD(G(z)) ≈ 0", fontsize=9)
    ax.set_ylim(-5, 5)
    ax.set_xlim(0, 1)
    ax.set_xlabel("D(G(z))")
    ax.set_ylabel("G's loss")
    ax.set_title(f"The two G losses as functions of D (slopes at D = {d0})")
    ax.legend(fontsize=9, loc="upper right")

    ax = axes[0, 1]  # per-sample logit gradient, closed form and measured
    dd = np.logspace(-4.5, 0, 300)
    ax.loglog(dd, dd, color=c_sat, lw=6, alpha=0.3, label="closed form |d/da log(1 − σ(a))| = D")
    ax.loglog(dd, 1 - dd, color=c_ns, lw=6, alpha=0.3, label="closed form |d/da (−log σ(a))| = 1 − D")
    picks = _picks(sweep)
    for k, m in enumerate(picks):
        ax.loglog(m["D"], np.abs(m["logit_grad_sat"]), ".", color="darkred", ms=2.5,
                  label="measured, minimax loss (n·|∂L/∂a_i|)" if k == 0 else None)
        ax.loglog(m["D"], np.abs(m["logit_grad_ns"]), ".", color="navy", ms=2.5,
                  label="measured, nonsaturating loss" if k == 0 else None)
    ax.set_ylim(1e-5, 2)
    ax.set_xlabel("D(G(z_i)) = σ(a_i), a_i = D's logit of fake i")
    ax.set_ylabel("|gradient of G's loss w.r.t. the logit|")
    ax.set_title(f"Per-sample gradient at D's logit ({len(picks)} points of the sweep)")
    ax.legend(fontsize=9, loc="lower right", markerscale=5)

    ax = axes[1, 0]  # parameter gradient norms over the D-confidence sweep
    md = np.array([m["mean_D"] for m in sweep])
    ns_ = np.array([m["norm_ns"] for m in sweep])
    sa_ = np.array([m["norm_sat"] for m in sweep])
    ax.loglog(md, sa_, "o-", color=c_sat, ms=3, label="‖∇θ_G‖ saturating log(1 − D)")
    ax.loglog(md, ns_, "o-", color=c_ns, ms=3, label="‖∇θ_G‖ non-saturating −log D")
    ax.loglog(md, sa_ / ns_, "--", color="black", label="ratio saturating / non-saturating")
    ax.loglog(md, [m["mean_r"] for m in sweep], ":", color="tab:green", lw=2, label="batch mean of D / (1 − D)")
    ax.invert_xaxis()
    ax.set_xlabel("mean D(G(z)) on the batch   (D trained longer →)")
    ax.set_ylabel("gradient norm w.r.t. G's parameters")
    ax.set_title(f"Same G, same batch, D trained until mean D(G(z)) < {TARGET_D:g} ({sweep[-1]['d_step']} D steps)")
    ax.legend(fontsize=9, loc="lower left")
    ax.grid(True, which="major", alpha=0.3)

    ax = axes[1, 1]  # training from the confident D
    for g_opt, ls in (("sgd", "-"), ("adam", "--")):
        for loss_name, c in ((SAT, c_sat), (NS, c_ns)):
            mv = np.array(train[g_opt][loss_name]["moved"])
            steps = np.arange(len(mv))
            name = "saturating" if loss_name == SAT else "non-saturating"
            opt_label = "SGD lr 0.01" if g_opt == "sgd" else "Adam lr 1e-3"
            ax.semilogy(steps[1:], mv[1:], ls, color=c, lw=1.8, label=f"{name}, G with {opt_label}")
    ax.set_xlabel("G steps of Algorithm 1 (1 D step + 1 G step), from the confident D")
    ax.set_ylabel("distance G's sample mean has moved")
    ax.set_title("Training on: the saturating G barely moves under SGD")
    ax.legend(fontsize=9, loc="lower right")
    ax.grid(True, which="major", alpha=0.3)

    fig.suptitle(f"Saturating vs non-saturating G loss on the {PRESET} nets (float64, batch of {s['n_measure']} fakes)",
                 fontsize=12)
    fig.tight_layout()
    with written_atomically(path) as tmp:
        fig.savefig(tmp)
    plt.close(fig)


def _picks(sweep: list) -> list:
    """The sweep points closest to mean D = 0.5, 1e-1, 1e-2 and the last one."""
    out = []
    for target in (0.5, 1e-1, 1e-2):
        out.append(min(sweep, key=lambda m: abs(math.log(m["mean_D"] / target))))
    out.append(sweep[-1])
    return out


def run(out: Path, quick: bool = False, progress: bool = False) -> dict:
    """Run the sweep and the training comparison, draw them, and return measured numbers beside theory."""
    out = Path(out)
    s = _settings(quick)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # nets this small run fastest on one thread
    try:
        with torch.random.fork_rng():
            torch.manual_seed(0)
            cfg = load_preset(PRESET)
            mixture = toy_mixture("ring8")
            G = build_generator(cfg, (2,)).double()
            D = build_discriminator(cfg, (2,)).double()
            real = torch.from_numpy(ring8(20_000, seed=0).points * mixture.scale)  # [20000, 2] model space
            gen = torch.Generator().manual_seed(1)
            z_meas = sample_z(s["n_measure"], cfg.z_dim, cfg.z_dist, gen).double()
            # D's phase ends at a value of mean D(G(z)), not at a known step: its bar counts steps, without an ETA.
            with progress_bar(None, "saturation: D alone", enabled=progress) as bar:
                sweep, opt_d = _train_d(G, D, real, z_meas, s, gen, cfg, bar=bar)
            g_opts = ("sgd", "adam")
            with progress_bar(len(g_opts) * len((SAT, NS)) * s["train_steps"], "saturation: G and D",
                              enabled=progress) as bar:
                train = {g_opt: _train_both(G, D, opt_d, real, z_meas, s, cfg, g_opt, bar=bar) for g_opt in g_opts}
    finally:
        torch.set_num_threads(threads)

    first, last = sweep[0], sweep[-1]
    err_sat = max(m["err_sat"] for m in sweep)
    err_ns = max(m["err_ns"] for m in sweep)
    err_ratio = max(m["err_ratio"] for m in sweep)
    err_rew = max(m["err_reweight"] for m in sweep)
    ratio_first = first["norm_sat"] / first["norm_ns"]
    ratio_last = last["norm_sat"] / last["norm_ns"]
    ns_growth = last["norm_ns"] / first["norm_ns"]
    sat_peak = max(m["norm_sat"] for m in sweep)
    sgd, adam = train["sgd"], train["adam"]
    n_tr = s["train_steps"]
    sgd_ratio = sgd[SAT]["moved"][-1] / sgd[NS]["moved"][-1]
    adam_first = adam[SAT]["first_step"] / adam[NS]["first_step"]
    adam_first_theory = adam[SAT]["first_step_theory"] / adam[NS]["first_step_theory"]
    n_meas = s["n_measure"]

    claims = [
        claim("per sample, n * d/da [log(1 - sigmoid(a))] = -D (gankit's minimax loss); largest |error| over the sweep",
              err_sat, 0.0, TOL_TEXT, err_sat < TOL),
        claim("per sample, n * d/da [-log sigmoid(a)] = -(1 - D) (gankit's nonsaturating loss); largest |error|",
              err_ns, 0.0, TOL_TEXT, err_ns < TOL),
        claim("per sample, saturating / non-saturating logit gradient = D / (1 - D); largest relative error",
              err_ratio, 0.0, TOL_TEXT, err_ratio < TOL),
        claim("grad_theta of the saturating loss = the non-saturating one with sample i scaled by D_i/(1 - D_i); "
              "relative error", err_rew, 0.0, TOL_TEXT, err_rew < TOL),
        claim(f"at the start (mean D(G(z)) = {first['mean_D']:.3g}) both G gradients are alike: "
              "||grad saturating|| / ||grad non-saturating||", ratio_first, first["mean_r"],
              "within a factor 2 of the batch mean of D/(1-D)", 0.5 < ratio_first / first["mean_r"] < 2),
        claim(f"after {last['d_step']} D steps (mean D(G(z)) = {last['mean_D']:.3g}) the saturating gradient has "
              "vanished: ||grad saturating|| / ||grad non-saturating||", ratio_last, last["mean_r"],
              "within a factor 4 of the batch mean of D/(1-D), exact per sample only; and < 0.01",
              0.25 < ratio_last / last["mean_r"] < 4 and ratio_last < 0.01),
        claim("the non-saturating gradient does not vanish: ||grad non-saturating|| at the end / at the start",
              ns_growth, "grows: its logit weight 1 - D rises from 0.5 to 1", ">= 1", ns_growth >= 1),
        claim(f"training on with SGD for G, {n_tr} steps: distance the saturating G's sample mean moved / the "
              "non-saturating one's", sgd_ratio, f"small: the gradient ratio at the start is {ratio_last:.2g}",
              "< 0.1", sgd_ratio < 0.1),
        claim("with Adam for G the first step is about the same size for both losses (Adam divides by the "
              "gradient's scale): ||step saturating|| / ||step non-saturating||", adam_first, adam_first_theory,
              "the closed form lr*g/(|g|+eps) per parameter, relative 1e-6; and > 0.9",
              abs(adam_first / adam_first_theory - 1) < 1e-6 and adam_first > 0.9),
    ]

    png = out / "saturation.png"
    _plot(sweep, train, png, dpi=60 if quick else 90, s=s)

    summary = (f"mean D(G(z)) {first['mean_D']:.3g} -> {last['mean_D']:.3g} over {last['d_step']} D steps: "
               f"||grad_G|| saturating {first['norm_sat']:.3g} -> {last['norm_sat']:.3g}, "
               f"non-saturating {first['norm_ns']:.3g} -> {last['norm_ns']:.3g} (ratio {ratio_last:.3g})")
    sweep_rows = [{k: m[k] for k in ("d_step", "mean_D", "norm_sat", "norm_ns", "mean_r", "min_r", "max_r")}
                  for m in sweep]
    return {
        "name": "saturation", "summary": summary, "claims": claims, "files": [str(png)],
        "preset": PRESET, "n_measure": n_meas, "d_steps": last["d_step"], "sweep": sweep_rows,
        "errors": {"logit_sat": err_sat, "logit_ns": err_ns, "ratio": err_ratio, "reweight": err_rew},
        "sat_norm_peak": sat_peak,
        "training": {g_opt: {loss: {"moved_final": v["moved"][-1], "mean_D_final": v["mean_D"][-1],
                                    "first_step": v["first_step"],
                                    "first_step_theory": v["first_step_theory"]} for loss, v in train[g_opt].items()}
                     for g_opt in train},
        "training_steps": n_tr,
    }
