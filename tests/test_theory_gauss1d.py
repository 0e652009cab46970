"""gankit theory fig1 / optimum: the 1-D densities, D* and the divergences against closed forms, and the quick runs."""

import importlib
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.theory import oned, run_theory
from helpers import BarRecorder


class Affine(torch.nn.Module):
    """G(z) = a z + b: for z ~ U(-sqrt 3, sqrt 3), p_g is uniform on b +- a sqrt 3."""

    def __init__(self, a: float, b: float):
        super().__init__()
        self.a, self.b = a, b

    def forward(self, z, c=None):
        return self.a * z + self.b


def test_data_density_is_the_scaled_gaussian():
    x = oned.x_grid()
    p = oned.data_density(x)
    assert abs(p.sum() * oned.DX - 1) < 1e-6
    mean = (x * p).sum() * oned.DX
    std = math.sqrt(((x - mean) ** 2 * p).sum() * oned.DX)
    assert abs(mean - 4 / 5.5) < 1e-6 and abs(std - 0.5 / 5.5) < 1e-4  # N(4, 0.5^2) times scale 1 / (4 + 1.5)


def test_generator_density_of_an_affine_g_is_the_uniform_density():
    x = oned.x_grid()
    a, b = 0.1, 0.7
    q = oned.generator_density(Affine(a, b), x)
    half = a * math.sqrt(3)
    inside = np.abs(x - b) < half - 2 * oned.DX
    outside = np.abs(x - b) > half + 2 * oned.DX
    assert np.allclose(q[inside], 1 / (2 * half), rtol=0.01) and np.all(q[outside] == 0)
    assert abs(q.sum() * oned.DX - 1) < 1e-3


def test_divergences_closed_forms():
    x = oned.x_grid()
    p = oned.data_density(x)
    assert oned.jsd(p, p) < 1e-12
    assert abs(oned.virtual_training_criterion(p, p) + math.log(4)) < 1e-9  # C(G) = -log 4 at p_g = p_data
    far = np.where(np.abs(x - 0.0) < 0.05, 10.0, 0.0)  # a uniform block with no overlap with p_data
    assert abs(oned.jsd(p, far) - math.log(2)) < 1e-6 and abs(oned.virtual_training_criterion(p, far)) < 1e-6
    rng = np.random.default_rng(0)
    for _ in range(5):  # Theorem 1's identity holds for any pair of densities
        q = oned.generator_density(Affine(rng.uniform(0.02, 0.3), rng.uniform(0.3, 1.0)), x)
        assert abs(oned.virtual_training_criterion(p, q) - (-math.log(4) + 2 * oned.jsd(p, q))) < 1e-9
        assert oned.virtual_training_criterion(p, q) >= -math.log(4)


def test_a_discriminator_trained_for_a_fixed_g_approaches_d_star():
    torch.manual_seed(0)
    from gankit.models.mlp import MLPDiscriminator

    x = oned.x_grid()
    G = Affine(0.1, 0.62)  # overlaps p_data's left half
    D = MLPDiscriminator((1,), (64, 64), act="leaky_relu")
    d0 = oned.discriminator_on(D, x)
    d = oned.discriminator_on(oned.train_d_to_convergence(G, D, steps=400, batch=512), x)
    p, q = oned.data_density(x), oned.generator_density(G, x)
    d_star = oned.optimal_d(p, q)
    mix = (p + q) / (p + q).sum()  # where D's training samples fall
    # D* jumps where p_g's support ends; a smooth D cannot follow the jump, so the mean gap is the measure
    gap, gap0 = np.nansum(mix * np.abs(d - d_star)), np.nansum(mix * np.abs(d0 - d_star))
    assert gap < 0.1 and gap < gap0 / 2, (gap, gap0)
    # real-only region vs fake-only region
    assert d[np.argmin(np.abs(x - 0.9))] > 0.9 > 0.3 > d[np.argmin(np.abs(x - 0.5))]


@pytest.mark.parametrize("name", ["fig1", "optimum"])
def test_quick_runs_write_pictures_and_claims(tmp_path, name, monkeypatch):
    bars = BarRecorder()
    monkeypatch.setattr(importlib.import_module(f"gankit.theory.{name}"), "progress_bar", bars)
    res = run_theory(name, tmp_path, quick=True, progress=True)
    bars.check_finished(name)  # one bar over the training steps (fig1: and panel (b)'s D steps), filled exactly
    assert bars.bars[0].total == 400 + (300 if name == "fig1" else 0)
    assert json.loads((tmp_path / f"{name}.json").read_text())["name"] == name
    for f in res["files"]:
        img = Image.open(f)
        assert img.size[0] > 300
        if f.endswith(".gif"):
            assert img.n_frames > 3
    for c in res["claims"]:
        assert {"claim", "measured", "theory", "tolerance", "holds"} <= set(c)
    if name == "optimum":
        assert res["claims"][0]["holds"]  # the identity C = -log 4 + 2 JSD, to 1e-9
        j = res["jsd"]
        assert j[0] > 0.3 and j[-1] < j[0]  # the untrained G is far from p_data; training closes the gap
        assert all(c >= -math.log(4) - 1e-9 for c in res["C"])
    else:
        assert res["claims"][0]["holds"]  # converged D vs D*
