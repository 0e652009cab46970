"""Algorithm 1 end to end on small real data: step counting, stats, run directories, exact resume."""

import json

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.errors import UserError
from gankit.stats import read_stats
from gankit.train import train
from tests.helpers import user_error

TINY = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8", "train.batch=16",
        "train.log_every=5", "train.snapshot_every=10", "train.ckpt_every=10", "train.grid=16"]


def tiny(*extra):
    return apply_overrides(load_preset("quick-mlp"), TINY + list(extra))


def test_k_discriminator_steps_per_generator_step(tmp_path):
    cfg = tiny("train.steps=6", "train.d_steps=3")
    r = train(cfg, out=tmp_path, progress=False)
    state = load_checkpoint(r.run_dir)
    # Adam counts its own updates: k D updates for every G update.
    d_count = {int(s["step"]) for s in state["optims"]["D"]["state"].values()}
    g_count = {int(s["step"]) for s in state["optims"]["G"]["state"].values()}
    assert d_count == {18} and g_count == {6} and state["step"] == 6
    # The sampler served k fresh minibatches per step: 18 * 16 = 288 examples, i.e. 288 % N into its epoch.
    n = int(state["extra"]["sampler"]["perm"].numel())
    assert n == 1438 and int(state["extra"]["sampler"]["pos"]) == 288


def test_run_directory_contents_and_stats(tmp_path):
    r = train(tiny("train.steps=20"), out=tmp_path, progress=False)
    assert r.run_dir.name == "00000-quick-mlp" and r.step == 20 and not r.interrupted
    rows = read_stats(r.run_dir / "stats.jsonl")
    assert [row["step"] for row in rows] == list(range(1, 21))
    for key in ("loss_D", "loss_G", "D_real", "D_fake", "grad_norm_D", "grad_norm_G"):
        assert all(key in row for row in rows)
    assert all(0 <= row["D_real"] <= 1 and 0 <= row["D_fake"] <= 1 for row in rows)
    assert json.loads((r.run_dir / "config.json").read_text())["train"]["steps"] == 20
    for name in ("samples-000010.png", "samples-000020.png", "samples.png", "checkpoint.pt"):
        assert (r.run_dir / name).is_file()
    # A second run never overwrites the first.
    r2 = train(tiny("train.steps=2"), out=tmp_path, progress=False)
    assert r2.run_dir.name == "00001-quick-mlp"


def test_deterministic_for_a_seed_on_cpu(tmp_path):
    a = load_checkpoint(train(tiny("train.steps=15"), out=tmp_path / "a", progress=False).run_dir)
    b = load_checkpoint(train(tiny("train.steps=15"), out=tmp_path / "b", progress=False).run_dir)
    c = load_checkpoint(train(tiny("train.steps=15", "train.seed=1"), out=tmp_path / "c", progress=False).run_dir)
    a, b, c = a["nets"], b["nets"], c["nets"]
    for k in a["G"]:
        assert torch.equal(a["G"][k], b["G"][k])
    assert any(not torch.equal(a["G"][k], c["G"][k]) for k in a["G"])


def _assert_same_training_state(a, b):
    assert a["step"] == b["step"]
    for part in ("G", "D", "G_ema"):
        for k in a["nets"][part]:
            assert torch.equal(a["nets"][part][k], b["nets"][part][k]), f"{part}.{k} differs"
    for opt in ("G", "D"):
        for i, s in a["optims"][opt]["state"].items():
            for k, v in s.items():
                assert torch.equal(v, b["optims"][opt]["state"][i][k]), f"optimizer {opt}[{i}].{k} differs"
    assert torch.equal(a["rng"]["torch"], b["rng"]["torch"]) and torch.equal(a["rng"]["z"], b["rng"]["z"])


@pytest.mark.parametrize("extra", [[], ["train.ema=0.9", "D.dropout=0.3", "optim.name=sgd", "optim.lr_g=0.05",
                                        "optim.lr_d=0.05", "optim.momentum_ramp_steps=30", "optim.momentum_final=0.7",
                                        "optim.lr_decay=1.01"],
                                   ["loss.d_loss=wasserstein", "loss.g_loss=wasserstein", "loss.gp_lambda=10",
                                    "loss.r1_gamma=1", "D.spectral_norm=true", "D.dropout=0.3", "loss.clip=0.5"]])
def test_resume_is_bitwise_exact(tmp_path, extra):
    full = train(tiny("train.steps=30", *extra), out=tmp_path / "full", progress=False)
    half = train(tiny("train.steps=13", *extra), out=tmp_path / "half", progress=False)
    resumed = train(resume=half.run_dir, steps=30, progress=False)
    assert resumed.run_dir == half.run_dir and resumed.step == 30
    _assert_same_training_state(load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir))
    assert [r["step"] for r in read_stats(resumed.run_dir / "stats.jsonl")] == list(range(1, 31))


