"""The residual, normalisation-free nets (gankit.models.resnet): shapes, the contract, Fixup's identity
start, finite gradients, the config path and a short training run. fp32 throughout."""

import math
import pathlib

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.errors import UserError
from gankit.generate import load_generator
from gankit.models import build_discriminator, build_generator
from gankit.models.resnet import (BRANCH_LAYERS, SLOPE, ResidualBlock, ResNetDiscriminator, ResNetGenerator,
                                  init_fixup)
from gankit.models.vae import build_encoder
from gankit.train import train
from helpers import user_error


def _labels(n, c_dim):
    return torch.arange(n) % c_dim if c_dim else None


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 28, 28), (1, 32, 32), (3, 32, 32), (1, 64, 64), (3, 64, 64)])
@pytest.mark.parametrize("c_dim,cond", [(0, "concat"), (10, "concat"), (10, "projection")])
def test_shapes_for_each_size_channels_and_conditioning(shape, c_dim, cond):
    torch.manual_seed(0)
    G = ResNetGenerator(6, shape, base_channels=4, c_dim=c_dim)
    D = ResNetDiscriminator(shape, base_channels=4, c_dim=c_dim, cond=cond)
    c = _labels(3, c_dim)
    x = G(torch.randn(3, 6), c)
    assert x.shape == (3, *shape) and x.abs().max() <= 1  # tanh
    phi = D.features(x, c)
    assert phi.shape == (3, D.widths[-1]) and D(x, c).shape == (3,)
    assert torch.equal(D(x, c), D.logits(phi, c))
    assert (G.z_dim, G.c_dim, G.z_dist, G.data_shape) == (6, c_dim, "normal", shape)
    assert (D.c_dim, D.data_shape) == (c_dim, shape)


def test_widths_follow_base_channels_like_dcgan():
    G, D = ResNetGenerator(8, (1, 28, 28), base_channels=8), ResNetDiscriminator((1, 64, 64), base_channels=8)
    assert G.widths == [16, 8]  # at 7, 14 pixels: DCGAN's G widths
    assert D.widths == [8, 16, 32, 64]  # at 32, 16, 8, 4 pixels: DCGAN's D widths
    block = ResidualBlock(16)
    assert block.mix.groups == 2 and block.mix.in_channels == 32  # inner width 2 x 16, groups of 16 channels


@pytest.mark.parametrize("make", [
    lambda: ResNetGenerator(8, (1, 28, 28), base_channels=16, blocks=2, c_dim=3),
    lambda: ResNetDiscriminator((3, 32, 32), base_channels=16, blocks=2, c_dim=3, cond="projection"),
])
def test_every_block_starts_as_the_identity(make):
    """Fixup (Zhang et al. 2019): the last layer of each branch is zero, so block(h) == h exactly; the other
    two layers are He-initialised and scaled by L^(-1/(2m-2)), m = 3."""
    torch.manual_seed(0)
    net = make()
    blocks = [m for m in net.modules() if isinstance(m, ResidualBlock)]
    L = len(blocks)
    assert L == 2 * (len(net.widths))
    scale = L ** (-1 / (2 * BRANCH_LAYERS - 2))
    gain = math.sqrt(2 / (1 + SLOPE ** 2))
    for b in blocks:
        h = torch.randn(2, b.widen.in_channels, 5, 5)
        assert torch.equal(b(h), h)
        assert not b.narrow.weight.any() and not b.narrow.bias.any()
        for conv in (b.widen, b.mix):
            expected = gain * scale / math.sqrt(conv.weight[0].numel())
            assert abs(conv.weight.std().item() / expected - 1) < 0.25, (conv, conv.weight.std().item(), expected)


def test_without_zero_last_the_branches_are_drawn_small():
    torch.manual_seed(0)
    D = ResNetDiscriminator((1, 28, 28), base_channels=16, blocks=2, zero_last=False)
    for b in (m for m in D.modules() if isinstance(m, ResidualBlock)):
        h = torch.randn(4, b.widen.in_channels, 7, 7)
        ratio = (b.branch(h).norm() / h.norm()).item()
        assert 0 < ratio < 1  # not zero, smaller than the stream


