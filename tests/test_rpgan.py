"""RpGAN (relativistic pairing) and the zero-centred penalties R1 and R2: formulas by hand, closed forms on
linear and quadratic D, the G step's recomputed real logits, and a short training smoke run."""

import math

import pytest
import torch
from torch import nn

from helpers import user_error

from gankit.config import RunConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.distributed import World
from gankit.losses import (D_LOSSES, G_LOSSES, d_loss_rpgan, g_loss_rpgan, r1_penalty, r2_penalty,
                           zero_centred_penalties)
from gankit.stats import read_stats
from gankit.systems.gan import GANSystem
from gankit.train import train

REAL = torch.tensor([2.0, -0.5, 0.5])  # D(x_r) on three real samples
FAKE = torch.tensor([-1.5, 0.0, 3.0])  # D(x_f) on three fakes; pair i = (REAL[i], FAKE[i])


def softplus(t: float) -> float:
    return math.log1p(math.exp(t))


def test_rpgan_losses_by_hand():
    # D: mean softplus(-(r - f)) over the pairs r - f = [3.5, -0.5, -2.5]
    d = (softplus(-3.5) + softplus(0.5) + softplus(2.5)) / 3
    # G: mean softplus(-(f - r)) over f - r = [-3.5, 0.5, 2.5]
    g = (softplus(3.5) + softplus(-0.5) + softplus(-2.5)) / 3
    assert math.isclose(d_loss_rpgan(REAL, FAKE).item(), d, rel_tol=1e-6)
    assert math.isclose(g_loss_rpgan(FAKE, REAL).item(), g, rel_tol=1e-6)
    assert D_LOSSES["rpgan"] is d_loss_rpgan and G_LOSSES["rpgan"] is g_loss_rpgan
    # -log sigmoid(r - f): Jolicoeur-Martineau's RSGAN form of the same loss.
    assert math.isclose(d_loss_rpgan(REAL, FAKE).item(), -torch.sigmoid(REAL - FAKE).log().mean().item(), rel_tol=1e-6)


def test_rpgan_is_relativistic_paired_and_at_log2_when_D_cannot_tell():
    # Only differences within a pair count: a shift of every logit changes nothing ...
    assert math.isclose(d_loss_rpgan(REAL + 5, FAKE + 5).item(), d_loss_rpgan(REAL, FAKE).item(), rel_tol=1e-6)
    assert math.isclose(g_loss_rpgan(FAKE - 2, REAL - 2).item(), g_loss_rpgan(FAKE, REAL).item(), rel_tol=1e-6)
    # ... but the pairing does: re-pairing the same logits gives another value (not a mean over all N^2 pairs).
    assert not math.isclose(d_loss_rpgan(REAL, FAKE.flip(0)).item(), d_loss_rpgan(REAL, FAKE).item(), rel_tol=1e-3)
    # Equal logits: both losses are softplus(0) = log 2.
    same = torch.randn(5)
    assert math.isclose(d_loss_rpgan(same, same).item(), math.log(2), rel_tol=1e-6)
    assert math.isclose(g_loss_rpgan(same, same).item(), math.log(2), rel_tol=1e-6)


def test_rpgan_gradients_have_the_game_s_signs():
    real, fake = REAL.clone().requires_grad_(True), FAKE.clone().requires_grad_(True)
    d_loss_rpgan(real, fake).backward()
    assert (real.grad < 0).all() and (fake.grad > 0).all()  # D's descent raises D(x_r), lowers D(x_f)
    # d/df softplus(f - r) / N = sigmoid(f - r) / N
    assert torch.allclose(fake.grad, torch.sigmoid(FAKE - REAL) / 3, atol=1e-7)
    fake = FAKE.clone().requires_grad_(True)
    g_loss_rpgan(fake, REAL).backward()
    assert (fake.grad < 0).all()  # G's descent raises D(x_f); d/df softplus(r - f) / N = -sigmoid(r - f) / N
    assert torch.allclose(fake.grad, -torch.sigmoid(REAL - FAKE) / 3, atol=1e-7)


