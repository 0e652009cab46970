"""DDP training with real processes: torchrun starts 2 CPU workers that talk over gloo.

The workers are kept on the CPU (no visible GPU) even where one is present: two ranks on one GPU
are refused by design, and these tests are about gloo. A GPU machine adds the NCCL test below.
"""

import json
import os
import subprocess
import sys
import textwrap

import pytest
import torch

from gankit.checkpoint import load_checkpoint
from gankit.config import apply_overrides, load_preset
from gankit.stats import read_stats
from gankit.train import train

# ring8 as a WGAN-GP critic: no BatchNorm (so 2 x 16 must equal 1 x 32) and a double backward through DDP.
# fp32 pinned: the comparisons below assume fp32 rounding, and train.precision=auto picks bf16 on CPUs
# with native bf16 (AMX / avx512_bf16), where 2 x 16 and 1 x 32 differ by bf16's 3 significant digits.
GP_RING = ["train.precision=fp32", "train.steps=4", "data.toy_n=2000", "loss.d_loss=wasserstein",
           "loss.g_loss=wasserstein", "loss.gp_lambda=10", "train.log_every=1", "train.ckpt_every=2",
           "train.snapshot_every=4"]

CPU_ONLY = {"CUDA_VISIBLE_DEVICES": ""}  # train.device=auto then picks the CPU and gloo

WORKER = textwrap.dedent('''
    import json, os, sys, torch, torch.distributed as dist
    from gankit.config import apply_overrides, load_preset
    from gankit.train import train
    # One launch trains several runs in turn: starting torchrun and its workers costs more than the few steps each
    # run trains. The script joins the process group once, as a user's own DDP script would, and gankit trains in
    # it (a second join and leave in one process can hang in gloo's rendezvous).
    out, jobs = sys.argv[1], json.loads(sys.argv[2])
    dist.init_process_group("gloo")
    for name, preset, overrides in jobs:
        result = train(apply_overrides(load_preset(preset), overrides), out=os.path.join(out, name), progress=False)
        os.makedirs(os.path.join(out, name), exist_ok=True)  # rank 0 alone made it, on its node
        nets = {"G": result.G, "D": result.D, "G_ema": result.G_ema or result.system.ema.get("G")}
        torch.save({**{k: v.state_dict() for k, v in nets.items()}, "run_dir": str(result.run_dir),
                    "step": result.step},
                   os.path.join(out, name, "rank%s.pt" % os.environ["RANK"]))
    dist.destroy_process_group()
''')

# The runs each launch of WORKER trains: the WGAN-GP ring (2 x 16 against 1 x 32 below) and tutorial-mlp, whose G
# has BatchNorm: each rank normalises its own slice, and the running statistics are made equal (rank 0's) before
# pictures and checkpoints.
# And pix2pix (image to image, through the same engine), without normalisation or dropout so that 2 x 2 must equal
# 1 x 4 (a bias before instance norm has a gradient of float noise, which Adam scales up), and a moving average of G.
PIX = ["train.precision=fp32", "train.steps=3", "pix2pix.g_base=4", "pix2pix.d_base=4", "pix2pix.g_depth=2",
       "task.n_train=32", "pix2pix.norm=none", "pix2pix.dropout=0", "train.ema=0.5", "train.snapshot_every=3",
       "train.ckpt_every=3", "train.threads=1"]
JOBS = json.dumps([["ddp", "ring8", ["train.batch=16", *GP_RING]],
                   ["bn", "tutorial-mlp", ["train.steps=3", "train.batch=8", "train.grid=16",
                                           "train.precision=fp32"]],
                   ["i2i", "pix2pix-edges", ["train.batch=2", *PIX]]])


def torchrun(tmp_path, *args, nproc=2):
    """Run `torchrun --standalone --nproc_per_node nproc ARGS` to the end; return the CompletedProcess."""
    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", f"--nproc_per_node={nproc}", *args]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return proc


