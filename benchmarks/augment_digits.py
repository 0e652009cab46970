"""Does GAN data augmentation help a small digit classifier? 500 real digits, with and without 5,000 synthetic.

Protocol (gankit's, stated in docs/augment.md):

1. 500 labelled real digits: 50 per class drawn (seed 0) from the mnist-5k training split.
2. A conditional GAN (``--preset``: the default `quick`, a conditional DCGAN with R1; `cgan-mnist` was the
   first measurement's) is trained on those 500 only (what a user with 500 labels has), then
   ``gankit augment`` draws 5,000 labelled samples (500 per class).
3. The same small CNN (two 3x3 convolutions with max-pooling, one hidden layer of 128) is trained
   with Adam 1e-3, batch 64, for a fixed number of steps, on: the 500 real; the 500 real + 5,000
   synthetic (batches drawn uniformly from the union); the 5,000 synthetic only; and, as a
   reference, all 4,000 real training digits. Test accuracy on the 1,000 mnist-5k test digits,
   over classifier seeds.

Usage:
    python benchmarks/augment_digits.py --out /tmp/aug                  # trains the cGAN (minutes)
    python benchmarks/augment_digits.py --out /tmp/aug --run RUN_DIR    # reuse a cGAN run on the 500
"""

from __future__ import annotations

import argparse
import json
import math
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from gankit.apps.augment import augment, to_uint8
from gankit.config import DataConfig, apply_overrides, load_preset
from gankit.data import build_dataset
from gankit.train import train


def classifier() -> nn.Module:
    return nn.Sequential(nn.Conv2d(1, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
                         nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(),
                         nn.Linear(64 * 7 * 7, 128), nn.ReLU(), nn.Linear(128, 10))


def accuracy_after_training(x: torch.Tensor, y: torch.Tensor, x_test: torch.Tensor, y_test: torch.Tensor,
                            steps: int, seed: int) -> float:
    """Train the CNN on (x [N, 1, 28, 28] in [-1, 1], y [N]) for ``steps`` Adam steps; test accuracy."""
    torch.manual_seed(seed)
    net = classifier()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        idx = torch.randint(len(x), (64,), generator=gen)
        loss = nn.functional.cross_entropy(net(x[idx]), y[idx])
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    net.eval()
    with torch.no_grad():
        pred = torch.cat([net(x_test[i:i + 500]).argmax(1) for i in range(0, len(x_test), 500)])
    return float((pred == y_test).float().mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", required=True)
    ap.add_argument("--run", default="", help="an existing cgan run trained on OUT/real500.npz (skips training)")
    ap.add_argument("--per-class", type=int, default=50)
    ap.add_argument("--synthetic", type=int, default=5000)
    ap.add_argument("--preset", default="quick", help="the conditional preset trained on the 500 (quick, cgan-mnist)")
    ap.add_argument("--gan-steps", type=int, default=0, help="override the preset's train.steps (0 = the preset's)")
    ap.add_argument("--clf-steps", type=int, default=1500)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    tr = build_dataset(DataConfig(name="mnist-5k"), "train")
    te = build_dataset(DataConfig(name="mnist-5k"), "test")
    rng = np.random.default_rng(0)
    pick = np.concatenate([rng.choice(np.flatnonzero(tr.y.numpy() == k), args.per_class, replace=False)
                           for k in range(10)])
    real_x, real_y = tr.x[pick], tr.y[pick].long()
    np.savez_compressed(out / "real500.npz", x=to_uint8(real_x), y=real_y.numpy())

    run_dir = args.run
    t0 = time.perf_counter()
    if not run_dir:
        over = [f"data.name={json.dumps(str(out / 'real500.npz'))}", f"train.threads={args.threads}"]
        over += [f"train.steps={args.gan_steps}"] if args.gan_steps else []
        run_dir = train(apply_overrides(load_preset(args.preset), over), out=out / "runs", progress=False).run_dir
    gan_seconds = time.perf_counter() - t0
    syn = np.load(augment(run_dir, n=args.synthetic, out=out / "synthetic.npz", seed=0))
    syn_x = torch.from_numpy(syn["x"]).float() / 127.5 - 1
    syn_y = torch.from_numpy(syn["y"]).long()
    print(f"# cGAN run {run_dir} ({args.preset}, {gan_seconds:.0f} s); {args.synthetic} synthetic samples", flush=True)

    rows = {
        f"{len(real_x)} real": (real_x, real_y),
        f"{len(real_x)} real + {args.synthetic} synthetic": (torch.cat([real_x, syn_x]), torch.cat([real_y, syn_y])),
        f"{args.synthetic} synthetic only": (syn_x, syn_y),
        f"all {len(tr.x)} real (reference)": (tr.x, tr.y.long()),
    }
    results = {}
    for name, (x, y) in rows.items():
        accs = [accuracy_after_training(x, y, te.x, te.y.long(), args.clf_steps, seed) for seed in range(args.seeds)]
        results[name] = accs
        print(f"# {name}: " + ", ".join(f"{a:.4f}" for a in accs), flush=True)
    with open(out / "results.json", "w") as f:
        json.dump({"run": str(run_dir), "preset": args.preset, "gan_seconds": gan_seconds, "results": results}, f,
                  indent=1)
    print(f"\n| classifier trained on | test accuracy (mean ± s.e., {args.seeds} seeds) |\n|---|---|")
    for name, accs in results.items():
        m = sum(accs) / len(accs)
        se = math.sqrt(sum((a - m) ** 2 for a in accs) / (len(accs) - 1) / len(accs)) if len(accs) > 1 else 0.0
        print(f"| {name} | {100 * m:.2f}% ± {100 * se:.2f} |")


if __name__ == "__main__":
    main()
