"""train.threads=0 (auto): one intra-op thread per core that other processes leave idle, with real busy
processes beside it; OMP_NUM_THREADS and an explicit count win; a resumed run keeps the count it trained
with, so that resuming stays bitwise when the machine's load changed in between."""

import os
import subprocess
import sys
import time

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.train import train
from gankit.training import runtime

CORES = len(os.sched_getaffinity(0))


@pytest.fixture(autouse=True)
def _keep_threads():
    n = torch.get_num_threads()
    yield
    torch.set_num_threads(n)


def _busy(k):
    procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(k)]
    time.sleep(0.5)  # let them start and take their cores
    return procs


def _stop(procs):
    for p in procs:
        p.kill()
        p.wait()


def test_an_explicit_count_and_omp_num_threads_are_obeyed(monkeypatch):
    assert runtime.resolve_threads(3) == (3, "train.threads")
    assert runtime.resolve_threads(3, stored=1) == (3, "train.threads")  # explicit beats the record
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert runtime.resolve_threads(0) == (1, "OMP_NUM_THREADS")
    monkeypatch.setenv("OMP_NUM_THREADS", "not-a-number")  # ignored, as OpenMP ignores it
    n, why = runtime.resolve_threads(0)
    assert 1 <= n <= runtime.DEFAULT_THREADS and why.endswith("idle")


def test_a_recorded_count_is_kept_but_never_above_this_machines_default(monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")  # the record beats the environment too
    assert runtime.resolve_threads(0, stored=runtime.DEFAULT_THREADS) == (runtime.DEFAULT_THREADS,
                                                                           "the count the run was trained with")
    assert runtime.resolve_threads(0, stored=10_000)[0] == runtime.DEFAULT_THREADS


def test_busy_cores_are_not_counted_as_idle(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    procs = _busy(CORES)  # every core this process may use is taken
    try:
        idle = runtime.idle_cores()
        n, why = runtime.resolve_threads(0)
    finally:
        _stop(procs)
    assert idle is not None and 0.0 <= idle < 0.7, idle
    assert n == 1 and why.endswith("idle")


@pytest.mark.skipif(CORES < 2, reason="needs two cores: one busy, one idle")
def test_one_busy_process_takes_one_core_from_auto(monkeypatch):
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    procs = _busy(1)
    try:
        idle = runtime.idle_cores()
    finally:
        _stop(procs)
    assert CORES - 1.4 <= idle <= CORES - 0.6, idle
    # shared among two processes on this machine (two torchrun workers), each gets half
    assert runtime.resolve_threads(0, local_procs=CORES * 2)[0] == 1


def _cfg(steps):
    # big enough matmuls (256 inputs, 512-wide layers, batch 128) that 1 and 2 threads sum them differently
    return apply_overrides(load_preset("quick-mlp"), [
        "train.batch=128", "G.hidden=[512,512]", "D.hidden=[512,512]", "train.precision=fp32",
        f"train.steps={steps}", "train.log_every=2", "train.snapshot_every=100000", "train.ckpt_every=100000",
        "train.seed=3"])


@pytest.mark.skipif(runtime.DEFAULT_THREADS < 2, reason="needs PyTorch to default to two threads or more")
def test_resume_keeps_the_thread_count_the_run_began_with(tmp_path, monkeypatch):
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    whole = train(_cfg(8), out=tmp_path / "a", progress=False, report=False)
    half = train(_cfg(4), out=tmp_path / "b", progress=False, report=False)
    assert torch.load(half.checkpoint, weights_only=False)["extra"]["threads"] == 1
    monkeypatch.setenv("OMP_NUM_THREADS", str(runtime.DEFAULT_THREADS))  # the machine is quiet now
    resumed = train(resume=half.run_dir, steps=8, progress=False, report=False)
    assert torch.get_num_threads() == 1
    for a, b in zip(whole.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
    # and the count matters here: the same 8 steps on more threads give other weights
    more = train(apply_overrides(_cfg(8), [f"train.threads={runtime.DEFAULT_THREADS}"]), out=tmp_path / "c",
                 progress=False, report=False)
    assert any(not torch.equal(a, b) for a, b in zip(whole.G.state_dict().values(), more.G.state_dict().values()))


@pytest.mark.skipif(runtime.DEFAULT_THREADS < 2, reason="needs PyTorch to default to two threads or more")
def test_the_cli_says_in_one_line_when_it_trains_on_fewer_threads(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "OMP_NUM_THREADS"}
    procs = _busy(CORES - 1)  # one core left idle: auto takes it, and only it
    try:
        r = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "ring8", "--steps", "2",
                            "--set", "train.precision=fp32", "--out", str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=120)
    finally:
        _stop(procs)
    assert r.returncode == 0, r.stderr
    lines = [ln for ln in r.stderr.splitlines() if "thread" in ln]
    assert lines and lines[0].startswith("gankit: training on 1 thread: ") and "train.threads=N" in lines[0], r.stderr


def test_threads_on_the_command_line_also_when_resuming(tmp_path, capsys, monkeypatch):
    from helpers import run_cli

    monkeypatch.setenv("OMP_NUM_THREADS", str(runtime.DEFAULT_THREADS))
    args = ["--preset", "ring8", "--quiet", "--set", "train.precision=fp32", "--set", "train.log_every=2"]
    code, out, err = run_cli(["train", *args, "--steps", "2", "--out", str(tmp_path)], capsys)
    assert code == 0, err
    run = tmp_path / "00000-ring8"
    assert torch.load(run / "checkpoint.pt", weights_only=False)["extra"]["threads"] == runtime.DEFAULT_THREADS
    code, out, err = run_cli(["train", "--resume", str(run), "--steps", "4", "--threads", "1", "--quiet"], capsys)
    assert code == 0, err
    state = torch.load(run / "checkpoint.pt", weights_only=False)
    assert state["step"] == 4 and state["extra"]["threads"] == 1 and state["config"]["train"]["threads"] == 1
    code, out, err = run_cli(["train", *args, "--threads", "-1", "--out", str(tmp_path)], capsys)
    assert code == 2 and "train.threads" in err and len(err.strip().splitlines()) == 1, err
