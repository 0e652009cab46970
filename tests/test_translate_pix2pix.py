"""pix2pix (Isola et al. 2017): losses against hand computations, the outline task, the system, the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.translate import build_task, load_translator, resolve_config, system_class
from gankit.systems.pix2pix import Pix2Pix, digit_outline, loss_D, loss_G_adv, loss_L1
from helpers import run_cli as run
from helpers import user_error

TINY = ["--set", "g_base=4", "--set", "d_base=4", "--set", "g_depth=2", "--set", "n_train=64", "--set", "batch=8",
        "--set", "threads=1", "--set", "log_every=2", "--set", "snapshot_every=2"]
TINY_CFG = {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 64, "batch": 8, "threads": 1}


@pytest.fixture(autouse=True, scope="module")
def one_thread():
    """One intra-op thread: small convolutions run slower with two threads on a busy 2-core machine."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def softplus(v: float) -> float:
    return math.log1p(math.exp(v))


# ----------------------------------------------------------------------------------------------
# Losses.


def test_loss_D_is_half_the_bce_of_real_and_fake_pairs():
    real = torch.tensor([2.0, -1.0]).view(2, 1, 1, 1)  # two images, one patch each
    fake = torch.tensor([[0.5, -3.0], [1.0, 0.0]]).view(1, 1, 2, 2)  # one image, four patches
    # -log sigmoid(l) for real (label 1), -log(1 - sigmoid(l)) for fake (label 0), each averaged, then halved.
    want = 0.5 * ((softplus(-2.0) + softplus(1.0)) / 2
                  + (softplus(0.5) + softplus(-3.0) + softplus(1.0) + softplus(0.0)) / 4)
    assert loss_D(real, fake).item() == pytest.approx(want, rel=1e-6)
    assert loss_D(torch.zeros(1, 1, 3, 3), torch.zeros(1, 1, 3, 3)).item() == pytest.approx(math.log(2), rel=1e-6)


def test_loss_G_is_non_saturating_and_l1_is_a_pixel_mean():
    fake = torch.tensor([0.0, 3.0, -2.0]).view(1, 1, 1, 3)
    want = -(math.log(0.5) + math.log(1 / (1 + math.exp(-3))) + math.log(1 / (1 + math.exp(2)))) / 3
    assert loss_G_adv(fake).item() == pytest.approx(want, rel=1e-6)
    # Non-saturating: a confident D (very negative logit) still gives G a gradient near -1.
    logit = torch.tensor([-20.0], requires_grad=True)
    loss_G_adv(logit.view(1, 1, 1, 1)).backward()
    assert logit.grad.item() == pytest.approx(-1.0, abs=1e-6)
    y = torch.tensor([[0.5, -1.0], [1.0, 0.0]]).view(1, 1, 2, 2)
    t = torch.tensor([[0.0, -1.0], [-1.0, 0.25]]).view(1, 1, 2, 2)
    assert loss_L1(y, t).item() == pytest.approx((0.5 + 0 + 2 + 0.25) / 4)


# ----------------------------------------------------------------------------------------------
# The "edges" task.


def test_outline_of_a_square_is_the_ring_around_it_and_clipped_at_the_border():
    x = -torch.ones(1, 1, 6, 6)
    x[..., 2:4, 2:4] = 1.0  # a 2x2 ink square in the middle
    x[..., 0, 5] = 0.5  # one ink pixel in the top-right corner
    x[..., 5, 0] = -0.2  # grey below mid-grey: not ink
    out = (digit_outline(x)[0, 0] > 0).int()
    want = torch.zeros(6, 6, dtype=torch.int)
    want[1:5, 1:5] = 1
    want[2:4, 2:4] = 0  # the ring of 12 pixels around the square
    want[0, 4] = want[1, 4] = want[1, 5] = 1  # the corner pixel's three neighbours inside the image
    assert torch.equal(out, want)
    assert set(digit_outline(x).unique().tolist()) == {-1.0, 1.0}


@pytest.fixture(scope="module")
def edges_test():
    return build_task(resolve_config("pix2pix"), "test")


