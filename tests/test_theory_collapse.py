"""`gankit theory collapse`: ring8-vanilla against the ring8 preset, modes covered at each snapshot.

The quick version trains both presets for a few segments; the tests check its pictures, and recount
every snapshot's modes from the saved samples with a direct nearest-centre computation.
"""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.theory import collapse, run_theory
from gankit.theory.collapse import HQ_GAUSSIAN_2D, N_SAMPLES, PRESETS, QUICK_SCHEDULE, SEED, score
from helpers import BarRecorder


@pytest.fixture(scope="module")
def bars():
    """The progress bars the quick run below makes (it runs with progress=True, the command's default)."""
    return BarRecorder()


@pytest.fixture(scope="module")
def result(tmp_path_factory, bars):
    out = tmp_path_factory.mktemp("collapse")
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(collapse, "progress_bar", bars)
        return run_theory("collapse", out, quick=True, progress=True), out


def recount(x: np.ndarray, centers: np.ndarray, std: float) -> tuple[int, int, list[int]]:
    """(modes covered, high-quality samples, per-mode counts), one sample at a time: nearest centre, < 3 std."""
    counts = [0] * len(centers)
    for p in x:
        dist = [math.hypot(p[0] - c[0], p[1] - c[1]) for c in centers]
        k = min(range(len(centers)), key=dist.__getitem__)
        if dist[k] < 3.0 * std:
            counts[k] += 1
    return sum(c > 0 for c in counts), sum(counts), counts


def test_result_structure_and_claims(result):
    res, out = result
    assert res["name"] == "collapse" and res["summary"].startswith(f"seed {SEED}")
    assert res["quick"] is True and res["seed"] == SEED
    assert len(res["claims"]) >= 10
    for c in res["claims"]:
        assert set(c) == {"claim", "measured", "theory", "tolerance", "holds"}
        assert isinstance(c["claim"], str) and c["claim"]
        assert isinstance(c["measured"], float) and math.isfinite(c["measured"])
        assert isinstance(c["theory"], (float, int, str))
        assert isinstance(c["tolerance"], str) and isinstance(c["holds"], bool)
    by_text = {c["claim"]: c for c in res["claims"]}
    # claims that do not depend on how long the nets trained hold in the quick version too
    p_data = [c for t, c in by_text.items() if t.startswith("p_data")]
    assert len(p_data) == 2 and all(c["holds"] for c in p_data)
    agree = [c for t, c in by_text.items() if t.startswith("gankit eval")]
    assert len(agree) == 1 and agree[0]["holds"] and agree[0]["measured"] == 0.0
    json.dumps(res, allow_nan=False)  # strict JSON: no NaN (an undefined KL is None)
    saved = json.loads((out / "collapse.json").read_text())  # run_theory wrote the same result as JSON
    assert saved["summary"] == res["summary"]
    assert [c["holds"] for c in saved["claims"]] == [c["holds"] for c in res["claims"]]


def test_files_are_valid_pictures(result):
    res, out = result
    names = {f.split("/")[-1] for f in res["files"]}
    assert names == {"collapse.png", "collapse-modes.png", "collapse.gif", "collapse-samples.npz"}
    for name in ("collapse.png", "collapse-modes.png"):
        with Image.open(out / name) as im:
            im.verify()
        with Image.open(out / name) as im:
            assert im.format == "PNG" and im.width > 300 and im.height > 200
    gif = out / "collapse.gif"
    assert gif.stat().st_size < 1.5e6
    with Image.open(gif) as im:
        assert im.format == "GIF"
        n_snap = QUICK_SCHEDULE["ring8"][0] // QUICK_SCHEDULE["ring8"][1]
        assert im.n_frames == n_snap > 1
        im.seek(im.n_frames - 1)
        assert len(im.convert("RGB").getcolors(maxcolors=1 << 16)) > 4  # a drawn frame, not a blank one


def test_snapshots_follow_the_schedule_with_integer_mode_counts(result):
    res, _ = result
    for preset in PRESETS:
        steps, every = QUICK_SCHEDULE[preset]
        r = res["runs"][preset]
        assert [s["step"] for s in r["snapshots"]] == list(range(every, steps + 1, every))
        for s in r["snapshots"]:
            assert isinstance(s["modes_covered"], int) and 0 <= s["modes_covered"] <= 8
            assert s["n_modes"] == 8
            assert 0.0 <= s["high_quality"] <= 1.0
            assert sum(s["counts"]) == round(s["high_quality"] * N_SAMPLES)
            assert sum(s["nearest_counts"]) == N_SAMPLES
            assert 1.0 - 1e-9 <= s["effective_modes"] <= 8.0 + 1e-9