def test_batch_larger_than_data_is_a_user_error(tmp_path):
    with pytest.raises(UserError, match="larger than the dataset"):
        train(tiny("train.batch=5000"), out=tmp_path, progress=False)


def test_divergence_stops_with_one_clear_error_and_keeps_the_checkpoint(tmp_path):
    from gankit.train import TrainingDiverged

    cfg = tiny("train.steps=200", "train.ckpt_every=5", "optim.name=sgd", "optim.lr_d=3", "optim.lr_g=3")
    with pytest.raises(TrainingDiverged, match=r"became NaN or infinite at step \d+") as e:
        train(cfg, out=tmp_path, progress=False)
    assert "\n" not in str(e.value)
    state = load_checkpoint(tmp_path / "00000-quick-mlp")
    assert all(torch.isfinite(v).all() for v in state["nets"]["G"].values())  # the kept checkpoint is a good one


def test_ema_follows_its_warmed_up_recurrence(tmp_path):
    """G_ema after 2 steps = the average with decays min(ema, (1+t)/(10+t)) of G's weights after each step."""
    a = load_checkpoint(train(tiny("train.steps=1", "train.ema=0.99"), out=tmp_path / "a", progress=False).run_dir)
    b = load_checkpoint(train(tiny("train.steps=2", "train.ema=0.99"), out=tmp_path / "b", progress=False).run_dir)
    a, b = a["nets"], b["nets"]
    for k, w0 in a["G_ema"].items():
        if not w0.is_floating_point() or "running" in k:
            continue  # buffers (BatchNorm statistics) are copied, not averaged
        beta = min(0.99, 2 / 11)  # the decay at the second update (t = 1)
        expected = beta * a["G_ema"][k] + (1 - beta) * b["G"][k]
        assert torch.allclose(b["G_ema"][k], expected, atol=1e-6), k
    # The first update (t = 0) uses decay 1/10, so G_ema starts close to G, not to the init.
    for k in a["G_ema"]:
        if a["G_ema"][k].is_floating_point() and "running" not in k:
            assert (a["G_ema"][k] - a["G"][k]).abs().max() < 0.2 * (a["G"][k].abs().max() + 1e-3)


def test_ema_by_half_life_in_images_follows_its_recurrence(tmp_path):
    """train.ema_kimg: beta = 0.5 ** (batch / half-life in images); with the warm-up the first update copies G."""
    batch = tiny().train.batch
    runs = {}
    for name, extra in {"a": ["train.steps=1"], "b": ["train.steps=2"], "w": ["train.steps=1"]}.items():
        rampup = "0.05" if name == "w" else "0"
        cfg = tiny(*extra, "train.ema=0", "train.ema_kimg=0.1", f"train.ema_rampup={rampup}")
        runs[name] = load_checkpoint(train(cfg, out=tmp_path / name, progress=False).run_dir)["nets"]
    a, b, w = runs["a"], runs["b"], runs["w"]
    beta = 0.5 ** (batch / 100)  # a half-life of 100 images, no warm-up
    moved = 0.0
    for k, w0 in a["G_ema"].items():
        if not w0.is_floating_point() or "running" in k:
            continue  # buffers (BatchNorm statistics) are copied, not averaged
        assert torch.allclose(b["G_ema"][k], beta * a["G_ema"][k] + (1 - beta) * b["G"][k], atol=1e-6), k
        assert torch.equal(w["G_ema"][k], w["G"][k]), k  # warm-up: half-life 0 images at the first update
        moved = max(moved, (b["G_ema"][k] - b["G"][k]).abs().max().item())
    assert moved > 1e-4  # the average lags G: the recurrence above was not trivially G itself
    user_error(lambda: tiny("train.ema=0.99", "train.ema_kimg=10"), "train.ema", "train.ema_kimg", "set one")
    user_error(lambda: tiny("train.ema=0", "train.ema_kimg=-1"), "train.ema_kimg", ">= 0")


def test_the_engine_writes_the_report_at_the_end(tmp_path):
    r = train(tiny("train.steps=4"), out=tmp_path / "a", progress=False)
    assert r.report == r.run_dir / "report.html" and "<html" in r.report.read_text()
    quiet = train(tiny("train.steps=4"), out=tmp_path / "b", progress=False, report=False)
    assert quiet.report is None and not (quiet.run_dir / "report.html").exists()
