"""Issue 17's drills as tests: bad outputs, damaged checkpoints, stray temporaries and odd values give one line
and exit 2 (or 130), never a traceback, and never cost the last good checkpoint."""

import json

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.train import train
from helpers import run_cli

RING = ["data.toy_n=300", "train.batch=32", "train.precision=fp32", "train.threads=1", "G.hidden=[16,16]",
        "D.hidden=[16,16]", "train.log_every=2", "train.snapshot_every=4", "train.ckpt_every=4"]


@pytest.fixture()
def run_dir(tmp_path):
    return train(apply_overrides(load_preset("ring8"), RING + ["train.steps=4"]), out=tmp_path / "runs",
                 progress=False, report=False).run_dir


def one_line(code, err, *needles, exit_code=2):
    assert code == exit_code and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    for n in needles:
        assert n in err, err


def _damage(run_dir, tmp_path, edit):
    state = torch.load(run_dir / "checkpoint.pt", weights_only=True)
    edit(state)
    path = tmp_path / "damaged.pt"
    torch.save(state, path)
    return path


@pytest.mark.parametrize("edit,needle", [
    (lambda s: s.pop("config"), "holds no config"),
    (lambda s: s.__setitem__("step", -7), "its step is -7"),
    (lambda s: s["nets"].pop("G_ema"), "has no network 'G_ema'"),
    (lambda s: s["nets"]["G_ema"].__setitem__(next(iter(s["nets"]["G_ema"])), torch.zeros(3, 3)), "do not fit"),
    (lambda s: s["nets"]["G_ema"][next(iter(s["nets"]["G_ema"]))].fill_(float("nan")), "NaN or infinite weights"),
    (lambda s: s["extra"].__setitem__("data_shape", [2 ** 31]), "is not the shape of an example"),
    (lambda s: s["config"].__setitem__("z_dim", 10 ** 9), "at most 65,536"),
    (lambda s: s["config"]["G"].__setitem__("hidden", [10 ** 7, 10 ** 7]), "at most 65,536"),
])
def test_a_damaged_checkpoint_is_one_line(run_dir, tmp_path, capsys, edit, needle):
    bad = _damage(run_dir, tmp_path, edit)
    code, _, err = run_cli(["sample", str(bad), "-n", "4", "--out", str(tmp_path / "x.npz")], capsys)
    one_line(code, err, needle)
    assert not (tmp_path / "x.npz").exists()


def test_outputs_that_cannot_be_written_are_one_line(run_dir, tmp_path, capsys):
    a_file = tmp_path / "a_file"
    a_file.write_text("not a folder")
    code, _, err = run_cli(["sample", str(run_dir), "-n", "4", "--out", str(a_file / "x.png")], capsys)
    one_line(code, err)
    code, _, err = run_cli(["train", "--preset", "ring8", "--steps", "2", "--quiet", "--out", str(a_file),
                            "--set", "data.toy_n=300", "--set", "train.batch=32"], capsys)
    one_line(code, err, str(a_file))


def test_odd_values_are_refused(capsys, tmp_path):
    for value, needle in [("optim.lr_d=Infinity", "must be a finite number"), ("train.threads=-3", "train.threads"),
                          ("loss.r1_gamma=NaN", "must be a finite number")]:
        code, _, err = run_cli(["train", "--preset", "ring8", "--set", value, "--out", str(tmp_path)], capsys)
        one_line(code, err, needle)


def test_sampling_more_than_memory_holds_is_refused_before_allocating(run_dir, tmp_path, capsys):
    code, _, err = run_cli(["sample", str(run_dir), "-n", "1000000000000", "--out", str(tmp_path / "big.npz")],
                           capsys)
    one_line(code, err, "more than half of this machine's")


def test_a_second_ctrl_c_is_aborted_not_a_traceback(monkeypatch, capsys):
    import gankit.generate

    def interrupted(*a, **k):
        raise KeyboardInterrupt  # what a second Ctrl-C raises inside the last checkpoint's write

    monkeypatch.setattr(gankit.generate, "sample", interrupted)
    code, _, err = run_cli(["sample", "anything", "--out", "x.png"], capsys)
    one_line(code, err, "aborted", exit_code=130)


