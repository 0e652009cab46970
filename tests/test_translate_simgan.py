"""SimGAN (gankit.systems.simgan): losses against hand computation, the fonts task, the training
phases of Algorithm 1, and the CLI (train, apply, one-line user errors)."""

import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.translate import build_task, list_presets, load_translator, resolve_config
from gankit.systems.simgan import SimGAN, loss_D, loss_R_adv, loss_R_reg
from helpers import run_cli, user_error

# Tiny nets and data so that everything here runs in seconds on one thread.
TINY = {"r_base": 4, "r_blocks": 1, "d_base": 4, "batch": 8, "n_train": 64, "pool": 64, "n_test": 24,
        "pretrain_r": 1, "pretrain_d": 1, "history": 16, "threads": 1, "log_every": 1, "snapshot_every": 100}
TINY_SET = [arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")]


# ----------------------------------------------------------------------------------------------
# Losses.


def test_losses_match_hand_computation():
    sig = lambda t: 1 / (1 + math.exp(-t))  # noqa: E731  D's "real" probability of a logit
    real = torch.tensor([2.0, -1.0]).view(1, 1, 1, 2)  # one image, two patches
    refined = torch.tensor([0.5, -3.0, 1.0, 0.0]).view(2, 1, 1, 2)
    # Eq. 2 with D_paper = P(refined) = 1 - sig(l): -log D_paper(x~) - log(1 - D_paper(y)), per patch, averaged.
    want_d = (-sum(math.log(1 - sig(t)) for t in [0.5, -3.0, 1.0, 0.0]) / 4
              - sum(math.log(sig(t)) for t in [2.0, -1.0]) / 2)
    assert float(loss_D(real, refined)) == pytest.approx(want_d, rel=1e-6)
    # Eq. 3: -log(1 - D_paper(R(x))) = -log sig(l).
    want_adv = -sum(math.log(sig(t)) for t in [0.5, -3.0, 1.0, 0.0]) / 4
    assert float(loss_R_adv(refined)) == pytest.approx(want_adv, rel=1e-6)
    # Eq. 4's ||R(x) - x||_1 with psi = identity, averaged over pixels and images.
    x = torch.tensor([[0.0, 1.0], [-1.0, 0.5]]).view(1, 1, 2, 2)
    r = torch.tensor([[0.5, 1.0], [-0.5, -0.5]]).view(1, 1, 2, 2)
    assert float(loss_R_reg(r, x)) == pytest.approx((0.5 + 0 + 0.5 + 1.0) / 4)
    assert float(loss_R_reg(x, x)) == 0.0


def test_realism_loss_falls_as_d_believes_more():
    low, high = torch.full((2, 1, 3, 3), -2.0), torch.full((2, 1, 3, 3), 2.0)
    assert loss_R_adv(high) < loss_R_adv(low)
    assert loss_D(high, low) < loss_D(low, high)  # D is right: real high, refined low


# ----------------------------------------------------------------------------------------------
# Task.


def test_fonts_task_shapes_labels_and_determinism():
    cfg = resolve_config("simgan", {"pool": 40, "n_test": 20})
    train = build_task(cfg, "train")
    assert train.a.shape == (40, 1, 28, 28) and train.b.shape == (4000, 1, 28, 28) and not train.paired
    assert train.a.min() >= -1 and train.a.max() <= 1 and train.b.min() >= -1 and train.b.max() <= 1
    assert np.bincount(train.y_a.numpy(), minlength=10).tolist() == [4] * 10
    test = build_task(cfg, "test")
    assert test.a.shape == (20, 1, 28, 28) and test.b.shape == (1000, 1, 28, 28) and len(test.y_b) == 1000
    assert not torch.equal(test.a, train.a[:20])  # a disjoint stream of the same pool seed
    again = build_task(cfg, "train")
    assert torch.equal(again.a, train.a) and torch.equal(again.y_a, train.y_a)
    other = build_task(resolve_config("simgan", {"pool": 40, "pool_seed": 1}), "train")
    assert not torch.equal(other.a, train.a)
    head = build_task(resolve_config("simgan", {"pool": 40, "n_train": 10}), "train")
    assert torch.equal(head.a, train.a[:10]) and len(head.b) == 10


# ----------------------------------------------------------------------------------------------
# The system.


def _system(**over):
    cfg = resolve_config("simgan", {**TINY, **over})
    torch.manual_seed(0)
    return SimGAN(cfg, (1, 28, 28), (1, 28, 28), torch.device("cpu"))


def _batch(seed=0):
    g = torch.Generator().manual_seed(seed)
    return {"a": torch.rand(8, 1, 28, 28, generator=g) * 2 - 1, "b": torch.rand(8, 1, 28, 28, generator=g) * 2 - 1}


def _params(net):
    return torch.cat([p.detach().flatten().clone() for p in net.parameters()])


def test_refiner_keeps_the_resolution_and_d_gives_a_patch_map():
    s = _system(d_layers=1)
    x = _batch()["a"]
    assert s.R(x).shape == x.shape and s.R(x).abs().max() <= 1
    assert s.D(x).shape == (8, 1, 12, 12)  # one logit per 16x16 patch (section 2.2)
    assert _system(d_layers=2).D(x).shape == (8, 1, 5, 5)
    assert s.translate_batched(x[:3]).shape == (3, 1, 28, 28)


def test_phases_update_the_right_networks():
    s = _system(pretrain_r=2, pretrain_d=2, k_g=2, k_d=1)
    keys = {"loss_R", "loss_R_adv", "loss_R_reg", "loss_D", "D_real", "D_refined"}
    r0, d0 = _params(s.R), _params(s.D)
    out = s.train_step(0, _batch(0))  # pretraining R: self-regularisation only
    assert set(out) == keys and float(out["loss_R"]) == pytest.approx(float(out["loss_R_reg"]))
    r1, d1 = _params(s.R), _params(s.D)
    assert not torch.equal(r0, r1) and torch.equal(d0, d1) and len(s.history) == 0
    out = s.train_step(2, _batch(1))  # pretraining D: R fixed, the buffer starts to fill
    assert set(out) == keys
    r2, d2 = _params(s.R), _params(s.D)
    assert torch.equal(r1, r2) and not torch.equal(d1, d2) and len(s.history) == 8
    s.train_step(4, _batch(2))  # adversarial: K_g = 2 R updates, K_d = 1 D update
    assert not torch.equal(r2, _params(s.R)) and not torch.equal(d2, _params(s.D))
    adam_steps = lambda name: int(next(iter(s.optims[name].state.values()))["step"])  # noqa: E731
    assert adam_steps("R") == 1 + 2 and adam_steps("D") == 1 + 1


def test_adversarial_refiner_loss_adds_lambda_times_l1():
    s = _system(pretrain_r=0, pretrain_d=0, lambda_reg=3.0)
    out = s.train_step(0, _batch())
    assert float(out["loss_R"]) == pytest.approx(float(out["loss_R_adv"]) + 3.0 * float(out["loss_R_reg"]), rel=1e-5)


def test_r1_on_the_real_images_is_its_formula_and_joins_ds_gradient():
    # R1 = gamma/2 * mean_i ||d/dy_i mean_patches D(y_i)||^2, each image's gradient computed on its own here (the
    # system takes all of them from one backward of the loss pass); D's gradient is that of loss_D + R1.
    import copy

    gamma = 2.5
    s = _system(pretrain_r=1, pretrain_d=1, history=0, r1_gamma=gamma)
    batch = _batch(3)
    out = s.train_step(0, batch)  # pretraining R: D only measured, R1 logged as 0
    assert "r1" in out and float(out["r1"]) == 0.0
    D0 = copy.deepcopy(s.D)
    out = s.train_step(1, batch)  # D alone: one Adam step on loss_D + R1
    y = batch["b"]
    norms = [torch.autograd.functional.jacobian(lambda yi: D0(yi[None]).mean(), y[i]).pow(2).sum() for i in range(8)]
    want = gamma / 2 * torch.stack(norms).mean()
    assert float(out["r1"]) == pytest.approx(float(want), rel=1e-4) and float(want) > 0
    with torch.no_grad():
        refined = s.R(batch["a"])
    yg = y.clone().requires_grad_(True)
    g = torch.autograd.grad(D0(yg).flatten(1).mean(1).sum(), yg, create_graph=True)[0]
    total = loss_D(D0(y), D0(refined)) + gamma / 2 * g.flatten(1).pow(2).sum(1).mean()
    grads = torch.autograd.grad(total, list(D0.parameters()))
    for p, want_grad in zip(s.D.parameters(), grads):
        torch.testing.assert_close(p.grad, want_grad, rtol=1e-4, atol=1e-6)
    assert "r1" not in _system(pretrain_r=0, pretrain_d=1).train_step(0, batch)  # off: the key is not logged


def test_preview_pairs_each_input_with_its_refinement():
    from gankit.data.tasks import TaskData

    s = _system()
    x = _batch()["a"]
    tiles, cols = s.preview(TaskData(x, x, paired=False))  # 8 inputs: 4 pairs per row, 2 rows
    assert cols == 8 and tiles.shape == (16, 1, 28, 28)
    assert torch.equal(tiles[0], x[0]) and torch.equal(tiles[2], x[2]) and torch.equal(tiles[8], x[1])
    assert torch.allclose(tiles[1], s.translate_batched(x[:1])[0])
    tiles, cols = s.preview(TaskData(x[:2], x, paired=False))  # fewer inputs than pairs per row
    assert cols == 4 and tiles.shape == (4, 1, 28, 28)


def test_history_is_checkpointed():
    s = _system(pretrain_r=0, pretrain_d=0)
    s.train_step(0, _batch())
    t = _system()
    t.load_extra_state(s.extra_state())
    assert torch.equal(t.history.images, s.history.images)


# ----------------------------------------------------------------------------------------------
# CLI.


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    from gankit.translate import train_translation

    out = tmp_path_factory.mktemp("simgan")
    return train_translation("simgan-fonts", overrides=dict(TINY), out=out, steps=4, progress=False).run_dir


def test_preset_is_listed_and_is_the_default():
    assert list_presets()["simgan-fonts"][0] == "simgan"
    assert resolve_config("simgan")["preset"] == "simgan-fonts"


def test_cli_train_apply_task_and_png_folder(tmp_path, capsys):
    code, out, err = run_cli(["translate", "train", "--system", "simgan", *TINY_SET, "--steps", "3", "--quiet",
                              "--out", str(tmp_path / "runs")], capsys)
    assert code == 0, err
    run = next((tmp_path / "runs").iterdir())
    assert "trained 3 steps" in out and (run / "samples.png").is_file() and (run / "checkpoint.pt").is_file()
    lines = (run / "stats.jsonl").read_text().splitlines()
    assert len(lines) == 3 and "loss_D" in lines[-1]

    code, out, err = run_cli(["translate", "apply", str(run), "task:test", "--out", str(tmp_path / "r.npz"),
                              "--grid", str(tmp_path / "grid.png")], capsys)
    assert code == 0, err
    arrays = np.load(tmp_path / "r.npz")
    assert arrays["x"].shape == (24, 1, 28, 28) and arrays["x"].dtype == np.uint8
    system = load_translator(run)
    test = build_task(system.cfg, "test")
    want = ((system.translate_batched(test.a).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(arrays["x"], want)  # apply = the refiner on the task's synthetic test digits

    pngs = tmp_path / "pngs"
    pngs.mkdir()
    for i in range(3):
        Image.fromarray(((test.a[i, 0] + 1) * 127.5).round().byte().numpy()).save(pngs / f"d{i}.png")
    code, out, err = run_cli(["translate", "apply", str(run), str(pngs), "--out", str(tmp_path / "refined")], capsys)
    assert code == 0, err
    written = sorted(p.name for p in (tmp_path / "refined").iterdir())
    assert written == ["d0.png", "d1.png", "d2.png"]
    assert np.array_equal(np.asarray(Image.open(tmp_path / "refined" / "d0.png")), want[0, 0])


def test_trained_run_reloads_and_refines_deterministically(run_dir):
    a = load_translator(run_dir)
    b = load_translator(run_dir)
    x = build_task(a.cfg, "test").a[:5]
    assert torch.equal(a.translate_batched(x), b.translate_batched(x))


@pytest.mark.parametrize("args,fragments", [
    (["--set", "r_norm=group"], ["'r_norm' must be one of", "group"]),
    (["--set", "k_g=0"], ["'k_g' must be at least 1", "got 0"]),
    (["--set", "lambda_reg=-1"], ["'lambda_reg' must be >= 0"]),
    (["--set", "r1_gamma=-0.5"], ["'r1_gamma' must be >= 0"]),
    (["--set", "lambda_reg=x"], ["'simgan.lambda_reg' expects float", "'x'"]),
    (["--set", "task=edges"], ["simgan has no task 'edges'", "fonts"]),
])
def test_bad_config_is_one_line_with_exit_code_2(tmp_path, capsys, args, fragments):
    code, _, err = run_cli(["translate", "train", "--system", "simgan", *args, "--steps", "1", "--quiet",
                            "--out", str(tmp_path)], capsys)
    assert code == 2 and len(err.strip().splitlines()) == 1
    for f in fragments:
        assert f in err, err


def test_channel_mismatch_and_direction_are_one_line(tmp_path, capsys, run_dir):
    for side, mode in (("a", "RGB"), ("b", "L")):
        (tmp_path / side).mkdir()
        for i in range(2):
            Image.new(mode, (28, 28)).save(tmp_path / side / f"{i}.png")
    code, _, err = run_cli(["translate", "train", "--system", "simgan", "--data-a", str(tmp_path / "a"),
                            "--data-b", str(tmp_path / "b"), "--steps", "1", "--quiet", "--out", str(tmp_path / "r")],
                           capsys)
    assert code == 2 and "side A has 3 channels, side B 1" in err and len(err.strip().splitlines()) == 1
    code, _, err = run_cli(["translate", "apply", str(run_dir), "task:test", "--out", str(tmp_path / "x.npz"),
                            "--direction", "BtoA"], capsys)
    assert code == 2 and "simgan translates AtoB" in err
    user_error(lambda: build_task(resolve_config("simgan", {"pool": 5}), "train"), "'pool' must be at least 10")
