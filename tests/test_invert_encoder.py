"""Inversion by an encoder: `gankit fit-encoder`, `gankit invert --method encoder|hybrid`, z_init."""

import numpy as np
import pytest
import torch

from gankit.apps.encoder import ENCODER_NAME, Encoder, encode_best_class, fit_encoder, izi_f, load_encoder
from gankit.apps.invert import invert
from gankit.config import apply_overrides, load_preset
from gankit.models import build_generator, sample_z
from gankit.train import train
from helpers import run_cli, user_error


def _small_g(seed=0):
    torch.manual_seed(seed)
    cfg = apply_overrides(load_preset("quick-mlp"), ["z_dim=4", "G.hidden=[32]"])
    G = build_generator(cfg, (1, 8, 8)).eval()
    G.z_dist = "normal"
    return G


def _tiny_run(tmp_path_factory, *extra):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8",
                                                 "train.batch=16", "train.steps=30", "train.snapshot_every=30",
                                                 "train.grid=16", "train.threads=1", *extra])
    return train(cfg, out=tmp_path_factory.mktemp("runs"), progress=False).run_dir


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    return _tiny_run(tmp_path_factory)


def test_a_start_at_the_true_z_stays_there():
    G = _small_g()
    z_true = sample_z(3, 4, "normal", torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = G(z_true)
    z, err = invert(G, x, steps=5, restarts=0, z_init=z_true)  # the gradient is exactly 0 there
    assert torch.equal(z, z_true) and err.max() == 0
    user_error(lambda: invert(G, x, steps=5, restarts=0), "restarts must be a positive integer")
    user_error(lambda: invert(G, x, steps=5, z_init=torch.zeros(2, 4)), "z_init must have shape [3, 4]")


def test_hybrid_is_never_worse_than_the_random_starts_alone():
    G = _small_g()
    x = torch.rand(6, 1, 8, 8) * 2 - 1  # images G cannot draw exactly
    _, err_opt = invert(G, x, steps=40, restarts=2, seed=3)
    guess = torch.randn(6, 4, generator=torch.Generator().manual_seed(9))
    _, err_hyb = invert(G, x, steps=40, restarts=2, seed=3, z_init=guess)
    assert (err_hyb <= err_opt + 1e-6).all(), (err_hyb, err_opt)


def test_izi_loss_matches_its_formula():
    G = _small_g()
    E = Encoder((1, 8, 8), 4, (16,))
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        want = ((x - G(E(x))) ** 2).mean(dim=(1, 2, 3))
        torch.testing.assert_close(izi_f(G, None, E, x, kappa=0.0), want)


def test_fit_encoder_learns_and_invert_uses_it(run, tmp_path, capsys):
    code, out, err = run_cli(["invert", str(run), "test:0,1,2", "--method", "encoder",
                              "--out", str(tmp_path / "e.npz")], capsys)
    assert code == 2 and "has no encoder" in err and "gankit fit-encoder" in err and err.count("\n") == 1
    code, out, err = run_cli(["fit-encoder", str(run), "--steps", "300"], capsys)
    assert code == 0 and ENCODER_NAME in out, err
    first, last = (float(v) for v in out.split("loss ")[1].split(")")[0].split(" -> "))
    assert last < first  # it learns (a 30-step G cannot reproduce much, so the drop is small)
    assert (run / ENCODER_NAME).is_file()

    errors = {}
    for method in ("encoder", "optimize", "hybrid"):
        path = tmp_path / f"{method}.npz"
        code, out, err = run_cli(["invert", str(run), "test:0,1,2,3", "--method", method, "--steps", "30",
                                  "--restarts", "2", "--out", str(path)], capsys)
        assert code == 0, err
        assert ("encoder: " in out) == (method != "optimize")
        a = np.load(path)
        assert str(a["method"]) == method
        errors[method] = a["error"]
    assert np.all(np.isfinite(errors["encoder"]))
    assert np.all(errors["hybrid"] <= errors["optimize"] + 1e-6)
    # encoder: the recorded error is G(E(x))'s
    E, _ = load_encoder(run)
    a = np.load(tmp_path / "encoder.npz")
    from gankit.generate import load_generator

    G, _, _ = load_generator(run)
    with torch.no_grad():
        z = E(torch.from_numpy(a["x"]))
        torch.testing.assert_close(torch.from_numpy(a["z"]), z)
        err = ((G(z) - torch.from_numpy(a["x"])) ** 2).mean(dim=(1, 2, 3))
        torch.testing.assert_close(torch.from_numpy(a["error"]), err)


def test_encoder_of_a_conditional_gan_picks_the_best_class(tmp_path_factory):
    run = _tiny_run(tmp_path_factory, "c_dim=10", "train.grid=10", "train.steps=5", "train.snapshot_every=5")
    user_error(lambda: fit_encoder(run, steps=5, kappa=1.0), "pixels only")
    res = fit_encoder(run, steps=20)
    assert res["kappa"] == 0.0
    from gankit.generate import load_generator

    G, _, _ = load_generator(run)
    E, _ = load_encoder(run)
    x = torch.rand(4, 1, 8, 8) * 2 - 1
    z, err, c = encode_best_class(G, E, x)
    with torch.no_grad():
        every = torch.stack([((G(z, torch.full((4,), k)) - x) ** 2).mean(dim=(1, 2, 3)) for k in range(10)])
    assert torch.equal(c, every.argmin(0)) and torch.allclose(err, every.min(0).values)


def test_a_vae_run_inverts_with_its_own_encoder(tmp_path_factory, tmp_path, capsys):
    run = _tiny_run(tmp_path_factory, "model=vae", "train.ema=0.0")
    user_error(lambda: fit_encoder(run, steps=5), "VAE run", "its own encoder")
    E, source = load_encoder(run)
    assert "VAE" in source and E(torch.zeros(2, 1, 8, 8)).shape == (2, 8)
    code, out, err = run_cli(["invert", str(run), "test:0,1", "--method", "encoder", "--out", str(tmp_path / "v.npz")],
                             capsys)
    assert code == 0 and "VAE's encoder" in out, err
