"""SRGAN (Ledig et al. 2017): sub-pixel G, VGG-style D, the perceptual loss, the digits-x4/x2 tasks, the CLI."""

import json
import math

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.translate import build_task, load_translator, resolve_config, train_translation
from gankit.systems.i2i import parse_overrides
from gankit.systems.srgan import (SRGAN, SRDiscriminator, SRResNetGenerator, adversarial_loss, bicubic_upsample,
                                    content_loss, downsample, load_content_net, loss_D, perceptual_loss,
                                    subpixel_block)
from helpers import run_cli, user_error

# Tiny nets so that a run takes about a second on one CPU thread.
TINY = ["threads=1", "warmup=0", "width=8", "n_blocks=1", "d_width=4", "d_depth=2", "batch=8", "n_train=64",
        "log_every=1", "snapshot_every=100"]


def tiny_set(*extra: str) -> list[str]:
    return [arg for kv in [*TINY, *extra] for arg in ("--set", kv)]


def test_generator_upsamples_by_the_factor_with_one_pixel_shuffle_per_doubling():
    torch.manual_seed(0)
    for factor, side in [(2, 14), (4, 7), (8, 3)]:
        G = SRResNetGenerator(1, 1, factor, width=8, n_blocks=2)
        y = G(torch.randn(3, 1, side, side))
        assert y.shape == (3, 1, factor * side, factor * side)
        assert y.abs().max() <= 1  # tanh out
        assert sum(isinstance(m, nn.PixelShuffle) for m in G.modules()) == int(math.log2(factor))
    assert SRResNetGenerator(1, 3, 4, width=8, n_blocks=0)(torch.zeros(2, 1, 5, 6)).shape == (2, 3, 20, 24)
    with pytest.raises(ValueError, match="power of 2"):
        SRResNetGenerator(1, 1, 3)


def test_pixel_shuffle_puts_channel_i_r_plus_j_at_offset_i_j():
    # Shi et al. 2016: out[c, r*h + i, r*w + j] = in[c*r*r + i*r + j, h, w]
    x = torch.arange(2 * 4 * 2 * 3, dtype=torch.float32).reshape(1, 8, 2, 3)  # [1, C*r*r, h, w], C=2, r=2
    y = subpixel_block(2)[1](x)  # the block's PixelShuffle
    assert y.shape == (1, 2, 4, 6)
    for c in range(2):
        for i in range(2):
            for j in range(2):
                assert torch.equal(y[0, c, i::2, j::2], x[0, c * 4 + i * 2 + j])


def test_discriminator_gives_one_logit_per_image():
    D = SRDiscriminator(1, 28, width=4, depth=3)
    assert D(torch.randn(5, 1, 28, 28)).shape == (5, 1)
    assert sum(isinstance(m, nn.Conv2d) and m.stride == (2, 2) for m in D.modules()) == 3  # 28 -> 14 -> 7 -> 4
    assert SRDiscriminator(3, 14, width=4, depth=2)(torch.randn(2, 3, 14, 14)).shape == (2, 1)


def test_losses_match_hand_computation():
    fake = torch.tensor([[0.0, 1.0], [2.0, -1.0]])
    real = torch.tensor([[1.0, 1.0], [0.0, 0.0]])
    assert content_loss(fake, real).item() == pytest.approx((1 + 0 + 4 + 1) / 4)  # eq. 4/5: mean squared error
    logits = torch.tensor([0.0, math.log(3.0)])  # D = 1/2 and 3/4
    assert adversarial_loss(logits).item() == pytest.approx((math.log(2) + math.log(4 / 3)) / 2)  # eq. 6: -log D
    # eq. 2 for D: -log D(real) - log(1 - D(fake)); real D = 3/4, fake D = 1/2
    assert loss_D(logits[1:], logits[:1]).item() == pytest.approx(math.log(4 / 3) + math.log(2))
    # eq. 3: content + 1e-3 adversarial
    assert perceptual_loss(torch.tensor(0.5), torch.tensor(2.0)).item() == pytest.approx(0.502)
    assert perceptual_loss(torch.tensor(0.5), torch.tensor(2.0), lambda_adv=0.1).item() == pytest.approx(0.7)


