"""Real processes killed at random moments (SIGKILL: no handler runs) never leave a checkpoint that fails to
load, sample or resume, and the temporaries a killed write leaves are gone after the next start of that run.
A run directory is trained by one process at a time."""

import random
import signal
import subprocess
import sys
import time

from gankit.checkpoint import load_checkpoint
from helpers import run_cli

ARGS = ["--preset", "ring8", "--quiet", "--set", "data.toy_n=300", "--set", "train.batch=32", "--set",
        "G.hidden=[16,16]", "--set", "D.hidden=[16,16]", "--set", "train.threads=1", "--set", "train.log_every=1",
        "--set", "train.ckpt_every=7", "--set", "train.snapshot_every=100000", "--set", "train.precision=fp32"]


def _gankit(*args):
    return subprocess.Popen([sys.executable, "-m", "gankit", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)


def _wait_for_steps(stats, n, proc, deadline=90):
    end = time.time() + deadline
    while time.time() < end and proc.poll() is None:
        if stats.exists() and len(stats.read_text().splitlines()) >= n:
            return True
        time.sleep(0.02)
    return False


def test_sigkill_at_random_moments_leaves_a_usable_checkpoint(tmp_path, capsys):
    rng = random.Random(0)
    out = tmp_path / "runs"
    p = _gankit("train", *ARGS, "--steps", "100000", "--out", str(out))
    assert _wait_for_steps(out / "00000-ring8" / "stats.jsonl", 8, p), p.communicate(timeout=30)
    p.kill()
    p.wait(timeout=30)
    run = out / "00000-ring8"
    for trial in range(3):
        before = load_checkpoint(run)["step"]
        p = _gankit("train", "--resume", str(run), "--steps", "100000", "--quiet")
        time.sleep(rng.uniform(0.5, 2.5))  # the resumed process loads, trains, checkpoints every 7 steps
        p.send_signal(signal.SIGKILL)
        p.wait(timeout=30)
        state = load_checkpoint(run)  # never damaged: written to a temporary, fsynced, renamed
        assert state["step"] >= before and state["step"] % 7 == 0, trial
        code, _, err = run_cli(["sample", str(run), "-n", "4", "--out", str(tmp_path / f"s{trial}.npz")], capsys)
        assert code == 0, err
    # one more start of the run: it resumes and removes whatever temporaries the kills left
    p = _gankit("train", "--resume", str(run), "--steps", str(load_checkpoint(run)["step"] + 3), "--quiet")
    assert p.wait(timeout=120) == 0, p.communicate()[1]
    assert not list(run.glob("checkpoint.pt.*.tmp"))


def test_one_process_at_a_time_trains_a_run(tmp_path):
    out = tmp_path / "runs"
    first = _gankit("train", *ARGS, "--steps", "100000", "--out", str(out))
    run = out / "00000-ring8"
    try:
        assert _wait_for_steps(run / "stats.jsonl", 8, first), first.communicate(timeout=30)
        second = _gankit("train", "--resume", str(run), "--steps", "200000", "--quiet")
        _, err = second.communicate(timeout=120)
        assert second.returncode == 2 and "Traceback" not in err and len(err.strip().splitlines()) == 1, err
        assert "is being trained by process" in err and str(first.pid) in err
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)
    assert first.returncode == 130
    steps = [int(line.split('"step": ')[1].split(",")[0]) for line in (run / "stats.jsonl").read_text().splitlines()]
    assert steps == list(range(1, len(steps) + 1))  # one writer: no duplicate or out-of-order rows
