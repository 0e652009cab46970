"""The engine: one training loop for every system.

A *system* (the GAN of Algorithm 1, the VAE, pix2pix, CycleGAN, SRGAN, SimGAN) holds its networks,
optimizers and losses and takes one training step; :func:`fit` does everything else, the same for
all of them:

- the run directory (``out/NNNNN-<name>``, made by rank 0 and told to the others) and its
  ``config.json``;
- the stop flag: the first Ctrl-C / SIGTERM stops after the current step and keeps a checkpoint of
  it, agreed across DDP ranks at the next log point so that all ranks stop at the same step;
- ``stats.jsonl``: the step's statistics stay on the device and are written once per log interval;
- the NaN/inf guard: a non-finite statistic stops the run with :class:`~gankit.errors.TrainingDiverged`
  before any picture or checkpoint of an unchecked step is written (the last good checkpoint stays);
- pictures and atomic checkpoints at their intervals and at the end, written by rank 0 alone;
- the progress bar with its ETA;
- TensorBoard event files beside ``stats.jsonl`` when asked for (``RUN_DIR/tensorboard``: the
  same means at each flush, and each picture);
- ``report.html`` at the end (:func:`gankit.report.write_report`; a report that cannot be written
  costs one line on stderr, never the run).

A system passed to :func:`fit` provides (see :class:`System`):

- ``train_step(step) -> dict``: one step (it draws its own batch), returning 0-d tensors to log;
- ``state(step) -> dict``: everything its checkpoint holds (tensors and plain data only);
- ``snapshot(run_dir, step) -> Path``: write its picture (rank 0);
- ``sync()``: make every rank's copy agree before a picture or checkpoint (e.g. BatchNorm buffers);
- ``postfix(means) -> dict``: what the progress bar shows of the interval's means;
- ``train(mode)``: put its networks in training or evaluation mode.

Example (the GAN system through :func:`gankit.train.train`, which builds it and calls :func:`fit`):
    >>> from gankit.config import load_preset, apply_overrides
    >>> from gankit.train import train
    >>> r = train(apply_overrides(load_preset("ring8"), ["train.steps=10", "data.toy_n=500",
    ...                                                  "train.batch=64"]),
    ...           out="/tmp/gankit-doctest-loop", progress=False)
    >>> r.step, r.checkpoint.name
    (10, 'checkpoint.pt')
"""

from __future__ import annotations

import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import torch

from gankit import checkpoint as ckpt
from gankit import distributed
from gankit.errors import TrainingDiverged, note_output, space_hint, written_atomically
from gankit.stats import StatsLog
from gankit.training.runtime import StopFlag, next_run_dir

__all__ = ["System", "Cadence", "FitResult", "open_run", "fit"]


class System(Protocol):
    """What :func:`fit` asks of a system (see the module docstring)."""

    def train_step(self, step: int) -> dict[str, Any]: ...

    def state(self, step: int) -> dict[str, Any]: ...

    def snapshot(self, run_dir: Path, step: int) -> Path: ...

    def sync(self) -> None: ...

    def postfix(self, means: dict[str, float]) -> dict[str, str]: ...

    def train(self, mode: bool = True) -> None: ...


@dataclass(frozen=True)
class Cadence:
    """How long a run trains and how often the engine looks at it."""

    steps: int  # total steps to reach
    log_every: int  # steps between stats flushes (and NaN checks, stop agreement, bar refreshes)
    snapshot_every: int  # steps between pictures
    ckpt_every: int  # steps between checkpoints (one is always written at the end)


@dataclass
class FitResult:
    run_dir: Path
    step: int  # steps completed
    interrupted: bool  # stopped by Ctrl-C / SIGTERM: before Cadence.steps, or while the last step's files were written
    checkpoint: Path  # the last checkpoint written
    picture: Path | None  # the last picture written (None on ranks > 0)
    report: Path | None = None  # report.html (None on ranks > 0, when not asked for, or when it failed)


def open_run(out: str | os.PathLike, name: str, config: dict[str, Any],
             world: distributed.World | None = None) -> Path:
    """A new run directory ``out/NNNNN-name`` with ``config.json`` (the resolved config) in it.

    Under DDP rank 0 makes it and tells the others its path; only rank 0 writes.
    """
    world = world or distributed.World()
    run_dir = Path(distributed.broadcast_str(world, str(next_run_dir(out, name)) if world.main else ""))
    note_output(run_dir)
    if world.main:
        try:  # through a temporary file: a full disk leaves no empty config.json, and no run directory
            with written_atomically(run_dir / "config.json") as tmp:
                tmp.write_text(json.dumps(config, indent=2) + "\n")
        except OSError:
            if not any(run_dir.iterdir()):
                run_dir.rmdir()
            raise
    return run_dir