def _linear_D(w: torch.Tensor) -> nn.Module:
    D = nn.Linear(w.numel(), 1)
    with torch.no_grad():
        D.weight.copy_(w.view(1, -1))
    return nn.Sequential(nn.Flatten(), D, nn.Flatten(0))  # [N, 2, 3] -> [N]


@pytest.mark.parametrize("penalty", [r1_penalty, r2_penalty])
def test_zero_centred_penalty_of_linear_D_and_its_gradient_in_closed_form(penalty):
    # D(x) = w.x + b: grad_x D = w for every x, so the penalty is gamma/2 ||w||^2 and d/dw = gamma w.
    w = torch.tensor([1.0, -2.0, 0.5, 0.0, 3.0, -1.0])
    D = _linear_D(w)
    p = penalty(D, torch.randn(8, 2, 3), gamma=4.0)
    assert math.isclose(p.item(), 4.0 / 2 * w.pow(2).sum().item(), rel_tol=1e-6)
    p.backward()  # differentiable w.r.t. D's weights (the graph of the input gradient is kept)
    assert torch.allclose(D[1].weight.grad.view(-1), 4.0 * w, atol=1e-5)
    assert D[1].bias.grad is None or D[1].bias.grad.abs().max() == 0  # the bias does not move the gradient


class Quadratic(nn.Module):
    """D(x) = a/2 ||x||^2: grad_x D = a x, so gamma/2 E||grad||^2 = gamma/2 a^2 E||x||^2 depends on where."""

    def __init__(self, a: float):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(a))

    def forward(self, x, c=None):
        return 0.5 * self.a * x.flatten(1).pow(2).sum(1)  # [N]


def test_r1_is_taken_at_the_real_data_and_r2_at_the_fakes():
    D = Quadratic(0.5)
    x_real, x_fake = torch.randn(16, 3), 3 * torch.randn(16, 3)
    r1, r2 = r1_penalty(D, x_real, gamma=2.0), r2_penalty(D, x_fake, gamma=2.0)
    assert math.isclose(r1.item(), 0.25 * x_real.pow(2).sum(1).mean().item(), rel_tol=1e-5)
    assert math.isclose(r2.item(), 0.25 * x_fake.pow(2).sum(1).mean().item(), rel_tol=1e-5)
    # d/da gamma/2 a^2 E||x||^2 = gamma a E||x||^2
    r2.backward()
    assert math.isclose(D.a.grad.item(), 2.0 * 0.5 * x_fake.pow(2).sum(1).mean().item(), rel_tol=1e-5)
    # The penalty trains D only: the samples themselves are detached.
    x = x_fake.clone().requires_grad_(True)
    r2_penalty(D, x, gamma=2.0).backward()
    assert x.grad is None


@pytest.mark.parametrize("items,fragments", [
    (["loss.d_loss=rpgan"], ("loss.d_loss='rpgan' needs loss.g_loss in rpgan", "'nonsaturating'")),
    (["loss.g_loss=rpgan"], ("needs loss.g_loss in nonsaturating, minimax", "'rpgan'")),
    (["loss.r2_gamma=-1"], ("'loss.r2_gamma' must be >= 0",)),
])
def test_invalid_rpgan_settings_are_one_line_user_errors(items, fragments):
    user_error(lambda: apply_overrides(RunConfig(), items), *fragments)


TINY = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8", "train.batch=16", "train.precision=fp32"]


