"""Latent paths (slerp / lerp), finding z by optimisation, and the ``gankit interpolate`` command."""

import json
import math
import re

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz import GRID_BOX_KEY, read_grid_box
from gankit.apps.interpolate import POOR_RECONSTRUCTION, interpolate, latent_paths
from gankit.apps.invert import invert, tile_scale
from gankit.config import apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.generate import load_generator
from gankit.models import build_generator, sample_z
from gankit.train import train
from helpers import user_error
from helpers import run_cli as _run


# ---------------------------------------------------------------- interpolate


@pytest.mark.parametrize("mode", ["slerp", "lerp"])
@pytest.mark.parametrize("steps", [2, 7])
def test_endpoints_are_exact(mode, steps):
    g = torch.Generator().manual_seed(0)
    z0, z1 = torch.randn(32, generator=g), 3 * torch.randn(32, generator=g)
    path = interpolate(z0, z1, steps, mode)
    assert path.shape == (steps, 32) and path.dtype == z0.dtype
    assert torch.equal(path[0], z0) and torch.equal(path[-1], z1)


def test_slerp_is_the_great_circle():
    g = torch.Generator().manual_seed(1)
    z0 = torch.randn(64, generator=g, dtype=torch.float64)
    z1 = torch.randn(64, generator=g, dtype=torch.float64)
    z1 = z1 * z0.norm() / z1.norm()  # equal norms: |slerp(t)| is constant
    path = interpolate(z0, z1, 11, "slerp")
    torch.testing.assert_close(path.norm(dim=1), z0.norm().expand(11), rtol=1e-12, atol=0)
    # the angle to z0 grows linearly in t, and the path stays in the plane of z0 and z1
    theta = torch.arccos(z0 @ z1 / z0.norm() ** 2)
    angles = torch.arccos((path @ z0 / (path.norm(dim=1) * z0.norm())).clamp(-1, 1))
    torch.testing.assert_close(angles, torch.linspace(0, 1, 11, dtype=torch.float64) * theta, atol=1e-6, rtol=0)
    basis, _ = torch.linalg.qr(torch.stack([z0, z1], 1))  # [64, 2]
    torch.testing.assert_close(path @ basis @ basis.T, path, atol=1e-10, rtol=0)
    # White (2016)'s closed form at t = 1/2 for equal norms
    mid = interpolate(z0, z1, 3, "slerp")[1]
    torch.testing.assert_close(mid, (z0 + z1) * math.sin(theta / 2) / math.sin(theta), atol=1e-10, rtol=0)
    # unequal norms: the length moves linearly from |z0| to |z1|
    path = interpolate(z0, 2 * z1, 5, "slerp")
    torch.testing.assert_close(path.norm(dim=1), z0.norm() * torch.linspace(1, 2, 5, dtype=torch.float64))


def test_lerp_is_the_straight_line():
    z0, z1 = torch.tensor([1.0, -2.0, 4.0]), torch.tensor([3.0, 2.0, -4.0])
    path = interpolate(z0, z1, 5, "lerp")
    torch.testing.assert_close(path[2], torch.tensor([2.0, 0.0, 0.0]))
    torch.testing.assert_close(path[1], 0.75 * z0 + 0.25 * z1)
    # a lerp midpoint of two random 64-d Gaussians is far inside the shell; slerp's is not
    g = torch.Generator().manual_seed(2)
    a, b = torch.randn(64, generator=g), torch.randn(64, generator=g)
    assert interpolate(a, b, 3, "lerp")[1].norm() < 0.85 * min(a.norm(), b.norm())
    assert interpolate(a, b, 3, "slerp")[1].norm() >= min(a.norm(), b.norm()) - 1e-5


def test_slerp_degenerate_cases_are_finite():
    z = torch.tensor([3.0, 4.0, 0.0])
    parallel = interpolate(z, 2 * z, 5, "slerp")  # the same direction: the straight line
    torch.testing.assert_close(parallel, interpolate(z, 2 * z, 5, "lerp"))
    opposite = interpolate(z, -z, 5, "slerp")  # half a turn through a perpendicular axis, length kept
    assert torch.isfinite(opposite).all()
    torch.testing.assert_close(opposite.norm(dim=1), torch.full((5,), 5.0))
    assert abs(float(opposite[2] @ z)) < 1e-5  # the midpoint is perpendicular to z
    zero = interpolate(torch.zeros(3), z, 3, "slerp")
    torch.testing.assert_close(zero[1], z / 2)
    one_d = interpolate(torch.tensor([2.0]), torch.tensor([-2.0]), 3, "slerp")
    torch.testing.assert_close(one_d[:, 0], torch.tensor([2.0, 0.0, -2.0]))


