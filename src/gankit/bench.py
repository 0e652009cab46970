"""``gankit bench``: how fast a preset trains here, and how close that is to this machine's peak.

Three numbers, each measured on the spot:

- samples per second: the cost of N steps of the real training loop (``gankit.train.train``), taken
  as the difference between a run of W + N steps and one of W steps, so that set-up (data, nets,
  the final picture and checkpoint) cancels;
- FLOPs per step: every matrix multiply and convolution of one step, forward and backward, counted
  with PyTorch's ``flop_registry`` (what ``FlopCounterMode`` counts) as the difference between a 2-step
  and a 1-step run;
- the matmul peak: FLOP/s of a large square matrix product (2 n^3 per product), in float32 and in
  bfloat16, on the device training ran on (the CPU, or the GPU of ``train.device``); ``peak_share``
  is the achieved FLOP/s over the peak of the precision training ran in
  (``train.precision`` resolved for this machine), and ``peak_share_fp32`` / ``peak_share_bf16``
  over each peak.

Example:
    >>> from gankit.bench import bench                                         # doctest: +SKIP
    >>> r = bench(apply_overrides(load_preset("tutorial-mlp"), ["train.batch=256"]), steps=100)  # doctest: +SKIP
    >>> r["samples_per_s"], r["peak_share"]                                    # doctest: +SKIP
"""

from __future__ import annotations

import tempfile
import time

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import flop_registry

from gankit.config import RunConfig, apply_overrides
from gankit.errors import UserError
from gankit.progress import progress_bar


def _quiet(cfg: RunConfig, steps: int) -> RunConfig:
    """The config for a timed run: ``steps`` steps, no pictures, checkpoints or logs before its end."""
    big = steps + 1
    return apply_overrides(cfg, [f"train.steps={steps}", f"train.snapshot_every={big}", f"train.ckpt_every={big}",
                                 f"train.log_every={big}"])


def _run(cfg: RunConfig, steps: int, out: str) -> None:
    from gankit.train import train

    train(_quiet(cfg, steps), out=out, progress=False)


class _FlopCount(TorchDispatchMode):
    """Sums the FLOPs of every op PyTorch's ``flop_registry`` knows (matmuls, convolutions, attention), forward
    and backward, as ``FlopCounterMode`` does, but without its per-module tracker: that tracker's backward hooks
    break ``torch.autograd.grad`` ("A leaf node was passed to _will_engine_execute_node ..."), which every
    gradient penalty (R1, R2, WGAN-GP) calls inside a step."""

    def __init__(self) -> None:
        super().__init__()
        self.total = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        out = func(*args, **kwargs)
        count = flop_registry.get(func._overloadpacket)
        if count is not None:
            self.total += count(*args, **kwargs, out_val=out)
        return out


def step_flops(cfg: RunConfig, bar=None) -> int:
    """Matmul and convolution FLOPs of one training step (k D updates and one G update), forward and backward.

    ``bar``: a progress bar (:func:`gankit.progress.progress_bar`) that advances by one per run (2 runs).
    """
    counts = []
    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as out:
        for steps in (1, 2):
            with _FlopCount() as counter:
                _run(cfg, steps, out)
            counts.append(counter.total)
            _advance(bar)
    return int(counts[1] - counts[0])


def step_seconds(cfg: RunConfig, steps: int = 50, warmup: int = 10, repeats: int = 2, bar=None) -> float:
    """Wall-clock seconds per training step: (time of warmup + steps) - (time of warmup), over steps;
    best of repeats. ``bar``: a progress bar that advances by one per run (1 + 2 * repeats runs)."""
    best = float("inf")
    with tempfile.TemporaryDirectory(prefix="gankit-bench-") as out:
        # untimed: first-use costs (data cache, lazy init, allocator) must not enter a difference
        _run(cfg, warmup, out)
        _advance(bar)
        for _ in range(repeats):
            t0 = time.perf_counter()
            _run(cfg, warmup, out)
            t1 = time.perf_counter()
            _run(cfg, warmup + steps, out)
            t2 = time.perf_counter()
            _advance(bar, 2)  # after both timings: a bar's redraw stays out of the difference
            best = min(best, ((t2 - t1) - (t1 - t0)) / steps)
    return max(best, 1e-9)