@pytest.mark.parametrize("fused", ["true", "false"])
def test_G_step_recomputes_real_logits_without_a_gradient_to_D(fused):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY + ["loss.d_loss=rpgan", "loss.g_loss=rpgan",
                                                        f"train.fused_d={fused}"])
    system = GANSystem(cfg, build_dataset(cfg.data, "train"), World(), torch.device("cpu"))
    seen = []  # D's inputs during the G step
    system.D.register_forward_pre_hook(lambda m, args: seen.append(args[0].detach().clone()))
    system.D.requires_grad_(True)
    system.d_update()
    d_grads = [p.grad.clone() for p in system.D.parameters()]
    x_real = system.real_last[0]
    seen.clear()
    system.D.requires_grad_(False)
    loss_G, _ = system.g_update()
    # The G step's D saw the last D update's real batch (fused: as the first half of one pass).
    got_real = seen[0][: len(x_real)] if fused == "true" else seen[0]
    assert len(seen) == (1 if fused == "true" else 2) and torch.equal(got_real, x_real)
    # D's weights got no gradient in the G step; G got one.
    assert all(torch.equal(p.grad, g) for p, g in zip(system.D.parameters(), d_grads))
    assert all(p.grad is not None for p in system.G.parameters())
    with torch.no_grad():  # the G loss is the formula on D's logits of those inputs (D unchanged by the G step)
        fake = system.D(seen[0][len(x_real):] if fused == "true" else seen[1])
        real = system.D(x_real)
    assert math.isclose(loss_G.item(), g_loss_rpgan(fake, real).item(), rel_tol=1e-5)

def test_rpgan_r1_r2_and_augmentation_train_a_tiny_dcgan_with_the_penalties_in_stats(tmp_path):
    cfg = apply_overrides(load_preset("dcgan-mnist"), [
        "G.base_channels=8", "D.base_channels=8", "D.norm=none", "z_dim=16", "train.batch=16", "train.steps=6",
        "train.log_every=1", "train.snapshot_every=6", "train.ckpt_every=6", "train.grid=16", "train.ema=0",
        "loss.d_loss=rpgan", "loss.g_loss=rpgan", "loss.r1_gamma=1", "loss.r2_gamma=1",
        "loss.augment=translation,cutout", "optim.beta1=0"])
    r = train(cfg, out=tmp_path, progress=False, report=False)
    rows = read_stats(r.run_dir / "stats.jsonl")
    assert r.step == 6 and len(rows) == 6
    for row in rows:
        assert all(math.isfinite(row[k]) for k in ("loss_D", "loss_G", "r1", "r2", "score_real", "score_fake"))
        assert row["r1"] >= 0 and row["r2"] >= 0 and "D_real" not in row  # RpGAN logs raw scores
        assert row["loss_D"] >= row["r1"] + row["r2"]  # loss_D = softplus term (> 0) + the penalties


def test_penalties_from_one_shared_pass_equal_their_own_passes():
    D = Quadratic(0.5)
    x_real, x_fake = torch.randn(16, 3, requires_grad=True), torch.randn(16, 3, requires_grad=True)
    r1, r2 = zero_centred_penalties(torch.cat([D(x_real), D(x_fake)]), [x_real, x_fake], [2.0, 3.0])
    assert torch.allclose(r1, r1_penalty(D, x_real, gamma=2.0)) and torch.allclose(r2, r2_penalty(D, x_fake, gamma=3.0))


@pytest.mark.parametrize("fused", ["true", "false"])
def test_the_D_step_s_shared_penalty_pass_equals_separate_passes(fused):
    # The D step takes R1 and R2 from the gradient of its loss pass (R3GAN's trainer); a compiled D takes a pass
    # per penalty instead. Same data, noise and weights: the same penalties and the same D update.
    cfg = apply_overrides(load_preset("quick-mlp"), TINY + ["loss.d_loss=rpgan", "loss.g_loss=rpgan", "loss.r1_gamma=2",
                                                        "loss.r2_gamma=3", f"train.fused_d={fused}"])
    data = build_dataset(cfg.data, "train")
    out = []
    for share in (True, False):
        system = GANSystem(cfg, data, World(), torch.device("cpu"))
        system.penalties_share_pass = share
        system.D.requires_grad_(True)
        _, _, _, penalties, _ = system.d_update()
        out.append((penalties, [p.detach().clone() for p in system.D.parameters()]))
    (pa, wa), (pb, wb) = out
    assert set(pa) == set(pb) == {"r1", "r2"} and all(pa[k] > 0 for k in pa)
    assert all(torch.allclose(pa[k], pb[k], rtol=1e-5) for k in pa)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(wa, wb))