def test_a_resume_removes_stray_temporaries_and_reads_a_cut_stats_line(run_dir):
    stray = run_dir / "checkpoint.pt.abc123.tmp"  # what a SIGKILL during a checkpoint write leaves
    stray.write_bytes(b"\0" * 1000)
    stats = run_dir / "stats.jsonl"
    stats.write_text(stats.read_text() + '{"step": 5, "loss_D": 0.6')  # a crash in the middle of a line
    r = train(resume=run_dir, steps=6, progress=False, report=False)
    assert r.step == 6 and not stray.exists()
    rows = [json.loads(line) for line in stats.read_text().splitlines()]
    assert [row["step"] for row in rows] == list(range(1, 7))
    assert load_checkpoint(run_dir)["step"] == 6


@pytest.mark.parametrize("began,now", [(True, False), (False, True)])
def test_auto_precision_is_recorded_and_kept_on_resume(tmp_path, monkeypatch, capsys, began, now):
    """A run begun where bf16 is native and resumed where it is not (or the reverse) keeps its precision."""
    import gankit.training.runtime as runtime

    ring = [o for o in RING if not o.startswith("train.precision")] + ["train.precision=auto", "train.steps=4"]
    monkeypatch.setattr(runtime, "native_bf16", lambda device: began)
    first = train(apply_overrides(load_preset("ring8"), ring), out=tmp_path, progress=False, report=False)
    want = "bf16" if began else "fp32"
    assert load_checkpoint(first.run_dir)["extra"]["precision"] == want
    monkeypatch.setattr(runtime, "native_bf16", lambda device: now)
    capsys.readouterr()
    train(resume=first.run_dir, steps=6, progress=False, report=False)
    err = capsys.readouterr().err
    assert f"resuming in {want} as the run began" in err and len(err.strip().splitlines()) == 1
    assert load_checkpoint(first.run_dir)["extra"]["precision"] == want


def test_a_full_disk_during_training_is_one_line_and_keeps_the_last_checkpoint(tmp_path):
    """A real `gankit train` process on a small tmpfs that fills up between two checkpoints (needs root to mount;
    skipped elsewhere)."""
    import os
    import shutil
    import subprocess
    import sys

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")
    try:
        free = shutil.disk_usage(disk).free
        (disk / "filler").write_bytes(b"\0" * (free - 130_000))  # room for one ~82 KB checkpoint, not for two
        args = [sys.executable, "-m", "gankit", "train", "--preset", "ring8", "--steps", "100", "--quiet", "--out",
                str(disk), "--set", "data.toy_n=300", "--set", "train.batch=32", "--set", "G.hidden=[16,16]",
                "--set", "D.hidden=[16,16]", "--set", "train.ckpt_every=2", "--set", "train.snapshot_every=1000"]
        p = subprocess.run(args, capture_output=True, text=True, timeout=120)
        one_line(p.returncode, p.stderr, "could not write", "is the disk full", "the previous checkpoint is kept")
        run = disk / "00000-ring8"
        assert load_checkpoint(run)["step"] == 2 and not list(run.glob("*.tmp"))
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def _limited(args, kib, **kw):
    """Run ``python -m gankit ARGS`` with files capped at ``kib`` KiB (RLIMIT_FSIZE, as `ulimit -f` sets it): a real
    process whose writes fail as on a full disk, but with EFBIG, and with no root needed to arrange it."""
    import resource
    import subprocess
    import sys

    def cap():
        resource.setrlimit(resource.RLIMIT_FSIZE, (kib * 1024, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))

    return subprocess.run([sys.executable, "-m", "gankit", *args], capture_output=True, text=True, timeout=180,
                          preexec_fn=cap, **kw)


