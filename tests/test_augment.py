"""gankit augment: balanced labelled synthetic data from a conditional G, as .npz or a folder per class."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.apps.augment import augment, balanced_labels, to_uint8
from gankit.config import apply_overrides, load_preset
from gankit.data.images import load_array_file
from gankit.generate import generate, load_generator
from gankit.train import train
from helpers import run_cli as run

TINY = ["data.name=digits", "train.steps=4", "train.batch=16", "train.snapshot_every=4", "train.grid=10",
        "G.hidden=[32]", "D.hidden=[32]", "z_dim=8"]


@pytest.fixture(scope="module")
def cond_run(tmp_path_factory):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY + ["c_dim=10"])
    return train(cfg, out=tmp_path_factory.mktemp("cgan"), progress=False).run_dir


@pytest.fixture(scope="module")
def plain_run(tmp_path_factory):
    cfg = apply_overrides(load_preset("quick-mlp"), TINY)
    return train(cfg, out=tmp_path_factory.mktemp("gan"), progress=False).run_dir


def test_balanced_labels_and_uint8_round_trip():
    y = balanced_labels(23, [1, 4, 7])
    assert np.bincount(y.numpy(), minlength=8).tolist() == [0, 8, 0, 0, 8, 0, 0, 7]
    x = torch.tensor([-1.0, -0.2, 0.0, 0.5, 1.0, 1.3])
    u = to_uint8(x)
    assert u.tolist() == [0, 102, 128, 191, 255, 255]
    assert np.allclose(u / 127.5 - 1, x.clamp(-1, 1).numpy(), atol=0.5 / 127.5 + 1e-7)  # within rounding of the input


def test_npz_is_balanced_matches_g_and_loads_back_as_gankit_data(cond_run, tmp_path):
    path = augment(cond_run, n=40, out=tmp_path / "syn.npz", seed=3)
    arrays = np.load(path)
    x, y = arrays["x"], arrays["y"]
    assert x.dtype == np.uint8 and x.shape == (40, 1, 8, 8) and y.shape == (40,)
    assert np.bincount(y, minlength=10).tolist() == [4] * 10
    G, _, _ = load_generator(cond_run)
    expected = to_uint8(generate(G, 40, seed=3, c=torch.as_tensor(y)))  # the same seed draws the same data
    assert np.array_equal(x, expected)
    data = load_array_file(path)  # gankit trains on it with --data syn.npz
    assert torch.equal(data.y, torch.as_tensor(y)) and data.x.shape == (40, 1, 8, 8)


def test_folder_per_class_with_labels_csv(cond_run, tmp_path):
    out = augment(cond_run, n=9, out=tmp_path / "syn", classes=[2, 5, 9])
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == ["2", "5", "9"]
    rows = (out / "labels.csv").read_text().splitlines()
    assert rows[0] == "file,label" and len(rows) == 10
    for row in rows[1:]:
        name, label = row.split(",")
        assert name.startswith(f"{label}/")
        img = Image.open(out / name)
        assert img.size == (8, 8) and img.mode == "L"


@pytest.mark.parametrize("args,fragment", [
    (["--n", "10"], "needs a conditional generator"),
    (["--n", "0"], "--n must be a positive number"),
])
def test_unconditional_or_bad_n_is_one_line(plain_run, tmp_path, capsys, args, fragment):
    code, _, err = run(["augment", str(plain_run), *args, "--out", str(tmp_path / "a.npz")], capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1


def test_cli_bad_classes_and_non_empty_folder(cond_run, tmp_path, capsys):
    code, _, err = run(["augment", str(cond_run), "--n", "5", "--out", str(tmp_path / "a.npz"), "--classes", "1,x"],
                       capsys)
    assert code == 2 and "--classes expects comma-separated" in err
    code, _, err = run(["augment", str(cond_run), "--n", "5", "--out", str(tmp_path / "a.npz"), "--classes", "12"],
                       capsys)
    assert code == 2 and "--classes must lie in 0..9" in err
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x.txt").write_text("x")
    code, _, err = run(["augment", str(cond_run), "--n", "5", "--out", str(tmp_path / "full")], capsys)
    assert code == 2 and "is not an empty folder" in err
    code, out, err = run(["augment", str(cond_run), "--n", "5", "--out", str(tmp_path / "ok.npz")], capsys)
    assert code == 0 and "wrote 5 labelled samples" in out