@pytest.mark.parametrize("penalties", [["loss.r1_gamma=2"], ["loss.d_loss=rpgan", "loss.g_loss=rpgan",
                                                            "loss.r1_gamma=2", "loss.r2_gamma=3"]])
def test_lazy_penalties_are_the_full_ones_weighted_every_times_or_none(penalties):
    # loss.reg_every=4: D update 0 takes the penalties with 4x their gamma, update 1 none at all. So from the same
    # start, update 0 moves D exactly as gamma x 4 with reg_every=1 does, and update 1 as the penalty-free loss.
    data = build_dataset(apply_overrides(load_preset("quick-mlp"), TINY).data, "train")

    def d_weights(items, d_index):
        system = GANSystem(apply_overrides(load_preset("quick-mlp"), TINY + items), data, World(),
                           torch.device("cpu"))
        system.D.requires_grad_(True)
        _, _, _, pen, _ = system.d_update(d_index)
        return pen, [p.detach().clone() for p in system.D.parameters()]

    scaled = [f"{k}={float(v) * 4}" if k.endswith("gamma") else f"{k}={v}"
              for k, v in (item.split("=") for item in penalties)]
    off = [item for item in penalties if not item.split("=")[0].endswith("gamma")]
    lazy0, full4 = d_weights(penalties + ["loss.reg_every=4"], 0), d_weights(scaled, 0)
    lazy1, none = d_weights(penalties + ["loss.reg_every=4"], 1), d_weights(off, 1)
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(lazy0[1], full4[1]))
    assert all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(lazy1[1], none[1]))
    assert not all(torch.allclose(a, b, rtol=1e-5, atol=1e-7) for a, b in zip(lazy0[1], none[1]))  # not vacuous
    assert set(lazy1[0]) == set(lazy0[0]) and all(v == 0 for v in lazy1[0].values())  # logged as 0 when skipped
    assert all(lazy0[0][k] > 0 and torch.allclose(lazy0[0][k], full4[0][k], rtol=1e-5) for k in lazy0[0])


def test_lazy_penalties_in_training_log_their_average_weight(tmp_path):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY + ["loss.r1_gamma=1", "loss.reg_every=3", "train.steps=6",
                                                        "train.log_every=1"])
    rows = read_stats(train(cfg, out=tmp_path, progress=False, report=False).run_dir / "stats.jsonl")
    assert [row["r1"] > 0 for row in rows] == [True, False, False, True, False, False]


@pytest.mark.parametrize("value", ["0", "-2", "1.5"])
def test_reg_every_must_be_a_positive_integer(value):
    user_error(lambda: apply_overrides(RunConfig(), [f"loss.reg_every={value}"]), "loss.reg_every")


def test_lazy_penalties_resume_bitwise_across_the_rhythm(tmp_path):
    # reg_every=4 takes R1 on D updates 0 and 4 of 6; a run stopped after 3 and resumed must take it on update 4 too
    # (the index comes from the step, not from a counter that would restart at 0).
    from gankit.checkpoint import load_checkpoint

    over = TINY + ["loss.r1_gamma=1", "loss.reg_every=4", "train.ckpt_every=100", "train.snapshot_every=100"]
    full = train(apply_overrides(load_preset("quick-mlp"), over + ["train.steps=6"]), out=tmp_path / "f",
                 progress=False, report=False)
    half = train(apply_overrides(load_preset("quick-mlp"), over + ["train.steps=3"]), out=tmp_path / "h",
                 progress=False, report=False)
    resumed = train(resume=half.run_dir, steps=6, progress=False, report=False)
    a, b = load_checkpoint(full.run_dir)["nets"], load_checkpoint(resumed.run_dir)["nets"]
    assert all(torch.equal(a[part][k], b[part][k]) for part in ("G", "D") for k in a[part])