def _advance(bar, runs: int = 1) -> None:
    if bar is not None:
        bar.update(runs)


def matmul_peak(dtype: torch.dtype = torch.float32, n: int = 0, seconds: float = 0.3,
                device: torch.device | str = "cpu") -> float:
    """FLOP/s of repeated n x n @ n x n products in ``dtype`` on ``device`` (2 n^3 FLOPs each), best of a few timings.

    ``n`` 0 picks 1024 on the CPU and 8192 on a GPU (a smaller product leaves a GPU mostly idle).
    On a GPU each timing waits for the product to finish (``torch.cuda.synchronize``). fp32 there
    is what training's fp32 uses: TF32 tensor cores only where ``torch.backends.cuda.matmul.allow_tf32``
    is on (PyTorch's default is off).
    """
    device = torch.device(device)
    cuda = device.type == "cuda"
    n = n or (8192 if cuda else 1024)
    sync = (lambda: torch.cuda.synchronize(device)) if cuda else (lambda: None)  # noqa: E731
    a = torch.randn(n, n, device=device).to(dtype)
    b = torch.randn(n, n, device=device).to(dtype)
    a @ b  # first call: allocation and kernel selection, not timed
    sync()
    best, spent = 0.0, 0.0
    while spent < seconds:
        t0 = time.perf_counter()
        a @ b
        sync()
        dt = time.perf_counter() - t0
        spent += dt
        best = max(best, 2 * n ** 3 / max(dt, 1e-9))
    return best


def bench(cfg: RunConfig, steps: int = 50, warmup: int = 10, progress: bool = False) -> dict:
    """Measure ``cfg``'s training speed here; returns a dict of plain numbers (see the module docstring).

    ``progress``: a bar on stderr over the phases: 5 timed training runs, 2 counted ones, 2 matmul peaks.
    """
    if steps <= 0 or warmup <= 0:
        raise UserError(f"--steps and the warm-up must be positive; got steps={steps}, warmup={warmup}")
    from gankit.training.runtime import set_threads

    threads, _ = set_threads(cfg.train.threads)  # resolved once, so both timed runs use the same count
    cfg = apply_overrides(cfg, [f"train.threads={threads}"])
    repeats = 2
    with progress_bar(1 + 2 * repeats + 2 + 2, "bench", unit="phase", enabled=progress) as bar:
        bar.set_postfix_str("timing", refresh=False)
        seconds = step_seconds(cfg, steps=steps, warmup=warmup, repeats=repeats, bar=bar)
        bar.set_postfix_str("counting FLOPs")
        flops = step_flops(cfg, bar=bar)
        from gankit.training.runtime import resolve_device, resolve_precision

        device = resolve_device(cfg.train.device)
        bar.set_postfix_str("matmul peak")
        peak32 = matmul_peak(torch.float32, device=device)
        _advance(bar)
        peak16 = matmul_peak(torch.bfloat16, device=device)
        _advance(bar)
    flops_per_s = flops / seconds
    precision = resolve_precision(cfg.train.precision, device)
    return {"preset": cfg.preset, "batch": cfg.train.batch, "d_steps": cfg.train.d_steps, "steps_timed": steps,
            "threads": torch.get_num_threads(), "step_seconds": seconds, "samples_per_s": cfg.train.batch / seconds,
            "flops_per_step": flops, "flops_per_s": flops_per_s, "peak_flops_fp32": peak32, "peak_flops_bf16": peak16,
            "peak_share": flops_per_s / (peak16 if precision == "bf16" else peak32),
            "peak_share_fp32": flops_per_s / peak32,
            "peak_share_bf16": flops_per_s / peak16, "precision": precision, "compile": cfg.train.compile,
            "device": str(device) if device.type == "cpu" else torch.cuda.get_device_name(device)}


