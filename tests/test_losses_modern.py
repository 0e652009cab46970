"""The modern losses and penalties: hand-computed values, sign conventions, closed forms, training smoke runs."""

import math

import pytest
import torch
from torch import nn

from helpers import user_error

from gankit.checkpoint import load_checkpoint
from gankit.config import RunConfig, apply_overrides, load_preset
from gankit.losses import (D_LOSSES, G_LOSSES, d_loss_hinge, d_loss_ls, d_loss_wasserstein, g_loss_hinge, g_loss_ls,
                           g_loss_wasserstein, gradient_penalty, r1_penalty)
from gankit.models import build_discriminator
from gankit.stats import read_stats
from gankit.train import train

REAL = torch.tensor([2.0, -0.5, 0.5])  # D(x) on three real samples
FAKE = torch.tensor([-1.5, 0.0, 3.0])  # D(G(z)) on three fakes


def test_wasserstein_by_hand():
    # mean f(G(z)) - mean f(x) = (1.5 / 3) - (2.0 / 3) = -1/6;  G: -mean f(G(z)) = -0.5
    assert math.isclose(d_loss_wasserstein(REAL, FAKE).item(), 1.5 / 3 - 2.0 / 3, abs_tol=1e-6)
    assert math.isclose(g_loss_wasserstein(FAKE).item(), -0.5, abs_tol=1e-6)


def test_hinge_by_hand():
    # relu(1 - [2, -0.5, 0.5]) = [0, 1.5, 0.5] -> 2/3;  relu(1 + [-1.5, 0, 3]) = [0, 1, 4] -> 5/3
    assert math.isclose(d_loss_hinge(REAL, FAKE).item(), 2 / 3 + 5 / 3, abs_tol=1e-6)
    assert math.isclose(g_loss_hinge(FAKE).item(), -0.5, abs_tol=1e-6)


def test_least_squares_by_hand():
    # (D(x) - 1)^2 = [1, 2.25, 0.25] -> mean 3.5/3;  D(G(z))^2 = [2.25, 0, 9] -> mean 11.25/3
    assert math.isclose(d_loss_ls(REAL, FAKE).item(), 0.5 * 3.5 / 3 + 0.5 * 11.25 / 3, abs_tol=1e-6)
    # (D(G(z)) - 1)^2 = [6.25, 1, 4] -> mean 11.25/3
    assert math.isclose(g_loss_ls(FAKE).item(), 0.5 * 11.25 / 3, abs_tol=1e-6)


@pytest.mark.parametrize("name", ["bce", "wasserstein", "hinge", "ls"])
def test_D_descends_by_raising_real_and_lowering_fake_scores(name):
    # Scores inside every loss's active region (hinge: |l| < 1; ls: between its targets 0 and 1).
    real = torch.full((4,), 0.5, requires_grad=True)
    fake = torch.full((4,), 0.5, requires_grad=True)
    D_LOSSES[name](real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # a descent step raises D(x), lowers D(G(z))


@pytest.mark.parametrize("name", ["nonsaturating", "minimax", "wasserstein", "hinge", "ls"])
def test_G_gradient_pushes_fake_scores_up(name):
    fake = torch.full((4,), 0.5, requires_grad=True)
    G_LOSSES[name](fake).backward()
    assert (fake.grad < 0).all()


def _linear_D(weight_norm: float, dim: int = 6) -> nn.Module:
    g = torch.Generator().manual_seed(0)
    D = nn.Linear(dim, 1)
    with torch.no_grad():
        w = torch.randn(1, dim, generator=g)
        D.weight.copy_(w / w.norm() * weight_norm)
    return nn.Sequential(nn.Flatten(), D, nn.Flatten(0))  # [N, 2, 3] -> [N]


def test_gradient_penalty_of_linear_D_is_lambda_times_norm_minus_one_squared():
    x_real, x_fake = torch.randn(8, 2, 3), torch.randn(8, 2, 3)
    # grad_x D = w everywhere, so the penalty is lambda * (||w|| - 1)^2 whatever eps is.
    assert gradient_penalty(_linear_D(1.0), x_real, x_fake).item() < 1e-10
    for k in (0.0, 0.5, 3.0):
        gp = gradient_penalty(_linear_D(k), x_real, x_fake, lam=10.0)
        assert math.isclose(gp.item(), 10.0 * (k - 1) ** 2, rel_tol=1e-5, abs_tol=1e-6)


def test_gradient_penalty_draws_eps_from_the_given_generator_and_reaches_D():
    D = nn.Sequential(nn.Flatten(), nn.Linear(6, 5), nn.Tanh(), nn.Linear(5, 1), nn.Flatten(0))
    x_real, x_fake = torch.randn(8, 2, 3), torch.randn(8, 2, 3)
    a = gradient_penalty(D, x_real, x_fake, generator=torch.Generator().manual_seed(1))
    b = gradient_penalty(D, x_real, x_fake, generator=torch.Generator().manual_seed(1))
    assert torch.equal(a, b)
    a.backward()  # the penalty's gradient reaches D's weights (create_graph)
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in D.parameters() if p.dim() == 2)