def test_mode_counts_match_an_independent_recount_of_the_saved_samples(result):
    res, out = result
    saved = np.load(out / "collapse-samples.npz")
    centers, std = saved["centers"], float(saved["std"])
    assert centers.shape == (8, 2)
    np.testing.assert_allclose(np.hypot(centers[:, 0], centers[:, 1]), 1 / 1.03, rtol=1e-12)  # radius 1, scaled
    assert std == pytest.approx(0.01 / 1.03, rel=1e-12)
    for preset in PRESETS:
        snaps = res["runs"][preset]["snapshots"]
        x_all = saved[f"{preset}/samples"]
        assert x_all.shape == (len(snaps), N_SAMPLES, 2)
        assert saved[f"{preset}/steps"].tolist() == [s["step"] for s in snaps]
        for x, s in zip(x_all.astype(np.float64), snaps):
            covered, n_good, counts = recount(x, centers, std)
            assert (covered, counts) == (s["modes_covered"], s["counts"]), (preset, s["step"])
            assert n_good / N_SAMPLES == pytest.approx(s["high_quality"], abs=1e-12)


def test_saved_samples_are_the_final_checkpoints_samples(result):
    """The last snapshot's samples are G_ema's from the run directory, with gankit eval's noise (seed 0)."""
    from gankit.generate import generate, load_generator

    res, out = result
    saved = np.load(out / "collapse-samples.npz")
    for preset in PRESETS:
        r = res["runs"][preset]
        G, cfg, info = load_generator(r["run_dir"])
        assert cfg.preset == preset and cfg.train.seed == SEED and cfg.train.threads == 1
        x = generate(G, N_SAMPLES, seed=0).numpy()
        np.testing.assert_array_equal(x, saved[f"{preset}/samples"][-1])
        assert res["eval"][preset]["modes_covered"] == r["snapshots"][-1]["modes_covered"]


def test_training_in_segments_equals_training_straight_through(result, tmp_path):
    """The snapshots change nothing: a run trained to the last step in one go ends with the same G."""
    from gankit.checkpoint import load_checkpoint
    from gankit.config import apply_overrides, load_preset
    from gankit.train import train

    res, _ = result
    preset = "ring8-vanilla"
    steps, every = QUICK_SCHEDULE[preset]
    cfg = apply_overrides(load_preset(preset), [f"train.seed={SEED}", "train.threads=1", "train.precision=fp32",
                                                f"train.snapshot_every={every}", f"train.steps={steps}"])
    straight = train(cfg, out=tmp_path, progress=False)
    a = load_checkpoint(straight.run_dir)["nets"]["G"]
    b = load_checkpoint(res["runs"][preset]["run_dir"])["nets"]["G"]
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def test_score_on_known_samples():
    centers = np.array([[math.cos(2 * math.pi * k / 8), math.sin(2 * math.pi * k / 8)] for k in range(8)])
    std = 0.01
    on_every_mode = np.repeat(centers, 10, axis=0)  # 10 samples exactly on each centre
    s = score(on_every_mode, centers, std)
    assert (s["modes_covered"], s["high_quality"], s["counts"]) == (8, 1.0, [10] * 8)
    assert s["effective_modes"] == pytest.approx(8.0) and s["kl"] == pytest.approx(0.0, abs=1e-12)
    beside_one = centers[[2]] + np.array([[0.05, 0.0]]) + np.zeros((50, 1))  # 5 std from centre 2: not high quality
    s = score(beside_one, centers, std)
    assert (s["modes_covered"], s["high_quality"], s["dominant_mode"], s["dominant_share"]) == (0, 0.0, 2, 1.0)
    assert s["effective_modes"] == pytest.approx(1.0) and s["kl"] is None  # no high-quality sample: KL undefined
    assert s["median_distance_std"] == pytest.approx(5.0)


def test_p_data_reference_scores_like_a_2d_gaussian(result):
    res, _ = result
    ref = res["p_data"]
    assert ref["modes_covered"] == 8
    assert abs(ref["high_quality"] - HQ_GAUSSIAN_2D) < 0.01  # 1 - exp(-9/2) = 0.98889
    assert ref["effective_modes"] > 7.9


def test_progress_bar_counts_both_presets_steps(result, bars):
    bars.check_finished("collapse")
    assert bars.bars[0].total == sum(steps for steps, _ in QUICK_SCHEDULE.values())
    assert bars.bars[0].postfixes == list(PRESETS)  # the preset in training is named beside the bar
