"""Inversion with a feature loss, latent arithmetic, and the ``gankit invert`` / ``gankit arithmetic`` commands."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.viz import GRID_BOX_KEY, read_grid_box
from gankit.apps.arithmetic import arithmetic, parse_operand, seed_z
from gankit.apps.encoder import discriminator_features, load_discriminator
from gankit.apps.invert import invert, invert_best_class, tile_scale
from gankit.config import apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.generate import load_generator
from gankit.models import build_discriminator, build_generator, sample_z
from gankit.train import train
from helpers import user_error
from helpers import run_cli as _run


def _small(c_dim=0, seed=0, d_arch="mlp"):
    """A random injective MLP G (z4 -> 32 -> 8x8 tanh) and a small D for the same images."""
    torch.manual_seed(seed)
    extra = ["D.arch=dcgan", "D.base_channels=4"] if d_arch == "dcgan" else []
    cfg = apply_overrides(load_preset("quick-mlp"), [
        "z_dim=4", "G.hidden=[32]", "D.hidden=[16]", f"c_dim={c_dim}", *extra])
    G, D = build_generator(cfg, (1, 8, 8)), build_discriminator(cfg, (1, 8, 8))
    G.z_dist = "normal"
    return G.eval(), D.eval()


# ---------------------------------------------------------------- invert with a feature loss


@pytest.fixture
def one_thread():
    """One intra-op thread: the digits CNN's small convolutions run ~20x slower with two threads on a busy
    2-core box."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("features", ["D", "digits"])
def test_invert_with_feature_loss_recovers_z(features, one_thread):
    G, D = _small()
    D.train()  # invert puts D in eval mode for the fit and restores it
    n, restarts = (4, 3) if features == "D" else (2, 2)  # the digits CNN costs more per step
    z_true = sample_z(n, 4, "normal", torch.Generator().manual_seed(1))
    with torch.no_grad():
        x = G(z_true)
    z, err = invert(G, x, steps=300, restarts=restarts, seed=0, features=features,
                    D=D if features == "D" else None)
    assert err.max() < 1e-5, err
    assert (z - z_true).abs().max() < 2e-2, (z, z_true)
    assert D.training and all(p.grad is None for p in D.parameters())
    # the returned error is the pixel error alone: the same number invert without features reports at that z
    with torch.no_grad():
        torch.testing.assert_close(err, ((G(z) - x) ** 2).flatten(1).mean(1))


def test_feature_loss_changes_the_fit_and_bad_options():
    G, D = _small()
    target = torch.rand(3, 1, 8, 8) * 2 - 1  # noise images G cannot draw: the feature term moves the answer
    z0, e0 = invert(G, target, steps=60, restarts=1, seed=0)
    z1, e1 = invert(G, target, steps=60, restarts=1, seed=0, features="D", D=D, feature_weight=5.0)
    assert not torch.allclose(z0, z1) and e1.mean() >= e0.mean() - 1e-6  # pixels alone fit pixels best
    user_error(lambda: invert(G, target, steps=2, features="D"), "discriminator")
    user_error(lambda: invert(G, target, steps=2, feature_weight=1.0), "feature space")
    user_error(lambda: invert(G, target, steps=2, features="D", D=D, feature_weight=-1.0), "positive")
    user_error(lambda: invert(G, target, steps=2, features="pixels"), "unknown features")


@pytest.mark.parametrize("d_arch", ["mlp", "dcgan"])
def test_discriminator_features_are_the_input_of_the_last_layer(d_arch):
    _, D = _small(d_arch=d_arch)
    x = torch.rand(5, 1, 8, 8) * 2 - 1
    with torch.no_grad():
        phi = discriminator_features(D, x)
        torch.testing.assert_close(D.logits(phi), D(x))
        torch.testing.assert_close(discriminator_features(D, x[2:3]), phi[2:3])  # per image


def test_invert_best_class():
    G, _ = _small(c_dim=3)
    z_true = sample_z(3, 4, "normal", torch.Generator().manual_seed(2))
    y = torch.tensor([2, 0, 1])
    with torch.no_grad():
        x = G(z_true, y)
    z, err, c = invert_best_class(G, x, steps=300, restarts=3, seed=0)
    assert c.shape == (3,) and c.dtype == torch.int64 and err.max() < 1e-5
    with torch.no_grad():
        torch.testing.assert_close(((G(z, c) - x) ** 2).flatten(1).mean(1), err)
    # no class reconstructs better than the chosen one (each class's own fit, same seed)
    for k in range(3):
        assert (err <= invert(G, x, c=k, steps=300, restarts=3, seed=0)[1] + 1e-9).all()


