"""gankit's training loop against the straightforward PyTorch loop most tutorials use, side by side.

The baseline is written here the way the common tutorials write the fully connected MNIST GAN
(the `tutorial-mlp` architecture: G 100-128-256-512-1024-784 with BatchNorm on every hidden layer but
the first, LeakyReLU(0.2), tanh; D 784-512-256-1 LeakyReLU(0.2) with a Sigmoid output): a DataLoader
over a TensorDataset with shuffle, ``nn.BCELoss`` on sigmoid outputs, target tensors built every step,
two separate D passes (real, then the fakes detached), fp32, eager, and ``loss.item()`` read every step
for the printout. Like those tutorials it updates G first and reuses G's fakes for the D update,
which is *less* work than Algorithm 1's fresh noise for D that gankit does (one G forward fewer).

gankit's rows are the real ``gankit.train.train`` loop timed by ``gankit.bench.step_seconds`` (the
difference between a run of W + N steps and one of W steps, so set-up cancels). The baseline is timed
over N steps after W untimed ones. Rows alternate, repeats take the best.

Usage:
    python benchmarks/fast_path.py --batch 64 --steps 300 --repeats 3
    python benchmarks/fast_path.py --batch 64 --rows tutorial,gankit,gankit-compile,gankit-bf16
"""

from __future__ import annotations

import argparse
import time

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

from gankit.bench import step_seconds
from gankit.config import apply_overrides, load_preset
from gankit.data import build_dataset

ROWS = {  # name: the gankit config overrides (None: the tutorial baseline)
    "tutorial": None,
    "gankit-two-passes": ["train.fused_d=false", "train.precision=fp32"],
    "gankit": ["train.precision=fp32"],
    "gankit-compile": ["train.precision=fp32", "train.compile=true"],
    "gankit-bf16": ["train.precision=bf16"],
}


def tutorial_models() -> tuple[nn.Module, nn.Module]:
    def block(i: int, o: int, norm: bool) -> list[nn.Module]:
        return [nn.Linear(i, o)] + ([nn.BatchNorm1d(o)] if norm else []) + [nn.LeakyReLU(0.2)]

    G = nn.Sequential(*block(100, 128, False), *block(128, 256, True), *block(256, 512, True), *block(512, 1024, True),
                      nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2), nn.Linear(512, 256), nn.LeakyReLU(0.2),
                      nn.Linear(256, 1), nn.Sigmoid())
    return G, D


def tutorial_seconds_per_step(x: torch.Tensor, batch: int, steps: int, warmup: int) -> float:
    """The tutorial loop: seconds per step over ``steps`` steps after ``warmup`` untimed ones."""
    torch.manual_seed(0)
    G, D = tutorial_models()
    loss_fn = nn.BCELoss()
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    loader = DataLoader(TensorDataset(x), batch_size=batch, shuffle=True, drop_last=True)
    done, t0 = 0, None
    while True:
        for (real,) in loader:
            if done == warmup:
                t0 = time.perf_counter()
            if done == warmup + steps:
                return (time.perf_counter() - t0) / steps
            real = real.view(batch, -1)
            ones, zeros = torch.ones(batch, 1), torch.zeros(batch, 1)
            # G update
            opt_G.zero_grad()
            fake = G(torch.randn(batch, 100))
            loss_G = loss_fn(D(fake), ones)
            loss_G.backward()
            opt_G.step()
            # D update: two passes
            opt_D.zero_grad()
            loss_D = (loss_fn(D(real), ones) + loss_fn(D(fake.detach()), zeros)) / 2
            loss_D.backward()
            opt_D.step()
            _ = (loss_D.item(), loss_G.item())  # the per-step printout
            done += 1


def profile_gankit(batch: int, steps: int) -> None:
    """The ops of ``steps`` steps of gankit's tutorial-mlp loop, by self CPU time."""
    import tempfile

    from torch.profiler import ProfilerActivity, profile

    from gankit.bench import _run

    cfg = apply_overrides(load_preset("tutorial-mlp"), [f"train.batch={batch}", "train.precision=fp32"])
    with tempfile.TemporaryDirectory() as out:
        _run(cfg, 10, out)
        with profile(activities=[ProfilerActivity.CPU]) as prof:
            _run(cfg, steps, out)
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=15))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=300, help="N: steps timed")
    ap.add_argument("--warmup", type=int, default=30, help="W: untimed steps (gankit: the shorter run)")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--rows", default="tutorial,gankit-two-passes,gankit,gankit-bf16",
                    help=f"comma-separated, from {', '.join(ROWS)}")
    ap.add_argument("--profile", action="store_true",
                    help="print where gankit's step spends its time (torch.profiler) and stop")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    if args.profile:
        profile_gankit(args.batch, args.steps)
        return
    rows = args.rows.split(",")
    x = build_dataset(load_preset("tutorial-mlp").data, "train").x  # [N, 1, 28, 28] in [-1, 1]
    best: dict[str, float] = {}
    for _ in range(args.repeats):
        for row in rows:
            if ROWS[row] is None:
                sec = tutorial_seconds_per_step(x, args.batch, args.steps, args.warmup)
            else:
                cfg = apply_overrides(load_preset("tutorial-mlp"),
                                      [f"train.batch={args.batch}", f"train.threads={args.threads}"] + ROWS[row])
                sec = step_seconds(cfg, steps=args.steps, warmup=args.warmup, repeats=1)
            best[row] = max(best.get(row, 0.0), args.batch / sec)
            print(f"# {row}: {args.batch / sec:,.0f} samples/s", flush=True)
    base = best.get("tutorial")
    print(f"\n| loop (tutorial-mlp, batch {args.batch}, {args.threads} threads) | samples / s (best of {args.repeats}) "
          f"| vs the tutorial loop |\n|---|---|---|")
    for row in rows:
        ratio = f"{best[row] / base:.2f}x" if base else "-"
        print(f"| {row} | {best[row]:,.0f} | {ratio} |")


if __name__ == "__main__":
    main()
