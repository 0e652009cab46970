"""CycleGAN (gankit.systems.cyclegan): losses against hand computation, the mnist-m task, the
training step's weighting, the CLI round trip in both directions, and one-line user errors."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.losses import d_loss_ls, g_loss_ls
from gankit.translate import build_task, resolve_config
from gankit.data.tasks import Batches
from gankit.systems.cyclegan import (TEXTURE_MAX, CycleGAN, blend, loss_cycle, loss_gan_d, loss_gan_g, loss_identity,
                                       lr_factor, textures)
from helpers import run_cli as run
from helpers import user_error

TINY = {"n_train": 64, "g_base": 4, "g_blocks": 1, "d_base": 4, "batch": 4, "threads": 1}
TINY_SET = [arg for k, v in TINY.items() for arg in ("--set", f"{k}={v}")]


def test_losses_match_hand_computation():
    d = torch.tensor([0.5, 1.0, -1.0, 2.0]).view(1, 1, 2, 2)  # a 2x2 PatchGAN map
    assert loss_gan_g(d).item() == pytest.approx((0.25 + 0 + 4 + 1) / 4)  # mean (D - 1)^2
    assert loss_gan_g(d).item() == pytest.approx(2 * g_loss_ls(d).item())  # LSGAN's 1/2 dropped
    real, fake = torch.tensor([1.0, 0.0]), torch.tensor([0.0, 1.0])
    # halved: 1/2 (mean (D(y)-1)^2 + mean D(G(x))^2)
    assert loss_gan_d(real, fake).item() == pytest.approx(0.5 * (0.5 + 0.5))
    assert loss_gan_d(real, fake).item() == d_loss_ls(real, fake).item()
    a, a_rec = torch.zeros(1, 1, 1, 2), torch.tensor([0.2, -0.4]).view(1, 1, 1, 2)
    b, b_rec = torch.ones(1, 1, 1, 2), torch.tensor([1.0, 0.0]).view(1, 1, 1, 2)
    assert loss_cycle(a, a_rec, b, b_rec).item() == pytest.approx(0.3 + 0.5)  # mean |F(G(a)) - a| + mean |G(F(b)) - b|
    assert loss_identity(a, a_rec, b, b_rec).item() == pytest.approx(0.5 + 0.3)  # mean |G(b) - b| + mean |F(a) - a|
    assert loss_cycle(a, a, b, b).item() == 0


def test_lr_is_constant_then_decays_linearly_to_zero():
    assert [lr_factor(s, 100, 0.5) for s in (0, 49, 50, 75, 99)] == pytest.approx([1, 1, 1, 0.5, 0.02])
    assert lr_factor(99, 100, 1.0) == 1.0  # decay_start 1: never decays
    assert lr_factor(0, 100, 0.0) == 1.0 and lr_factor(50, 100, 0.0) == pytest.approx(0.5)


def test_blend_is_mnist_m_absolute_difference():
    digit = torch.tensor([-1.0, 1.0, 0.0]).view(1, 1, 1, 3)  # black, white, half
    tex = torch.tensor([0.2, 0.6, 0.4]).view(1, 3, 1, 1).expand(1, 3, 1, 3)
    out = (blend(digit, tex) + 1) / 2  # back to [0, 1]
    assert torch.allclose(out[0, :, 0, 0], torch.tensor([0.2, 0.6, 0.4]))  # background: the texture
    assert torch.allclose(out[0, :, 0, 1], torch.tensor([0.8, 0.4, 0.6]))  # stroke: 1 - texture
    assert torch.allclose(out[0, :, 0, 2], torch.tensor([0.3, 0.1, 0.1]))  # |t - 0.5|
    t = textures(50, 28, torch.Generator().manual_seed(0))
    assert t.shape == (50, 3, 28, 28) and t.min() >= 0 and t.max() <= TEXTURE_MAX
    assert torch.equal(t, textures(50, 28, torch.Generator().manual_seed(0)))


def test_mnist_m_task_is_unpaired_coloured_fixed_and_labelled():
    cfg = resolve_config("cyclegan")
    train, test = build_task(cfg, "train"), build_task(cfg, "test")
    assert not train.paired and train.a.shape == train.b.shape == (2000, 3, 28, 28)
    assert test.a.shape == test.b.shape == (500, 3, 28, 28)
    for d in (train, test):
        assert d.a.min() >= -1 and d.a.max() <= 1 and d.b.min() >= -1 and d.b.max() <= 1
        assert torch.equal(d.a[:, 0], d.a[:, 1]) and torch.equal(d.a[:, 0], d.a[:, 2])  # A: gray as RGB
        assert (d.b[:, 0] - d.b[:, 1]).abs().mean() > 0.1  # B: coloured
        assert len(d.y_a) == len(d.a) and len(d.y_b) == len(d.b) and set(d.y_b.tolist()) == set(range(10))
    again = build_task(resolve_config("cyclegan", {"seed": 7}), "train")  # the run's seed does not change the data
    assert torch.equal(again.b, train.b) and torch.equal(again.y_a, train.y_a)
    # A and B come from disjoint halves of mnist-5k: B's digit (its strokes) never equals an A image.
    from gankit.config import DataConfig
    from gankit.data import build_dataset

    raw = build_dataset(DataConfig(name="mnist-5k"), "train")
    assert torch.equal(train.a[:, :1], raw.x[:2000]) and torch.equal(train.y_b, raw.y[2000:].long())
    # The digit stays visible: stroke pixels differ from the background by more than the texture's range.
    strokes = raw.x[2000:2100] > 0.5
    b = (train.b[:100] + 1) / 2
    assert (b.mean(1, keepdim=True)[strokes].mean() - b.mean(1, keepdim=True)[~strokes].mean()) > 0.2


def _system(**over):
    cfg = resolve_config("cyclegan", {**TINY, **over})
    data = build_task(cfg, "train")
    return CycleGAN(cfg, data.shape_a, data.shape_b, torch.device("cpu")), data


def test_train_step_weights_the_losses_and_fills_the_history():
    torch.manual_seed(0)
    system, data = _system()
    assert set(system.nets) == {"G", "F", "D_A", "D_B"}
    conv = system.nets["G"].net[1]
    assert conv.weight.std().item() == pytest.approx(0.02, rel=0.2) and conv.bias.abs().max() == 0  # N(0, 0.02)
    stats = {k: v.item() for k, v in system.train_step(0, Batches(data, 4, 0).next()).items()}
    # eq. 3 + identity: loss_G = GAN terms + 10 * cycle + 0.5 * 10 * identity
    assert stats["loss_G"] == pytest.approx(stats["loss_G_gan"] + 10 * stats["loss_cycle"]
                                                   + 5 * stats["loss_identity"], rel=1e-5)
    assert stats["loss_cycle"] > 0 and stats["loss_identity"] > 0
    assert len(system.history_a) == len(system.history_b) == 4
    state = system.extra_state()
    other, _ = _system()
    other.load_extra_state(state)
    assert torch.equal(other.history_b.images, system.history_b.images)
    x = data.a[:2]
    assert system.translate(x, "AtoB").shape == system.translate(x, "BtoA").shape == (2, 3, 28, 28)
    tiles, cols = system.preview(data, n=3)
    assert cols == 6 and tiles.shape == (18, 3, 28, 28)  # a | G(a) | F(G(a)) | b | F(b) | G(F(b))


def test_no_cycle_ablation_has_only_the_gan_terms():
    system, data = _system(lambda_cycle=0.0)
    stats = system.train_step(0, Batches(data, 4, 0).next())
    assert stats["loss_cycle"] == 0 and stats["loss_identity"] == 0
    assert stats["loss_G"].item() == pytest.approx(stats["loss_G_gan"].item())
    assert resolve_config("cyclegan-no-cycle")["lambda_cycle"] == 0


def test_cli_train_resume_and_apply_both_directions(tmp_path, capsys):
    code, out, err = run(["translate", "train", "--system", "cyclegan", "--steps", "3", *TINY_SET,
                          "--set", "log_every=1", "--out", str(tmp_path / "runs"), "--quiet"], capsys)
    assert code == 0, err
    run_dir = next((tmp_path / "runs").iterdir())
    assert run_dir.name.endswith("cyclegan-mnist-m") and (run_dir / "samples.png").exists()
    stats = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [s["step"] for s in stats] == [1, 2, 3] and {"loss_cycle", "loss_D_A", "loss_D_B"} <= set(stats[0])
    code, out, err = run(["translate", "train", "--resume", str(run_dir), "--steps", "5", "--quiet"], capsys)
    assert code == 0 and "trained 5 steps" in out, err
    for direction in ("AtoB", "BtoA"):
        npz = tmp_path / f"{direction}.npz"
        code, _, err = run(["translate", "apply", str(run_dir), "task:test", "--out", str(npz),
                            "--direction", direction], capsys)
        assert code == 0, err
        assert np.load(npz)["x"].shape == (500, 3, 28, 28) and np.load(npz)["x"].dtype == np.uint8
    folder = tmp_path / "gray"
    folder.mkdir()
    for i in range(3):  # the user's own gray digits (1 channel) become the model's 3-channel input
        Image.fromarray(np.full((28, 28), 40 * i, np.uint8)).save(folder / f"d{i}.png")
    code, _, err = run(["translate", "apply", str(run_dir), str(folder), "--out", str(tmp_path / "col"),
                        "--grid", str(tmp_path / "grid.png")], capsys)
    assert code == 0, err
    outs = sorted((tmp_path / "col").iterdir())
    assert [p.name for p in outs] == ["d0.png", "d1.png", "d2.png"] and Image.open(outs[0]).mode == "RGB"
    assert (tmp_path / "grid.png").exists()


@pytest.mark.parametrize("args,fragment", [
    (["--set", "lambda_cyc=1"], "unknown config key 'cyclegan.lambda_cyc'"),
    (["--set", "lambda_cycle=-1"], "'lambda_cycle' must be >= 0, got -1.0"),
    (["--set", "decay_start=2"], "'decay_start' must lie in [0, 1]"),
    (["--set", "g_down=3"], "needs an image size divisible by 8; got [28, 28]"),
    (["--set", "norm=layer"], "'norm' must be instance, batch or none"),
    (["--set", "task=edges"], "cyclegan has no task 'edges'"),
])
def test_bad_config_is_one_line_exit_2(tmp_path, capsys, args, fragment):
    code, _, err = run(["translate", "train", "--system", "cyclegan", "--steps", "1", *TINY_SET, *args,
                        "--out", str(tmp_path), "--quiet"], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1, err


def _make(folder, size, mode):
    """Four flat images of size x size in a new folder (mode "L": gray, "RGB": colour)."""
    folder.mkdir(parents=True)
    for i in range(4):
        shape = (size, size) if mode == "L" else (size, size, 3)
        Image.fromarray(np.full(shape, 60 * i, np.uint8), mode).save(folder / f"{i}.png")
    return str(folder)


def test_folders_need_one_size_and_equal_channels_for_the_identity_loss(tmp_path, capsys):
    user_error(lambda: _system(task="folders"), "needs both task.data_a and task.data_b")
    gray, colour, big = _make(tmp_path / "a", 28, "L"), _make(tmp_path / "b", 28, "RGB"), _make(tmp_path / "c", 32, "L")
    base = ["translate", "train", "--system", "cyclegan", "--steps", "1", *TINY_SET, "--out", str(tmp_path / "r"),
            "--quiet"]
    code, _, err = run([*base, "--data-a", gray, "--data-b", colour], capsys)  # identity loss on: 1 vs 3 channels
    assert code == 2 and "identity loss" in err and "got A 1, B 3" in err and len(err.strip().splitlines()) == 1, err
    code, _, err = run([*base, "--data-a", gray, "--data-b", colour, "--set", "lambda_identity=0"], capsys)
    assert code == 0, err  # without the identity loss, gray -> colour trains
    code, _, err = run([*base, "--data-a", gray, "--data-b", big], capsys)
    assert code == 2 and "one image size" in err and "--set size=N" in err, err
