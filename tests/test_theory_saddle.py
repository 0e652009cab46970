"""`gankit theory saddle`: gradient play on x*y and x^2 - y^2 against the closed forms."""

import json
import math

import numpy as np
import pytest
from PIL import Image

from gankit.theory import run_theory, saddle
from gankit.theory.saddle import ETA, GAMES, START, STEPS, conserved_q, hessian_eigenvalues, play, verdict
from helpers import BarRecorder


@pytest.fixture(scope="module")
def bars():
    """The progress bars the quick run below makes (it runs with progress=True, the command's default)."""
    return BarRecorder()


@pytest.fixture(scope="module")
def result(tmp_path_factory, bars):
    out = tmp_path_factory.mktemp("saddle")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(saddle, "progress_bar", bars)
        return run_theory("saddle", out, quick=True, progress=True), out


def test_every_claim_holds_and_result_is_complete(result):
    res, out = result
    assert res["name"] == "saddle" and res["summary"]
    assert len(res["claims"]) >= 10
    failed = [c["claim"] for c in res["claims"] if not c["holds"]]
    assert not failed, failed
    for c in res["claims"]:
        assert set(c) == {"claim", "measured", "theory", "tolerance", "holds"}
    saved = json.loads((out / "saddle.json").read_text())  # run_theory wrote the same result as JSON
    assert saved["verdicts"] == res["verdicts"]


def test_verdicts_per_game_and_scheme(result):
    res, _ = result
    assert res["verdicts"] == {"xy/simultaneous": "diverges", "xy/alternating": "cycles",
                               "x2-y2/simultaneous": "converges", "x2-y2/alternating": "converges"}


def test_reported_numbers_match_closed_forms(result):
    res, _ = result
    eta, n, r0 = res["eta"], res["steps"], math.hypot(*res["start"])
    sim = res["schemes"]["xy/simultaneous"]
    assert sim["growth_per_step"] == pytest.approx(math.sqrt(1 + eta ** 2), rel=1e-12)
    assert sim["growth_per_step_min"] == pytest.approx(math.sqrt(1 + eta ** 2), rel=1e-10)
    assert sim["growth_per_step_max"] == pytest.approx(math.sqrt(1 + eta ** 2), rel=1e-10)
    assert sim["final_distance"] == pytest.approx(r0 * (1 + eta ** 2) ** (n / 2), rel=1e-10)
    alt = res["schemes"]["xy/alternating"]
    assert alt["Q_drift"] < 1e-12
    q0 = 2 - eta  # Q(1, 1) = 1 + 1 - eta
    assert math.sqrt(q0 / (1 + eta / 2)) - 1e-9 <= alt["final_distance"] <= math.sqrt(q0 / (1 - eta / 2)) + 1e-9
    for s in ("simultaneous", "alternating"):
        sad = res["schemes"][f"x2-y2/{s}"]
        assert sad["growth_per_step"] == pytest.approx(1 - 2 * eta, rel=1e-12)
        assert sad["final_distance"] == pytest.approx(r0 * (1 - 2 * eta) ** n, rel=1e-10)
    assert res["hessian_eigenvalues"] == pytest.approx([-2.0, 2.0], abs=1e-12)


