"""Closed forms of the 2014 paper's losses, computed from D's logits."""

import math

import torch

from gankit.losses import d_loss_bce, g_loss_minimax, g_loss_nonsaturating, value


def test_value_is_minus_log4_when_D_is_one_half():
    # D = sigmoid(0) = 1/2 everywhere: V = log 1/2 + log 1/2 = -log 4 (the paper's Theorem 1 optimum).
    zeros = torch.zeros(1000)
    assert math.isclose(value(zeros, zeros).item(), -math.log(4), rel_tol=0, abs_tol=1e-6)
    assert math.isclose(d_loss_bce(zeros, zeros).item(), math.log(4), abs_tol=1e-6)


def test_value_matches_probability_form():
    g = torch.Generator().manual_seed(0)
    lr = torch.randn(500, generator=g, dtype=torch.float64) * 3
    lf = torch.randn(500, generator=g, dtype=torch.float64) * 3
    d_real, d_fake = torch.sigmoid(lr), torch.sigmoid(lf)
    expected = torch.log(d_real).mean() + torch.log(1 - d_fake).mean()
    assert torch.allclose(value(lr, lf), expected, atol=1e-12)
    assert torch.allclose(d_loss_bce(lr, lf), -expected, atol=1e-12)
    assert torch.allclose(g_loss_minimax(lf), torch.log(1 - d_fake).mean(), atol=1e-12)
    assert torch.allclose(g_loss_nonsaturating(lf), -torch.log(d_fake).mean(), atol=1e-12)


def test_losses_stay_finite_for_extreme_logits():
    big = torch.tensor([-200.0, 200.0])
    for v in (value(big, big), d_loss_bce(big, big), g_loss_minimax(big), g_loss_nonsaturating(big)):
        assert torch.isfinite(v)
    # log D(x) for a logit of -200 is about -200, not -inf.
    assert math.isclose(g_loss_nonsaturating(torch.tensor([-200.0])).item(), 200.0, rel_tol=1e-6)


def _grad(loss_fn, logit):
    x = torch.tensor([logit], dtype=torch.float64, requires_grad=True)
    loss_fn(x).backward()
    return x.grad.item()


def test_saturating_gradient_vanishes_as_D_rejects_samples():
    # d/dl log(1 - sigmoid(l)) = -sigmoid(l): -> 0 as D(G(z)) = sigmoid(l) -> 0.
    for logit in (-2.0, -5.0, -10.0, -20.0):
        want = -torch.sigmoid(torch.tensor(logit, dtype=torch.float64)).item()
        assert math.isclose(_grad(g_loss_minimax, logit), want, rel_tol=1e-9)
    assert abs(_grad(g_loss_minimax, -20.0)) < 1e-8
    # d/dl -log sigmoid(l) = -sigmoid(-l): -> -1, a strong gradient exactly when G is worst.
    assert math.isclose(_grad(g_loss_nonsaturating, -20.0), -1.0, abs_tol=1e-8)
    assert abs(_grad(g_loss_nonsaturating, -20.0)) > 1e7 * abs(_grad(g_loss_minimax, -20.0))


def test_both_G_losses_share_their_fixed_point_direction():
    # Both losses push the logit of fakes up (negative gradient) for any D(G(z)) in (0, 1).
    for logit in (-3.0, 0.0, 3.0):
        assert _grad(g_loss_minimax, logit) < 0 and _grad(g_loss_nonsaturating, logit) < 0
