"""Generators that ship with gankit, to try ``sample``, ``eval``, ``invert`` and the apps before training one.

``pretrained:NAME`` stands for a run directory wherever a command asks for a RUN::

    gankit sample pretrained:mnist --out digits.png --class 3
    gankit eval pretrained:mnist --metrics fid,pr,classes
    gankit invert pretrained:mnist test:0-7 --out z.npz

The packaged file (``gankit/pretrained/NAME.pt``) is copied on first use into the cache
(``$GANKIT_CACHE`` or ``~/.cache/gankit``, ``pretrained/NAME/checkpoint.pt``), and that folder is
the model's run directory: what a command writes beside a checkpoint (eval's ``metric-*.jsonl``,
fit-encoder's ``encoder.pt``) goes there, never into the installed package.

Each file is a slim gankit checkpoint (:func:`slim`): the run's config, step and facts, G_ema and
D, without the live G, the optimizer states and the random states, so it samples and evaluates
but does not resume. ``python benchmarks/make_pretrained.py`` trains and writes them (fixed seed,
one thread, fp32); docs/pretrained.md has their scores and grids.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from gankit.errors import UserError

PREFIX = "pretrained:"

# name -> packaged file
PRETRAINED: dict[str, str] = {
    "mnist": "mnist.pt",  # the quick preset (class-conditional DCGAN, R1) on mnist-5k, seed 0, fp32, one thread
}

__all__ = ["PREFIX", "PRETRAINED", "is_pretrained", "packaged_file", "resolve", "slim"]


def is_pretrained(spec: Any) -> bool:
    """Whether ``spec`` names a shipped generator (``pretrained:NAME``).

    >>> is_pretrained("pretrained:mnist"), is_pretrained("runs/00000-quick")
    (True, False)
    """
    return isinstance(spec, str) and spec.startswith(PREFIX)


def packaged_file(name: str) -> Path:
    """The file of shipped generator ``name`` inside the installed package; one line for an unknown name."""
    if name not in PRETRAINED:
        raise UserError(f"no pretrained generator {name!r}; gankit ships {', '.join(PREFIX + n for n in PRETRAINED)}")
    path = Path(__file__).with_name(PRETRAINED[name])
    if not path.is_file():
        raise UserError(f"the pretrained generator {name!r} is missing from this installation ({str(path)!r}); "
                        "reinstall gankit, or write it with `python benchmarks/make_pretrained.py`")
    return path


def resolve(spec: str, cache_dir: str = "") -> Path:
    """``pretrained:NAME`` -> its run directory in the cache, holding a copy of the packaged checkpoint.

    The copy is made on first use and made again whenever it differs in size or age from the packaged file.
    """
    from gankit.checkpoint import CHECKPOINT_NAME
    from gankit.data import resolve_cache_dir

    name = spec[len(PREFIX):]
    source = packaged_file(name)
    run_dir = resolve_cache_dir(cache_dir) / "pretrained" / name
    target = run_dir / CHECKPOINT_NAME
    stat = source.stat()
    if not target.is_file() or target.stat().st_size != stat.st_size or target.stat().st_mtime < stat.st_mtime:
        run_dir.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=run_dir, prefix=".checkpoint.", suffix=".tmp")  # one per process
        os.close(fd)
        shutil.copyfile(source, tmp)
        os.replace(tmp, target)  # atomic: no process ever reads half a copy
    return run_dir


def slim(state: dict[str, Any]) -> dict[str, Any]:
    """A GAN run's checkpoint (format 2) reduced to what sampling, evaluation and the apps read: config, step,
    extra, and the networks G_ema and D; no live G, optimizer or random states (about a fifth of the size).

    >>> s = slim({"format": "gankit-checkpoint", "version": 2, "system": "gan", "config": {}, "step": 5,
    ...           "nets": {"G": {}, "D": {}, "G_ema": {}}, "optims": {"G": {}}, "rng": {"torch": 0}, "extra": {}})
    >>> sorted(s["nets"]), s["optims"], s["rng"], s["step"]
    (['D', 'G_ema'], {}, {}, 5)
    """
    if state.get("system") != "gan":
        raise UserError(f"only GAN runs are shipped as pretrained generators; this is a {state.get('system')} run")
    nets = {k: state["nets"][k] for k in ("G_ema", "D")}
    return {**state, "nets": nets, "optims": {}, "rng": {}}
