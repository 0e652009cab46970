"""Do two source trees of gankit train to the same weights? (a refactoring's check: it must not move a number)

Trains a few steps of every system (pix2pix, CycleGAN, SRGAN, SimGAN at tiny sizes; the GAN presets
ring8, dcgan-mnist, cgan-mnist, paper-mnist and the VAE) once with each tree's ``src/`` on the
import path, in fp32 on one thread, and compares every network's state_dict: same keys, bitwise
equal tensors. Written for the engine redesign (issue 14): the documented quality numbers come
from runs of the old code, and this shows which of them the new code would reproduce bit for bit.

    python benchmarks/same_weights.py --old /path/to/old/checkout --new .

Each tree is run in its own process (``PYTHONPATH=TREE/src``); the other packages come from the
interpreter running this script. The Python API used (``gankit.translate.train_translation`` with
flat keys, ``gankit.train.train``) exists in gankit 0.1 and today.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

WORKER = r'''
import sys, torch
out = sys.argv[1]
from gankit.translate import train_translation
from gankit.config import apply_overrides, load_preset
from gankit.train import train
res = {}
tiny = {"n_train": 64, "batch": 4, "threads": 1, "steps": 6, "snapshot_every": 3, "log_every": 1}
for name, extra in [("pix2pix", {"g_base": 4, "d_base": 4}), ("cyclegan", {}), ("srgan", {"warmup": 2}),
                    ("simgan", {"pool": 80, "n_test": 20, "pretrain_r": 2, "pretrain_d": 1})]:
    r = train_translation(name, {**tiny, **extra}, out=out + "/runs", progress=False)
    res[name] = {k: v.state_dict() for k, v in r.system.nets.items()}
for preset, over in [("ring8", ["train.steps=20", "data.toy_n=1000"]),
                     ("dcgan-mnist", ["train.steps=3", "train.batch=8", "G.base_channels=8", "D.base_channels=8"]),
                     ("cgan-mnist", ["train.steps=3", "train.batch=8"]),
                     ("paper-mnist", ["train.steps=3", "train.batch=8"]),
                     ("vae-mnist", ["train.steps=3", "train.batch=8"])]:
    r = train(apply_overrides(load_preset(preset), over + ["train.precision=fp32", "train.threads=1"]),
              out=out + "/runs", progress=False)
    res[preset] = {"G": r.G.state_dict(), "D": r.D.state_dict(), "G_ema": r.G_ema.state_dict()}
torch.save(res, out + "/nets.pt")
'''


def run_tree(tree: Path, out: Path) -> Path:
    out.mkdir(parents=True)
    env = {**os.environ, "PYTHONPATH": str(tree / "src"), "OMP_NUM_THREADS": "1"}
    subprocess.run([sys.executable, "-c", WORKER, str(out)], env=env, check=True, cwd=out)
    return out / "nets.pt"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--old", required=True, type=Path, help="checkout of the code to compare against")
    ap.add_argument("--new", default=Path("."), type=Path, help="checkout under test (default: this one)")
    args = ap.parse_args()
    import torch

    with tempfile.TemporaryDirectory() as tmp:
        a = torch.load(run_tree(args.old.resolve(), Path(tmp) / "old"), weights_only=True)
        b = torch.load(run_tree(args.new.resolve(), Path(tmp) / "new"), weights_only=True)
    differ = 0
    for system, nets in a.items():
        for net, sd in nets.items():
            other = b[system][net]
            same = sd.keys() == other.keys() and all(torch.equal(v, other[k]) for k, v in sd.items())
            differ += not same
            print(f"{system:12s} {net:6s} {'bitwise equal' if same else 'DIFFERENT'}")
    total = sum(len(n) for n in a.values())
    print(f"{total - differ} of {total} networks bitwise equal")
    return 1 if differ else 0


if __name__ == "__main__":
    sys.exit(main())