def test_parse_operand():
    assert parse_operand("seed:12") == ("seed", 12)
    assert parse_operand("real:4") == ("real", "test", 4) and parse_operand("real:all:9") == ("real", "all", 9)
    assert parse_operand(" class:3 ") == ("class", 3)
    for bad in ("seed:", "seed:-1", "real:val:3", "klass:1", "7"):
        user_error(lambda: parse_operand(bad), "bad z operand", "seed:N")


# ---------------------------------------------------------------- the commands on a tiny trained run


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8",
                                                 "train.batch=16", "train.steps=30", "train.snapshot_every=30",
                                                 "train.grid=16"])
    return train(cfg, out=tmp_path_factory.mktemp("runs"), progress=False).run_dir


@pytest.fixture(scope="module")
def digits_test():
    return build_dataset(apply_overrides(load_preset("quick-mlp"), ["data.name=digits"]).data, "test")


def _tiles(path, rows, cols, side=8):
    """Cut a grid PNG back into tiles [rows, cols, side, side] of uint8, checking its size."""
    scale = tile_scale(side)
    full = np.asarray(Image.open(path))
    top = int(Image.open(path).text[GRID_BOX_KEY].split(",")[1])
    assert top > 0 and full[:top].max() > 0  # a title (and column labels) above the tiles
    img = read_grid_box(path)  # the tiles, without the words around them
    assert img.shape == ((rows * (side + 1) + 1) * scale, (cols * (side + 1) + 1) * scale), img.shape
    img = img[::scale, ::scale]
    return np.stack([np.stack([img[1 + r * (side + 1): 1 + r * (side + 1) + side,
                                   1 + c * (side + 1): 1 + c * (side + 1) + side] for c in range(cols)])
                     for r in range(rows)])


def _u8(x):
    return ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()