def test_interpolate_bad_input():
    z = torch.zeros(4)
    user_error(lambda: interpolate(z, z, 1), "--steps", ">= 2")
    user_error(lambda: interpolate(z, torch.zeros(5), 3), "same shape")
    user_error(lambda: interpolate(z, z, 3, "cubic"), "cubic")


# ---------------------------------------------------------------- invert


def _small_g(dist, c_dim=0, seed=0):
    """A random, injective gankit MLP generator: z4 -> 32 leaky ReLU -> 64 tanh (8x8 images)."""
    torch.manual_seed(seed)
    cfg = apply_overrides(load_preset("quick-mlp"), ["z_dim=4", "G.hidden=[32]", f"z_dist={dist}", f"c_dim={c_dim}"])
    G = build_generator(cfg, (1, 8, 8))
    G.z_dist = dist
    return G


@pytest.mark.parametrize("dist", ["normal", "uniform"])
def test_invert_recovers_a_known_z(dist):
    G = _small_g(dist)
    G.train()  # invert must switch to eval mode itself, and switch back
    before = {k: v.clone() for k, v in G.state_dict().items()}
    z_true = sample_z(6, 4, dist, torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = G.eval()(z_true)
    G.train()
    z, err = invert(G, x, steps=300, restarts=3, seed=0)
    assert z.shape == (6, 4) and err.shape == (6,)
    assert err.max() < 1e-6, err
    assert (z - z_true).abs().max() < 1e-2, (z, z_true)
    if dist == "uniform":
        assert z.abs().max() <= 3 ** 0.5 + 1e-6
    assert G.training  # mode restored
    assert all(torch.equal(before[k], v) for k, v in G.state_dict().items())  # no step on G's weights
    assert all(p.grad is None for p in G.parameters())  # and no gradient into them
    # the images are independent: one at a time gives the same answer
    z1, err1 = invert(G, x, steps=300, restarts=3, seed=0, batch=1)
    torch.testing.assert_close(z1, z, atol=1e-4, rtol=0)
    # too few steps cannot get there: the check above is not vacuous
    _, err_short = invert(G, x, steps=1, restarts=1, seed=0)
    assert err_short.max() > 100 * err.max()


def test_invert_conditional_and_prior_weight():
    G = _small_g("normal", c_dim=3)
    z_true = sample_z(4, 4, "normal", torch.Generator().manual_seed(2))
    y = torch.tensor([0, 1, 2, 1])
    with torch.no_grad():
        x = G.eval()(z_true, y)
    z, err = invert(G, x, steps=300, restarts=3, seed=0, c=y)
    assert err.max() < 1e-5
    # a prior penalty pulls z in: shorter z, and a (slightly) worse fit
    zp, errp = invert(G, x, steps=300, restarts=3, seed=0, c=y, prior_weight=1.0)
    assert zp.norm(dim=1).mean() < z.norm(dim=1).mean() and errp.mean() > err.mean()
    user_error(lambda: invert(G, x, steps=5), "conditional")
    user_error(lambda: invert(G, x[:, :, :4], steps=5, c=y), "shape")


def test_latent_paths_tiles():
    G = _small_g("normal")
    g = torch.Generator().manual_seed(3)
    z0, z1 = torch.randn(2, 4, generator=g), torch.randn(2, 4, generator=g)
    p = latent_paths(G, z0, z1, 5, "slerp")
    assert p.z.shape == (2, 5, 4) and p.x.shape == (2, 5, 1, 8, 8) and p.columns == 5 and p.tiles.shape == (10, 1, 8, 8)
    with torch.no_grad():
        torch.testing.assert_close(p.x[1, 3], G.eval()(p.z[1, 3:4])[0])
    left, right = -torch.ones(2, 1, 8, 8), torch.ones(2, 1, 8, 8)
    p = latent_paths(G, z0, z1, 5, "lerp", ends=(left, right))
    assert p.columns == 7 and p.tiles.shape == (14, 1, 8, 8)
    assert torch.equal(p.tiles[7], left[1]) and torch.equal(p.tiles[13], right[1])
    torch.testing.assert_close(p.tiles[8:13], p.x[1])


# ---------------------------------------------------------------- the command


def _tiny_run(tmp_path_factory, *overrides):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8",
                                                 "train.batch=16", "train.steps=30", "train.snapshot_every=30",
                                                 "train.grid=16", *overrides])
    return train(cfg, out=tmp_path_factory.mktemp("runs"), progress=False).run_dir


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    return _tiny_run(tmp_path_factory)


