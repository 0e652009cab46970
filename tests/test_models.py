import math

import pytest
import torch

from gankit.config import load_preset
from gankit.errors import UserError
from gankit.models import build_discriminator, build_generator, sample_z
from gankit.models.mlp import Maxout


@pytest.mark.parametrize("preset", ["quick-mlp", "paper-mnist", "tutorial-mlp"])
def test_same_call_and_shapes(preset):
    cfg = load_preset(preset)
    G, D = build_generator(cfg, (1, 28, 28)), build_discriminator(cfg, (1, 28, 28))
    z = sample_z(5, cfg.z_dim, cfg.z_dist)
    x = G(z)
    assert x.shape == (5, 1, 28, 28) and D(x).shape == (5,)
    assert G.z_dim == cfg.z_dim and G.c_dim == 0 and D.c_dim == 0 and G.data_shape == (1, 28, 28)
    assert x.min() >= -1 and x.max() <= 1


def test_vector_data_and_linear_output():
    cfg = load_preset("ring8")
    G, D = build_generator(cfg, (2,)), build_discriminator(cfg, (2,))
    x = G(torch.randn(7, cfg.z_dim))
    assert x.shape == (7, 2) and D(x).shape == (7,)


def test_maxout_is_max_over_pieces():
    m = Maxout(3, units=2, pieces=4)
    x = torch.randn(5, 3)
    full = m.linear(x).view(5, 2, 4)
    assert torch.equal(m(x), full.max(-1).values)


def test_paper_init_and_output_bias():
    cfg = load_preset("paper-mnist")
    x_mean = torch.full((1, 28, 28), -0.6)
    G = build_generator(cfg, (1, 28, 28), x_mean=x_mean)
    D = build_discriminator(cfg, (1, 28, 28))
    assert G.net[0].weight.abs().max() <= 0.05 and D.net[1].linear.weight.abs().max() <= 0.005
    # With zero hidden activations the output is the bias: 2 sigmoid(b) - 1 = mean pixel.
    assert torch.allclose(2 * torch.sigmoid(G.net[-1].bias) - 1, torch.full((784,), -0.6), atol=1e-5)


def test_uniform_noise_has_unit_variance():
    z = sample_z(200_000, 4, "uniform", torch.Generator().manual_seed(0))
    assert z.abs().max() <= math.sqrt(3) and abs(z.var().item() - 1) < 0.01


def test_wrong_input_shape_and_labels_are_user_errors():
    cfg = load_preset("quick-mlp")
    G, D = build_generator(cfg, (1, 28, 28)), build_discriminator(cfg, (1, 28, 28))
    with pytest.raises(UserError, match=r"z must have shape \[N, 64\]"):
        G(torch.randn(2, 3))
    with pytest.raises(UserError, match="x must have shape"):
        D(torch.randn(2, 1, 8, 8))
    with pytest.raises(UserError, match="unconditional"):
        G(torch.randn(2, 64), c=torch.zeros(2, dtype=torch.long))
