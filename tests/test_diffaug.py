"""DiffAugment (Zhao et al. 2020): each transform by hand, differentiable, per-sample draws, the same output for the
same parameters, the identity when off, and applied to every input D sees in both training steps."""

import pytest
import torch

from helpers import user_error

from gankit.checkpoint import load_checkpoint
from gankit.config import RunConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.diffaug import (ada_adjust, apply_augment, check_policy, color, cutout, cutout_size, diff_augment,
                            parse_policy, sample_params, translate, translation_radius)
from gankit.stats import read_stats
from gankit.distributed import World
from gankit.systems import gan as gan_module
from gankit.systems.gan import GANSystem
from gankit.train import train

ALL = ("color", "translation", "cutout")


def images(n=6, c=3, h=16, w=12, seed=0):
    return torch.rand(n, c, h, w, generator=torch.Generator().manual_seed(seed)) * 2 - 1  # [n, c, h, w] in [-1, 1)


def test_policy_names_order_and_errors():
    assert parse_policy("") == () and parse_policy(" , ") == ()
    assert parse_policy("cutout,translation") == ("translation", "cutout")  # applied in the paper's order
    assert parse_policy("translation, cutout, color") == ALL
    user_error(lambda: parse_policy("translation,flip"), "unknown transform 'flip'", "color, translation, cutout")
    user_error(lambda: parse_policy("cutout,cutout"), "twice")
    user_error(lambda: apply_overrides(RunConfig(), ["loss.augment=colour"]), "'loss.augment'", "'colour'")
    assert apply_overrides(RunConfig(), ["loss.augment=translation,cutout"]).loss.augment == "translation,cutout"
    user_error(lambda: check_policy(("color",), (1, 28, 28)), "RGB", "3 channels")
    user_error(lambda: check_policy(("translation",), (2,)), "images", "[2]")
    check_policy(ALL, (3, 32, 32))
    check_policy((), (2,))  # off: any data
    user_error(lambda: apply_overrides(load_preset("vae-mnist"), ["loss.augment=cutout"]), "model=vae")


def test_parameters_are_drawn_per_sample_within_their_ranges():
    n, shape = 4000, (3, 16, 12)
    p = sample_params(ALL, n, shape, torch.Generator().manual_seed(0))
    assert {k: tuple(v.shape) for k, v in p.items()} == {"brightness": (n,), "saturation": (n,), "contrast": (n,),
                                                         "shift": (n, 2), "centre": (n, 2)}
    assert p["brightness"].min() >= -0.5 and p["brightness"].max() < 0.5
    assert p["saturation"].min() >= 0 and p["saturation"].max() < 2
    assert p["contrast"].min() >= 0.5 and p["contrast"].max() < 1.5
    # Shifts of at most round(size / 8), every value drawn: H = 16 -> [-2, 2], W = 12 -> [-2, 2] (round(1.5) = 2).
    assert translation_radius(16) == 2 and translation_radius(12) == 2 and translation_radius(28) == 4
    assert set(p["shift"][:, 0].tolist()) == set(range(-2, 3)) == set(p["shift"][:, 1].tolist())
    assert set(p["centre"][:, 0].tolist()) == set(range(16)) and set(p["centre"][:, 1].tolist()) == set(range(12))
    # Per sample: many different draws in one batch.
    assert p["brightness"].unique().numel() > 0.99 * n and p["shift"].unique(dim=0).shape[0] == 25


def test_translation_by_hand_and_its_gradient():
    x = torch.arange(1.0, 17.0).view(1, 1, 4, 4).requires_grad_(True)
    y = translate(x, torch.tensor([[1, -1]]))  # down one row, left one column, zeros fill in
    assert torch.equal(y, torch.tensor([[[[0.0, 0, 0, 0], [2, 3, 4, 0], [6, 7, 8, 0], [10, 11, 12, 0]]]]))
    y.sum().backward()
    # d sum / dx = 1 where the pixel is still in view, 0 where it was shifted out
    assert torch.equal(x.grad, torch.tensor([[[[0.0, 1, 1, 1], [0, 1, 1, 1], [0, 1, 1, 1], [0, 0, 0, 0]]]]))
    assert torch.equal(translate(x, torch.zeros(1, 2, dtype=torch.long)), x)


def test_cutout_by_hand_and_its_gradient():
    x = images(2, 3, 8, 8).requires_grad_(True)
    centre = torch.tensor([[4, 4], [0, 7]])  # a 4x4 square inside; one cut by the corner (rows 0-1, columns 5-7)
    y = cutout(x, centre)
    assert cutout_size(8) == 4 and cutout_size(28) == 14
    zero = y == 0
    assert zero[0].sum() == 3 * 16 and zero[0, :, 2:6, 2:6].all()
    assert zero[1].sum() == 3 * 2 * 3 and zero[1, :, :2, 5:].all()
    y.sum().backward()
    assert torch.equal(x.grad, (~zero).float())  # gradient 1 where kept, 0 where cut out


