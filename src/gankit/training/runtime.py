"""The runtime every training run shares: device, precision, threads, optimizers and their
schedules, run directories and the stop flag (Ctrl-C / SIGTERM).

Each piece is written once here and used by every system (the GAN and VAE loop in
:mod:`gankit.train` and the image-to-image systems in :mod:`gankit.translate`).

Example:
    >>> import torch
    >>> from gankit.training.runtime import resolve_device, resolve_precision
    >>> resolve_device("cpu")
    device(type='cpu')
    >>> resolve_precision("fp32", torch.device("cpu"))
    'fp32'
"""

from __future__ import annotations

import os
import signal
import threading
import time
from pathlib import Path

import torch
from torch import nn

from gankit.errors import UserError

__all__ = ["resolve_device", "native_bf16", "resolve_precision", "set_threads", "resolve_threads", "idle_cores",
           "DEFAULT_THREADS", "adam_or_sgd", "lr_at", "next_run_dir", "grad_norm", "StopFlag"]


def resolve_device(name: str) -> torch.device:
    """``"auto"`` (CUDA if present, else the CPU), ``"cpu"``, ``"cuda"`` or ``"cuda:N"`` -> a device; UserError
    otherwise."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"train.device is {name!r} but no CUDA device is available; use 'cpu' or 'auto'")
    try:
        return torch.device(name)
    except RuntimeError:
        raise UserError(f"train.device must be 'auto', 'cpu', 'cuda' or 'cuda:N'; got {name!r}") from None


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` multiplies bfloat16 in hardware (where bf16 autocast can be faster than fp32).

    CUDA: ``torch.cuda.is_bf16_supported()`` (Ampere and later). CPU: the ``amx_bf16`` or
    ``avx512_bf16`` instruction flags in /proc/cpuinfo; elsewhere bf16 is emulated and slower
    (measured in docs/training.md: about 3x below the fp32 matmul peak on an AVX-512 CPU without them).
    """
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        try:
            flags = Path("/proc/cpuinfo").read_text().split()
        except OSError:
            return False
        return "amx_bf16" in flags or "avx512_bf16" in flags
    return False


def resolve_precision(name: str, device: torch.device) -> str:
    """``train.precision`` for this device: "fp32" or "bf16" ("auto" picks bf16 only where it is native)."""
    if name == "auto":
        return "bf16" if native_bf16(device) else "fp32"
    if name == "bf16" and device.type == "cuda" and not torch.cuda.is_bf16_supported():
        raise UserError(f"train.precision=bf16 but the GPU {torch.cuda.get_device_name(device)} has no bfloat16; "
                        "use fp32")
    return name


def _cpu_times(cpus: set[int]) -> dict[int, tuple[int, int]] | None:
    """(busy, total) jiffies of each CPU in ``cpus`` from /proc/stat; None where there is no /proc/stat."""
    try:
        lines = Path("/proc/stat").read_text().splitlines()
    except OSError:
        return None
    times = {}
    for line in lines:
        name, *fields = line.split()
        if name.startswith("cpu") and name[3:].isdigit() and int(name[3:]) in cpus:
            v = [int(f) for f in fields[:8]]  # user nice system idle iowait irq softirq steal
            times[int(name[3:])] = (sum(v) - v[3] - v[4], sum(v))
    return times or None


def idle_cores(sample_s: float = 0.25) -> float | None:
    """How many of this process's CPUs were idle over the next ``sample_s`` seconds (a float: two half-busy
    cores count as one idle core); None where /proc/stat cannot be read (not Linux).

    Measured while this process sleeps, so it counts what other processes leave free.
    """
    cpus = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else set(range(os.cpu_count() or 1))
    before = _cpu_times(cpus)
    if before is None:
        return None
    time.sleep(sample_s)
    after = _cpu_times(cpus) or {}
    idle = 0.0
    for cpu, (busy0, total0) in before.items():
        busy1, total1 = after.get(cpu, (busy0, total0))
        if total1 > total0:
            idle += 1.0 - (busy1 - busy0) / (total1 - total0)
        else:  # no tick counted on this CPU in the sample: treat it as idle
            idle += 1.0
    return idle


