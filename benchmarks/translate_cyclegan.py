"""CycleGAN on gray <-> MNIST-M-like digits: is the digit kept through translation, and does the cycle close?

The claims measured (Zhu et al. 2017):

- The cycle-consistency loss (eq. 2) makes F(G(a)) ~ a and G(F(b)) ~ b: the mean L1 reconstruction
  error on the test split, in [-1, 1] pixel units (so 2 = everything wrong).
- The translation keeps the content (section 5.1.4, Table 4: without the cycle loss, "GAN alone",
  the output looks like the other domain but loses the input's content). Measured with gankit's
  digits classifier (``gankit.metrics.translation.digits_scores``): its accuracy on G(a) and on F(b) against the
  source image's label, beside its accuracy on the real test images of each side (the ceiling of
  what a translated image can score, for a classifier trained on gray MNIST). Also the digits-FID
  of G(a) against real B and of F(b) against real A (lower: closer to the target domain).

Protocol: each preset is trained for ``--steps`` steps per seed on the ``mnist-m`` task (2,000
gray and 2,000 coloured training digits, disjoint), then scored on the 500 + 500 test images.
Rows are mean ± standard error over seeds; each row is appended to ``--results`` as one JSON line
with the command that made it.

Usage:
    python benchmarks/translate_cyclegan.py --out /tmp/cg --results benchmarks/results/translate_cyclegan.jsonl
    python benchmarks/translate_cyclegan.py --table               # print the recorded rows
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from pathlib import Path

import torch

from gankit.translate import build_task, load_translator, resolve_config, train_translation
from gankit.metrics.translation import digits_scores
from gankit.systems.i2i import parse_overrides
from bench_stats import mean_and_se as mean_se  # (mean, s.e.); benchmarks/bench_stats.py

RESULTS = Path(__file__).parent / "results" / "translate_cyclegan.jsonl"
STEPS = 600  # per run: 4 runs (2 presets x 2 seeds) fit in ~10 minutes of one quiet CPU thread
METRICS = ["cycle_a", "cycle_b", "acc_G_a", "acc_F_b", "fid_G_a", "fid_F_b"]  # per-seed scores


def score_run(run_dir: Path) -> dict[str, float]:
    """Test-split scores of one trained CycleGAN run (see the module docstring)."""
    system = load_translator(run_dir)
    test = build_task(system.cfg, "test")
    fake_b = system.translate_batched(test.a, "AtoB")  # [N, 3, 28, 28]
    fake_a = system.translate_batched(test.b, "BtoA")
    rec_a = system.translate_batched(fake_b, "BtoA")
    rec_b = system.translate_batched(fake_a, "AtoB")
    g_a = digits_scores(fake_b, reference=test.b, labels=test.y_a)
    f_b = digits_scores(fake_a, reference=test.a, labels=test.y_b)
    return {"cycle_a": float((rec_a - test.a).abs().mean()), "cycle_b": float((rec_b - test.b).abs().mean()),
            "acc_G_a": g_a["accuracy"], "acc_F_b": f_b["accuracy"], "fid_G_a": g_a["fid"], "fid_F_b": f_b["fid"]}


def train_and_score(preset: str, over: dict, out: str) -> dict:
    """Train one run (a worker of ``--jobs``) and score it; returns the row's per-seed entry and the config."""
    torch.set_num_threads(over["threads"])
    t0 = time.perf_counter()
    res = train_translation(preset, over, out=out, progress=False)
    seconds = time.perf_counter() - t0
    scores = {"seed": over["seed"], "run": str(res.run_dir), "seconds": round(seconds, 1), **score_run(res.run_dir)}
    print(json.dumps(scores), flush=True)
    return {"scores": scores, "cfg": res.system.cfg}


def ceiling() -> dict[str, float]:
    """The classifier on real test images of each side (and the FID of one real side to the other)."""
    test = build_task(resolve_config("cyclegan"), "test")
    real_a = digits_scores(test.a, reference=test.b, labels=test.y_a)
    real_b = digits_scores(test.b, reference=test.a, labels=test.y_b)
    return {"acc_real_a": real_a["accuracy"], "acc_real_b": real_b["accuracy"], "fid_a_to_b": real_a["fid"]}


