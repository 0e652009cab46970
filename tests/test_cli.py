"""The command line: every command, and every bad input as one line with exit code 2."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.checkpoint import load_checkpoint
from helpers import run_cli as run

TINY = ["--preset", "quick-mlp", "--data", "digits", "--set", "G.hidden=[32]", "--set", "D.hidden=[32]",
        "--set", "z_dim=8", "--set", "train.batch=16", "--set", "train.snapshot_every=10", "--set", "train.grid=16",
        "--quiet"]


def assert_one_line_error(code, err, needle):
    assert code == 2, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1, err
    assert lines[0].startswith("gankit") and "error" in lines[0] and needle in lines[0], lines[0]
    assert "Traceback" not in err


def test_train_then_sample_png_and_npz(tmp_path, capsys):
    code, out, err = run(["train", *TINY, "--steps", "12", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    run_dir = tmp_path / "00000-quick-mlp"
    assert f"run directory: {run_dir}" in out and "samples:" in out
    assert not out.startswith("{")  # the resolved config goes to config.json, not to the terminal
    assert json.loads((run_dir / "config.json").read_text())["train"]["steps"] == 12
    report = (run_dir / "report.html").read_text()  # gankit train writes the run's report at the end
    assert f"report: {run_dir / 'report.html'}" in out and "data:image/png;base64," in report
    code, out, err = run(["sample", str(run_dir), "-n", "10", "--seed", "3", "--out", str(tmp_path / "g.png")], capsys)
    assert code == 0 and (tmp_path / "g.png").is_file()
    assert Image.open(tmp_path / "g.png").size[0] > 8
    run(["sample", str(run_dir / "checkpoint.pt"), "-n", "10", "--seed", "3", "--out", str(tmp_path / "a.npz")], capsys)
    run(["sample", str(run_dir), "-n", "10", "--seed", "3", "--out", str(tmp_path / "b.npz")], capsys)
    a, b = np.load(tmp_path / "a.npz")["x"], np.load(tmp_path / "b.npz")["x"]
    assert a.shape == (10, 1, 8, 8) and np.array_equal(a, b) and a.min() >= -1 and a.max() <= 1


def test_dry_run_writes_nothing(tmp_path, capsys):
    code, out, _ = run(["train", *TINY, "--dry-run", "--out", str(tmp_path / "r")], capsys)
    assert code == 0 and "1438 examples of shape [1, 8, 8]" in out
    assert not (tmp_path / "r").exists()


def test_listings(capsys):
    code, out, _ = run(["presets"], capsys)
    assert code == 0 and all(p in out for p in ("quick-mlp", "paper-mnist", "tutorial-mlp"))
    code, out, _ = run(["datasets"], capsys)
    assert code == 0 and all(d in out for d in ("digits", "mnist-5k", "ring8", "grid25", "gauss1d", "mnist", "cifar10"))
    code, out, _ = run(["--help"], capsys)
    assert code == 0 and "train" in out and "sample" in out
    code, out, _ = run(["train", "--help"], capsys)
    assert code == 0 and "Examples:" in out


@pytest.fixture
def bad_inputs(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    corrupt = tmp_path / "corrupt"
    corrupt.mkdir()
    Image.new("L", (8, 8), 7).save(corrupt / "good.png")
    (corrupt / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n garbage")
    mixed = tmp_path / "mixed"
    mixed.mkdir()
    Image.new("L", (8, 8)).save(mixed / "a.png")
    Image.new("L", (12, 10)).save(mixed / "b.png")
    np.save(tmp_path / "rank5.npy", np.zeros((2, 1, 1, 3, 3), dtype=np.float32))
    (tmp_path / "junk.pt").write_bytes(b"not a checkpoint at all")
    return tmp_path


@pytest.mark.parametrize("args,needle", [
    (["train", "--data", "{d}/does-not-exist"], "does-not-exist"),
    (["train", "--data", "{d}/empty"], "empty"),
    (["train", "--data", "{d}/corrupt"], "broken.png"),
    (["train", "--data", "{d}/mixed"], "--size"),
    (["train", "--data", "{d}/rank5.npy"], "rank"),
    (["train", "--data", "nosuchset"], "mnist-5k"),
    (["train", "--preset", "nosuchpreset"], "known presets"),
    (["train", "--set", "train.stepz=4"], "train.stepz"),
    (["train", "--set", "train.steps=four"], "expects int"),
    (["train", "--set", "train.steps"], "key=value"),
    (["sample", "{d}/junk.pt"], "not a gankit checkpoint"),
    (["sample", "{d}/nothing-here"], "does not exist"),
    (["sample", "{d}", "--out", "x.jpg"], ""),
    (["train", "--bogus-flag"], "--bogus-flag"),
    (["train", "--steps", "many"], "many"),
])
def test_bad_input_is_one_line_and_exit_2(bad_inputs, capsys, args, needle):
    args = [a.replace("{d}", str(bad_inputs)) for a in args]
    code, out, err = run(args + (["--dry-run"] if args[0] == "train" and "--bogus-flag" not in args else []), capsys)
    assert_one_line_error(code, err, needle)


def _gankit(*args, **kw):
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen([sys.executable, "-m", "gankit", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kw)


def test_real_process_bad_input_has_no_traceback(tmp_path):
    p = _gankit("train", "--data", str(tmp_path / "missing"), "--quiet")
    out, err = p.communicate(timeout=120)
    assert p.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_ctrl_c_saves_a_checkpoint_that_resumes_exactly(tmp_path, capsys):
    """A real process gets SIGINT mid-run, saves, and the resumed run ends bitwise like an uninterrupted one."""
    common = [*TINY, "--set", "train.log_every=1", "--set", "train.ckpt_every=100000", "--set", "train.threads=1",
              "--steps", "300"]
    # The uninterrupted run to compare with trains meanwhile (both on one thread: the suite's 2 cores run both).
    uninterrupted = _gankit("train", *common, "--out", str(tmp_path / "b"))
    p = _gankit("train", *common, "--out", str(tmp_path / "a"))
    stats = tmp_path / "a" / "00000-quick-mlp" / "stats.jsonl"
    deadline = time.time() + 120
    while time.time() < deadline and not (stats.exists() and len(stats.read_text().splitlines()) >= 30):
        time.sleep(0.05)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130, err
    assert "Traceback" not in err and "interrupted at step" in err and "--resume" in err
    stopped = load_checkpoint(tmp_path / "a" / "00000-quick-mlp")
    assert 30 <= stopped["step"] < 300

    p = _gankit("train", "--resume", str(tmp_path / "a" / "00000-quick-mlp"), "--quiet")
    assert p.wait(timeout=300) == 0
    uninterrupted.communicate(timeout=300)
    assert uninterrupted.returncode == 0
    a, b = load_checkpoint(tmp_path / "a" / "00000-quick-mlp"), load_checkpoint(tmp_path / "b" / "00000-quick-mlp")
    assert a["step"] == b["step"] == 300
    a, b = a["nets"], b["nets"]
    for part in ("G", "D", "G_ema"):
        for k in a[part]:
            assert torch.equal(a[part][k], b[part][k]), f"{part}.{k}"


def test_train_reads_a_config_file_and_a_device(tmp_path, capsys):
    code, out, err = run(["train", *TINY, "--steps", "3", "--out", str(tmp_path / "a"), "--quiet"], capsys)
    assert code == 0, err
    assert "gankit train:" not in out  # --quiet: only what was written
    loud = [a for a in TINY if a != "--quiet"]
    code, out, err = run(["train", *loud, "--steps", "2", "--out", str(tmp_path / "c")], capsys)
    assert code == 0 and out.splitlines()[0] == ("gankit train: quick-mlp (gan) on digits, 2 steps of batch 16; the "
                                                 "resolved config goes to the run's config.json (--dry-run prints it)")
    first = tmp_path / "a" / "00000-quick-mlp" / "config.json"
    code, out, err = run(["train", "--config", str(first), "--steps", "4", "--device", "cpu", "--dry-run"], capsys)
    assert code == 0, err
    again = json.loads(out[: out.index("\ndata:")])
    want = json.loads(first.read_text())
    assert again["train"].pop("steps") == 4 and want["train"].pop("steps") == 3
    assert again["train"].pop("device") == "cpu" and want["train"].pop("device") == "auto" and again == want
    for args, needle in [(["--config", str(tmp_path / "none.json")], "no such file"),
                         (["--config", str(first), "--preset", "ring8"], "not both"),
                         (["--device", "tpu"], "device")]:
        code, _, err = run(["train", *args, "--steps", "1", "--out", str(tmp_path / "b")], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err
    (tmp_path / "bad.json").write_text("{nope")
    code, _, err = run(["train", "--config", str(tmp_path / "bad.json")], capsys)
    assert code == 2 and "is not valid JSON" in err


def test_sample_seeds_give_one_image_per_seed_and_a_device(tmp_path, capsys):
    code, _, err = run(["train", *TINY, "--steps", "2", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    run_dir = tmp_path / "00000-quick-mlp"
    code, out, err = run(["sample", str(run_dir), "--seeds", "0-5", "--out", str(tmp_path / "a.npz")], capsys)
    assert code == 0 and "wrote 6 samples" in out, err
    code, _, _ = run(["sample", str(run_dir), "--seeds", "3,5", "--device", "cpu", "--out", str(tmp_path / "b.npz")],
                     capsys)
    a, b = np.load(tmp_path / "a.npz"), np.load(tmp_path / "b.npz")
    assert a["seeds"].tolist() == list(range(6)) and b["x"].shape == (2, 1, 8, 8)
    assert np.array_equal(a["x"][[3, 5]], b["x"])  # a seed's image does not depend on the others asked for
    assert not np.array_equal(a["x"][0], a["x"][1])
    for args, needle in [(["--seeds", "5-2"], "--seeds '5-2'"), (["--seeds", "x"], "--seeds 'x'"),
                         (["--device", "tpu"], "device")]:
        code, _, err = run(["sample", str(run_dir), *args, "--out", str(tmp_path / "c.png")], capsys)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, err


def test_sample_into_a_folder_writes_one_png_per_sample_that_train_reads_back(tmp_path, capsys):
    from gankit.apps.augment import to_uint8

    code, _, err = run(["train", *TINY, "--steps", "2", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    run_dir = tmp_path / "00000-quick-mlp"
    run(["sample", str(run_dir), "--seeds", "0-5", "--out", str(tmp_path / "a.npz")], capsys)
    code, out, err = run(["sample", str(run_dir), "--seeds", "0-5", "--out", str(tmp_path / "seeded")], capsys)
    assert code == 0 and "wrote 6 samples" in out, err
    names = sorted(p.name for p in (tmp_path / "seeded").iterdir())
    assert names == [f"seed{s:04d}.png" for s in range(6)]
    want = to_uint8(torch.from_numpy(np.load(tmp_path / "a.npz")["x"]))  # [6, 1, 8, 8]
    got = np.stack([np.asarray(Image.open(tmp_path / "seeded" / n)) for n in names])  # [6, 8, 8] at the data's size
    assert np.array_equal(got, want[:, 0])
    code, _, err = run(["sample", str(run_dir), "-n", "40", "--out", str(tmp_path / "mine") + "/"], capsys)
    assert code == 0, err
    assert sorted(p.name for p in (tmp_path / "mine").iterdir()) == [f"{i:06d}.png" for i in range(40)]
    code, _, err = run(["sample", str(run_dir), "-n", "4", "--out", str(tmp_path / "mine")], capsys)
    assert_one_line_error(code, err, "is not an empty folder")
    code, _, err = run(["train", "--preset", "quick-mlp", "--data", str(tmp_path / "mine"), "--steps", "1",
                        "--set", "train.batch=16", "--set", "train.threads=1", "--out", str(tmp_path / "again"),
                        "--quiet"], capsys)
    assert code == 0, err
    cfg = json.loads((tmp_path / "again" / "00000-quick-mlp" / "config.json").read_text())
    assert cfg["data"]["name"] == str(tmp_path / "mine")