def resolve_threads(requested: int, stored: int | None = None, local_procs: int = 1) -> tuple[int, str]:
    """``train.threads`` -> (intra-op threads to use, why), the policy of docs/speed.md "Steady on a busy machine".

    A positive ``requested`` is used as given. ``0`` (auto) takes, in order: the count a resumed run
    trained with (``stored``, so that resuming stays bitwise: the thread count changes how float sums are
    split), ``OMP_NUM_THREADS`` when it is set, and otherwise one thread per core that other processes
    leave idle, shared among the ``local_procs`` processes of this machine, at least 1 and at most
    PyTorch's own default (one per physical core). Intra-op threads spin at every barrier, so a thread
    that has to share a core with another busy process stalls all the others: on 2 cores beside one busy
    process, 2 threads ran tutorial-mlp at 28% of the quiet speed and 1 thread at 87%
    (benchmarks/contention.py).
    """
    if requested > 0:
        return requested, "train.threads"
    ceiling = DEFAULT_THREADS
    if stored:
        return min(int(stored), max(ceiling, 1)), "the count the run was trained with"
    env = os.environ.get("OMP_NUM_THREADS", "").strip()
    if env.isdigit() and int(env) > 0:
        return int(env), "OMP_NUM_THREADS"
    idle = idle_cores()
    if idle is None:
        return ceiling, "PyTorch's default"
    n = max(1, min(ceiling, int(idle + 0.3) // max(local_procs, 1)))
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return n, f"{idle:.1f} of {cores} cores idle"


DEFAULT_THREADS = torch.get_num_threads()  # PyTorch's choice at import: one per physical core


def set_threads(requested: int, stored: int | None = None, local_procs: int = 1) -> tuple[int, str]:
    """Resolve ``train.threads`` (:func:`resolve_threads`) and apply it to torch; returns (threads, why)."""
    n, why = resolve_threads(requested, stored, local_procs)
    if n != torch.get_num_threads():
        torch.set_num_threads(n)
    return n, why


def adam_or_sgd(name: str, params, lr: float, betas: tuple[float, float] = (0.5, 0.999),
                momentum: float = 0.0) -> torch.optim.Optimizer:
    """The optimizer of one network by name. Adam and SGD use PyTorch's fused kernels (one pass over
    every parameter per step: 3.3x faster than the multi-tensor ``foreach`` update and 7x faster than
    the default loop for tutorial-mlp's G on 2 CPU threads, docs/training.md); RMSprop has no fused
    kernel and uses ``foreach``."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=momentum, fused=True)
    if name == "rmsprop":  # Arjovsky et al. 2017, Algorithm 1: RMSProp, no momentum
        return torch.optim.RMSprop(params, lr=lr, foreach=True)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, betas=betas, fused=True)
    raise UserError(f"unknown optimizer {name!r}; choose adam, sgd or rmsprop")


def lr_at(step: int, lr0: float, decay: float = 1.0, lr_min: float = 0.0) -> float:
    """Learning rate at ``step``: ``lr0 / decay^step``, floored at ``lr_min`` (decay 1 = constant)."""
    return max(lr0 / decay ** step, lr_min) if decay != 1.0 else lr0


def next_run_dir(out: str | os.PathLike, name: str) -> Path:
    """out/NNNNN-name with NNNNN one past the largest index there, so runs never overwrite."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    while True:
        ids = [int(p.name.split("-")[0]) for p in out.iterdir() if p.name.split("-")[0].isdigit()]
        run_dir = out / f"{max(ids, default=-1) + 1:05d}-{name}"
        try:
            run_dir.mkdir()
            return run_dir
        except FileExistsError:  # another process took this index; try the next
            continue


def grad_norm(module: nn.Module) -> torch.Tensor:
    """The L2 norm of all of ``module``'s gradients together (0 when none); stays on the device."""
    grads = [p.grad for p in module.parameters() if p.grad is not None]
    if not grads:
        return torch.zeros(())
    return torch.nn.utils.get_total_norm(grads)


class StopFlag:
    """Turns the first Ctrl-C / SIGTERM into a request to stop after the current step.

    A second one stops at once (KeyboardInterrupt); the last checkpoint written stays. Outside the
    main thread (where signal handlers cannot be set) it only holds ``requested = False``.
    """

    def __init__(self):
        self.requested = False
        self._old = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum, frame):
        if self.requested:  # a second Ctrl-C stops at once; the last checkpoint stays
            raise KeyboardInterrupt
        self.requested = True

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False


# The engine's switches for systems whose update calls their nets directly (the image-to-image systems).


def average_gradients(opt: torch.optim.Optimizer, world_size: int) -> None:
    """All-reduce the gradients of ``opt``'s parameters in one flat buffer and divide by the number of ranks
    (what DistributedDataParallel does in its backward; here before the step, since a system's update calls
    its nets directly)."""
    import torch.distributed as dist

    grads = [p.grad for group in opt.param_groups for p in group["params"] if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= world_size
    offset = 0
    for g in grads:
        g.copy_(flat[offset:offset + g.numel()].view_as(g))
        offset += g.numel()


def frozen_copy(net: nn.Module) -> nn.Module:
    """A copy of ``net`` without gradients and without the training-only wrappers (the bf16 forward of
    :func:`autocast_forward`, ``nn.Module.compile``), for a moving average that is only evaluated."""
    import copy

    twin = copy.deepcopy(net)
    for m in twin.modules():
        m.__dict__.pop("forward", None)
        m.__dict__.pop("_compiled_call_impl", None)
    return twin.requires_grad_(False)


def autocast_forward(net: nn.Module, device_type: str) -> None:
    """Run ``net``'s forward under bf16 autocast and hand back fp32 outputs (an instance attribute: the module's
    state dict, and so its checkpoint, is unchanged)."""
    import functools

    inner = net.forward

    @functools.wraps(inner)
    def forward(*args, **kwargs):
        with torch.autocast(device_type, dtype=torch.bfloat16):
            out = inner(*args, **kwargs)
        return out.float() if torch.is_tensor(out) and out.is_floating_point() else out

    net.forward = forward