def _tiles_from_png(path, rows, cols, side):
    """Cut an interpolation PNG back into tiles [rows, cols, side, side] of uint8, checking its size."""
    scale = tile_scale(side)
    full = np.asarray(Image.open(path))
    top = int(Image.open(path).text[GRID_BOX_KEY].split(",")[1])
    assert top > 0 and full[:top].max() > 0  # a title (and column labels) above the tiles
    img = read_grid_box(path)  # the tiles, without the words around them
    assert img.shape == ((rows * (side + 1) + 1) * scale, (cols * (side + 1) + 1) * scale), img.shape
    img = img[::scale, ::scale]
    step = side + 1
    return np.stack([np.stack([img[1 + r * step: 1 + r * step + side, 1 + c * step: 1 + c * step + side]
                               for c in range(cols)]) for r in range(rows)])


def _to_uint8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def test_cli_random_pairs_png_and_npz(digits_run, tmp_path, capsys):
    code, out, err = _run(["interpolate", str(digits_run), "--steps", "6", "--pairs", "3", "--seed", "5",
                           "--out", str(tmp_path / "p.png")], capsys)
    assert code == 0, err
    assert f"wrote 3 slerp path(s) of 6 steps to {tmp_path / 'p.png'}" in out
    tiles = _tiles_from_png(tmp_path / "p.png", 3, 6, 8)  # 3 rows of 6 tiles of 8x8, enlarged 4x
    code, out, err = _run(["interpolate", str(digits_run / "checkpoint.pt"), "--steps", "6", "--pairs", "3",
                           "--seed", "5", "--out", str(tmp_path / "p.npz")], capsys)
    assert code == 0, err
    a = np.load(tmp_path / "p.npz")
    assert a["z"].shape == (3, 6, 8) and a["x"].shape == (3, 6, 1, 8, 8) and str(a["mode"]) == "slerp"
    assert int(a["seed"]) == 5 and np.allclose(a["t"], np.linspace(0, 1, 6))
    g = torch.Generator().manual_seed(5)  # the ends are the seed's first two draws from the prior
    z0, z1 = sample_z(3, 8, "normal", g), sample_z(3, 8, "normal", g)
    assert np.array_equal(a["z"][:, 0], z0.numpy()) and np.array_equal(a["z"][:, -1], z1.numpy())
    G, _, _ = load_generator(digits_run)
    with torch.no_grad():
        x = G(torch.from_numpy(a["z"]).reshape(18, 8))
    np.testing.assert_allclose(a["x"].reshape(18, 1, 8, 8), x.numpy(), atol=1e-5)
    assert np.abs(tiles.astype(int) - _to_uint8(torch.from_numpy(a["x"]))[:, :, 0]).max() <= 1  # the PNG shows them
    code, _, err = _run(["interpolate", str(digits_run), "--mode", "lerp", "--steps", "3", "--pairs", "1",
                         "--out", str(tmp_path / "l.npz")], capsys)
    b = np.load(tmp_path / "l.npz")
    assert code == 0 and str(b["mode"]) == "lerp"
    np.testing.assert_allclose(b["z"][0, 1], (b["z"][0, 0] + b["z"][0, 2]) / 2, atol=1e-6)