def test_cli_invert_npz_and_png(digits_run, digits_test, tmp_path, capsys):
    code, out, err = _run(["invert", str(digits_run), "test:4,11,0", "--steps", "60", "--restarts", "2",
                           "--out", str(tmp_path / "z.npz")], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert len(lines) == 4 and lines[0].startswith(f"test:4 (label {int(digits_test.y[4])}): reconstruction error ")
    assert lines[-1] == f"wrote 3 z to {tmp_path / 'z.npz'} and the picture {tmp_path / 'z.png'}"
    a = np.load(tmp_path / "z.npz")
    assert set(a.files) == {"z", "recon", "x", "error", "names", "steps", "restarts", "seed", "features",
                            "feature_weight", "prior_weight", "labels", "method", "encoder"}
    assert a["z"].shape == (3, 8) and a["recon"].shape == a["x"].shape == (3, 1, 8, 8) and a["error"].shape == (3,)
    assert str(a["method"]) == "optimize" and str(a["encoder"]) == ""
    assert list(a["names"]) == ["test:4", "test:11", "test:0"]
    assert list(a["labels"]) == digits_test.y[[4, 11, 0]].tolist()
    assert np.array_equal(a["x"], digits_test.x[[4, 11, 0]].numpy()) and str(a["features"]) == "none"
    G, _, _ = load_generator(digits_run)
    with torch.no_grad():
        recon = G(torch.from_numpy(a["z"]))
    np.testing.assert_allclose(a["recon"], recon.numpy(), atol=1e-6)
    expected = ((recon - digits_test.x[[4, 11, 0]]) ** 2).flatten(1).mean(1).numpy()
    np.testing.assert_allclose(a["error"], expected, rtol=1e-5)
    for line, e in zip(lines[:3], a["error"]):
        assert line.endswith(f"reconstruction error {e:.4f}")
    tiles = _tiles(tmp_path / "z.png", 2, 3)  # originals over reconstructions
    assert np.array_equal(tiles[0], _u8(digits_test.x[[4, 11, 0]])[:, 0])
    assert np.abs(tiles[1].astype(int) - _u8(recon)[:, 0]).max() <= 1
    # with the feature losses, from the checkpoint file
    for features in ("D", "digits"):
        code, out, err = _run(["invert", str(digits_run / "checkpoint.pt"), "test:4", "--steps", "30",
                               "--restarts", "1", "--features", features,
                               "--out", str(tmp_path / f"{features}.npz")], capsys)
        assert code == 0, err
        b = np.load(tmp_path / f"{features}.npz")
        assert str(b["features"]) == features and float(b["feature_weight"]) == 0.1 and b["z"].shape == (1, 8)


def test_cli_invert_folder_image_and_npy(digits_run, digits_test, tmp_path, capsys):
    folder = tmp_path / "imgs"
    folder.mkdir()
    for i in (3, 7):  # 8x8 gray PNGs, as the run's images; and one 16x16 one, resized to 8x8 by the loader
        Image.fromarray(_u8(digits_test.x[i, 0])).save(folder / f"d{i}.png")
    Image.fromarray(_u8(digits_test.x[5, 0])).resize((16, 16)).save(tmp_path / "big.png")
    np.save(tmp_path / "x.npy", _u8(digits_test.x[[1, 2, 9]])[:, 0])  # [3, 8, 8] uint8
    for images, names in ((folder, ["d3.png", "d7.png"]), (tmp_path / "big.png", ["big.png"]),
                          (tmp_path / "x.npy", ["x.npy[0]", "x.npy[1]", "x.npy[2]"])):
        code, out, err = _run(["invert", str(digits_run), str(images), "--steps", "20", "--restarts", "1",
                               "--out", str(tmp_path / "o.npz")], capsys)
        assert code == 0, err
        a = np.load(tmp_path / "o.npz")
        assert list(a["names"]) == names and a["z"].shape == (len(names), 8) and "labels" not in a.files
        assert [line.split(":")[0] for line in out.splitlines()[:-1]] == names
    np.testing.assert_allclose(a["x"], digits_test.x[[1, 2, 9]].numpy(), atol=1.5 / 255)  # the .npy, scaled to [-1, 1]


def test_cli_invert_takes_index_ranges(digits_run, digits_test, tmp_path, capsys):
    """``test:0-99`` (the syntax of ``gankit anomaly score``) works for invert too: one IMAGES reader."""
    code, out, err = _run(["invert", str(digits_run), "test:0-99", "--steps", "2", "--restarts", "1",
                           "--out", str(tmp_path / "r.npz")], capsys)
    assert code == 0, err
    a = np.load(tmp_path / "r.npz")
    assert list(a["names"]) == [f"test:{i}" for i in range(100)] and a["z"].shape == (100, 8)
    assert np.array_equal(a["x"], digits_test.x[:100].numpy()) and list(a["labels"]) == digits_test.y[:100].tolist()
    assert out.splitlines()[-1].startswith("wrote 100 z to ")
    code, out, err = _run(["invert", str(digits_run), "test:3,10-11", "--steps", "2", "--restarts", "1",
                           "--out", str(tmp_path / "m.npz")], capsys)
    assert code == 0, err
    assert list(np.load(tmp_path / "m.npz")["names"]) == ["test:3", "test:10", "test:11"]


@pytest.mark.parametrize("args,needle", [
    (["test:a,b"], "bad image spec"),
    (["test:"], "bad image spec"),
    (["test:0,359"], "0..358"),
    (["test:0-359"], "index 359 is out of range"),
    (["test:9-2"], "the end is before the start"),
    (["test:0;1"], "e.g. test:0,5,9 or test:0-99 or test:all"),
    (["valid:0-3"], "IMAGES 'valid:0-3': no such file or folder; expected a folder of images"),
    (["{d}/missing"], "no such file or folder"),
    (["{d}/notes.txt"], ".txt file"),
    (["test:0", "--out", "{d}/z.png"], ".npz"),
    (["test:0", "--out", "{d}/nowhere/z.npz"], "does not exist"),
    (["test:0", "--out", "{d}/notes.txt/z.npz"], "the folder of --out is a file"),
    (["test:0", "--feature-weight", "0.5"], "feature space"),
    (["test:0", "--features", "digits", "--feature-weight", "-1"], "positive"),
    (["test:0", "--steps", "0"], "steps"),
])
def test_cli_invert_bad_input_is_one_line(digits_run, tmp_path, capsys, args, needle):
    (tmp_path / "notes.txt").write_text("hi")
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    code, out, err = _run(["invert", str(digits_run), *args, "--steps", "2"] if "--steps" not in args
                          else ["invert", str(digits_run), *args], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("gankit: error:") and needle in lines[0], lines[0]
    assert not (tmp_path / "z.npz").exists()


def test_arithmetic_is_linear_in_z(digits_run, tmp_path, capsys):
    code, out, err = _run(["arithmetic", str(digits_run), "--plus", "seed:1", "--plus", "seed:2", "--minus", "seed:3",
                           "--n", "5", "--seed", "4", "--out", str(tmp_path / "s.png")], capsys)
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("+ seed:1: |z| = ") and lines[2].startswith("- seed:3: |z| = ")
    assert lines[3].startswith("= result: |z| = ") and lines[-1].endswith("(2 row(s) of 5 tiles)")
    G, cfg, _ = load_generator(digits_run)
    z1, z2, z3 = (seed_z(s, 8, "normal") for s in (1, 2, 3))
    assert torch.equal(z1, sample_z(1, 8, "normal", torch.Generator().manual_seed(1))[0])
    z = (z1 + z2) - z3
    assert f"|z| = {float(z.norm()):.3f}" in lines[3]
    res = arithmetic(digits_run, ["seed:1", "seed:2"], ["seed:3"], out=tmp_path / "s.npz", n=5, seed=4)
    a = np.load(tmp_path / "s.npz")
    assert torch.equal(res["z"], z) and np.array_equal(a["z"], z.numpy())  # exactly the sum and difference
    assert np.array_equal(a["z_ops"], torch.stack([z1, z2, z3]).numpy()) and list(a["signs"]) == [1, 1, -1]
    assert list(a["ops"]) == ["seed:1", "seed:2", "seed:3"]
    assert np.abs(a["z_samples"] - a["z"]).max() <= 0.25 and a["samples"].shape == (5, 1, 8, 8)
    with torch.no_grad():
        x = G(torch.stack([z1, z2, z3, z]))
        samples = G(torch.from_numpy(a["z_samples"]))
    np.testing.assert_allclose(a["x"], x[3].numpy(), atol=1e-6)
    tiles = _tiles(tmp_path / "s.png", 2, 5)  # row 0: +1, +2, -3, result, blank; row 1: 5 noisy samples
    assert np.abs(tiles[0, :4].astype(int) - _u8(x)[:, 0]).max() <= 1  # the strip shows G at the operands and at z
    assert (tiles[0, 4] == 0).all()
    assert np.abs(tiles[1].astype(int) - _u8(samples)[:, 0]).max() <= 1
    # the same seed gives the same strip; n 0 gives one row
    code, out, err = _run(["arithmetic", str(digits_run), "--plus", "seed:1", "--n", "0",
                           "--out", str(tmp_path / "o.png")], capsys)
    assert code == 0 and _tiles(tmp_path / "o.png", 1, 2).shape == (1, 2, 8, 8)


def test_arithmetic_real_and_class_operands(digits_run, digits_test, tmp_path):
    res = arithmetic(digits_run, ["real:test:4", "class:3"], ["class:5"], out=tmp_path / "c.npz", n=0,
                     invert_steps=20, restarts=1, per_class=2)
    ops = res["operands"]
    real_z, _ = invert(load_generator(digits_run)[0], digits_test.x[4:5], steps=20, restarts=1, seed=0)
    assert torch.equal(ops[0]["z"], real_z[0]) and ops[0]["label"] == int(digits_test.y[4])
    idx3 = torch.nonzero(digits_test.y == 3).flatten()[:2].tolist()
    assert ops[1]["index"] == idx3 and len(ops[1]["error"]) == 2
    mean3, _ = invert(load_generator(digits_run)[0], digits_test.x[idx3], steps=20, restarts=1, seed=0)
    torch.testing.assert_close(ops[1]["z"], mean3.mean(0))
    assert torch.equal(res["z"], (ops[0]["z"] + ops[1]["z"]) - ops[2]["z"])


@pytest.mark.parametrize("args,needle", [
    (["--plus", "seed:x"], "bad z operand"),
    (["--plus", "real:test:359"], "0..358"),
    (["--plus", "class:11"], "no example of class 11"),
    (["--minus", "seed:1"], "at least one --plus"),
    (["--plus", "seed:1", "--out", "{d}/s.jpg"], ".png"),
    (["--plus", "seed:1", "--n", "-1"], "--n"),
    (["--plus", "seed:1", "--out", "{d}/f/s.png"], "the folder of --out is a file"),
    (["--plus", "seed:1", "--out", "{d}/none/s.png"], "the folder of --out does not exist"),
])
def test_cli_arithmetic_bad_input_is_one_line(digits_run, tmp_path, capsys, args, needle):
    (tmp_path / "f").write_text("in the way")
    args = [a.replace("{d}", str(tmp_path)) for a in args]
    if "--out" not in args:
        args += ["--out", str(tmp_path / "s.png")]
    code, out, err = _run(["arithmetic", str(digits_run), "--invert-steps", "2", *args], capsys)
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 2 and len(lines) == 1 and "Traceback" not in err, err
    assert lines[0].startswith("gankit: error:") and needle in lines[0], lines[0]
    assert not (tmp_path / "s.png").exists()


def test_cli_missing_run_is_one_line(tmp_path, capsys):
    for cmd in (["invert", str(tmp_path / "nope"), "test:0"],
                ["arithmetic", str(tmp_path / "nope"), "--plus", "seed:1"]):
        code, _, err = _run(cmd + ["--out", str(tmp_path / ("z.npz" if cmd[0] == "invert" else "s.png"))], capsys)
        lines = [line for line in err.splitlines() if line.strip()]
        assert code == 2 and len(lines) == 1 and "does not exist" in lines[0], err


def test_cli_interpolate_between_seeds(digits_run, tmp_path, capsys):
    code, out, err = _run(["interpolate", str(digits_run), "--between", "1", "2", "--steps", "4",
                           "--out", str(tmp_path / "b.npz")], capsys)
    assert code == 0, err
    assert "wrote 1 slerp path(s) of 4 steps" in out
    a = np.load(tmp_path / "b.npz")
    assert a["z"].shape == (1, 4, 8)
    assert np.array_equal(a["z"][0, 0], seed_z(1, 8, "normal").numpy())
    assert np.array_equal(a["z"][0, -1], seed_z(2, 8, "normal").numpy())
    code, _, err = _run(["interpolate", str(digits_run), "--between", "1", "2", "--between-real", "0", "1",
                         "--out", str(tmp_path / "c.png")], capsys)
    assert code == 2 and "not both" in err


def test_load_discriminator(digits_run):
    D = load_discriminator(digits_run)
    assert not D.training and all(not p.requires_grad for p in D.parameters())
    assert discriminator_features(D, torch.zeros(2, 1, 8, 8)).shape == (2, 32)


def test_conditional_generator(tmp_path_factory, tmp_path, digits_test, capsys):
    cfg = apply_overrides(load_preset("quick-mlp"), ["data.name=digits", "G.hidden=[16]", "D.hidden=[16]", "z_dim=4",
                                                 "c_dim=10", "train.batch=16", "train.steps=5",
                                                 "train.snapshot_every=5", "train.grid=10"])
    run = train(cfg, out=tmp_path_factory.mktemp("cruns"), progress=False).run_dir
    # arithmetic: class:K adds nothing to z and sets the result's label; operands keep their own labels
    res = arithmetic(run, ["seed:1", "class:3"], ["seed:2"], out=tmp_path / "c.npz", n=2)
    a = np.load(tmp_path / "c.npz")
    assert res["label"] == 3 and int(a["c"]) == 3 and list(a["c_ops"]) == [3, 3, 3]
    assert torch.equal(res["z"], (seed_z(1, 4, "normal") + torch.zeros(4)) - seed_z(2, 4, "normal"))
    user_error(lambda: arithmetic(run, ["seed:1"], out=tmp_path / "d.npz"), "give the result a class")
    user_error(lambda: arithmetic(run, ["class:10"], out=tmp_path / "d.npz"), "classes 0..9")
    # invert: labelled data use their labels; unlabelled images get the best class
    np.save(tmp_path / "x.npy", digits_test.x[:2, 0].numpy())
    code, out, err = _run(["invert", str(run), str(tmp_path / "x.npy"), "--steps", "5", "--restarts", "1",
                           "--out", str(tmp_path / "u.npz")], capsys)
    assert code == 0 and "best of all classes" in out, err
    assert np.load(tmp_path / "u.npz")["c"].shape == (2,)
    code, out, err = _run(["invert", str(run), "test:0,1", "--steps", "5", "--restarts", "1",
                           "--out", str(tmp_path / "l.npz")], capsys)
    assert code == 0 and list(np.load(tmp_path / "l.npz")["c"]) == digits_test.y[:2].tolist(), err


def test_invert_and_fit_encoder_show_progress_unless_quiet(digits_run, tmp_path, capsys):
    for quiet in (False, True):
        code, _, err = _run(["invert", str(digits_run), "test:0,1", "--steps", "5", "--restarts", "1",
                             "--out", str(tmp_path / "z.npz"), *(["--quiet"] if quiet else [])], capsys)
        assert code == 0 and ("invert:" in err) != quiet, err
        code, _, err = _run(["fit-encoder", str(digits_run), "--steps", "3", *(["--quiet"] if quiet else [])], capsys)
        assert code == 0 and ("encoder:" in err) != quiet, err
        (digits_run / "encoder.pt").unlink()  # the module's other tests use the run without an encoder