def test_downsampling_keeps_constants_and_range_and_bicubic_inverts_the_size():
    x = torch.full((2, 1, 28, 28), 0.3)
    assert torch.allclose(downsample(x, 4), torch.full((2, 1, 7, 7), 0.3), atol=1e-6)
    edges = torch.zeros(1, 1, 28, 28)
    edges[..., ::2, :] = 1  # stripes: bicubic weights overshoot, the clamp keeps [-1, 1]
    edges = edges * 2 - 1
    assert downsample(edges, 2).abs().max() <= 1
    assert bicubic_upsample(torch.full((1, 1, 7, 7), -0.5), 4).shape == (1, 1, 28, 28)
    assert torch.allclose(bicubic_upsample(torch.full((1, 1, 7, 7), -0.5), 4), torch.tensor(-0.5))


@pytest.mark.parametrize("task, side", [("digits-x4", 7), ("digits-x2", 14)])
def test_task_data_is_paired_downsampled_digits(task, side):
    cfg = resolve_config("srgan", {"task": task})
    test = build_task(cfg, "test")
    assert test.paired and test.a.shape == (1000, 1, side, side) and test.b.shape == (1000, 1, 28, 28)
    assert test.a.min() >= -1 and test.a.max() <= 1 and test.b.min() >= -1 and test.b.max() <= 1
    assert torch.equal(test.a, downsample(test.b, 28 // side))
    assert torch.equal(test.y_a, test.y_b)
    again = build_task(cfg, "test")
    assert torch.equal(again.a, test.a) and torch.equal(again.b, test.b)  # deterministic
    train = build_task(resolve_config("srgan", {"task": task, "n_train": 64}), "train")
    assert len(train.a) == 64 and not torch.equal(train.b[:5], test.b[:5])


def test_presets_and_their_networks():
    cfg = resolve_config("srgan")
    assert cfg["preset"] == "srgan-x4" and cfg["lambda_adv"] == 1e-3 and cfg["content"] == "digits"
    resnet = resolve_config("srresnet-x4")
    assert resnet["lambda_adv"] == 0 and resnet["content"] == "pixel"
    dev = torch.device("cpu")
    assert sorted(SRGAN(cfg, (1, 7, 7), (1, 28, 28), dev).nets) == ["D", "G"]
    assert sorted(SRGAN(resnet, (1, 7, 7), (1, 28, 28), dev).nets) == ["G"]  # SRResNet: no D


def test_digits_content_features_are_the_classifier_conv_maps():
    phi = load_content_net("digits", (1, 28, 28), torch.device("cpu"))
    x = (torch.rand(3, 1, 28, 28) * 2 - 1).requires_grad_()
    f = phi(x)
    assert f.shape == (3, 64, 11, 11) and (f >= 0).all()  # after the ReLU, before pooling
    f.sum().backward()  # gradients reach the image (G learns through phi) ...
    assert x.grad is not None and x.grad.abs().sum() > 0
    assert all(p.grad is None and not p.requires_grad for p in phi.parameters())  # ... not the frozen classifier
    assert not phi.training
    assert load_content_net("digits-fc", (1, 28, 28), torch.device("cpu"))(x).shape == (3, 128)
    assert torch.equal(load_content_net("pixel", (1, 28, 28), torch.device("cpu"))(x), x)


class TinyFeatures(nn.Module):
    """A user's feature network: one strided conv."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.relu(self.conv(x))


def test_torchscript_content_network_is_frozen_used_and_not_saved(tmp_path):
    torch.manual_seed(0)
    net = TinyFeatures()
    path = tmp_path / "phi.pt"
    torch.jit.save(torch.jit.script(net), str(path))
    phi = load_content_net(str(path), (1, 28, 28), torch.device("cpu"))
    a, b = torch.randn(2, 1, 28, 28), torch.randn(2, 1, 28, 28)
    with torch.no_grad():
        expected = ((net(a) - net(b)) ** 2).mean()  # eq. 5 by hand with the original module
    assert content_loss(phi(a), phi(b)).item() == pytest.approx(expected.item(), rel=1e-6)
    assert all(not p.requires_grad for p in phi.parameters())

    r = train_translation("srgan", {**parse_overrides(TINY), "steps": 3, "content": str(path)}, out=tmp_path / "runs",
                          progress=False)
    rows = [json.loads(line) for line in (r.run_dir / "stats.jsonl").read_text().splitlines()]
    assert all("content" in row for row in rows)  # warmup=0: every step used phi
    after = r.system.phi().state_dict()
    assert all(torch.equal(v, after[k]) for k, v in net.state_dict().items())  # frozen: unchanged by training
    state = torch.load(r.checkpoint, weights_only=False)
    assert sorted(state["nets"]) == ["D", "G"]  # phi is not saved ...
    saved = [t for net_state in state["nets"].values() for t in net_state.values()]
    assert not any(t.shape == net.conv.weight.shape and torch.equal(t, net.conv.weight) for t in saved)  # ... anywhere


def test_cli_train_apply_on_task_and_png_folder(tmp_path, capsys):
    code, out, err = run_cli(["translate", "train", "--system", "srgan", "--steps", "4", "--quiet", "--out",
                              str(tmp_path / "runs"), *tiny_set("warmup=2")], capsys)
    assert code == 0, err
    run = next((tmp_path / "runs").iterdir())
    assert (run / "checkpoint.pt").exists() and (run / "samples.png").exists()
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3, 4]
    assert "loss_D" not in rows[1] and "loss_D" in rows[2]  # warm-up: pixel MSE only, then the GAN
    with Image.open(run / "samples.png") as im:  # 8 rows of input | bicubic | output | target
        assert im.size[0] < im.size[1]

    code, out, err = run_cli(["translate", "apply", str(run), "task:test", "--out", str(tmp_path / "sr.npz")], capsys)
    assert code == 0, err
    x = np.load(tmp_path / "sr.npz")["x"]
    assert x.shape == (1000, 1, 28, 28) and x.dtype == np.uint8

    pngs = tmp_path / "lr"
    pngs.mkdir()
    for i in range(3):
        Image.fromarray(np.random.default_rng(i).integers(0, 255, (7, 7), dtype=np.uint8)).save(pngs / f"d{i}.png")
    code, out, err = run_cli(["translate", "apply", str(run), str(pngs), "--out", str(tmp_path / "sr")], capsys)
    assert code == 0, err
    outs = sorted((tmp_path / "sr").iterdir())
    assert [p.name for p in outs] == ["d0.png", "d1.png", "d2.png"]
    with Image.open(outs[0]) as im:
        assert im.size == (28, 28)
    system = load_translator(run)
    lr = build_task(system.cfg, "test").a[:4]
    assert torch.equal(system.translate_batched(lr), system.translate_batched(lr))  # eval mode: deterministic


def test_srresnet_preset_trains_g_alone(tmp_path, capsys):
    code, out, err = run_cli(["translate", "train", "--preset", "srresnet-x2", "--steps", "2", "--quiet", "--out",
                              str(tmp_path), *tiny_set()], capsys)
    assert code == 0, err
    run = next(tmp_path.iterdir())
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert sorted(state["nets"]) == ["G"] and state["extra"]["shape_a"] == [1, 14, 14]


def test_user_errors_are_one_line_with_exit_code_2(tmp_path, capsys):
    code, out, err = run_cli(["translate", "train", "--system", "srgan", "--steps", "1", "--quiet", "--out",
                              str(tmp_path), *tiny_set(f"content=\"{tmp_path / 'missing.pt'}\"")], capsys)
    assert code == 2 and "no such file" in err and "TorchScript" in err and len(err.strip().splitlines()) == 1
    junk = tmp_path / "junk.pt"
    junk.write_text("not a network")
    code, out, err = run_cli(["translate", "train", "--system", "srgan", "--steps", "1", "--quiet", "--out",
                              str(tmp_path), *tiny_set(f"content=\"{junk}\"")], capsys)
    assert code == 2 and "is not a TorchScript file" in err and len(err.strip().splitlines()) == 1
    dev = torch.device("cpu")
    three = tmp_path / "rgb.pt"
    torch.jit.save(torch.jit.script(nn.Conv2d(3, 2, 3)), str(three))
    user_error(lambda: load_content_net(str(three), (1, 28, 28), dev), "fails on images [2, 1, 28, 28]")
    user_error(lambda: SRGAN(resolve_config("srgan"), (1, 28, 28), (1, 28, 28), dev), "2, 4, 8", "28x28")
    user_error(lambda: SRGAN(resolve_config("srgan"), (1, 7, 7), (1, 21, 21), dev), "7x7", "21x21")
    user_error(lambda: SRGAN(resolve_config("srgan", {"width": 0}), (1, 7, 7), (1, 28, 28), dev), "width", "at least 1")
    user_error(lambda: resolve_config("srgan", {"lambda_adv": "big"}), "lambda_adv", "float")
    user_error(lambda: SRGAN(resolve_config("srgan", {"steps": 300}), (1, 7, 7), (1, 28, 28), dev),
               "warmup (400) must be below steps (300)")