def time_to_fid(cfg: RunConfig, target: float, every: int = 500, n: int = 2000, max_seconds: float = 600.0,
                max_steps: int | None = None, out: str | None = None, log=None) -> dict:
    """Train ``cfg`` until its digits FID is at most ``target``: the time to a quality, what a user waits for.

    Training runs through ``gankit.train.train`` in segments of ``every`` steps (a segment resumes the
    last bitwise, so the run is the one an unbroken ``gankit train`` makes); after each, the clock stops
    and ``gankit.evaluate`` scores the run's G_ema: digits FID of ``n`` samples (seed 0) against the
    data's test split. It stops at the first FID <= ``target``, after ``max_steps`` (default: the
    preset's ``train.steps``), or once training has taken ``max_seconds``.

    Args:
        cfg: an image preset (the digits features read images; vector data is refused).
        target: the FID to reach (> 0).
        every: steps between evaluations.
        n: samples per evaluation (the reference is the test split, 1,000 digits for mnist-5k).
        out: where the run directory goes (default: a temporary folder, removed at the end).
        log: called with each evaluation's row (a dict), e.g. to print it.

    Returns:
        {"target", "interrupted" (by Ctrl-C / SIGTERM), "reached" (bool), "seconds" (training seconds at the first
        FID <= target, or None),
        "steps" (at that evaluation, or None), "best_fid", "rows": [{"steps", "seconds", "fid"}, ...],
        "run_dir" (None for a temporary folder)}.

    Raises:
        UserError: a non-positive ``target``, ``every``, ``n`` or ``max_seconds``, or vector data.
    """
    total = check_time_to_fid(cfg, target, every, n, max_seconds, max_steps)
    from gankit.evaluate import evaluate
    from gankit.train import train

    rows: list[dict] = []
    spent, step, run_dir = 0.0, 0, None
    with tempfile.TemporaryDirectory(prefix="gankit-ttq-") as tmp:
        parent = out or tmp
        while step < total and spent < max_seconds:
            step = min(step + every, total)
            t0 = time.perf_counter()
            if run_dir is None:
                result = train(apply_overrides(cfg, [f"train.steps={step}"]), out=parent, progress=False, report=False)
            else:
                result = train(resume=run_dir, steps=step, progress=False, report=False)
            spent += time.perf_counter() - t0
            run_dir = result.run_dir
            if result.interrupted:  # Ctrl-C / SIGTERM: what was measured so far, no evaluation of a cut segment
                break
            fid = evaluate(run_dir, metrics="fid", n=n, seed=0, features="digits", record=False)["fid"]["value"]
            rows.append({"steps": step, "seconds": round(spent, 2), "fid": fid})
            if log is not None:
                log(rows[-1])
            if fid <= target:
                break
        hit = next((r for r in rows if r["fid"] <= target), None)
        if not rows:
            raise UserError("--until-fid: interrupted before the first evaluation; nothing was measured")
        return {"target": target, "interrupted": bool(result.interrupted), "reached": hit is not None,
                "seconds": hit and hit["seconds"],
                "steps": hit and hit["steps"], "best_fid": min(r["fid"] for r in rows), "rows": rows,
                "preset": cfg.preset, "threads": torch.get_num_threads(),
                "run_dir": str(run_dir) if out else None}


def check_time_to_fid(cfg: RunConfig, target: float, every: int, n: int, max_seconds: float,
                      max_steps: int | None = None) -> int:
    """:func:`time_to_fid`'s checks, before any training: one UserError line each. Returns the step limit."""
    if not target > 0 or every <= 0 or n < 2 or not max_seconds > 0:
        raise UserError(f"--until-fid, --every, -n and --max-seconds must be positive (n >= 2); "
                        f"got until-fid={target}, every={every}, n={n}, max-seconds={max_seconds}")
    total = cfg.train.steps if max_steps is None else max_steps
    if total <= 0:
        raise UserError(f"--max-steps must be positive; got {total}")
    from gankit.config_i2i import I2I_SYSTEMS
    from gankit.data import build_dataset

    if cfg.model in I2I_SYSTEMS:
        raise UserError(f"--until-fid times a generator of samples; {cfg.preset!r} is an image-to-image system "
                        f"({cfg.model}), scored by benchmarks/translate_*.py instead")
    reference = build_dataset(cfg.data, "test")  # a bad data set is one line before any training
    if len(reference.shape) != 3:
        raise UserError(f"--until-fid scores digits FID, which reads images; {cfg.preset!r} trains on vectors "
                        f"{list(reference.shape)} (score the toy sets with gankit eval --metrics modes)")
    return total
