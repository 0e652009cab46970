"""The core contract of every network in gankit.models: G carries z_dim, z_dist and c_dim; D splits into
``features`` and a head, ``D(x, c) == D.logits(D.features(x, c), c)`` bit for bit."""

import pathlib
import re

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.models import build_discriminator, build_generator
from gankit.models.i2i import PatchDiscriminator
from helpers import user_error

# Every D the config can build: the paper's maxout D, the MLP, DCGAN, ResNet, and the conditioning,
# packing and minibatch-discrimination variants of each.
D_VARIANTS = {
    "mlp": ["D.arch=mlp"],
    "maxout-dropout": ["D.arch=maxout", "D.pieces=3", "D.dropout=0.5", "D.dropout_input=0.2"],
    "mlp-concat": ["D.arch=mlp", "c_dim=3", "D.cond=concat"],
    "mlp-projection": ["D.arch=mlp", "c_dim=3", "D.cond=projection"],
    "mlp-pac2": ["D.arch=mlp", "D.pac=2"],
    "mlp-mbd": ["D.arch=mlp", "D.mbd=4", "D.mbd_dim=3"],
    "mlp-spectral": ["D.arch=mlp", "D.spectral_norm=true"],
    "dcgan": ["D.arch=dcgan", "D.base_channels=4"],
    "dcgan-concat": ["D.arch=dcgan", "D.base_channels=4", "c_dim=3", "D.cond=concat"],
    "dcgan-projection": ["D.arch=dcgan", "D.base_channels=4", "c_dim=3", "D.cond=projection"],
    "dcgan-pac2-mbd": ["D.arch=dcgan", "D.base_channels=4", "D.pac=2", "D.mbd=4"],
    "resnet": ["D.arch=resnet", "D.base_channels=4", "D.blocks=2"],
    "resnet-concat": ["D.arch=resnet", "D.base_channels=4", "c_dim=3", "D.cond=concat"],
    "resnet-projection": ["D.arch=resnet", "D.base_channels=4", "c_dim=3", "D.cond=projection"],
    "resnet-pac2-mbd": ["D.arch=resnet", "D.base_channels=4", "D.pac=2", "D.mbd=4"],
    "resnet-spectral": ["D.arch=resnet", "D.base_channels=4", "D.spectral_norm=true"],
}

G_VARIANTS = {
    "mlp": ["G.hidden=[16]"],
    "mlp-uniform-conditional": ["G.hidden=[16]", "z_dist=uniform", "c_dim=3"],
    "dcgan": ["G.arch=dcgan", "G.base_channels=4"],
    "dcgan-conditional": ["G.arch=dcgan", "G.base_channels=4", "c_dim=5", "z_dist=uniform"],
    "resnet": ["G.arch=resnet", "G.base_channels=4", "G.blocks=2"],
    "resnet-conditional": ["G.arch=resnet", "G.base_channels=4", "c_dim=5", "z_dist=uniform"],
}

SHAPE = (1, 8, 8)


def _cfg(extra):
    return apply_overrides(load_preset("quick-mlp"), ["z_dim=4", "D.hidden=[16, 8]", *extra])


@pytest.mark.parametrize("name", list(D_VARIANTS))
def test_d_is_its_head_applied_to_its_features(name):
    cfg = _cfg(D_VARIANTS[name])
    torch.manual_seed(0)
    D = build_discriminator(cfg, SHAPE).eval()  # eval: dropout off, BatchNorm's running statistics
    x = torch.rand(6, *SHAPE) * 2 - 1
    c = torch.tensor([0, 1, 2, 0, 1, 2]) if cfg.c_dim else None
    with torch.no_grad():
        logits = D(x, c)
        phi = D.features(x, c)
        again = D.logits(phi, c)
    n = len(x) // cfg.D.pac
    assert logits.shape == (n,) and phi.dim() == 2 and len(phi) == n
    assert torch.equal(logits, again)
    if not cfg.D.mbd:  # without minibatch statistics each sample's features are its own
        with torch.no_grad():
            torch.testing.assert_close(D.features(x[:cfg.D.pac], None if c is None else c[:cfg.D.pac]), phi[:1])


def test_d_features_in_train_mode_match_forward():
    """In train mode too (BatchNorm on batch statistics), forward is the head of the same features."""
    cfg = _cfg(["D.arch=dcgan", "D.base_channels=4"])
    torch.manual_seed(0)
    D = build_discriminator(cfg, SHAPE).train()
    x = torch.rand(5, *SHAPE) * 2 - 1
    with torch.no_grad():
        assert torch.equal(D(x), D.logits(D.features(x)))


def test_patch_discriminator_is_its_head_applied_to_its_features():
    torch.manual_seed(0)
    D = PatchDiscriminator(2, base=4, n_layers=2).eval()
    x = torch.rand(3, 2, 32, 32) * 2 - 1
    with torch.no_grad():
        assert torch.equal(D(x), D.logits(D.features(x)))
    user_error(lambda: D.features(x, torch.zeros(3, dtype=torch.long)), "no class labels")


@pytest.mark.parametrize("name", list(G_VARIANTS))
def test_every_generator_carries_its_prior_and_shape(name):
    cfg = _cfg(G_VARIANTS[name])
    G = build_generator(cfg, SHAPE)
    assert (G.z_dim, G.z_dist, G.c_dim, tuple(G.data_shape)) == (cfg.z_dim, cfg.z_dist, cfg.c_dim, SHAPE)
    c = torch.zeros(2, dtype=torch.long) if cfg.c_dim else None
    assert G(torch.zeros(2, G.z_dim), c).shape == (2, *SHAPE)


def test_no_code_outside_models_names_an_architecture():
    """Callers go through the contract (G.z_dim, D.features, ...), never through the class of a net."""
    root = pathlib.Path(__file__).resolve().parents[1] / "src" / "gankit"
    pattern = re.compile(r"\b(MLPDiscriminator|DCGANDiscriminator|MLPGenerator|DCGANGenerator|ResNetGenerator|"
                         r"ResNetDiscriminator)\b|\bD\.net\b")
    found = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if rel.parts[0] == "models":
            continue
        for k, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line):
                found.append(f"{rel}:{k}: {line.strip()}")
    assert not found, "\n".join(found)