def test_r1_of_linear_D_is_half_gamma_times_squared_weight_norm():
    D = _linear_D(3.0)
    r1 = r1_penalty(D, torch.randn(8, 2, 3), gamma=4.0)
    assert math.isclose(r1.item(), 4.0 / 2 * 3.0 ** 2, rel_tol=1e-5)


@pytest.mark.parametrize("arch", ["mlp", "maxout"])
def test_spectral_norm_makes_each_weights_largest_singular_value_one(arch):
    cfg = apply_overrides(RunConfig(), [f"D.arch={arch}", "D.hidden=[16, 8]", "D.pieces=3", "D.spectral_norm=true"])
    torch.manual_seed(0)
    D = build_discriminator(cfg, (10,)).train()
    linears = [m for m in D.modules() if isinstance(m, nn.Linear)]
    assert len(linears) == 3 and all(hasattr(m, "parametrizations") for m in linears)
    for _ in range(30):  # one power iteration per forward pass in train mode
        D(torch.randn(4, 10))
    for m in linears:
        assert abs(torch.linalg.matrix_norm(m.weight.detach(), ord=2).item() - 1.0) < 1e-2
    # Off by default: plain weights, as before.
    assert not any(hasattr(m, "parametrizations") for m in build_discriminator(RunConfig(), (10,)).modules())


TINY = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8", "train.batch=16", "train.steps=20",
        "train.log_every=5", "train.snapshot_every=20", "train.ckpt_every=20", "train.grid=16"]


def tiny(*extra):
    return apply_overrides(load_preset("quick-mlp"), TINY + list(extra))


@pytest.mark.parametrize("extra,penalty", [
    (["loss.d_loss=wasserstein", "loss.g_loss=wasserstein", "loss.gp_lambda=10"], "gp"),
    (["loss.d_loss=hinge", "loss.g_loss=hinge", "D.spectral_norm=true"], None),
    (["loss.d_loss=ls", "loss.g_loss=ls"], None),
    (["loss.r1_gamma=10"], "r1"),
])
def test_short_training_runs_finish_with_finite_losses(tmp_path, extra, penalty):
    r = train(tiny(*extra), out=tmp_path, progress=False)
    rows = read_stats(r.run_dir / "stats.jsonl")
    assert r.step == 20 and len(rows) == 20
    assert all(math.isfinite(row["loss_D"]) and math.isfinite(row["loss_G"]) for row in rows)
    for name in ("gp", "r1"):  # a penalty is recorded only when it is on
        assert all((name in row) == (name == penalty) for row in rows)
    if penalty:
        assert all(row[penalty] >= 0 for row in rows)
    # D's output is a probability only in the bce game; the other losses log raw scores instead.
    bce = "loss.d_loss=bce" in extra or not any(e.startswith("loss.d_loss") for e in extra)
    assert all(("D_real" in row) == bce and ("score_real" in row) == (not bce) for row in rows)
    if not bce:
        if "loss.d_loss=wasserstein" in extra:  # loss_D is mean f(G(z)) - mean f(x), plus the penalty
            assert all(math.isclose(row["loss_D"] - row["gp"], row["score_fake"] - row["score_real"],
                                    rel_tol=1e-4, abs_tol=1e-5)
                       for row in rows)


def test_weight_clipping_keeps_every_D_parameter_in_range(tmp_path):
    cfg = tiny("loss.d_loss=wasserstein", "loss.g_loss=wasserstein", "loss.clip=0.01", "optim.name=sgd",
               "optim.lr_d=0.05", "train.steps=10", "train.d_steps=5")
    state = load_checkpoint(train(cfg, out=tmp_path, progress=False).run_dir)
    assert all(v.abs().max() <= 0.01 for v in state["nets"]["D"].values())
    assert any(v.abs().max() == 0.01 for v in state["nets"]["D"].values())  # clipping was active, not vacuous


@pytest.mark.parametrize("items,fragments", [
    (["loss.d_loss=wasserstein"], ("loss.d_loss='wasserstein' needs loss.g_loss in wasserstein", "'nonsaturating'")),
    (["loss.d_loss=hinge", "loss.g_loss=ls"], ("loss.d_loss='hinge' needs loss.g_loss in hinge", "'ls'")),
    (["loss.d_loss=bce", "loss.g_loss=hinge"], ("needs loss.g_loss in nonsaturating, minimax",)),
    (["loss.d_loss=wgan"], ("must be one of bce, wasserstein, hinge, ls",)),
    (["loss.gp_lambda=-1"], ("'loss.gp_lambda' must be >= 0",)),
    (["loss.r1_gamma=-0.5"], ("'loss.r1_gamma' must be >= 0",)),
    (["loss.clip=-0.01"], ("'loss.clip' must be >= 0",)),
    (["D.spectral_norm=3"], ("'D.spectral_norm' expects bool",)),
])
def test_invalid_loss_settings_are_one_line_user_errors(items, fragments):
    user_error(lambda: apply_overrides(RunConfig(), items), *fragments)