def _state(system: System, step: int) -> dict:
    """The system's checkpoint state, with the engine's own record: the intra-op thread count the run trained
    with (resuming with ``train.threads=0`` keeps it, so the float sums split the same way)."""
    state = system.state(step)
    state.setdefault("extra", {})["threads"] = torch.get_num_threads()
    return state


def fit(system: System, run_dir: Path, cadence: Cadence, step: int = 0, world: distributed.World | None = None,
        progress: bool = True, hint: str = "try a lower learning rate", report: bool = True,
        tensorboard: bool = False) -> FitResult:
    """Train ``system`` from ``step`` to ``cadence.steps``, writing into ``run_dir``.

    Args:
        system: the system to train (see :class:`System`), already built (and restored when resuming).
        run_dir: its run directory (from :func:`open_run`, or the run being resumed).
        cadence: total steps and the log / picture / checkpoint intervals.
        step: the step reached so far (a resumed run's checkpoint step; stats after it are dropped).
        world: this process's place in a DDP run (default: one process).
        progress: show a progress bar on stderr (rank 0).
        hint: the advice appended to the divergence message.
        report: write ``report.html`` at the end (also after an interruption).
        tensorboard: also write TensorBoard event files into ``run_dir/tensorboard`` (rank 0).

    Returns:
        FitResult: the step reached, whether it was interrupted, the checkpoint and the last picture.

    Raises:
        TrainingDiverged: a statistic became NaN or infinite; the last checkpoint written stays.
        UserError: another process is training the same run directory.
    """
    world = world or distributed.World()
    c = cadence
    path = run_dir / ckpt.CHECKPOINT_NAME
    lock = _RunLock(run_dir) if world.main else None
    try:
        return _fit(system, run_dir, c, step, world, progress, hint, report, tensorboard, path)
    except RuntimeError as e:
        if world.parallel and _peer_lost(e):  # another rank died: gloo / NCCL report it from inside a collective
            from gankit.errors import UserError

            kept = _kept_checkpoint(path)
            other = f"rank {1 - world.rank}" if world.size == 2 else "another process"  # of two, it is the other
            raise UserError(f"rank {world.rank}: {other} of this torchrun job stopped (its connection "
                            f"closed); {kept}; resume with `gankit train --resume {run_dir}`") from None
        raise
    except OSError as e:  # a full disk or a file-size limit under the stats, a picture or a TensorBoard file
        from gankit.errors import UserError

        kept = _kept_checkpoint(path)
        what = f"cannot write {e.filename!r}" if e.filename else f"cannot write in {str(run_dir)!r}"
        raise UserError(f"{what} during training: {e.strerror or e}{space_hint(e)}; {kept}; "
                        f"resume with `gankit train --resume {run_dir}`") from None
    finally:
        if lock is not None:
            lock.release()


def _kept_checkpoint(path: Path) -> str:
    """What a stopped run leaves to resume from, for its one-line error."""
    return (f"the last checkpoint is {path} (step {ckpt.load_checkpoint(path)['step']})" if path.exists()
            else "no checkpoint was written yet")


