"""Training speed beside other busy processes: does gankit keep its fair share of the machine?

For each number of competitors (0 = quiet, then 1, 2, ...) this starts that many busy processes,
each a single-threaded float32 matmul loop (numpy with one BLAS thread, the kind of work a user's
laptop has running beside a training run), waits a second for them to settle, runs ``gankit bench
--json`` as a separate process and stops them. Variants (each a name, environment settings and
``--set`` overrides) are run in turn inside every round, so they meet the same machine state, and
rounds repeat so the spread shows. The figure is ``gankit bench``'s samples/s.

"Fair share" with one competitor on C cores: the competitor takes one core, gankit can have C - 1
of them, so a run that keeps >= (C - 1) / C of its quiet speed is fair (the issue's target on two
cores: >= 45% of quiet).

Usage:
    python benchmarks/contention.py --preset tutorial-mlp --batch 64 --competitors 0,1,2
    python benchmarks/contention.py --variant default: --variant spin:OMP_WAIT_POLICY=active \
        --variant t1::train.threads=1
A variant is NAME:ENV1=V1,ENV2=V2:KEY=VALUE,KEY=VALUE (either part may be empty).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

BUSY = ("import numpy as np\n"
        "a = np.random.rand(256, 256).astype(np.float32)\n"
        "while True:\n"
        "    a = (a @ a) / 256.0\n")


def start_competitors(n: int) -> list[subprocess.Popen]:
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    procs = [subprocess.Popen([sys.executable, "-c", BUSY], env=env) for _ in range(n)]
    time.sleep(1.0 if n else 0.0)
    return procs


def stop(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        p.kill()
    for p in procs:
        p.wait()


def parse_variant(text: str) -> tuple[str, dict[str, str], list[str]]:
    name, _, rest = text.partition(":")
    env_part, _, set_part = rest.partition(":")
    env = dict(kv.split("=", 1) for kv in env_part.split(",") if kv)
    sets = [kv for kv in set_part.split(",") if kv]
    return name, env, sets


def bench(gankit: str, preset: str, batch: int, steps: int, env: dict[str, str], sets: list[str]) -> dict:
    cmd = [gankit, "bench", "--preset", preset, "--batch", str(batch), "--steps", str(steps), "--json"]
    for s in sets:
        cmd += ["--set", s]
    out = subprocess.run(cmd, env={**os.environ, **env}, capture_output=True, text=True, check=True)
    return json.loads(out.stdout)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--preset", default="tutorial-mlp")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--competitors", default="0,1,2", help="comma-separated counts of busy processes")
    ap.add_argument("--variant", action="append", default=[], help="NAME:ENV=V,...:KEY=VALUE,... (repeatable)")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--gankit", default=str(Path(sys.executable).with_name("gankit")))
    args = ap.parse_args()
    variants = [parse_variant(v) for v in (args.variant or ["default::"])]
    counts = [int(c) for c in args.competitors.split(",")]
    rates: dict[tuple[str, int], list[float]] = {}
    threads: dict[tuple[str, int], set] = {}
    for r in range(args.rounds):
        for n in counts:
            for name, env, sets in variants:
                procs = start_competitors(n)
                try:
                    res = bench(args.gankit, args.preset, args.batch, args.steps, env, sets)
                finally:
                    stop(procs)
                rates.setdefault((name, n), []).append(res["samples_per_s"])
                threads.setdefault((name, n), set()).add(res["threads"])
                print(f"# round {r + 1}, {n} competitors, {name}: {res['samples_per_s']:,.0f} samples/s "
                      f"({res['threads']} threads)", flush=True)
    cores = len(os.sched_getaffinity(0))
    print(f"\n{args.preset} batch {args.batch}, {cores} cores, median of {args.rounds} rounds (min-max)\n")
    print("| variant | competitors | threads | samples / s | range | share of its quiet figure |")
    print("|---|---|---|---|---|---|")
    for name, _, _ in variants:
        quiet = statistics.median(rates[(name, 0)]) if (name, 0) in rates else None
        for n in counts:
            xs = rates[(name, n)]
            med = statistics.median(xs)
            share = f"{med / quiet:.0%}" if quiet else "-"
            th = ",".join(str(t) for t in sorted(threads[(name, n)]))
            print(f"| {name} | {n} | {th} | {med:,.0f} | {min(xs):,.0f}-{max(xs):,.0f} | {share} |")


if __name__ == "__main__":
    main()
