"""How long an Inception FID takes on this CPU, and whether the fast path gives the same FID.

The real weights file (95 MB) cannot be fetched on a machine without network, so by default the network
has seeded random weights scaled to keep activations O(1)
(``gankit.features.inception_net.scaled_random_inception``): the same layers, the same FLOPs, different
features. ``--weights FILE`` measures the real network instead. Three parts:

1. ms per image at batch 50 (the batch ``gankit eval`` uses) for the plain network as the weights file
   describes it (fp32, BatchNorm, NCHW), the fast path in fp32 (BatchNorm folded, channels-last) and the
   fast path in bf16;
2. agreement: FID against ``--n-agree`` test digits (mnist-5k) of as many training digits, generated
   digits (``pretrained:mnist``), shifted digits and noisy digits (FIDs from small to large), through the
   fast fp32 path and through bf16; and the first 50 test digits' features through the plain network
   against the folded fp32 one;
3. ``--n-eval`` samples through ``gankit.evaluate`` with ``--features inception`` (fp32, the default) end
   to end, twice: the first call computes the reference features and keeps them, the second reads them
   from the cache.

Run:  .venv/bin/python benchmarks/inception_speed.py --results benchmarks/results/inception_speed.json
      .venv/bin/python benchmarks/inception_speed.py --n-agree 200 --n-eval 0      # a quick look
      .venv/bin/python benchmarks/inception_speed.py --weights pt_inception-2015-12-05-6726825d.pth  # real FIDs
"""

from __future__ import annotations

import argparse
import copy
import json
import os
import platform
import tempfile
import time
from pathlib import Path

import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.evaluate import evaluate
from gankit.features import extract_features
from gankit.features.inception_net import scaled_random_inception
from gankit.generate import generate, load_generator
from gankit.metrics import frechet_distance
from gankit.pretrained import resolve


def ms_per_image(net, x: torch.Tensor, repeats: int) -> float:
    with torch.no_grad():
        net(x[:2])  # first call: allocation, kernel selection
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            net(x)
            best = min(best, time.perf_counter() - t0)
    return 1e3 * best / len(x)


def cpu_flags() -> list[str]:
    try:
        flags = set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return []
    return sorted(flags & {"amx_bf16", "avx512_bf16", "avx512f", "avx2"})


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--n-agree", type=int, default=400)
    ap.add_argument("--n-eval", type=int, default=2000)
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--results", default="")
    ap.add_argument("--weights", default="", help="the real weights file (pt_inception-2015-12-05-6726825d.pth); "
                                                   "default: seeded random weights")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    out: dict = {"machine": {"cpu": platform.processor() or platform.machine(), "flags": cpu_flags(),
                             "threads": args.threads, "torch": torch.__version__}}

    if args.weights:
        from gankit.features.inception import load_inception

        plain = load_inception(args.weights, download=False, progress=False)
    else:
        plain = scaled_random_inception(seed=0)
    out["weights"] = args.weights or "scaled_random_inception(seed=0)"
    fast32 = copy.deepcopy(plain).optimize_for_inference("fp32")
    fast16 = copy.deepcopy(plain).optimize_for_inference("bf16")
    G, _, _ = load_generator(resolve("pretrained:mnist"))
    real = build_dataset(DataConfig(name="mnist-5k"), "test").x  # [1000, 1, 28, 28]
    batch = generate(G, 50, seed=1)
    out["ms_per_image_b50"] = {name: round(ms_per_image(net, batch, args.repeats), 1)
                               for name, net in (("plain fp32", plain), ("fast fp32", fast32), ("fast bf16", fast16))}
    print(json.dumps(out["ms_per_image_b50"]), flush=True)

    if args.n_agree:
        n = min(args.n_agree, len(real))
        train_x = build_dataset(DataConfig(name="mnist-5k"), "train").x[:n]
        noise = torch.randn(train_x.shape, generator=torch.Generator().manual_seed(0))
        sets = {"real": real[:n], "train digits": train_x, "generated": generate(G, n, seed=2),
                "shifted by 3 px": torch.roll(train_x, shifts=3, dims=3),
                "noisy (+0.5 N(0,1))": (train_x + 0.5 * noise).clamp(-1, 1)}
        feats = {p: {k: extract_features(net, v, batch_size=50) for k, v in sets.items()}
                 for p, net in (("fp32", fast32), ("bf16", fast16))}
        rel = lambda a, b: float((a - b).norm() / b.norm())  # noqa: E731
        out["agreement"] = {"n": n, "features_rel_l2_bf16_vs_fp32": rel(feats["bf16"]["real"], feats["fp32"]["real"]),
                            "features_rel_l2_folded_vs_plain_first50":
                                rel(feats["fp32"]["real"][:50], extract_features(plain, real[:50], batch_size=50))}
        for name in sets:
            if name != "real":
                a, b = (frechet_distance(feats[p][name], feats[p]["real"]) for p in ("fp32", "bf16"))
                out["agreement"][f"fid {name} vs test"] = {"fp32": a, "bf16": b, "rel_diff": abs(b - a) / a}
        print(json.dumps(out["agreement"]), flush=True)

    if args.n_eval:
        with tempfile.TemporaryDirectory(prefix="gankit-inception-") as d:
            weights = Path(d) / "random.pth"
            torch.save(plain.state_dict(), weights)
            os.environ["GANKIT_CACHE"] = d  # a cache of its own: the random weights' features go with it
            runs = []
            for call in ("first (reference computed)", "second (reference cached)"):
                t0 = time.perf_counter()
                res = evaluate(resolve("pretrained:mnist"), metrics="fid", n=args.n_eval, data="mnist-5k",
                               features="inception", inception_weights=str(weights), inception_precision="fp32",
                               record=False)["fid"]
                runs.append({"call": call, "seconds": round(time.perf_counter() - t0, 1), "fid": res["value"],
                             "n_gen": res["n_gen"], "n_real": res["n_real"], "features": res["features"],
                             "real_features_cached": res["protocol"]["real_features_cached"]})
                print(json.dumps(runs[-1]), flush=True)
        out["evaluate"] = runs
    if args.results:
        Path(args.results).write_text(json.dumps(out, indent=1) + "\n")


if __name__ == "__main__":
    main()
