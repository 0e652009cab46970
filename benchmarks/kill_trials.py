"""Issue 17's kill drill, measured: real `gankit train` processes killed with SIGKILL, half of them at a random
moment and half while a checkpoint is being written (the kill is sent as soon as the checkpoint's temporary file
appears). After each kill: does `checkpoint.pt` load, sample and resume? Which temporaries are left, and does the
next start of the run remove them?

    python benchmarks/kill_trials.py --trials 25 --out benchmarks/results/kill_trials.json

The nets are wide (G and D of 2 x 512 units, a ~4 MB checkpoint written every 5 steps) so that a write takes long
enough to be hit. Prints one line per trial and a summary; writes the summary and the trials as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ARGS = ["--preset", "ring8", "--quiet", "--set", "data.toy_n=2000", "--set", "train.batch=64", "--set",
        "G.hidden=[512,512]", "--set", "D.hidden=[512,512]", "--set", "train.threads=1", "--set",
        "train.log_every=1", "--set", "train.ckpt_every=5", "--set", "train.snapshot_every=100000", "--set",
        "train.precision=fp32"]


def gankit(*args: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "gankit", *args], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def temporaries(run: Path) -> list[Path]:
    return sorted(run.glob("checkpoint.pt.*.tmp"))


def kill_at_random(p: subprocess.Popen, rng: random.Random) -> str:
    time.sleep(rng.uniform(3.0, 12.0))  # a resumed process takes ~6 s to import torch and load, then trains
    p.send_signal(signal.SIGKILL)
    return "random moment"


def kill_in_a_write(p: subprocess.Popen, run: Path, stale: set[Path], deadline: float = 60.0) -> str:
    """SIGKILL as soon as a new checkpoint temporary appears (not one an earlier kill left)."""
    end = time.time() + deadline
    while time.time() < end and p.poll() is None:
        if set(temporaries(run)) - stale:
            p.send_signal(signal.SIGKILL)
            return "during a checkpoint write"
        time.sleep(0.0005)
    p.send_signal(signal.SIGKILL)
    return "during a checkpoint write (missed: none seen)"


def check(run: Path, tmp: Path, trial: int) -> dict:
    """Load, sample and resume the run's checkpoint in a fresh process each, as a user would."""
    from gankit.checkpoint import load_checkpoint

    row: dict = {}
    try:
        row["step"] = load_checkpoint(run)["step"]
        row["loads"] = True
    except Exception as e:  # a corrupt checkpoint is what this drill looks for
        row["loads"], row["error"] = False, f"{type(e).__name__}: {e}"[:200]
        return row
    s = subprocess.run([sys.executable, "-m", "gankit", "sample", str(run), "-n", "16", "--out",
                        str(tmp / f"s{trial}.npz"), "--quiet"], capture_output=True, text=True)
    row["samples"] = s.returncode == 0
    return row


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--trials", type=int, default=25)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", default=None, help="write the summary and trials as JSON here")
    a = ap.parse_args()
    rng = random.Random(a.seed)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        run = tmp / "runs" / "00000-ring8"
        first = gankit("train", *ARGS, "--steps", "10000000", "--out", str(tmp / "runs"))
        while not (run / "checkpoint.pt").exists():
            time.sleep(0.05)
            if first.poll() is not None:
                sys.exit(f"the first run ended: {first.communicate()[1]}")
        first.send_signal(signal.SIGKILL)
        first.wait()
        trials, left_bytes = [], 0
        for t in range(a.trials):
            before = set(temporaries(run))
            p = gankit("train", "--resume", str(run), "--steps", "10000000", "--quiet")
            how = kill_in_a_write(p, run, before) if t % 2 else kill_at_random(p, rng)
            p.wait()
            new = [q for q in temporaries(run) if q not in before]
            left_bytes += sum(q.stat().st_size for q in new)
            row = {"trial": t, "kill": how, "temporaries_left_by_kill": len(new),
                   "temporaries_from_before_after_restart": len(before & set(temporaries(run))),
                   **check(run, tmp, t)}
            trials.append(row)
            print(json.dumps(row), flush=True)
        # a last start removes what the last kill left
        last = subprocess.run([sys.executable, "-m", "gankit", "train", "--resume", str(run), "--steps",
                               str(trials[-1].get("step", 0) + 3), "--quiet"], capture_output=True, text=True)
        summary = {
            "trials": a.trials,
            "aimed_at_a_write": sum("write" in r["kill"] and "missed" not in r["kill"] for r in trials),
            "corrupt_checkpoints": sum(not r["loads"] for r in trials),
            "failed_to_sample": sum(not r.get("samples", False) for r in trials),
            # each trial resumes the checkpoint the trial before left; a later step means it resumed and trained on
            "resumed_and_checkpointed_again": sum(1 for a_, b in zip([{"step": 0}] + trials, trials)
                                                  if b.get("step", -1) > a_.get("step", 0)),
            "kills_that_left_a_temporary": sum(r["temporaries_left_by_kill"] > 0 for r in trials),
            "temporary_bytes_left_by_kills": left_bytes,
            # a kill during the import (before the run was opened) cannot have removed anything yet; what counts is
            # what the last start, which ran to its end, left
            "temporaries_after_the_last_start": len(temporaries(run)),
            "last_resume_exit_code": last.returncode,
            "machine": f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores",
        }
    print(json.dumps(summary))
    if a.out:
        Path(a.out).write_text(json.dumps({"summary": summary, "trials": trials}, indent=1) + "\n")


if __name__ == "__main__":
    main()