def fmt(values: list[float], pct: bool = False) -> str:
    m, se = mean_se(values)
    k = 100 if pct else 1
    text = f"{k * m:.1f}" if pct else f"{m:.3f}" if m < 10 else f"{m:.0f}"
    if len(values) < 2:
        return text
    return text + (f" ± {k * se:.1f}" if pct else f" ± {se:.3f}" if m < 10 else f" ± {se:.0f}")


def where(machine: str) -> str:
    """"16 cores, cpu" from a row's machine text (host, cores, threads, runs at once, device)."""
    return f"{machine.split(', ')[1]}, {machine.rsplit('device ', 1)[-1]}"


def table(path: Path) -> str:
    """The recorded rows as a Markdown table (accuracies in %)."""
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()]
    out = ["| row | steps | seeds | cycle L1 A | cycle L1 B | acc G(a) | acc F(b) | FID G(a)-B | FID F(b)-A "
           "| s/run | on |",
           "|---|---|---|---|---|---|---|---|---|---|---|"]
    for r in rows:
        if r["row"] == "real test images":
            out.append(f"| real test images (ceiling) | - | - | - | - | real B: {100 * r['acc_real_b']:.1f} | "
                       f"real A: {100 * r['acc_real_a']:.1f} | real A-B: {r['fid_a_to_b']:.0f} | - | - | - |")
            continue
        per = r["per_seed"]
        cells = [fmt([p[k] for p in per], pct=k.startswith("acc")) for k in METRICS]
        out.append(f"| {r['row']} | {r['steps']} | {len(per)} | " + " | ".join(cells)
                   + f" | {sum(p['seconds'] for p in per) / len(per):.0f} | {where(r['machine'])} |")
    return "\n".join(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/bench-cyclegan", help="folder for the training runs")
    ap.add_argument("--presets", default="cyclegan-mnist-m,cyclegan-no-cycle")
    ap.add_argument("--seeds", default="0,1")
    ap.add_argument("--steps", type=int, default=STEPS, help="training steps per run (0: the preset's, 3,000)")
    ap.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                    help="extra config overrides for every run (repeatable)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--jobs", type=int, default=1, help="training runs at once, in parallel processes")
    ap.add_argument("--no-ceiling", action="store_true", help="skip the real-images row")
    ap.add_argument("--results", default=str(RESULTS), help="JSON-lines file the rows are appended to")
    ap.add_argument("--table", action="store_true", help="only print the table of the recorded rows")
    args = ap.parse_args()
    results = Path(args.results)
    if args.table:
        print(table(results))
        return
    torch.set_num_threads(args.threads)
    command = "python " + " ".join(shlex.quote(a) for a in sys.argv)
    machine = (f"{platform.node()}, {os.cpu_count()} cores, {args.threads} thread(s) per run, "
               f"{args.jobs} run(s) at once, device {args.device}")
    rows = []
    if not args.no_ceiling:
        rows.append({"row": "real test images", **ceiling(), "command": command})
    extra = parse_overrides(args.overrides)
    jobs = []  # (preset, overrides) per training run
    for preset in args.presets.split(","):
        for seed in [int(x) for x in args.seeds.split(",")]:
            over = {**extra, "seed": seed, "threads": args.threads, "device": args.device}
            jobs.append((preset, {**over, "steps": args.steps} if args.steps else over))
    if args.jobs > 1:  # independent runs in parallel processes, one thread each
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(args.jobs, mp_context=multiprocessing.get_context("spawn")) as pool:
            done = list(pool.map(train_and_score, *zip(*[(p, o, args.out) for p, o in jobs])))
    else:
        done = [train_and_score(p, o, args.out) for p, o in jobs]
    for preset in args.presets.split(","):
        mine = [d for (p, _), d in zip(jobs, done) if p == preset]
        cfg = mine[-1]["cfg"]
        rows.append({"row": preset, "steps": cfg["steps"], "batch": cfg["batch"],
                     "config": {k: cfg[k] for k in ("lambda_cycle", "lambda_identity", "g_base", "g_blocks", "d_base",
                                                    "d_layers", "history", "lr")},
                     "per_seed": [d["scores"] for d in mine], "machine": machine, "command": command})
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as f:
        for row in rows:
            f.write(json.dumps(row) + "\n")
    print(table(results))


if __name__ == "__main__":
    main()
