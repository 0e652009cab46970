"""The shipped generators (gankit.pretrained): the real packaged file, through the real commands."""

import os
from pathlib import Path

import numpy as np
import torch

import gankit.pretrained as pretrained
from gankit.checkpoint import load_checkpoint
from gankit.metrics.classes import classify_digits
from gankit.run import load_run
from gankit.train import train
from tests.helpers import run_cli, user_error


def test_the_packaged_file_is_small_and_sample_only():
    path = pretrained.packaged_file("mnist")
    assert path.stat().st_size < 4 * 2**20  # "a few MB at most"
    state = torch.load(path, weights_only=True)
    assert state["format"] == "gankit-checkpoint" and state["system"] == "gan"
    assert sorted(state["nets"]) == ["D", "G_ema"] and state["optims"] == {} and state["rng"] == {}


def test_sample_draws_the_asked_digits_and_writes_beside_nothing_in_the_package(tmp_path, capsys):
    package = Path(pretrained.__file__).parent
    before = sorted(os.listdir(package))
    out = tmp_path / "threes.npz"
    code, _, err = run_cli(["sample", "pretrained:mnist", "-n", "200", "--class", "3", "--out", str(out), "--quiet"],
                           capsys)
    assert code == 0, err
    x = np.load(out)["x"]  # [200, 1, 28, 28] in [-1, 1]
    assert x.shape == (200, 1, 28, 28) and x.min() >= -1 and x.max() <= 1
    # A trained class-conditional G: the digits classifier reads the asked class in nearly every sample
    # (a random G would give about 10%).
    assert (classify_digits(torch.from_numpy(x)) == 3).float().mean() > 0.9
    # eval records its result in the cache copy's folder, not in the installed package.
    code, _, err = run_cli(["eval", "pretrained:mnist", "--metrics", "classes", "-n", "500", "--quiet"], capsys)
    assert code == 0, err
    run_dir = pretrained.resolve("pretrained:mnist")
    assert run_dir.is_relative_to(os.environ["GANKIT_CACHE"]) and (run_dir / "metric-classes.jsonl").exists()
    assert sorted(os.listdir(package)) == before


def test_the_cache_copy_is_the_packaged_file_and_is_renewed_when_damaged():
    run_dir = pretrained.resolve("pretrained:mnist")
    copy = run_dir / "checkpoint.pt"
    assert copy.read_bytes() == pretrained.packaged_file("mnist").read_bytes()
    copy.write_bytes(b"half a copy")
    assert pretrained.resolve("pretrained:mnist") == run_dir and copy.read_bytes() == \
        pretrained.packaged_file("mnist").read_bytes()
    run = load_run("pretrained:mnist")
    assert run.system == "gan" and run.config.c_dim == 10 and run.step == load_checkpoint(copy)["step"]


def test_mistakes_are_one_line(tmp_path, capsys):
    user_error(lambda: load_run("pretrained:cifar"), "no pretrained generator 'cifar'", "pretrained:mnist")
    user_error(lambda: train(resume="pretrained:mnist", steps=10_000, progress=False),
               "holds no optimizer state", "cannot be resumed")
    user_error(lambda: load_run("pretrained:mnist").generator(ema=False), "has no network 'G'")
    code, _, err = run_cli(["sample", "pretrained:nope", "--out", str(tmp_path / "x.png")], capsys)
    assert code == 2 and err.count("\n") == 1 and "no pretrained generator 'nope'" in err
    code, _, err = run_cli(["report", "pretrained:mnist"], capsys)
    assert code == 2 and err.count("\n") == 1 and "without its training history" in err
