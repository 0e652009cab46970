"""Does SimGAN's refinement make synthetic digits better training data for real ones?

The claim measured (Shrivastava et al. 2017, section 3, Tables 3 and 4): a model trained on
refined synthetic images does better on real test images than the same model trained on the raw
synthetic images. gankit's version, on digits, everything offline:

1. Refiners: ``gankit translate train --preset simgan-fonts`` (font-rendered digits -> the 4,000
   real mnist-5k training digits, unpaired, their labels unused), one run per refiner seed.
2. Training sets: the first ``--n`` digits of the synthetic pool with the renderer's labels, and
   the same digits refined by each refiner (the labels carried over).
3. A fresh classifier with the architecture of :class:`gankit.features.digits.DigitsClassifier`
   (two 3x3 convolutions, max-pooling, 128 features, dropout) is trained on each set with Adam
   (lr 1e-3), batch 64, ``--clf-steps`` steps, no augmentation, classifier seeds 0..S-1, and tested
   on the 1,000 real mnist-5k test digits.
4. Realism and label keeping: digits-FID (``gankit.metrics.translation.digits_scores``) of the 1,000 synthetic test
   digits and of them refined, against the 1,000 real test digits; and the shipped digit
   classifier's accuracy on them with the synthetic labels.
Reference row: the same classifier trained on ``--n`` real labelled digits (what real labels buy).

Refined rows report mean ± standard error over refiner seeds (each refiner's value is the mean
over the classifier seeds); the synthetic and real rows over classifier seeds.

Usage (one thread; about 10 minutes on a quiet 2-core machine with the defaults):
    python benchmarks/translate_simgan.py --out /tmp/simgan-bench       # train 2 refiners, append rows
    python benchmarks/translate_simgan.py --table                       # print the recorded rows
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

from gankit.features.digits import DigitsClassifier
from gankit.translate import build_task, load_translator, resolve_config, train_translation
from gankit.metrics.translation import digits_scores
from gankit.systems.i2i import parse_overrides
from bench_stats import mean_and_se as mean_se  # (mean, s.e.); benchmarks/bench_stats.py

RESULTS = Path(__file__).with_name("results") / "translate_simgan.jsonl"
CLF_LR = 1e-3  # Adam, as gankit.features.digits
CLF_BATCH = 64


def train_classifier(x: torch.Tensor, y: torch.Tensor, steps: int, seed: int) -> DigitsClassifier:
    """A fresh DigitsClassifier trained on (x [N, 1, 28, 28] in [-1, 1], y [N]); eval mode."""
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)  # initialisation and dropout
        net = DigitsClassifier()
        opt = torch.optim.Adam(net.parameters(), lr=CLF_LR)
        gen = torch.Generator().manual_seed(seed)
        for _ in range(steps):
            idx = torch.randint(len(x), (CLF_BATCH,), generator=gen)
            loss = F.cross_entropy(net(x[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: DigitsClassifier, x: torch.Tensor, y: torch.Tensor) -> float:
    pred = torch.cat([net(x[i:i + 500]).argmax(1) for i in range(0, len(x), 500)])
    return float((pred == y).float().mean())


def run(args: argparse.Namespace) -> list[dict]:
    torch.set_num_threads(args.threads)
    extra = parse_overrides(args.set)
    cfg = resolve_config("simgan-fonts", {**extra, "threads": args.threads})
    train, test = build_task(cfg, "train"), build_task(cfg, "test")
    if args.n > min(len(train.a), len(train.b)):
        raise SystemExit(
            f"--n {args.n} exceeds the synthetic pool ({len(train.a)}) or the real digits ({len(train.b)})"
        )
    x_syn, y_syn = train.a[:args.n], train.y_a[:args.n]
    x_real, y_real = train.b[:args.n], train.y_b[:args.n]
    seeds = list(range(args.seeds))
    t0 = time.perf_counter()

    # Train (or load) one refiner per seed.
    runs = args.runs or [str(train_translation("simgan-fonts", {**extra, "seed": s, "threads": args.threads},
                                               out=args.out, steps=args.steps or None, progress=False).run_dir)
                         for s in seeds]
    refiners = [load_translator(r) for r in runs]
    refiner_seconds = time.perf_counter() - t0

    # Classifiers on synthetic, refined and real digits; tested on the real test digits.
    acc_syn = [accuracy(train_classifier(x_syn, y_syn, args.clf_steps, c), test.b, test.y_b) for c in seeds]
    acc_ref_per_run, fid_ref, keep_ref = [], [], []
    for R in refiners:
        x_ref = R.translate_batched(x_syn)
        accs = [accuracy(train_classifier(x_ref, y_syn, args.clf_steps, c), test.b, test.y_b) for c in seeds]
        acc_ref_per_run.append(sum(accs) / len(accs))
        s = digits_scores(R.translate_batched(test.a), test.b, test.y_a)
        fid_ref.append(s["fid"])
        keep_ref.append(s["accuracy"])
    acc_real = [accuracy(train_classifier(x_real, y_real, args.clf_steps, c), test.b, test.y_b) for c in seeds]
    s_syn = digits_scores(test.a, test.b, test.y_a)

    command = "python benchmarks/translate_simgan.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    common = {"command": command, "n": args.n, "clf_steps": args.clf_steps, "seeds": len(seeds), "runs": runs,
              "refiner_steps": refiners[0].cfg["steps"], "overrides": extra, "threads": args.threads,
              "refiner_seconds": round(refiner_seconds, 1), "seconds": round(time.perf_counter() - t0, 1),
              "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}
    rows = [
        ("real-test accuracy, classifier on N synthetic", acc_syn, "classifier seeds"),
        ("real-test accuracy, classifier on N refined", acc_ref_per_run,
         "refiner seeds (each: mean over classifier seeds)"),
        ("real-test accuracy, classifier on N real (reference)", acc_real, "classifier seeds"),
        ("digits-FID to real test, synthetic test digits", [s_syn["fid"]], "deterministic"),
        ("digits-FID to real test, refined test digits", fid_ref, "refiner seeds"),
        ("shipped classifier on synthetic test digits (label kept)", [s_syn["accuracy"]], "deterministic"),
        ("shipped classifier on refined test digits (label kept)", keep_ref, "refiner seeds"),
    ]
    out = []
    for name, values, over in rows:
        m, se = mean_se(values)
        out.append({"row": name, "mean": m, "se": se, "values": values, "over": over, **common})
    results = Path(args.results)
    results.parent.mkdir(parents=True, exist_ok=True)
    with open(results, "a") as f:
        for r in out:
            f.write(json.dumps(r) + "\n")
    return out


def table(rows: list[dict]) -> str:
    """Markdown: one line per row, grouped by the command that made it (latest group last)."""
    lines = []
    groups: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        groups.setdefault((r["command"], r["date"]), []).append(r)
    for (command, date), rs in groups.items():
        r0 = rs[0]
        lines += ["", f"`{command}` ({date}; N = {r0['n']}, refiner {r0['refiner_steps']} steps, "
                      f"classifier {r0['clf_steps']} steps, {r0['seeds']} seeds, {r0['seconds']:.0f} s)", "",
                  "| measure | value (mean ± s.e.) | per seed | over |", "|---|---|---|---|"]
        for r in rs:
            pct = "accuracy" in r["row"] or "classifier" in r["row"]
            scale, unit = (100, "%") if pct else (1, "")
            value = f"{scale * r['mean']:.2f}{unit}" + (f" ± {scale * r['se']:.2f}" if len(r["values"]) > 1 else "")
            each = ", ".join(f"{scale * v:.1f}" for v in r["values"])
            lines.append(f"| {r['row']} | {value} | {each} | {len(r['values'])} {r['over']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", default="runs/simgan-bench", help="folder for the refiner runs")
    ap.add_argument("--seeds", type=int, default=2, help="refiner seeds and classifier seeds (0..S-1)")
    ap.add_argument("--steps", type=int, default=0, help="refiner steps (0: the simgan-fonts preset's)")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="refiner config overrides")
    ap.add_argument("--runs", nargs="*", default=[], help="evaluate these refiner runs instead of training new ones")
    ap.add_argument("--n", type=int, default=4000, help="training digits per classifier (synthetic, refined, real)")
    ap.add_argument("--clf-steps", type=int, default=600, help="Adam steps of each classifier (batch 64)")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--results", default=str(RESULTS), help="the JSON-lines file rows are appended to and read from")
    ap.add_argument("--table", action="store_true", help="print the recorded rows and exit")
    args = ap.parse_args()
    if not args.table:
        run(args)
    path = Path(args.results)
    rows = [json.loads(line) for line in path.read_text().splitlines() if line.strip()] if path.exists() else []
    print(table(rows))


if __name__ == "__main__":
    main()