@pytest.mark.parametrize("spectral", [False, True])
def test_gradients_are_finite_and_reach_the_last_layers(spectral):
    cfg = apply_overrides(load_preset("quick-mlp"), ["z_dim=8", "c_dim=4", "G.arch=resnet", "D.arch=resnet",
                                                 "G.base_channels=8", "D.base_channels=8", "D.cond=projection",
                                                 f"D.spectral_norm={str(spectral).lower()}"])
    torch.manual_seed(0)
    G, D = build_generator(cfg, (1, 28, 28)), build_discriminator(cfg, (1, 28, 28))
    c = _labels(6, 4)
    D(G(torch.randn(6, 8), c), c).sum().backward()
    for net in (G, D):
        grads = {n: p.grad for n, p in net.named_parameters()}
        assert all(g is not None and torch.isfinite(g).all() for g in grads.values())
        # Zero-initialised last layers of the branches learn from the first step.
        assert all(g.abs().sum() > 0 for n, g in grads.items() if "narrow.weight" in n or "narrow.parametriz" in n)


def test_pacgan_and_minibatch_discrimination():
    torch.manual_seed(0)
    D = ResNetDiscriminator((1, 28, 28), base_channels=4, pac=2, mbd=3, mbd_dim=2)
    x = torch.rand(6, 1, 28, 28) * 2 - 1
    assert D(x).shape == (3,) and D.features(x).shape == (3, D.widths[-1])
    assert torch.equal(D(x), D.logits(D.features(x)))
    user_error(lambda: D(x[:5]), "D.pac = 2", "multiple")


def test_bad_shapes_and_depths_are_user_errors():
    user_error(lambda: ResNetGenerator(8, (1, 30, 30)), "resnet", "halves down", "30")
    user_error(lambda: ResNetDiscriminator((2, 28, 28)), "resnet", "square images", "[2, 28, 28]")
    user_error(lambda: ResNetGenerator(8, (784,)), "resnet", "[784]")
    user_error(lambda: ResNetDiscriminator((1, 28, 28), blocks=0), "D.blocks", "got 0")
    G = ResNetGenerator(8, (1, 28, 28), base_channels=4)
    user_error(lambda: G(torch.randn(2, 8), torch.zeros(2, dtype=torch.long)), "unconditional")
    with pytest.raises(UserError):
        G(torch.randn(2, 7))


def test_init_fixup_touches_only_the_blocks():
    torch.manual_seed(0)
    G = ResNetGenerator(8, (1, 28, 28), base_channels=4)
    stem = G.stem.weight.clone()
    init_fixup(G)
    assert torch.equal(G.stem.weight, stem)


def test_vae_encoder_reuses_the_resnet_body():
    cfg = apply_overrides(load_preset("quick-mlp"), ["model=vae", "z_dim=8", "D.arch=resnet", "D.base_channels=4"])
    E = build_encoder(cfg, (1, 28, 28))
    mu, logvar = E(torch.rand(3, 1, 28, 28) * 2 - 1)
    assert mu.shape == logvar.shape == (3, 8)
    assert sum(p.numel() for p in E.parameters()) > sum(p.numel() for p in E.head.parameters())


# Parameter counts that docs/models.md quotes (z_dim 100, 28x28 gray, 1 block per resolution).
DOC_COUNTS = {("G", 32): 367_713, ("D", 32): 54_529, ("G", 16): 178_225, ("D", 16): 21_633}


def test_parameter_counts_quoted_in_the_docs():
    docs = (pathlib.Path(__file__).resolve().parents[1] / "docs" / "models.md").read_text()
    for (net, base), count in DOC_COUNTS.items():
        m = ResNetGenerator(100, (1, 28, 28), base) if net == "G" else ResNetDiscriminator((1, 28, 28), base)
        assert sum(p.numel() for p in m.parameters()) == count, (net, base)
        assert f"{count:,}" in docs, (net, base, count)


def test_five_training_steps_through_the_engine(tmp_path):
    cfg = apply_overrides(load_preset("quick-mlp"), [
        "data.name=mnist-5k", "z_dim=16", "G.arch=resnet", "D.arch=resnet", "G.base_channels=4",
        "D.base_channels=4", "train.steps=5", "train.batch=16", "train.log_every=5", "train.snapshot_every=5",
        "train.ckpt_every=5", "train.grid=16"])
    r = train(cfg, out=tmp_path, progress=False, report=False)
    assert r.step == 5 and r.checkpoint.exists()
    G, loaded, _ = load_generator(r.run_dir)
    assert (loaded.G.arch, loaded.D.arch) == ("resnet", "resnet")
    with torch.no_grad():
        x = G(torch.randn(4, G.z_dim))
    assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()