def test_color_by_hand():
    x = images(3)
    ones, zeros = torch.ones(3), torch.zeros(3)
    b = torch.tensor([0.5, -0.25, 0.0])
    assert torch.allclose(color(x, b, ones, ones), x + b.view(-1, 1, 1, 1))  # brightness alone shifts
    assert torch.allclose(color(x, zeros, ones, ones), x)  # neutral factors: identity
    s = torch.tensor([0.0, 0.5, 1.7])
    y = color(x, zeros, s, ones)  # saturation keeps each pixel's channel mean, scales the deviation by s
    assert torch.allclose(y.mean(1), x.mean(1), atol=1e-6)
    assert torch.allclose(y - y.mean(1, keepdim=True), s.view(-1, 1, 1, 1) * (x - x.mean(1, keepdim=True)), atol=1e-6)
    assert torch.allclose(y[0], y[0, :1].expand(3, -1, -1))  # s = 0: gray
    k = torch.tensor([0.5, 1.0, 1.5])
    y = color(x, zeros, ones, k)  # contrast keeps each image's mean, scales the deviation by k
    m = x.mean((1, 2, 3), keepdim=True)
    assert torch.allclose(y, (x - m) * k.view(-1, 1, 1, 1) + m, atol=1e-6)


@pytest.mark.parametrize("policy", [("color",), ("translation",), ("cutout",), ALL])
def test_each_policy_is_differentiable_keeps_shape_and_range(policy):
    x = images(8).requires_grad_(True)
    y = diff_augment(x, policy, torch.Generator().manual_seed(1))
    assert y.shape == x.shape and y.dtype == x.dtype and torch.isfinite(y).all()
    (y * torch.randn_like(y)).sum().backward()
    assert x.grad is not None and torch.isfinite(x.grad).all() and (x.grad != 0).any()  # gradients reach x
    if "color" not in policy:  # moves and masks pixels only: every value is an input value or 0
        assert y.min() >= min(x.min(), 0) and y.max() <= max(x.max(), 0)
    else:  # [-1, 1] + b, |b| <= 0.5, then deviations scaled by at most 2 and 1.5 about means within that range
        assert y.abs().max() <= 1.5 * (2 * 3.0 + 1.5) * 2 + 1.5


def test_same_parameters_give_the_same_output_and_real_and_fake_draw_their_own():
    x = images(6)
    a = diff_augment(x, ALL, torch.Generator().manual_seed(3))
    b = diff_augment(x, ALL, torch.Generator().manual_seed(3))
    assert torch.equal(a, b)
    params = sample_params(ALL, 6, tuple(x.shape[1:]), torch.Generator().manual_seed(3))
    assert torch.equal(apply_augment(x, params), a)
    # Two batches augmented in turn from one stream (real, then fake) get different parameters ...
    g = torch.Generator().manual_seed(3)
    first, second = diff_augment(x, ALL, g), diff_augment(x, ALL, g)
    assert not torch.equal(first, second)
    # ... and so does every sample of a batch: six copies of one image come out six ways.
    same = x[:1].expand(6, -1, -1, -1)
    out = diff_augment(same, ALL, torch.Generator().manual_seed(4))
    assert all(not torch.equal(out[0], out[i]) for i in range(1, 6))


def test_off_is_the_identity():
    x = images(4)
    assert diff_augment(x, ()) is x and apply_augment(x, {}) is x
    assert sample_params((), 4, (3, 16, 12)) == {}


TINY = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8", "train.batch=16", "train.precision=fp32"]
MARK = 7.0  # what the patched augmentation turns every pixel into


