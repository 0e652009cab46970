"""Quality against wall-clock seconds: gankit's presets beside the DCGAN loop most users copy.

Issue 15 asks what a user feels: how many CPU seconds until the samples are good. This script
trains, one after another on the same data (mnist-5k's 4,000 training digits), the same machine
and the same thread count:

- each named preset (default ``quick`` and ``dcgan-mnist``), through ``gankit.train`` itself
  (the engine with its checkpoints, stats and EMA), cut into segments that resume bitwise;
- ``tutorial``: the plain DCGAN loop of the PyTorch tutorial habit, written out in this file:
  BatchNorm in G and D, a sigmoid D with ``BCELoss``, Adam 2e-4 with betas (0.5, 0.999), D on the
  real then the fake batch, G on the same fake batch with the "real" label (the non-saturating
  loss), a shuffling ``DataLoader``, no EMA, the tutorial's widths (ngf = ndf = 64) cut down to 28 x 28 (7 -> 14 -> 28).

After every segment the clock stops and the current G (G_ema for the presets, as ``gankit eval``
scores it; the tutorial has only G) draws ``--n`` samples that are scored the same way for all:
written as 8-bit images to an .npz and read by ``gankit eval FILE --data mnist-5k --metrics fid,pr``
(digits features, against the 1,000 test digits). Only training time counts.

Prints a table, writes one JSON line per evaluation to ``--jsonl`` and draws FID and recall
against seconds into ``--plot``. The ratio at the end: seconds each preset needs to reach the
tutorial loop's best FID, against the seconds the loop needed for it.

Run:  .venv/bin/python benchmarks/time_to_quality.py                    # quick, dcgan-mnist, tutorial
      .venv/bin/python benchmarks/time_to_quality.py --presets quick --seconds 60 --segment 300 --n 2000
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.config import DataConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.evaluate import evaluate
from gankit.generate import generate, load_generator
from gankit.train import train
from gankit.training.runtime import resolve_threads

Z_DIM = 100  # the tutorial's nz


def tutorial_nets() -> tuple[nn.Module, nn.Module]:
    """The tutorial's G and D (ngf = ndf = 64) for 28 x 28 digits: G z -> 7x7x128 -> 14x14x64 -> 28x28x1, D the
    mirror 28 -> 14x14x64 -> 7x7x128 -> one probability."""
    G = nn.Sequential(
        nn.ConvTranspose2d(Z_DIM, 128, 7, 1, 0, bias=False), nn.BatchNorm2d(128), nn.ReLU(True),  # [B, 128, 7, 7]
        nn.ConvTranspose2d(128, 64, 4, 2, 1, bias=False), nn.BatchNorm2d(64), nn.ReLU(True),  # [B, 64, 14, 14]
        nn.ConvTranspose2d(64, 1, 4, 2, 1, bias=False), nn.Tanh())  # [B, 1, 28, 28]
    D = nn.Sequential(
        nn.Conv2d(1, 64, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True),  # [B, 64, 14, 14]
        nn.Conv2d(64, 128, 4, 2, 1, bias=False), nn.BatchNorm2d(128), nn.LeakyReLU(0.2, True),  # [B, 128, 7, 7]
        nn.Conv2d(128, 1, 7, 1, 0, bias=False), nn.Sigmoid())  # [B, 1, 1, 1]

    def init(m: nn.Module) -> None:  # the tutorial's N(0, 0.02) convolutions, N(1, 0.02) BatchNorm scales
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
            nn.init.normal_(m.weight, 0.0, 0.02)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.normal_(m.weight, 1.0, 0.02)
            nn.init.zeros_(m.bias)

    G.apply(init)
    D.apply(init)
    return G, D


class TutorialLoop:
    """The loop itself; ``run(steps)`` trains that many more G updates (one D update each)."""

    def __init__(self, x: torch.Tensor, batch: int, seed: int) -> None:
        torch.manual_seed(seed)
        self.G, self.D = tutorial_nets()
        self.loader = torch.utils.data.DataLoader(torch.utils.data.TensorDataset(x), batch_size=batch, shuffle=True,
                                                  drop_last=True)
        self.batches = iter(self.loader)
        self.opt_G = torch.optim.Adam(self.G.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.opt_D = torch.optim.Adam(self.D.parameters(), lr=2e-4, betas=(0.5, 0.999))
        self.bce = nn.BCELoss()

    def next_batch(self) -> torch.Tensor:
        try:
            (x,) = next(self.batches)
        except StopIteration:  # a new epoch, reshuffled
            self.batches = iter(self.loader)
            (x,) = next(self.batches)
        return x

    def run(self, steps: int) -> None:
        self.G.train()
        for _ in range(steps):
            x_real = self.next_batch()  # [B, 1, 28, 28] in [-1, 1]
            b = len(x_real)
            ones, zeros = torch.ones(b), torch.zeros(b)
            # D: maximise log D(x) + log(1 - D(G(z))), the real and the fake batch in two passes.
            self.D.zero_grad()
            self.bce(self.D(x_real).view(-1), ones).backward()
            x_fake = self.G(torch.randn(b, Z_DIM, 1, 1))
            self.bce(self.D(x_fake.detach()).view(-1), zeros).backward()
            self.opt_D.step()
            # G: maximise log D(G(z)) on the same fakes.
            self.G.zero_grad()
            self.bce(self.D(x_fake).view(-1), ones).backward()
            self.opt_G.step()

    @torch.no_grad()
    def samples(self, n: int, seed: int) -> torch.Tensor:
        self.G.eval()
        z = torch.randn(n, Z_DIM, 1, 1, generator=torch.Generator().manual_seed(seed))
        return torch.cat([self.G(zb) for zb in z.split(1000)])  # [n, 1, 28, 28]


def score(x: torch.Tensor, work: Path, tag: str, seed: int) -> dict:
    """digits FID and precision/recall of samples in [-1, 1], through `gankit eval FILE --data mnist-5k`."""
    path = work / f"{tag}.npz"
    pixels = ((x.clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).numpy()  # [n, 1, 28, 28], the 8 bits of an image
    np.savez(path, x=pixels)
    res = evaluate(path, metrics="fid,pr", n=len(x), seed=seed, data="mnist-5k", features="digits", record=False)
    path.unlink()
    return {"fid": res["fid"]["value"], "precision": res["pr"]["precision"], "recall": res["pr"]["recall"]}


def run_preset(preset: str, overrides: list[str], seconds: float, segment: int, threads: int, n: int, seed: int,
               work: Path, log) -> list[dict]:
    cfg = apply_overrides(load_preset(preset), [*overrides, f"train.threads={threads}", f"train.seed={seed}"])
    total = cfg.train.steps  # the preset as it ships stops here; --seconds may stop it earlier
    rows, spent, step, run_dir = [], 0.0, 0, None
    while step < total and spent < seconds:
        step = min(step + segment, total)
        t0 = time.perf_counter()
        if run_dir is None:
            result = train(apply_overrides(cfg, [f"train.steps={step}"]), out=work / "runs", progress=False,
                           report=False)
        else:
            result = train(resume=run_dir, steps=step, progress=False, report=False)
        spent += time.perf_counter() - t0
        run_dir = result.run_dir
        G, _, _ = load_generator(run_dir)
        row = {"method": preset, "steps": step, "seconds": round(spent, 1),
               **score(generate(G, n, seed=seed), work, preset, seed)}
        log(row)
        rows.append(row)
    return rows


def run_tutorial(seconds: float, segment: int, threads: int, n: int, seed: int, work: Path, log) -> list[dict]:
    torch.set_num_threads(threads)
    loop = TutorialLoop(build_dataset(DataConfig(name="mnist-5k"), "train").x, batch=64, seed=seed)
    rows, spent, step = [], 0.0, 0
    while spent < seconds:
        t0 = time.perf_counter()
        loop.run(segment)
        spent += time.perf_counter() - t0
        step += segment
        row = {"method": "tutorial", "steps": step, "seconds": round(spent, 1),
               **score(loop.samples(n, seed), work, "tutorial", seed)}
        log(row)
        rows.append(row)
    return rows


def seconds_to(rows: list[dict], fid: float) -> float | None:
    """Training seconds at the first evaluation whose FID is at most ``fid`` (None if none is)."""
    return next((r["seconds"] for r in rows if r["fid"] <= fid), None)


def plot(results: dict[str, list[dict]], path: Path, title: str) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, (a, b) = plt.subplots(1, 2, figsize=(10, 4), constrained_layout=True)
    for method, rows in results.items():
        t = [r["seconds"] for r in rows]
        a.plot(t, [r["fid"] for r in rows], marker="o", label=method)
        b.plot(t, [r["recall"] for r in rows], marker="o", label=method)
    a.set(xlabel="training seconds", ylabel="digits FID (lower is better)", yscale="log", title="FID")
    b.set(xlabel="training seconds", ylabel="recall (higher is better)", ylim=(0, 1), title="recall")
    a.legend()
    fig.suptitle(title, fontsize=10)
    fig.savefig(path, dpi=100)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="quick,dcgan-mnist", help="comma-separated presets ('' for none)")
    ap.add_argument("--seconds", type=float, default=150.0, help="training seconds per method at most (default 150)")
    ap.add_argument("--segment", type=int, default=600, help="steps between evaluations (default 600)")
    ap.add_argument("--n", type=int, default=10_000, help="samples per evaluation (default 10,000)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads for every method (0: resolved once, auto)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override for every preset")
    ap.add_argument("--no-tutorial", action="store_true", help="skip the tutorial loop")
    ap.add_argument("--jsonl", default="benchmarks/results/time_to_quality.jsonl")
    ap.add_argument("--plot", default="docs/img/time_to_quality.png")
    args = ap.parse_args()
    threads, _ = resolve_threads(args.threads)
    work = Path(tempfile.mkdtemp(prefix="gankit-ttq-"))
    out = Path(args.jsonl)
    out.parent.mkdir(parents=True, exist_ok=True)

    def log(row: dict) -> None:
        row = {**row, "threads": threads}
        print(json.dumps(row), flush=True)
        with out.open("a") as f:
            f.write(json.dumps(row) + "\n")

    results: dict[str, list[dict]] = {}
    if not args.no_tutorial:
        results["tutorial"] = run_tutorial(args.seconds, args.segment, threads, args.n, args.seed, work, log)
    for preset in filter(None, args.presets.split(",")):
        results[preset] = run_preset(preset, args.set, args.seconds, args.segment, threads, args.n, args.seed, work,
                                     log)

    print(f"\n{threads} thread(s), {args.n} samples per evaluation, digits features vs mnist-5k test\n")
    print("| method | steps | training s | digits FID | precision | recall |")
    print("|---|---|---|---|---|---|")
    for method, rows in results.items():
        best = min(rows, key=lambda r: r["fid"])
        print(f"| `{method}` (best) | {best['steps']} | {best['seconds']:.0f} | {best['fid']:.1f} "
              f"| {best['precision']:.3f} | {best['recall']:.3f} |")
    if "tutorial" in results:
        best = min(results["tutorial"], key=lambda r: r["fid"])
        for method, rows in results.items():
            if method == "tutorial":
                continue
            t = seconds_to(rows, best["fid"])
            verdict = "never within its run" if t is None else f"{t:.0f} s, {t / best['seconds']:.2f}x the loop's"
            print(f"- `{method}` to the tutorial's best FID {best['fid']:.1f} (the loop: {best['seconds']:.0f} s): "
                  f"{verdict}")
    if args.plot:
        Path(args.plot).parent.mkdir(parents=True, exist_ok=True)
        plot(results, Path(args.plot), f"mnist-5k, {threads} thread(s), {args.n} samples per point")
        print(f"plot: {args.plot}")


if __name__ == "__main__":
    main()
