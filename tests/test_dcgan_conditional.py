"""DCGAN nets, conditioning by label (concat and projection), PacGAN packing, class sampling."""

import numpy as np
import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.errors import UserError
from gankit.generate import generate, load_generator, sample
from gankit.models.dcgan import DCGANDiscriminator, DCGANGenerator, levels
from gankit.models.mlp import MLPDiscriminator, MLPGenerator
from gankit.train import grid_labels, train


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (1, 64, 64), (3, 64, 64)])
def test_dcgan_shapes_for_each_resolution(shape):
    G, D = DCGANGenerator(16, shape, base_channels=8), DCGANDiscriminator(shape, base_channels=8)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, *shape) and x.abs().max() <= 1 and D(x).shape == (3,)


def test_dcgan_levels_and_bad_sizes():
    assert levels(28) == (2, 7) and levels(32) == (3, 4) and levels(64) == (4, 4)
    with pytest.raises(UserError, match="halves down"):
        levels(30)
    with pytest.raises(UserError, match="square images"):
        DCGANGenerator(8, (2,))


def test_dcgan_init_follows_the_paper():
    torch.manual_seed(0)
    D = DCGANDiscriminator((1, 64, 64), base_channels=64)
    w = torch.cat([m.weight.flatten() for m in D.modules() if isinstance(m, torch.nn.Conv2d)])
    assert abs(w.std().item() - 0.02) < 0.001 and abs(w.mean().item()) < 0.001


@pytest.mark.parametrize("make_D", [
    lambda: MLPDiscriminator((1, 8, 8), (16,), c_dim=10, cond="concat"),
    lambda: MLPDiscriminator((1, 8, 8), (16,), c_dim=10, cond="projection"),
    lambda: DCGANDiscriminator((1, 28, 28), 8, c_dim=10, cond="concat"),
    lambda: DCGANDiscriminator((1, 28, 28), 8, c_dim=10, cond="projection"),
])
def test_conditional_D_depends_on_the_label(make_D):
    torch.manual_seed(0)
    D = make_D().eval()
    x = torch.randn(4, *D.data_shape)
    a, b = D(x, torch.tensor([0, 1, 2, 3])), D(x, torch.tensor([4, 5, 6, 7]))
    assert a.shape == (4,) and not torch.allclose(a, b)
    with pytest.raises(UserError, match="pass class labels"):
        D(x)
    with pytest.raises(UserError, match=r"lie in \[0, 9\]"):
        D(x, torch.tensor([0, 1, 2, 10]))


def test_projection_is_inner_product_with_features():
    torch.manual_seed(0)
    D = MLPDiscriminator((4,), (6,), c_dim=3, cond="projection").eval()
    x, c = torch.randn(5, 4), torch.tensor([0, 1, 2, 0, 1])
    phi = D.net[:-1](x)  # [5, 6]
    expected = D.net[-1](phi).squeeze(1) + (D.embed.weight[c] * phi).sum(1)
    assert torch.allclose(D(x, c), expected)


def test_conditional_G_label_changes_output():
    for G in (MLPGenerator(8, (1, 8, 8), (16,), c_dim=10), DCGANGenerator(8, (1, 28, 28), 8, c_dim=10)):
        G.eval()
        z = torch.randn(2, 8)
        assert not torch.allclose(G(z, torch.tensor([1, 1])), G(z, torch.tensor([2, 2])))


def test_pacgan_packs_consecutive_samples():
    torch.manual_seed(0)
    D = MLPDiscriminator((2,), (8,), pac=4)
    x = torch.randn(8, 2)
    out = D(x)
    assert out.shape == (2,)
    assert torch.allclose(out[0], D.net(x[:4].reshape(1, 8)).squeeze())
    with pytest.raises(UserError, match="multiple"):
        D(torch.randn(6, 2))
    Dc = DCGANDiscriminator((1, 28, 28), 8, pac=2)
    assert Dc(torch.randn(4, 1, 28, 28)).shape == (2,)


