"""`gankit theory saturation`: the G gradient of log(1 - D(G(z))) against -log D(G(z)), measured."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import load_preset
from gankit.losses import G_LOSSES
from gankit.models import build_discriminator, build_generator
from gankit.theory import run_theory, saturation
from gankit.theory.saturation import TARGET_D, measure
from helpers import BarRecorder


@pytest.fixture(scope="module")
def bars():
    """The progress bars the quick run below makes (it runs with progress=True, the command's default)."""
    return BarRecorder()


@pytest.fixture(scope="module")
def result(tmp_path_factory, bars):
    out = tmp_path_factory.mktemp("saturation")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(saturation, "progress_bar", bars)
        return run_theory("saturation", out, quick=True, progress=True), out


def test_every_claim_holds_and_result_is_complete(result):
    res, out = result
    assert res["name"] == "saturation" and res["summary"]
    assert len(res["claims"]) >= 8
    failed = [c["claim"] for c in res["claims"] if not c["holds"]]
    assert not failed, failed
    saved = json.loads((out / "saturation.json").read_text())
    assert saved["sweep"] == res["sweep"]


def test_gankit_losses_have_the_closed_form_logit_gradients():
    # Logits from -30 (D = 9e-14: a fake D is sure of) to +30, float64, mean over the batch.
    a = torch.linspace(-30, 30, 121, dtype=torch.float64, requires_grad=True)
    d, d_bar = torch.sigmoid(a.detach()), torch.sigmoid(-a.detach())  # D and 1 - D, both without cancellation
    (g_sat,) = torch.autograd.grad(G_LOSSES["minimax"](a), a)
    (g_ns,) = torch.autograd.grad(G_LOSSES["nonsaturating"](a), a)
    n = len(a)
    # rtol 1e-8, not 1e-15: F.softplus is linear past 20, so there the slope is 1 instead of 1 - e^-20 (2e-9 off)
    torch.testing.assert_close(n * g_sat, -d, rtol=1e-8, atol=0)  # d/da log(1 - sigmoid(a)) = -D
    torch.testing.assert_close(n * g_ns, -d_bar, rtol=1e-8, atol=0)  # d/da -log sigmoid(a) = -(1 - D)
    torch.testing.assert_close(g_sat / g_ns, torch.exp(a.detach()), rtol=1e-8, atol=0)  # D / (1 - D) = e^a
    inner = a.detach().abs() < 20  # inside softplus's threshold the match is to rounding
    torch.testing.assert_close((n * g_sat)[inner], -d[inner], rtol=1e-13, atol=0)
    assert float(n * g_sat[0].abs()) < 1e-12 and float(n * g_ns[0].abs()) > 0.999999  # saturated / not


def test_measure_on_fresh_nets_matches_closed_form():
    cfg = load_preset("ring8-vanilla")
    with torch.random.fork_rng():
        torch.manual_seed(3)
        G, D = build_generator(cfg, (2,)).double(), build_discriminator(cfg, (2,)).double()
        z = torch.randn(64, cfg.z_dim, dtype=torch.float64)
    with torch.no_grad():
        D.net[-1].bias.fill_(-6.0)  # a D that rejects fakes: D(G(z)) about e^-6
    m = measure(G, D, z)
    d = m["D"]
    assert 1e-3 < d.mean() < 1e-2
    np.testing.assert_allclose(m["logit_grad_sat"], -d, rtol=1e-12)
    np.testing.assert_allclose(m["logit_grad_ns"], -(1 - d), rtol=1e-12)
    assert m["err_ratio"] < 1e-12 and m["err_reweight"] < 1e-9
    assert m["min_r"] <= m["norm_sat"] / m["norm_ns"] <= 1.5 * m["max_r"]


def test_sweep_goes_from_unsure_to_confident_D(result):
    res, _ = result
    sweep = res["sweep"]
    first, last = sweep[0], sweep[-1]
    assert 0.3 < first["mean_D"] < 0.7  # a fresh D cannot tell
    assert last["mean_D"] < TARGET_D <= sweep[-2]["mean_D"]
    assert first["norm_sat"] / first["norm_ns"] == pytest.approx(first["mean_r"], rel=0.5)
    assert last["norm_sat"] / last["norm_ns"] < 10 * last["max_r"] < 0.1
    assert last["norm_ns"] > first["norm_ns"]
    assert last["norm_sat"] < res["sat_norm_peak"] / 10  # the saturating gradient rose, then vanished
    assert max(res["errors"].values()) < 1e-8


def test_training_from_the_confident_D(result):
    res, _ = result
    sgd, adam = res["training"]["sgd"], res["training"]["adam"]
    assert sgd["minimax"]["moved_final"] < 0.1 * sgd["nonsaturating"]["moved_final"]
    assert sgd["minimax"]["mean_D_final"] < 0.01  # still rejected: the saturating G did not get anywhere
    assert sgd["nonsaturating"]["mean_D_final"] > 0.1
    for loss in ("minimax", "nonsaturating"):  # Adam's first step is lr * g / (|g| + eps)
        assert adam[loss]["first_step"] == pytest.approx(adam[loss]["first_step_theory"], rel=1e-9)
    assert adam["minimax"]["first_step"] / adam["nonsaturating"]["first_step"] > 0.9


def test_picture_is_valid(result):
    res, out = result
    assert [p.split("/")[-1] for p in res["files"]] == ["saturation.png"]
    with Image.open(out / "saturation.png") as im:
        assert im.format == "PNG" and im.width > 400 and im.height > 400


def test_progress_bars_count_d_alone_then_both_steps(result, bars):
    res, _ = result
    bars.check_finished("saturation: D alone", "saturation: G and D")
    d_alone, both = bars.bars
    assert d_alone.total is None and d_alone.n == res["sweep"][-1]["d_step"]  # one update per D step taken
    assert both.total == 2 * 2 * saturation._settings(True)["train_steps"]  # SGD and Adam, each with both G losses
