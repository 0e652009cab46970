"""A short run of the plain 2014 GAN on 8 Gaussians on a ring covers most modes (PacGAN/VEEGAN protocol,
2,500 samples). ``ring8-vanilla`` is that GAN (bce, non-saturating G loss, two layers of 128); the tuned
``ring8`` preset is tested in test_presets_toy.py."""

import torch

from gankit.config import apply_overrides, load_preset
from gankit.generate import generate, load_generator
from gankit.metrics import mode_coverage
from gankit.train import train


def test_short_vanilla_ring8_run_covers_at_least_6_of_8_modes(tmp_path):
    cfg = apply_overrides(load_preset("ring8-vanilla"), ["train.steps=600", "train.batch=128", "data.toy_n=20000",
                                                 "train.snapshot_every=600"])
    r = train(cfg, out=tmp_path, progress=False)
    G, _, info = load_generator(r.run_dir)
    x = generate(G, 2500, seed=123)
    res = mode_coverage(x, torch.tensor(info["centers"]), info["std"])
    assert res["n_modes"] == 8
    assert res["modes_covered"] >= 6, res