def _fit(system: System, run_dir: Path, c: Cadence, step: int, world: distributed.World, progress: bool, hint: str,
         report: bool, tensorboard: bool, path: Path) -> FitResult:
    from tqdm import tqdm

    log = StatsLog(run_dir / "stats.jsonl" if world.main else None)
    log.truncate_after(step)
    if world.main:
        ckpt.remove_stale_temporaries(run_dir)
    board = _Board(run_dir / "tensorboard", step) if tensorboard and world.main else None
    picture = None
    bar = tqdm(total=c.steps, initial=step, unit="step", disable=not (progress and world.main), dynamic_ncols=True,
               file=sys.stderr, desc=run_dir.name, mininterval=0.1 if sys.stderr.isatty() else 10.0)
    system.train(True)
    with StopFlag() as stop:
        stopping = False  # with several processes, a stop is agreed at the next log point so all stop together
        while step < c.steps and not stopping:
            stats = system.train_step(step)
            step += 1
            log.add(step, **{k: v.detach() if torch.is_tensor(v) else v for k, v in stats.items()})
            stopping = stop.requested and not world.parallel

            # Check the statistics: once per log interval, and before any picture or checkpoint.
            if step % c.log_every == 0 or step % c.ckpt_every == 0 or step % c.snapshot_every == 0 or step == c.steps:
                means = log.flush()
                if board is not None:
                    board.scalars(means, step)
                stop_any, diverged = distributed.any_rank(world, stop.requested, log.first_nonfinite is not None)
                stopping = stopping or stop_any
                if diverged:
                    bar.close()
                    bad_step, name = log.first_nonfinite or (step, "a statistic on another rank")
                    kept = (f"{ckpt.CHECKPOINT_NAME} from an earlier step" if path.exists()
                            else "no checkpoint (none was due yet)")
                    raise TrainingDiverged(f"training diverged: {name} became NaN or infinite at step {bad_step} "
                                           f"(see {run_dir / 'stats.jsonl'}); kept {kept}; {hint}")
                bar.set_postfix(system.postfix(means), refresh=False)
            bar.update(1)

            # Save a picture and a checkpoint (rank 0; every rank reaches these steps together).
            if step % c.snapshot_every == 0 and step < c.steps:
                system.sync()
                if world.main:
                    picture = system.snapshot(run_dir, step)
                    if board is not None:
                        board.picture(picture, step)
            if step % c.ckpt_every == 0 and step < c.steps:
                system.sync()
                if world.main:
                    ckpt.save_checkpoint(path, _state(system, step))

        # Done or interrupted: write everything at the step reached.
        means = log.flush()
        bar.close()
        system.sync()
        if world.main:
            picture = system.snapshot(run_dir, step)
            ckpt.save_checkpoint(path, _state(system, step))
            if board is not None:
                board.scalars(means, step)
                board.picture(picture, step)
                board.close()
        distributed.barrier(world)  # the checkpoint exists before any rank returns
        # A stop asked for while the last step's files were written is still a stop: a caller that trains in
        # segments (gankit bench --until-fid) would otherwise start the next segment and lose the Ctrl-C
        interrupted = step < c.steps or stop.requested
    page = _write_report(run_dir) if report and world.main else None
    return FitResult(run_dir=run_dir, step=step, interrupted=interrupted, checkpoint=path, picture=picture,
                     report=page)


class _Board:
    """TensorBoard's own event writer over the run: the interval means as scalars, the pictures as images.

    A resumed run starts its writer with ``purge_step`` just past the checkpoint's step, so TensorBoard
    drops what an interrupted run logged after the point it continues from (as ``stats.jsonl`` does).
    """

    def __init__(self, folder: Path, step: int):
        try:
            from torch.utils.tensorboard import SummaryWriter
        except ImportError:
            from gankit.errors import UserError

            raise UserError("train.tensorboard=true needs the tensorboard package: pip install 'gankit[tensorboard]'"
                            ) from None
        self.writer = SummaryWriter(str(folder), purge_step=step + 1 if step > 0 else None)  # keeps step itself

    def scalars(self, means: dict[str, float], step: int) -> None:
        for name, value in means.items():
            self.writer.add_scalar(name, value, step)
        self.writer.flush()

    def picture(self, path: Path | None, step: int) -> None:
        if path is None:
            return
        import numpy as np
        from PIL import Image

        pixels = np.asarray(Image.open(path).convert("RGB"))  # [H, W, 3] uint8
        self.writer.add_image("samples", pixels, step, dataformats="HWC")
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()


def _peer_lost(e: RuntimeError) -> bool:
    """Whether a RuntimeError is the communication backend's report of a peer process gone."""
    text = str(e)
    return any(k in text for k in ("Connection reset by peer", "Connection closed by peer", "Broken pipe",
                                   "NCCL communicator was aborted", "remote process exited", "ProcessGroupGloo"))


class _RunLock:
    """An exclusive lock on a run directory while a process trains it (``RUN_DIR/.lock``, flock), so two
    ``gankit train --resume RUN`` at once cannot both write its checkpoint and stats. The kernel drops the lock
    when the process ends, however it ends, so a killed run never leaves its directory locked."""

    def __init__(self, run_dir: Path):
        import fcntl

        from gankit.errors import UserError

        self.file = open(run_dir / ".lock", "a+")
        try:
            fcntl.flock(self.file, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.file.seek(0)
            holder = self.file.read().strip() or "another process"
            self.file.close()
            raise UserError(f"{str(run_dir)!r} is being trained by {holder}; wait for it to finish (or stop it) "
                            "before training this run again") from None
        self.file.seek(0)
        self.file.truncate()
        self.file.write(f"process {os.getpid()}")
        self.file.flush()

    def release(self) -> None:
        import fcntl

        fcntl.flock(self.file, fcntl.LOCK_UN)
        self.file.close()


def _write_report(run_dir: Path) -> Path | None:
    """RUN_DIR/report.html; a report that cannot be written costs one line on stderr, never the run."""
    from gankit.errors import UserError
    from gankit.report import write_report

    try:
        return write_report(run_dir)
    except (UserError, OSError) as e:
        print(f"gankit: report not written: {e}", file=sys.stderr)
        return None