def assert_same_weights(a: dict, b: dict, exact: bool, nets=("G", "D")):
    for net in nets:
        assert a[net].keys() == b[net].keys()
        for k in a[net]:
            if exact:
                assert torch.equal(a[net][k], b[net][k]), (net, k)
            else:
                assert torch.allclose(a[net][k], b[net][k], rtol=1e-4, atol=1e-6), (
                    net, k, (a[net][k] - b[net][k]).abs().max())


def test_two_nodes_over_loopback_match_one_process_with_twice_the_batch_and_resume_alone(tmp_path):
    """Two torchrun launchers, one process each, form 2 nodes x 1 process over 127.0.0.1 (c10d rendezvous, as on
    two machines; the single-machine --standalone launch is what the CLI tests below use). Both ranks end with the
    same weights, equal to one process with the whole batch; global rank 0 alone writes; one process resumes."""
    import socket

    (tmp_path / "worker.py").write_text(WORKER)
    with socket.socket() as s:  # a free port for the rendezvous
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    nodes = []
    for node in (0, 1):
        (tmp_path / f"node{node}").mkdir()
        cmd = [sys.executable, "-m", "torch.distributed.run", "--nnodes=2", "--nproc_per_node=1", f"--node_rank={node}",
               "--rdzv_backend=c10d", f"--rdzv_endpoint=127.0.0.1:{port}", "--rdzv_id=gankit-test",
               str(tmp_path / "worker.py"), str(tmp_path / f"node{node}"), JOBS]
        nodes.append(subprocess.Popen(cmd, cwd=tmp_path / f"node{node}", env=env, stdout=subprocess.PIPE,
                                      stderr=subprocess.PIPE, text=True))
    for p in nodes:
        _, err = p.communicate(timeout=150)
        assert p.returncode == 0, err[-3000:]

    # BatchNorm: identical nets, running statistics included, on both ranks.
    bn0, bn1 = torch.load(tmp_path / "node0" / "bn" / "rank0.pt"), torch.load(tmp_path / "node1" / "bn" / "rank1.pt")
    assert any("running_mean" in k for k in bn0["G"])
    assert_same_weights(bn0, bn1, exact=True, nets=("G", "D", "G_ema"))

    rank0 = torch.load(tmp_path / "node0" / "ddp" / "rank0.pt")
    rank1 = torch.load(tmp_path / "node1" / "ddp" / "rank1.pt")
    assert_same_weights(rank0, rank1, exact=True, nets=("G", "D", "G_ema"))
    # The ranks draw the global batch's data and noise and keep their halves, and DDP averages the
    # gradients: the same steps as one process with the whole batch (up to float summation order).
    single = train(apply_overrides(load_preset("ring8"), ["train.batch=32"] + GP_RING), out=tmp_path / "one",
                   progress=False, report=False)
    assert_same_weights(rank0, {"G": single.G.state_dict(), "D": single.D.state_dict()}, exact=False)

    # Global rank 0 alone wrote the run directory: one of it, one line per step, a checkpoint of rank 0's nets.
    run_dir = rank0["run_dir"]
    assert [p.name for p in (tmp_path / "node0" / "ddp").iterdir() if p.is_dir()] == [os.path.basename(run_dir)]
    assert not list((tmp_path / "node1").glob("*/*/checkpoint.pt"))
    assert [r["step"] for r in read_stats(os.path.join(run_dir, "stats.jsonl"))] == [1, 2, 3, 4]
    state = load_checkpoint(run_dir)
    assert state["extra"]["world_size"] == 2 and state["step"] == 4
    assert_same_weights(rank0, state["nets"], exact=True)

    # pix2pix: the same on both ranks (G, D and the average), equal to one process with batch 4; rank 0 wrote.
    pix0 = torch.load(tmp_path / "node0" / "i2i" / "rank0.pt")
    pix1 = torch.load(tmp_path / "node1" / "i2i" / "rank1.pt")
    assert_same_weights(pix0, pix1, exact=True, nets=("G", "D", "G_ema"))
    one = train(apply_overrides(load_preset("pix2pix-edges"), ["train.batch=4", *PIX]), out=tmp_path / "pix",
                progress=False, report=False)
    assert_same_weights(pix0, {"G": one.G.state_dict(), "D": one.D.state_dict(),
                               "G_ema": one.system.ema["G"].state_dict()}, exact=False, nets=("G", "D", "G_ema"))
    assert load_checkpoint(pix0["run_dir"])["step"] == 3 and not list((tmp_path / "node1").glob("*/*/checkpoint.pt"))

    # Resume in a single process: it continues from the 2-process checkpoint to step 7.
    resumed = train(resume=run_dir, steps=7, progress=False, report=False)
    assert resumed.step == 7 and not resumed.interrupted
    assert [r["step"] for r in read_stats(os.path.join(run_dir, "stats.jsonl"))] == list(range(1, 8))
    assert load_checkpoint(run_dir)["extra"]["world_size"] == 1
    moved = max((resumed.G.state_dict()[k] - state["nets"]["G"][k]).abs().max().item() for k in state["nets"]["G"])
    assert moved > 0  # it trained on from there


