"""The fused discriminator pass: real and fake through D at once, only where that cannot change D's answer."""

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.models import build_discriminator
from gankit.models.dcgan import DCGANDiscriminator
from gankit.models.mlp import MLPDiscriminator
from gankit.stats import read_stats
from gankit.train import scores_independently, train


@pytest.mark.parametrize("preset,extra,expected", [
    ("ring8", [], True),
    ("wgan-gp-mnist", [], True),  # critic without BatchNorm
    ("hinge-sn-mnist", [], True),
    ("dcgan-mnist", [], False),  # BatchNorm in D: batch statistics would mix real and fake
    ("ring8", ["D.mbd=4"], False),  # minibatch discrimination compares samples within the batch
    ("ring8", ["D.pac=4"], True),  # packs never straddle real and fake (the batch is a multiple of pac)
])
def test_which_discriminators_score_samples_independently(preset, extra, expected):
    cfg = apply_overrides(load_preset(preset), extra)
    shape = (2,) if cfg.data.name == "ring8" else (1, 28, 28)
    assert scores_independently(build_discriminator(cfg, shape)) is expected


def test_one_pass_over_real_and_fake_equals_two_passes():
    torch.manual_seed(0)
    cases = [
        (MLPDiscriminator((2,), (16, 16), pac=2), (8, 2), None),
        (MLPDiscriminator((3,), (16,), c_dim=4, cond="projection"), (6, 3), 4),
        (DCGANDiscriminator((1, 28, 28), 8, norm="none", c_dim=10, cond="concat"), (4, 1, 28, 28), 10),
    ]
    for D, shape, c_dim in cases:
        xr, xf = torch.randn(*shape), torch.randn(*shape)
        cr = cf = None
        if c_dim:
            cr, cf = torch.randint(0, c_dim, (shape[0],)), torch.randint(0, c_dim, (shape[0],))
        fr, ff = D(torch.cat([xr, xf]), None if cr is None else torch.cat([cr, cf])).chunk(2)
        assert torch.allclose(fr, D(xr, cr), atol=1e-6) and torch.allclose(ff, D(xf, cf), atol=1e-6)


def test_training_fused_and_unfused_reach_the_same_weights(tmp_path):
    # The fused (twice as tall) batch may take other matmul kernels, so the two runs differ in the last
    # bits. Adam's first steps move each weight by about lr * sign(gradient), which turns such bits in
    # near-zero gradients into lr-sized gaps (seen: 3e-4 on a 16-thread CPU and on an H100), so the
    # comparison uses SGD, whose step is proportional to the gradient. fp32 pinned: the tolerance
    # assumes fp32 rounding (auto would pick bf16 on a CPU with native bf16).
    base = ["train.precision=fp32", "optim.name=sgd", "optim.momentum=0.5", "train.steps=6", "train.batch=32",
            "data.toy_n=2000", "train.snapshot_every=6", "train.ckpt_every=6", "train.log_every=1"]
    runs = {}
    for fused in ("true", "false"):
        cfg = apply_overrides(load_preset("ring8"), base + [f"train.fused_d={fused}"])
        runs[fused] = train(cfg, out=tmp_path / fused, progress=False).run_dir
    a, b = load_checkpoint(runs["true"])["nets"], load_checkpoint(runs["false"])["nets"]
    for net in ("G", "D"):
        for k in a[net]:
            assert torch.allclose(a[net][k], b[net][k], rtol=1e-4, atol=1e-6), (net, k)
    la, lb = read_stats(runs["true"] / "stats.jsonl"), read_stats(runs["false"] / "stats.jsonl")
    assert [round(r["loss_D"], 4) for r in la] == [round(r["loss_D"], 4) for r in lb]