def test_edges_task_pairs_outlines_with_digits(edges_test):
    d = edges_test
    assert d.paired and d.a.shape == d.b.shape == (1000, 1, 28, 28)
    assert set(d.a.unique().tolist()) == {-1.0, 1.0}
    assert d.b.min() >= -1 and d.b.max() <= 1
    assert torch.equal(d.a, digit_outline(d.b))
    assert d.y_a.shape == (1000,) and set(d.y_a.tolist()) == set(range(10)) and torch.equal(d.y_a, d.y_b)
    ink, line = d.b > 0, d.a > 0
    assert not (ink & line).any()  # the outline lies outside the ink ...
    near_ink = torch.nn.functional.max_pool2d(ink.float(), 3, 1, 1) > 0
    assert (line <= near_ink).all()  # ... and touches it
    assert 0.05 < line.float().mean() < 0.25  # a thin line, not a filled shape or nothing
    again = build_task(resolve_config("pix2pix"), "test")
    assert torch.equal(again.a, d.a) and torch.equal(again.b, d.b)  # deterministic
    train = build_task(resolve_config("pix2pix", {"n_train": 64}), "train")
    assert train.a.shape == (64, 1, 28, 28) and not torch.equal(train.b[:10], d.b[:10])


# ----------------------------------------------------------------------------------------------
# The system.


def test_l1_alone_builds_no_D_and_its_loss_is_lambda_times_l1(edges_test):
    torch.manual_seed(0)
    cfg = resolve_config("pix2pix-l1", TINY_CFG)
    s = Pix2Pix(cfg, (1, 28, 28), (1, 28, 28), torch.device("cpu"))
    assert set(s.nets) == {"G"} and set(s.optims) == {"G"}
    batch = {"a": edges_test.a[:8], "b": edges_test.b[:8]}
    stats = s.train_step(0, batch)
    assert set(stats) == {"loss_G", "loss_L1"}
    assert stats["loss_G"].item() == pytest.approx(100.0 * stats["loss_L1"].item(), rel=1e-6)


def test_gan_step_updates_G_and_a_D_that_sees_input_and_output(edges_test):
    torch.manual_seed(0)
    s = Pix2Pix(resolve_config("pix2pix", TINY_CFG), (1, 28, 28), (1, 28, 28), torch.device("cpu"))
    assert set(s.nets) == {"G", "D"}
    assert s.D.net[0].in_channels == 2  # conditioned: input and output concatenated along channels
    before = {k: [p.detach().clone() for p in n.parameters()] for k, n in s.nets.items()}
    stats = s.train_step(0, {"a": edges_test.a[:8], "b": edges_test.b[:8]})
    assert {"loss_D", "D_real", "D_fake", "loss_G_adv", "loss_G", "loss_L1"} <= set(stats)
    assert all(v.dim() == 0 and torch.isfinite(v) for v in stats.values())
    assert stats["loss_D"].item() == pytest.approx(math.log(2), abs=0.2)  # an untrained D is near chance
    for k, n in s.nets.items():
        assert any(not torch.equal(p, q) for p, q in zip(n.parameters(), before[k])), f"{k} did not change"
    y = s.translate_batched(edges_test.a[:5])
    assert y.shape == (5, 1, 28, 28) and y.abs().max() <= 1
    assert torch.equal(y, s.translate_batched(edges_test.a[:5]))  # eval mode: no dropout, running stats
    s.G.train()
    torch.manual_seed(1)
    y1 = s.G(edges_test.a[:5])
    torch.manual_seed(2)
    assert not torch.equal(y1, s.G(edges_test.a[:5]))  # the decoder's dropout is live in training


def test_config_errors_are_one_line():
    user_error(lambda: resolve_config("pix2pix", {"lambda": 3}), "unknown config key 'pix2pix.lambda'",
               "did you mean pix2pix.lambda_l1")
    user_error(lambda: resolve_config("pix2pix", {"lambda_l1": "big"}), "'pix2pix.lambda_l1' expects float")
    user_error(lambda: resolve_config("pix2pix", {"task": "skeleton"}), "no task 'skeleton'", "edges")
    dev = torch.device("cpu")
    for over, fragment in [({"lambda_gan": -1.0}, "'lambda_gan' must be >= 0"),
                           ({"lambda_gan": 0.0, "lambda_l1": 0.0}, "both are 0"),
                           ({"norm": "layer"}, "'norm' must be one of batch, instance, none"),
                           ({"dropout": 1.0}, "'dropout' must lie in [0, 1)"),
                           ({"g_depth": 0}, "'g_depth' must be at least 1")]:
        user_error(lambda: Pix2Pix(resolve_config("pix2pix", over), (1, 28, 28), (1, 28, 28), dev), fragment)
    user_error(lambda: Pix2Pix(resolve_config("pix2pix"), (1, 28, 28), (3, 32, 32), dev), "same size")