def test_cli_between_real(digits_run, tmp_path, capsys):
    test = build_dataset(apply_overrides(load_preset("quick-mlp"), ["data.name=digits"]).data, "test")
    args = ["interpolate", str(digits_run), "--steps", "5", "--between-real", "4", "11", "--invert-steps", "100",
            "--restarts", "2"]
    code, out, err = _run(args + ["--out", str(tmp_path / "r.png")], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith(f"test example 4 (label {int(test.y[4])}): reconstruction error ")
    assert lines[1].startswith(f"test example 11 (label {int(test.y[11])}): reconstruction error ")
    assert "wrote 1 slerp path(s) of 5 steps" in lines[-1]
    tiles = _tiles_from_png(tmp_path / "r.png", 1, 7, 8)  # real, 5 along the path, real
    assert np.array_equal(tiles[0, 0], _to_uint8(test.x[4, 0]))
    assert np.array_equal(tiles[0, -1], _to_uint8(test.x[11, 0]))
    code, out, err = _run(args + ["--out", str(tmp_path / "r.npz")], capsys)
    assert code == 0, err
    a = np.load(tmp_path / "r.npz")
    assert list(a["index"]) == [4, 11] and a["x"].shape == (1, 5, 1, 8, 8) and a["z"].shape == (1, 5, 8)
    assert np.array_equal(a["real"], test.x[[4, 11]].numpy()) and list(a["labels"]) == [int(test.y[4]), int(test.y[11])]
    G, _, _ = load_generator(digits_run)
    with torch.no_grad():  # the printed error is that of the path's ends
        ends = G(torch.from_numpy(a["z"][0, [0, -1]]))
    err_ends = ((ends - test.x[[4, 11]]) ** 2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(a["error"], err_ends, rtol=1e-4)
    assert f"reconstruction error {a['error'][0]:.4f}" in out
    for line, idx in zip(lines[:2], (4, 11)):  # a warning line exactly for the poorly reconstructed ones
        rel = float(re.search(r"; ([0-9.e+-]+) of the data's variance", line).group(1))
        assert (f"warning: example {idx} is poorly reconstructed" in err) == (rel > POOR_RECONSTRUCTION), (line, err)
    # the ends are G's best attempt: no random z of the prior does better than the found one
    with torch.no_grad():
        rand = G(sample_z(256, 8, "normal", torch.Generator().manual_seed(9)))
    best_random = ((rand[:, None] - test.x[[4, 11]][None]) ** 2).flatten(2).mean(2).min(0).values.numpy()
    assert (a["error"] < best_random).all(), (a["error"], best_random)


@pytest.mark.parametrize("idx,needle", [(["0", "359"], "0..358"), (["-1", "3"], "0..358")])
def test_cli_bad_index_is_one_line(digits_run, tmp_path, capsys, idx, needle):
    code, out, err = _run(["interpolate", str(digits_run), "--between-real", *idx, "--out", str(tmp_path / "x.png")],
                          capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("gankit: error:") and needle in lines[0] and "359 examples" in lines[0]
    assert not (tmp_path / "x.png").exists()


@pytest.mark.parametrize("args,needle", [
    (["--out", "{d}/x.jpg"], ".png"),
    (["--steps", "1"], ">= 2"),
    (["--pairs", "0"], "--pairs"),
])
def test_cli_bad_options_are_one_line(digits_run, tmp_path, capsys, args, needle):
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    code, _, err = _run(["interpolate", str(digits_run), *args], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and needle in lines[0], err


def test_cli_dcgan_uniform_and_toy_points(tmp_path_factory, tmp_path, capsys):
    dcgan = _tiny_run(tmp_path_factory, "G.arch=dcgan", "D.arch=dcgan", "G.base_channels=8", "D.base_channels=8",
                      "z_dist=uniform", "train.steps=10")
    code, out, err = _run(["interpolate", str(dcgan), "--steps", "4", "--between-real", "0", "1",
                           "--invert-steps", "30", "--restarts", "1", "--out", str(tmp_path / "d.npz")], capsys)
    assert code == 0, err
    a = np.load(tmp_path / "d.npz")
    assert str(a["mode"]) == "lerp" and np.abs(a["z"]).max() <= 3 ** 0.5 + 1e-6  # uniform z: lerp inside the box
    assert "reconstruction error" in out
    ring = _tiny_run(tmp_path_factory, "data.name=ring8", "data.toy_n=256", "G.out=linear", "train.steps=20")
    for extra in ([], ["--between-real", "0", "5", "--invert-steps", "50"]):
        png = tmp_path / f"ring{len(extra)}.png"
        code, out, err = _run(["interpolate", str(ring), "--pairs", "3", "--out", str(png), *extra], capsys)
        assert code == 0, err
        assert Image.open(png).size == (500, 450)  # a 5 x 4.5 inch scatter plot at 100 dpi
    code, out, err = _run(["interpolate", str(ring), "--between-real", "0", "1", "--out", str(tmp_path / "t.npz"),
                           "--invert-steps", "200"], capsys)
    t = np.load(tmp_path / "t.npz")
    assert code == 0 and t["x"].shape == (1, 10, 2) and t["real"].shape == (2, 2)


def test_cli_refuses_vectors_that_are_not_2d(tmp_path_factory, tmp_path, capsys):
    np.save(tmp_path / "v3.npy", np.random.default_rng(0).uniform(-1, 1, (64, 3)).astype(np.float32))
    run = _tiny_run(tmp_path_factory, "data.name=" + json.dumps(str(tmp_path / "v3.npy")), "G.out=linear",
                    "train.steps=2")
    code, _, err = _run(["interpolate", str(run), "--out", str(tmp_path / "v.png")], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "images or 2-D points" in lines[0] and "[3]" in lines[0], err