@pytest.mark.parametrize("augment,share", [("translation,cutout", True), ("translation,cutout", False), ("", True)])
def test_training_augments_every_input_of_D_in_the_D_and_the_G_step(monkeypatch, augment, share):
    # The augmentation is replaced by one that marks its output (keeping the graph), and a hook on D records
    # every input D receives and whether D is being trained (the D step) or frozen (the G step).
    monkeypatch.setattr(gan_module, "apply_augment", lambda x, params: x * 0 + MARK)
    cfg = apply_overrides(load_preset("quick-mlp"), TINY + ["loss.d_loss=rpgan", "loss.g_loss=rpgan", "loss.r1_gamma=1",
                                                        "loss.r2_gamma=1", f"loss.augment={augment}"])
    system = GANSystem(cfg, build_dataset(cfg.data, "train"), World(), torch.device("cpu"))
    system.penalties_share_pass = share  # False: R1 and R2 take passes of their own (as with a compiled D)
    seen = []
    system.D.register_forward_pre_hook(
        lambda m, args: seen.append((any(p.requires_grad for p in m.parameters()), args[0].detach())))
    for step in range(2):
        stats = system.train_step(step)
        assert all(torch.isfinite(v).all() for v in stats.values() if torch.is_tensor(v))
    phases = {trained for trained, _ in seen}
    assert phases == {True, False}  # D's update (loss pass and both penalties) and G's update
    # Per step: the D step's fused pass (+ R1's and R2's own passes when not shared); the G step's fused pass.
    assert len(seen) == 2 * ((1 if share else 3) + 1)
    if augment:
        assert all(torch.all(x == MARK) for _, x in seen)
    else:
        assert not any(torch.any(x == MARK) for _, x in seen)


def test_resume_with_augmentation_and_ada_is_bitwise_exact(tmp_path):
    # Stopped after 3 steps, inside ADA's 4-step interval: p and the running sum of signs travel in the checkpoint.
    extra = TINY + ["loss.augment=translation,cutout", "loss.d_loss=rpgan", "loss.g_loss=rpgan", "loss.r2_gamma=1",
                    "loss.ada_target=0.6", "loss.ada_kimg=0.256", "train.log_every=1", "train.snapshot_every=8",
                    "train.ckpt_every=8", "train.grid=16"]
    full = train(apply_overrides(load_preset("quick-mlp"), extra + ["train.steps=8"]), out=tmp_path / "full",
                 report=False,
                 progress=False)
    half = train(apply_overrides(load_preset("quick-mlp"), extra + ["train.steps=3"]), out=tmp_path / "half",
                 report=False,
                 progress=False)
    resumed = train(resume=half.run_dir, steps=8, progress=False, report=False)
    a, b = load_checkpoint(full.run_dir), load_checkpoint(resumed.run_dir)
    for part in ("G", "D"):
        for k in a["nets"][part]:
            assert torch.equal(a["nets"][part][k], b["nets"][part][k]), f"{part}.{k} differs"
    assert torch.equal(a["rng"]["z"], b["rng"]["z"]) and a["extra"]["ada"] == b["extra"]["ada"]
    # ADA's p moved by 16 * 4 / 256 = 0.25 at steps 4 and 8 (clamped to [0, 1]) and stood still in between.
    rows = read_stats(full.run_dir / "stats.jsonl")
    ps = [0.0] + [r["ada_p"] for r in rows]
    for step in range(1, 9):
        change = abs(ps[step] - ps[step - 1])
        assert change == 0 if step % 4 else change in (0.0, 0.25), (step, ps)
        assert -1 <= rows[step - 1]["ada_rt"] <= 1
    assert [r["ada_p"] for r in read_stats(resumed.run_dir / "stats.jsonl")] == ps[1:]


def test_ada_probability_and_update_rule():
    x = images(400, 3, 8, 8)
    g = lambda: torch.Generator().manual_seed(5)  # noqa: E731
    assert torch.allclose(diff_augment(x, ALL, g(), p=0.0), x, atol=1e-6)  # p = 0: every image left alone (fp32)
    assert torch.equal(diff_augment(x, ALL, g(), p=1.0), diff_augment(x, ALL, g()))  # p = 1: DiffAugment
    params = sample_params(("color", "translation"), 4000, (3, 8, 8), g(), p=0.3)
    assert abs((params["brightness"] != 0).float().mean().item() - 0.3) < 0.03  # each image with probability p
    moved = (params["shift"] != 0).any(1).float().mean().item()  # P(shift != 0) = 0.3 * (1 - 1/9)
    assert abs(moved - 0.3 * 8 / 9) < 0.03
    # p + sign(r_t - target) * images / (kimg * 1000), clamped to [0, 1]
    assert ada_adjust(0.5, 0.7, 0.6, 256, 0.512) == 1.0
    assert ada_adjust(0.5, 0.5, 0.6, 128, 0.512) == 0.25
    assert ada_adjust(0.5, 0.6, 0.6, 128, 0.512) == 0.5
    assert ada_adjust(0.1, -1.0, 0.6, 256, 0.512) == 0.0
    user_error(lambda: apply_overrides(RunConfig(), ["loss.ada_target=0.6"]), "loss.ada_target > 0", "loss.augment")
    user_error(lambda: apply_overrides(RunConfig(), ["loss.ada_target=1.5", "loss.augment=cutout"]), "[0, 1)")