def test_trajectories_equal_the_linear_maps():
    v0 = np.array(START)
    sim, alt = play(GAMES["xy"][0], "simultaneous"), play(GAMES["xy"][0], "alternating")
    M_sim = np.array([[1.0, -ETA], [ETA, 1.0]])
    M_alt = np.array([[1.0, -ETA], [ETA, 1.0 - ETA ** 2]])  # x' = x - eta y, then y' = y + eta x'
    for t in (1, 2, 17, STEPS):
        np.testing.assert_allclose(sim[t], np.linalg.matrix_power(M_sim, t) @ v0, rtol=1e-11)
        np.testing.assert_allclose(alt[t], np.linalg.matrix_power(M_alt, t) @ v0, rtol=1e-9, atol=1e-12)
    r2 = (sim ** 2).sum(1)
    np.testing.assert_allclose(r2[1:] / r2[:-1], 1 + ETA ** 2, rtol=1e-12)  # |v|^2 grows by 1 + eta^2 per step
    q = conserved_q(alt)
    assert np.abs(q - q[0]).max() < 1e-12
    assert np.abs(conserved_q(sim) - q[0]).max() > 1.0  # simultaneous play does not keep it
    # y plays with the new x: the other natural quadratic form, x^2 + y^2 + eta x y, is not conserved
    assert np.abs((alt ** 2).sum(1) + ETA * alt[:, 0] * alt[:, 1] - (2 + ETA)).max() > 0.1
    sad = play(GAMES["x2-y2"][0], "alternating", steps=10)
    np.testing.assert_allclose(sad, np.outer((1 - 2 * ETA) ** np.arange(11), v0), rtol=1e-12)
    desc = play(GAMES["x2-y2"][0], "descent", steps=10)
    np.testing.assert_allclose(desc[:, 1], (1 + 2 * ETA) ** np.arange(11), rtol=1e-12)


def test_verdict_rule_on_known_paths():
    t = np.arange(401)
    circle = np.stack([np.cos(0.1 * t), np.sin(0.1 * t)], 1)
    assert verdict(circle)[0] == "cycles"
    assert verdict(circle * (0.99 ** t)[:, None])[0] == "converges"
    assert verdict(circle * (1.01 ** t)[:, None])[0] == "diverges"
    assert verdict(circle * (1.0005 ** t)[:, None])[0] == "cycles"  # too slow to call within 400 steps


def test_step_size_sweep(result):
    res, _ = result
    for row in res["eta_sweep"]:
        eta = row["eta"]
        assert row["simultaneous_growth"] == pytest.approx(math.sqrt(1 + eta ** 2), rel=1e-12)
        if eta < 2:  # the map has determinant 1 and complex eigenvalues on the unit circle
            assert row["alternating_theory"] == pytest.approx(1.0, abs=1e-12)
            assert row["alternating_verdict"] == "cycles"
            assert row["alternating_Q_drift"] < 1e-9
            assert row["alternating_max_distance_ratio"] <= 1 + 1e-9  # (1, 1) lies on the ellipse's long axis
        else:  # trace 2 - eta^2 < -2: real eigenvalues, the larger |lambda| = (eta^2 - 2 + eta sqrt(eta^2 - 4)) / 2
            lam = (eta ** 2 - 2 + eta * math.sqrt(eta ** 2 - 4)) / 2
            assert row["alternating_theory"] == pytest.approx(lam, rel=1e-12)
            assert row["alternating_growth"] == pytest.approx(lam, rel=1e-9)
            assert row["alternating_verdict"] == "diverges"


def test_hessian_tells_saddle_from_minimum():
    assert hessian_eigenvalues(GAMES["x2-y2"][0]) == pytest.approx([-2.0, 2.0], abs=1e-12)
    assert hessian_eigenvalues(lambda x, y: x * x + y * y) == pytest.approx([2.0, 2.0], abs=1e-12)
    assert hessian_eigenvalues(GAMES["xy"][0]) == pytest.approx([-1.0, 1.0], abs=1e-12)


def test_pictures_are_valid(result):
    res, out = result
    assert [p.split("/")[-1] for p in res["files"]] == ["saddle.png", "saddle.gif"]
    png, gif = out / "saddle.png", out / "saddle.gif"
    with Image.open(png) as im:
        assert im.format == "PNG" and im.width > 300 and im.height > 300
    with Image.open(gif) as im:
        assert im.format == "GIF" and im.n_frames > 1
    assert gif.stat().st_size < 1_000_000


def test_progress_bar_counts_every_frame_and_the_panels(result, bars):
    bars.check_finished("saddle: drawing")
    assert bars.bars[0].total == 12 + 1  # the quick GIF's 12 frames, then the panel figure