def test_global_batch_larger_than_the_data_is_one_line(tmp_path):
    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gankit", "train",
           "--preset", "ring8", "--steps", "2", "--quiet", "--set", "data.toy_n=100", "--set", "train.batch=64"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0  # torchrun itself then reports the failed workers (with its own traceback)
    line = ("gankit: error: train.batch (64) x 2 processes is larger than the dataset (100 examples); "
            "lower --set train.batch")
    assert proc.stderr.count(line) == 2  # each worker: one line and exit code 2
    assert "exitcode  : 2" in proc.stderr and "gankit/train.py" not in proc.stderr


def test_vae_under_torchrun_is_one_line(tmp_path):
    """The VAE trains in one process only; under torchrun each worker says so in one line and exits with 2."""
    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gankit", "train",
           "--preset", "vae-mnist", "--steps", "2", "--quiet", "--set", "data.name=digits"]
    proc = subprocess.run(cmd, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert proc.returncode != 0
    line = "gankit: error: model=vae trains in one process only; run `gankit train` without torchrun"
    assert proc.stderr.count(line) == 2, proc.stderr[-2000:]
    assert "exitcode  : 2" in proc.stderr and "gankit/train.py" not in proc.stderr
    assert not any((tmp_path / "runs").glob("*/checkpoint.pt"))  # nothing was trained


@pytest.mark.parametrize("env,fragment", [
    ({"WORLD_SIZE": "2", "RANK": "0"}, "MASTER_ADDR is not set; start distributed runs with torchrun"),
    ({"WORLD_SIZE": "two"}, "WORLD_SIZE must be an integer"),
    ({"WORLD_SIZE": "2"}, "RANK is not"),
])
def test_half_set_environment_is_one_line(tmp_path, env, fragment):
    clean = {k: v for k, v in os.environ.items()
             if k not in ("WORLD_SIZE", "RANK", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT")}
    proc = subprocess.run([sys.executable, "-m", "gankit", "train", "--preset", "ring8", "--steps", "1", "--quiet",
                           "--set", "data.toy_n=500"], cwd=tmp_path, env={**clean, **CPU_ONLY, **env},
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert fragment in proc.stderr and len(proc.stderr.strip().splitlines()) == 1, proc.stderr


def test_ctrl_c_under_torchrun_stops_both_ranks_at_one_step_and_checkpoints_it(tmp_path):
    """`gankit train` under torchrun: rank 0 alone prints and writes (one run directory, train.batch per process);
    Ctrl-C stops both ranks at the same step, with its checkpoint."""
    import signal
    import time

    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gankit", "train",
           "--preset", "ring8", "--steps", "1000000", "--quiet", "--out", "runs", "--set", "data.toy_n=2000",
           "--set", "train.log_every=10", "--set", "train.ckpt_every=1000000", "--set", "train.batch=48"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # its own process group, as a terminal's foreground job
    stats = None
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "runs").glob("*/stats.jsonl")) if (tmp_path / "runs").exists() else []
        if found and found[0].stat().st_size > 0:
            stats = found[0]
            break
        time.sleep(0.2)
    assert stats is not None, "training never logged a step"
    os.killpg(proc.pid, signal.SIGINT)  # Ctrl-C reaches torchrun and both workers
    out, err = proc.communicate(timeout=120)
    steps = [r["step"] for r in read_stats(stats)]
    state = load_checkpoint(stats.parent)
    assert state["step"] == steps[-1] > 0 and steps == list(range(1, steps[-1] + 1))
    assert state["step"] % 10 == 0  # the ranks agreed to stop at a log interval
    assert err.count(f"interrupted at step {state['step']}; checkpoint saved") == 1  # rank 0 alone says so
    assert out.count("gankit train: ring8") <= 1  # --quiet: no summary line; never one per rank
    runs = list((tmp_path / "runs").iterdir())
    assert runs == [stats.parent] and (stats.parent / "samples.png").exists()
    assert json.loads((stats.parent / "config.json").read_text())["train"]["batch"] == 48  # per process


def test_a_dead_worker_leaves_the_survivor_one_line_and_the_checkpoint(tmp_path):
    """SIGKILL one of two torchrun workers: the other says in one line that a process stopped and where the last
    checkpoint is (torchrun's own report of the dead rank follows it); the checkpoint loads."""
    import signal
    import time

    env = {**os.environ, **CPU_ONLY, "OMP_NUM_THREADS": "1", "PYTHONWARNINGS": "ignore"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "gankit", "train",
           "--preset", "ring8", "--steps", "1000000", "--quiet", "--out", "runs", "--set", "data.toy_n=1000",
           "--set", "train.log_every=1", "--set", "train.ckpt_every=5", "--set", "train.batch=64"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)
    run_dir, deadline = None, time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        found = list((tmp_path / "runs").glob("*/checkpoint.pt")) if (tmp_path / "runs").exists() else []
        if found:
            run_dir = found[0].parent
            break
        time.sleep(0.1)
    assert run_dir is not None, "training never wrote a checkpoint"
    workers = []
    for pid in os.listdir("/proc"):
        try:
            if pid.isdigit() and b"gankit" in open(f"/proc/{pid}/cmdline", "rb").read() and \
                    b"RANK=1\0" in open(f"/proc/{pid}/environ", "rb").read() and int(pid) != proc.pid:
                workers.append(int(pid))
        except OSError:
            continue
    assert len(workers) == 1, workers
    os.kill(workers[0], signal.SIGKILL)
    _, err = proc.communicate(timeout=120)
    ours = [line for line in err.splitlines() if line.startswith(("gankit:", "[rank0]"))]
    # No traceback of ours. torchrun's agent SIGTERMs the survivor when it sees the death: if that comes first, the
    # survivor stops without a word (torchrun's report names the dead rank); else it prints the one line.
    assert len(ours) <= 1 and "[rank0]" not in err, err[-3000:]
    for line in ours:
        assert line.startswith("gankit: error: rank 0: rank 1 of this torchrun job stopped")  # of two: the other
        assert f"--resume {run_dir.relative_to(tmp_path)}" in line
    assert "local_rank: 1" in err and "exitcode: -9" in err  # torchrun's own report of which rank died
    assert load_checkpoint(run_dir)["step"] % 5 == 0


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_one_gpu_process_trains_over_nccl_and_two_are_refused_in_one_line(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    base = [sys.executable, "-m", "torch.distributed.run", "--standalone", "-m", "gankit", "train", "--preset", "ring8",
            "--steps", "20", "--quiet", "--out", "runs", "--set", "data.toy_n=1000",
            "--set", "train.batch=64"]
    proc = subprocess.run(base[:4] + ["--nproc_per_node=1"] + base[4:], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert load_checkpoint(next((tmp_path / "runs").iterdir()))["step"] == 20
    n = torch.cuda.device_count() + 1
    proc = subprocess.run(base[:4] + [f"--nproc_per_node={n}"] + base[4:], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    line = (f"gankit: error: LOCAL_RANK {n - 1} but this machine has {n - 1} GPUs; "
            "use --nproc_per_node no larger than the GPU count")
    assert proc.returncode != 0 and line in proc.stderr, proc.stderr[-2000:]
