"""Minibatch discrimination (Salimans et al. 2016, 3.2) and the RMSProp option used by WGAN with clipping."""

import math

import pytest
import torch

from helpers import user_error

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.models import MinibatchDiscrimination, apply_spectral_norm, build_discriminator
from gankit.models.dcgan import DCGANDiscriminator
from gankit.models.mlp import MLPDiscriminator
from gankit.stats import read_stats
from gankit.train import make_optimizer, train


def loop_reference(f: torch.Tensor, T: torch.Tensor, B: int, C: int) -> torch.Tensor:
    """The paper's definition written out with Python loops: T is the [A, B * C] projection."""
    M = (f @ T).view(len(f), B, C)
    out = torch.zeros(len(f), B, dtype=f.dtype)
    for i in range(len(f)):
        for j in range(len(f)):
            if i != j:
                for b in range(B):
                    out[i, b] += math.exp(-float((M[i, b] - M[j, b]).abs().sum()))
    return torch.cat([f, out], dim=1)


def test_matches_the_definition_written_out_by_hand():
    torch.manual_seed(0)
    layer = MinibatchDiscrimination(6, kernels=4, dim=3).double()
    with torch.no_grad():
        layer.T.weight.mul_(4.0)  # spread the projections so the exp terms differ from 0 and 1
    f = torch.randn(7, 6, dtype=torch.float64)
    expected = loop_reference(f, layer.T.weight.detach().t(), 4, 3)
    out = layer(f)
    assert out.shape == (7, 10)
    assert torch.allclose(out, expected, atol=1e-12)
    o = out[:, 6:]
    assert (o > 0).all() and (o < 6).all()  # strictly between "no neighbours" (0) and "6 identical ones"


def test_closed_forms_identical_batch_and_far_apart_batch():
    layer = MinibatchDiscrimination(3, kernels=5, dim=2)
    same = torch.ones(8, 3)  # a fully collapsed batch: every distance is 0, so each o_b = N - 1
    assert torch.allclose(layer(same)[:, 3:], torch.full((8, 5), 7.0))
    far = torch.arange(4.0)[:, None].repeat(1, 3) * 1e4  # far apart: every exp term underflows to 0
    assert torch.allclose(layer(far)[:, 3:], torch.zeros(4, 5))
    assert torch.allclose(layer(torch.randn(1, 3))[:, 3:], torch.zeros(1, 5))  # a batch of one has no neighbours


def test_permuting_the_batch_permutes_the_output():
    torch.manual_seed(1)
    layer = MinibatchDiscrimination(5, kernels=3, dim=4)
    f = torch.randn(9, 5)
    perm = torch.randperm(9)
    assert torch.allclose(layer(f)[perm], layer(f[perm]), atol=1e-6)


def test_gradients_reach_T_and_the_features():
    layer = MinibatchDiscrimination(4, kernels=2, dim=3)
    f = torch.randn(5, 4, requires_grad=True)
    layer(f)[:, 4:].sum().backward()
    assert f.grad.abs().sum() > 0 and layer.T.weight.grad.abs().sum() > 0


@pytest.mark.parametrize("cond", ["concat", "projection"])
def test_mlp_and_dcgan_discriminators_use_it_before_the_last_layer(cond):
    torch.manual_seed(2)
    D = MLPDiscriminator((2,), (8, 8), mbd=3, mbd_dim=2)
    x = torch.randn(6, 2)
    feats = D.mbd(D.net[:-1](x))
    assert torch.allclose(D(x), D.net[-1](feats).squeeze(1))
    # D's verdict on a sample now depends on the rest of the batch, which is the point of the layer
    assert not torch.allclose(D(x)[:3], D(x[:3]))
    Dc = DCGANDiscriminator((1, 28, 28), 8, c_dim=10, cond=cond, mbd=4)
    c = torch.arange(5)
    assert Dc(torch.randn(5, 1, 28, 28), c).shape == (5,)
    Dm = MLPDiscriminator((2,), (8,), c_dim=10, cond=cond, mbd=3)
    assert Dm(x, torch.arange(6)).shape == (6,)


def test_config_builds_it_and_spectral_norm_reaches_T():
    cfg = apply_overrides(load_preset("ring8"), ["D.mbd=10", "D.mbd_dim=3", "D.spectral_norm=true"])
    D = build_discriminator(cfg, (2,))
    assert D.mbd.kernels == 10 and D.mbd.dim == 3
    assert hasattr(D.mbd.T, "parametrizations")
    assert build_discriminator(load_preset("ring8"), (2,)).mbd is None  # off by default
    apply_spectral_norm(MinibatchDiscrimination(3, 2))  # a bare layer takes it too


@pytest.mark.parametrize("items,fragments", [
    (["D.mbd=-1"], ("'D.mbd' must be 0 (off)",)),
    (["D.mbd_dim=0"], ("'D.mbd_dim' must be a positive integer",)),
    (["optim.name=rmsprp"], ("must be one of adam, sgd, rmsprop",)),
])
def test_bad_settings_are_one_line_user_errors(items, fragments):
    user_error(lambda: apply_overrides(load_preset("ring8"), items), *fragments)


def test_short_training_with_minibatch_discrimination_and_wgan_clipping_with_rmsprop(tmp_path):
    base = ["train.steps=20", "train.batch=32", "data.toy_n=2000", "train.snapshot_every=20", "train.ckpt_every=20",
            "train.log_every=5"]
    r = train(apply_overrides(load_preset("ring8"), base + ["D.mbd=8"]), out=tmp_path, progress=False)
    rows = read_stats(r.run_dir / "stats.jsonl")
    assert len(rows) == 20 and all(math.isfinite(row["loss_D"]) for row in rows)
    cfg = apply_overrides(load_preset("ring8"), base + ["loss.d_loss=wasserstein", "loss.g_loss=wasserstein",
                                                        "loss.clip=0.01", "optim.name=rmsprop", "optim.lr_d=5e-5",
                                                        "optim.lr_g=5e-5", "train.d_steps=5"])
    assert isinstance(make_optimizer(cfg, [torch.zeros(1, requires_grad=True)], 1e-3), torch.optim.RMSprop)
    state = load_checkpoint(train(cfg, out=tmp_path, progress=False).run_dir)
    assert all(v.abs().max() <= 0.01 for v in state["nets"]["D"].values())