def test_config_rules_for_pac_and_conditioning():
    with pytest.raises(UserError, match="multiple of D.pac"):
        apply_overrides(load_preset("ring8"), ["D.pac=3", "train.batch=256"])
    with pytest.raises(UserError, match="cannot be combined"):
        apply_overrides(load_preset("ring8"), ["D.pac=2", "c_dim=8"])


def test_grid_labels_give_one_block_per_class():
    assert grid_labels(20, 10).tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9]
    assert grid_labels(5, 0) is None


TINY_COND = ["data.name=digits", "c_dim=10", "z_dim=8", "G.hidden=[32]", "D.hidden=[32]", "train.steps=20",
             "train.batch=20", "train.grid=20", "train.snapshot_every=20"]


def test_conditional_training_and_class_sampling(tmp_path):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY_COND)
    r = train(cfg, out=tmp_path, progress=False)
    G, _, _ = load_generator(r.run_dir)
    assert G.c_dim == 10
    a = generate(G, 6, seed=1, c=3)
    b = generate(G, 6, seed=1, c=torch.full((6,), 3))
    assert torch.equal(a, b) and not torch.equal(a, generate(G, 6, seed=1, c=4))
    out = sample(r.run_dir, n=20, seed=0, out=tmp_path / "s.npz")
    assert np.load(out)["y"].tolist() == grid_labels(20, 10).tolist()
    sample(r.run_dir, n=4, seed=0, out=tmp_path / "three.png", c=3)
    with pytest.raises(UserError, match=r"--class must lie in 0..9"):
        sample(r.run_dir, n=4, out=tmp_path / "x.png", c=12)


def test_conditional_needs_labels(tmp_path):
    cfg = apply_overrides(load_preset("ring8"), ["c_dim=3", "data.toy_n=500", "train.steps=2"])
    with pytest.raises(UserError, match="labels up to 7; set c_dim=8"):
        train(cfg, out=tmp_path, progress=False)


def test_class_option_on_unconditional_G(tmp_path):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY_COND[:1] + TINY_COND[2:])
    r = train(cfg, out=tmp_path, progress=False)
    with pytest.raises(UserError, match="needs a conditional generator"):
        sample(r.run_dir, n=4, out=tmp_path / "x.png", c=1)


@pytest.mark.parametrize("preset", ["dcgan-mnist", "mnist", "cgan-mnist", "wgan-gp-mnist", "hinge-sn-mnist"])
def test_image_presets_smoke(preset, tmp_path):
    # The preset's own nets and losses on the 8x8 digits resized to 28x28 (small and fast), 3 steps.
    cfg = apply_overrides(load_preset(preset), ["data.name=digits", "data.size=28", "train.steps=3", "train.batch=16",
                                                "G.base_channels=8", "D.base_channels=8", "train.grid=20",
                                                "train.snapshot_every=3", "train.d_steps=1"])
    r = train(cfg, out=tmp_path, progress=False)
    assert r.step == 3 and (r.run_dir / "samples.png").is_file()
    x = generate(load_generator(r.run_dir)[0], 4, seed=0)
    assert x.shape == (4, 1, 28, 28) and torch.isfinite(x).all()


def test_resume_is_exact_for_a_conditional_dcgan(tmp_path):
    over = ["data.name=digits", "data.size=28", "train.batch=8", "G.base_channels=4", "D.base_channels=4",
            "train.grid=10", "train.snapshot_every=100", "train.ckpt_every=100"]
    full = train(apply_overrides(load_preset("cgan-mnist"), over + ["train.steps=6"]), out=tmp_path / "f",
                 progress=False)
    half = train(apply_overrides(load_preset("cgan-mnist"), over + ["train.steps=3"]), out=tmp_path / "h",
                 progress=False)
    resumed = train(resume=half.run_dir, steps=6, progress=False)
    from gankit.checkpoint import load_checkpoint

    a, b = load_checkpoint(full.run_dir)["nets"], load_checkpoint(resumed.run_dir)["nets"]
    for part in ("G", "D", "G_ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"