def test_a_file_size_limit_under_the_stats_is_one_line_names_the_file_and_the_run_resumes(tmp_path, capsys):
    """stats.jsonl outgrows the limit between two checkpoints: the error names stats.jsonl, the limit and the kept
    checkpoint, and the resume (without the limit) cuts the half-written line and continues one row per step."""
    from gankit.stats import read_stats

    net = ["--set", "data.toy_n=300", "--set", "train.batch=32", "--set", "G.hidden=[16,16]", "--set",
           "D.hidden=[16,16]", "--set", "train.precision=fp32", "--set", "train.threads=1"]
    p = _limited(["train", "--preset", "ring8", "--steps", "1500", "--quiet", "--out", str(tmp_path), *net,
                  "--set", "train.ckpt_every=50", "--set", "train.snapshot_every=10000"], kib=100)
    run = tmp_path / "00000-ring8"
    kept = load_checkpoint(run)["step"]
    one_line(p.returncode, p.stderr, f"cannot write {str(run / 'stats.jsonl')!r}", "ulimit -f",
             f"the last checkpoint is {run / 'checkpoint.pt'} (step {kept})", f"gankit train --resume {run}")
    assert 0 < kept < 1500 and (run / "stats.jsonl").stat().st_size == 100 * 1024  # stopped by the limit
    code, _, err = run_cli(["train", "--resume", str(run), "--steps", str(kept + 10), "--quiet"], capsys)
    assert code == 0, err
    assert [r["step"] for r in read_stats(run / "stats.jsonl")] == list(range(1, kept + 11))


def test_a_file_size_limit_under_an_array_is_one_line_and_leaves_no_file(run_dir, tmp_path):
    out = tmp_path / "x.npz"
    p = _limited(["sample", str(run_dir), "-n", "20000", "--out", str(out), "--quiet"], kib=64)
    one_line(p.returncode, p.stderr, str(out), "File too large", "ulimit -f")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["runs"]  # no array, no temporary file


def test_a_picture_that_outgrows_the_file_size_limit_leaves_no_file(tmp_path):
    """The three picture writers in one process under a 4 KiB file-size limit: each fails with EFBIG and leaves
    neither a cut picture nor its temporary."""
    import errno
    import subprocess
    import sys

    writes = ["viz.save_image_grid(torch.rand(64, 1, 28, 28) * 2 - 1, out)",
              "viz.save_labelled_grid(torch.rand(16, 1, 28, 28) * 2 - 1, out, nrow=4, row_labels=list('abcd'))",
              "viz.save_points(torch.randn(20000, 2), out, real=torch.randn(5000, 2), title='t')"]
    code = ("import os, resource, torch\nfrom gankit import viz\nout = " + repr(str(tmp_path / "p.png")) + "\n"
            "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, resource.getrlimit(resource.RLIMIT_FSIZE)[1]))\n"
            + "".join(f"try:\n    {w}\nexcept OSError as e:\n    print(e.errno, len(os.listdir({str(tmp_path)!r})))\n"
                      for w in writes))
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert p.returncode == 0 and p.stdout.split() == [str(errno.EFBIG), "0"] * 3, p.stdout + p.stderr


def test_every_picture_in_the_package_is_written_through_a_temporary_name():
    """A picture written in place is left cut short by a full disk: each savefig / PIL save in src/ writes to the
    temporary name of errors.written_atomically (``tmp``) or to memory (``buf``)."""
    import re
    from pathlib import Path

    src = Path(__file__).resolve().parents[1] / "src" / "gankit"
    found, wrong = 0, []
    for f in src.rglob("*.py"):
        for n, line in enumerate(f.read_text().splitlines(), 1):
            m = re.search(r"(?:savefig|\.save)\(([^,)]+)", line)
            if m and "torch.save" not in line and "np.save" not in line and "jit" not in line and ">>>" not in line:
                found += 1
                if m.group(1).strip() not in ("tmp", "buf", "f"):
                    wrong.append(f"{f.relative_to(src)}:{n}: {line.strip()}")
    assert found >= 12 and not wrong, wrong


@pytest.fixture()
def small_disk(tmp_path):
    """A 1 MB tmpfs and a function that fills it to ``room`` free bytes (needs root to mount; skipped elsewhere)."""
    import os
    import shutil
    import subprocess

    disk = tmp_path / "disk"
    disk.mkdir()
    if os.geteuid() != 0 or subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(disk)],
                                           capture_output=True).returncode != 0:
        pytest.skip("mounting a small tmpfs needs root")

    def fill(room=0):
        (disk / "filler").write_bytes(b"\0" * max(0, shutil.disk_usage(disk).free - room))

    try:
        yield disk, fill
    finally:
        subprocess.run(["umount", str(disk)], capture_output=True)


