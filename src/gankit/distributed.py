"""Data-parallel training over several processes (``torchrun``), with PyTorch's DistributedDataParallel.

``torchrun --nproc_per_node N -m gankit train ...`` starts N copies of the same command and sets
``WORLD_SIZE``, ``RANK``, ``LOCAL_RANK``, ``MASTER_ADDR`` and ``MASTER_PORT`` in each; :func:`setup`
reads them and joins the process group (gloo on the CPU, NCCL on CUDA GPUs). Without them
(a plain ``gankit train``) everything here is a no-op for a world of one process.

How a step is split (see :func:`gankit.train.train`): every rank draws the same *global* minibatch
indices and noise (``train.batch`` x world size; the generators are seeded alike) and keeps its own
slice of ``train.batch``; DDP averages the gradients, so the ranks' weights stay identical and a
run of W processes with batch b takes the same steps as one process with batch W x b (apart from
BatchNorm, which normalises within each rank's slice). Because the random streams are global, a
checkpoint written by rank 0 holds everything, and a run resumes with any number of processes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

from gankit.errors import UserError


@dataclass(frozen=True)
class World:
    rank: int = 0  # this process's index among all processes
    size: int = 1  # number of processes (WORLD_SIZE)
    local_rank: int = 0  # index on this machine (picks the GPU)
    owns_group: bool = False  # True when setup() created the process group (and teardown() ends it)

    @property
    def main(self) -> bool:
        """Rank 0: the one process that logs, draws the pictures and writes checkpoints."""
        return self.rank == 0

    @property
    def parallel(self) -> bool:
        return self.size > 1


def _env_int(name: str, default: int | None = None) -> int:
    raw = os.environ.get(name)
    if raw is None:
        if default is None:
            raise UserError(f"WORLD_SIZE is set but {name} is not; start distributed runs with torchrun")
        return default
    try:
        return int(raw)
    except ValueError:
        raise UserError(f"environment variable {name} must be an integer; got {raw!r}") from None


def setup(device: torch.device) -> tuple[World, torch.device]:
    """Join the process group torchrun described in the environment; return the world and this rank's device.

    On CUDA each process takes GPU ``LOCAL_RANK``; on the CPU all share the machine.
    """
    size = _env_int("WORLD_SIZE", 1)
    if size <= 1:
        return World(), device
    rank, local_rank = _env_int("RANK"), _env_int("LOCAL_RANK", 0)
    if device.type == "cuda":
        if local_rank >= torch.cuda.device_count():
            raise UserError(f"LOCAL_RANK {local_rank} but this machine has {torch.cuda.device_count()} GPUs; "
                            "use --nproc_per_node no larger than the GPU count")
        device = torch.device("cuda", local_rank)
        torch.cuda.set_device(device)
    if dist.is_initialized():  # the caller set up the group itself
        return World(dist.get_rank(), dist.get_world_size(), local_rank, owns_group=False), device
    for name in ("MASTER_ADDR", "MASTER_PORT"):
        if name not in os.environ:
            raise UserError(f"WORLD_SIZE is {size} but {name} is not set; start distributed runs with torchrun")
    backend = "nccl" if device.type == "cuda" else "gloo"
    dist.init_process_group(backend, rank=rank, world_size=size)
    return World(rank, size, local_rank, owns_group=True), device


def teardown(world: World) -> None:
    if world.owns_group and dist.is_initialized():
        try:
            dist.destroy_process_group()
        except RuntimeError:  # a peer is already gone; the group is being torn down anyway
            pass


def broadcast_str(world: World, text: str) -> str:
    """Rank 0's ``text`` on every rank."""
    if not world.parallel:
        return text
    box = [text]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def any_rank(world: World, *flags: bool) -> list[bool]:
    """For each flag, whether it is true on at least one rank (one small all-reduce)."""
    if not world.parallel:
        return list(flags)
    t = torch.tensor([float(f) for f in flags], device=_comm_device())
    dist.all_reduce(t, op=dist.ReduceOp.MAX)
    return [bool(v) for v in t.tolist()]


def sync_buffers(world: World, *modules: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every rank.

    Each rank updates them from its own slice of the batch; before a picture or a checkpoint they
    are made equal, so every rank holds the model rank 0 writes.
    """
    if not world.parallel:
        return
    for m in modules:
        for b in m.buffers():
            dist.broadcast(b.data, src=0)


def barrier(world: World) -> None:
    if world.parallel:
        dist.barrier()


def _comm_device() -> torch.device:
    return torch.device("cuda", torch.cuda.current_device()) if dist.get_backend() == "nccl" else torch.device("cpu")