def test_presets_and_registry():
    assert system_class("pix2pix") is Pix2Pix
    assert resolve_config("pix2pix")["preset"] == "pix2pix-edges"  # the system's default preset
    cfg = resolve_config("pix2pix-l1")
    assert cfg["lambda_gan"] == 0 and cfg["lambda_l1"] == 100 and cfg["task"] == "edges"


# ----------------------------------------------------------------------------------------------
# The CLI, end to end.


def test_cli_train_apply_and_errors(tmp_path, capsys, edges_test):
    code, out, _ = run(["translate", "presets"], capsys)
    assert code == 0 and "pix2pix-edges" in out and "pix2pix-l1" in out

    code, out, err = run(["translate", "train", "--system", "pix2pix", *TINY, "--steps", "4", "--out", str(tmp_path),
                          "--quiet"], capsys)
    assert code == 0, err
    run_dir = next(tmp_path.glob("*-pix2pix-edges"))
    assert (run_dir / "samples.png").exists() and "trained 4 steps" in out
    rows = [json.loads(r) for r in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4] and "loss_D" in rows[-1]

    code, _, err = run(["translate", "apply", str(run_dir), "task:test", "--out", str(tmp_path / "y.npz")], capsys)
    assert code == 0, err
    y = np.load(tmp_path / "y.npz")["x"]
    assert y.dtype == np.uint8 and y.shape == (1000, 1, 28, 28)
    system = load_translator(run_dir)
    want = ((system.translate_batched(edges_test.a[:3]).clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()
    assert np.array_equal(y[:3], want)  # apply gives what the library gives

    pngs = tmp_path / "outlines"
    pngs.mkdir()
    for i in range(3):  # outlines saved as 8-bit PNGs, as a user would draw them
        Image.fromarray(((edges_test.a[i, 0].numpy() + 1) * 127.5).astype(np.uint8)).save(pngs / f"d{i}.png")
    code, out, err = run(["translate", "apply", str(run_dir), str(pngs), "--out", str(tmp_path / "digits"),
                          "--grid", str(tmp_path / "grid.png")], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "digits").iterdir()) == ["d0.png", "d1.png", "d2.png"]
    assert np.array_equal(np.array(Image.open(tmp_path / "digits" / "d0.png")), want[0, 0])
    assert Image.open(tmp_path / "grid.png").size[0] > 28

    code, _, err = run(["translate", "apply", str(run_dir), "task:test", "--out", str(tmp_path / "z"),
                        "--direction", "BtoA"], capsys)
    assert code == 2 and "pix2pix translates AtoB" in err and "Traceback" not in err
    code, _, err = run(["translate", "train", "--system", "pix2pix", "--set", "lambda_gan=-1", "--out", str(tmp_path)],
                       capsys)
    assert code == 2 and "'lambda_gan' must be >= 0" in err
    code, _, err = run(["translate", "train", "--preset", "pix2pix-l1", "--set", "widths=8", "--out", str(tmp_path)],
                       capsys)
    assert code == 2 and "unknown config key 'pix2pix.widths'" in err


def test_cli_l1_alone_checkpoint_holds_only_G(tmp_path, capsys):
    code, _, err = run(["translate", "train", "--preset", "pix2pix-l1", *TINY, "--steps", "3", "--out", str(tmp_path),
                        "--quiet"], capsys)
    assert code == 0, err
    run_dir = next(tmp_path.glob("*-pix2pix-l1"))
    assert set(load_translator(run_dir).nets) == {"G"}
    assert "loss_D" not in (run_dir / "stats.jsonl").read_text()