def test_a_full_disk_under_a_picture_a_new_run_or_a_report_is_one_line_and_leaves_nothing_behind(run_dir,
                                                                                                small_disk, capsys):
    import shutil

    disk, fill = small_disk
    copy = disk / "run"
    shutil.copytree(run_dir, copy)
    fill()
    before = {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()}
    # sample's picture: names the file, says the disk is full, leaves no empty PNG
    code, _, err = run_cli(["sample", str(run_dir), "-n", "64", "--out", str(disk / "x.png"), "--quiet"], capsys)
    one_line(code, err, str(disk / "x.png"), "No space left on device", "the disk is full")
    assert not (disk / "x.png").exists()
    code, _, err = run_cli(["sample", str(run_dir), "-n", "20000", "--out", str(disk / "x.npz"), "--quiet"], capsys)
    one_line(code, err, str(disk / "x.npz"), "the disk is full")
    assert sorted(p.name for p in disk.iterdir()) == ["filler", "run"]  # no array, no temporary file
    # a new run: no run directory with an empty config.json
    code, _, err = run_cli(["train", "--preset", "ring8", "--out", str(disk), "--steps", "2", "--quiet"], capsys)
    one_line(code, err, str(disk / "00000-ring8"), "the disk is full")
    assert not (disk / "00000-ring8").exists()
    # the report: its temporary file is removed and the run's files are as they were
    code, _, err = run_cli(["report", str(copy)], capsys)
    one_line(code, err, "report.html", "No space left on device")
    assert {p.name: p.read_bytes() for p in copy.iterdir() if p.is_file()} == before


def test_a_folder_of_images_from_a_vector_generator_is_refused_before_sampling(run_dir, tmp_path, capsys):
    code, _, err = run_cli(["sample", str(run_dir), "--out", str(tmp_path / "pics"), "--quiet"], capsys)
    one_line(code, err, "needs an image generator", "vectors of shape [2]")
    assert not (tmp_path / "pics").exists()


def test_a_translation_checkpoint_whose_weights_do_not_fit_is_one_line(tmp_path, capsys):
    """An edited pix2pix checkpoint (one tensor of G's moving average replaced by one of another shape)."""
    from gankit.translate import train_translation

    r = train_translation("pix2pix", ["g_base=4", "d_base=4", "g_depth=2", "n_train=32", "batch=4", "threads=1",
                                      "steps=1", "train.ema=0.5"], out=tmp_path, progress=False)
    state = torch.load(r.run_dir / "checkpoint.pt", weights_only=True)
    state["extra"]["ema"]["G"][next(iter(state["extra"]["ema"]["G"]))] = torch.zeros(3)
    torch.save(state, tmp_path / "bad.pt")
    code, _, err = run_cli(["translate", "apply", str(tmp_path / "bad.pt"), "task:test", "--out",
                            str(tmp_path / "out.npz")], capsys)
    one_line(code, err, "its weights do not fit the pix2pix nets")
    assert not (tmp_path / "out.npz").exists()


def test_a_ctrl_c_while_the_last_checkpoint_is_written_still_counts_as_a_stop(tmp_path, monkeypatch):
    """The signal lands after the last step, inside the final write: the run is complete and saved, and the
    result says it was stopped, so a caller training in segments (bench --until-fid) ends instead of going on."""
    import os
    import signal

    import gankit.checkpoint

    real_save = gankit.checkpoint.save_checkpoint

    def save_then_ctrl_c(path, state):
        out = real_save(path, state)
        os.kill(os.getpid(), signal.SIGINT)  # delivered to StopFlag's handler at the next bytecode
        return out

    monkeypatch.setattr(gankit.checkpoint, "save_checkpoint", save_then_ctrl_c)
    before = signal.getsignal(signal.SIGINT)  # default_int_handler, or SIG_IGN in a shell's background job
    r = train(apply_overrides(load_preset("ring8"), RING + ["train.steps=4"]), out=tmp_path / "runs", progress=False,
              report=False)
    assert r.step == 4 and r.interrupted
    assert load_checkpoint(r.checkpoint)["step"] == 4
    assert signal.getsignal(signal.SIGINT) == before  # the handler was put back
