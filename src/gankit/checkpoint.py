"""One checkpoint file holds a whole run, in one layout for every system, so sampling, applying and
resuming need nothing else::

    {"format": "gankit-checkpoint", "version": 2,
     "system": "gan" | "vae" | "pix2pix" | "cyclegan" | "srgan" | "simgan",
     "config": the resolved run config (sections as config.json),
     "step": steps done,
     "nets": {name: state_dict}      (gan: G, D, G_ema; vae: G, E, G_ema; pix2pix: G, D; ...),
     "optims": {name: state_dict},
     "rng": {name: generator state}  (torch, the noise stream, the batch stream, ...),
     "extra": what else the system needs (gan: data_shape, data_info, sampler, z_fixed, world_size;
              image-to-image: shape_a, shape_b, data_info, history buffers; every system: threads,
              the intra-op thread count the run trained with)}

Files of gankit 0.1 (version 1: the GAN and VAE with their networks at the top level, the
image-to-image systems with a flat config) are read into this layout on load
(:func:`upgrade`), so old runs still sample, evaluate, report and translate.

Files are written atomically (temporary file, fsync, rename), so a crash or Ctrl-C while
saving never leaves a broken checkpoint behind, and loaded with ``torch.load(weights_only=True)``,
so a file crafted to run code when unpickled is refused.

Example:
    >>> import tempfile, torch, os
    >>> from gankit.checkpoint import save_checkpoint, load_checkpoint
    >>> p = os.path.join(tempfile.mkdtemp(), "c.pt")
    >>> save_checkpoint(p, {"step": 3, "G": {"w": torch.ones(2)}})
    >>> load_checkpoint(p)["step"]
    3
"""

from __future__ import annotations

import os
import pickle
import tempfile
from pathlib import Path
from typing import Any

import torch

from gankit.errors import UserError

FORMAT = "gankit-checkpoint"  # marker that tells our files from other torch files
VERSION = 2  # 1: gankit 0.1 (read, upgraded on load)
CHECKPOINT_NAME = "checkpoint.pt"


def save_checkpoint(path: str | os.PathLike, state: dict[str, Any]) -> None:
    """Write ``state`` (tensors and plain data only) to ``path`` atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {"format": FORMAT, "version": VERSION, **state}
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except (OSError, RuntimeError) as e:  # torch reports a failed write (a full disk) as a RuntimeError
        if os.path.exists(tmp):
            os.unlink(tmp)
        reason = getattr(e, "strerror", None) or ("the write stopped short" if "unexpected pos" in str(e)
                                                  else (str(e).splitlines() or [type(e).__name__])[0][:160])
        kept = "the previous checkpoint is kept" if path.exists() else "no checkpoint was written"
        raise UserError(f"could not write {str(path)!r} ({reason}; is the disk full?); {kept}") from None
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise
    dir_fd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dir_fd)  # make the rename itself durable
    finally:
        os.close(dir_fd)


def remove_stale_temporaries(folder: str | os.PathLike) -> list[Path]:
    """Delete ``checkpoint.pt.*.tmp`` files a killed process left in ``folder`` (a SIGKILL during a write gives
    ``save_checkpoint`` no chance to); returns what was removed."""
    removed = []
    for p in Path(folder).glob(CHECKPOINT_NAME + ".*.tmp"):
        try:
            p.unlink()
            removed.append(p)
        except FileNotFoundError:
            pass
    return removed


def find_checkpoint(run_or_ckpt: str | os.PathLike) -> Path:
    """A run directory -> its checkpoint file; a file -> itself; ``pretrained:NAME`` -> the shipped generator's copy
    in the cache (:mod:`gankit.pretrained`). UserError if none of these exists."""
    from gankit import pretrained

    if pretrained.is_pretrained(run_or_ckpt):
        return pretrained.resolve(run_or_ckpt) / CHECKPOINT_NAME
    p = Path(run_or_ckpt)
    if p.is_dir():
        p = p / CHECKPOINT_NAME
        if not p.is_file():
            raise UserError(f"run directory {str(Path(run_or_ckpt))!r} has no {CHECKPOINT_NAME}; "
                            "expected a gankit run directory or a checkpoint file")
    elif not p.is_file():
        raise UserError(f"checkpoint path {str(p)!r} does not exist; "
                        "expected a gankit run directory or a checkpoint file")
    return p


def load_checkpoint(run_or_ckpt: str | os.PathLike, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a gankit checkpoint safely; UserError for anything that is not one."""
    path = find_checkpoint(run_or_ckpt)
    try:
        state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as e:
        blocked = [line.strip() for line in str(e).splitlines() if "GLOBAL" in line]
        if blocked:  # the file names a Python callable: loading it unrestricted could run code
            raise UserError(f"refusing to load {str(path)!r}: it asks to import Python code on load, which a gankit "
                            f"checkpoint never does ({blocked[0][:160]})") from None
        raise UserError(f"{str(path)!r} is not a gankit checkpoint: it is not a file torch can read safely") from None
    except Exception as e:  # torch raises many types for a file that is not one of its own
        raise UserError(f"{str(path)!r} is not a gankit checkpoint: torch could not read it "
                        f"({(str(e).splitlines() or [type(e).__name__])[0][:160]})") from None
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        raise UserError(f"{str(path)!r} is not a gankit checkpoint (no {FORMAT!r} marker); "
                        "expected a file written by `gankit train`")
    if state.get("version") not in (1, VERSION):
        raise UserError(f"{str(path)!r} is a gankit checkpoint of version {state.get('version')!r}; "
                        f"this gankit reads versions 1 and {VERSION}")
    state = upgrade(state)
    if "nets" in state:
        _check_run_layout(state, path)
    return state


def _check_run_layout(state: dict[str, Any], path: Path) -> None:
    """UserError in one line for a run checkpoint whose parts are missing or of the wrong kind."""
    def bad(what: str):
        raise UserError(f"{str(path)!r} carries the gankit marker but {what}; it is damaged or not written by gankit")

    if not isinstance(state.get("system"), str):
        bad("names no system")
    if not isinstance(state.get("config"), dict):
        bad("holds no config")
    step = state.get("step")
    if not isinstance(step, int) or isinstance(step, bool) or step < 0:
        bad(f"its step is {step!r}, not a count of steps")
    for part in ("nets", "optims", "extra"):
        if not isinstance(state.get(part), dict):
            bad(f"has no {part!r} dictionary")
    for name, sd in state["nets"].items():
        if not isinstance(sd, dict) or not all(torch.is_tensor(v) for v in sd.values()):
            bad(f"its network {name!r} is not a dictionary of tensors")
        for key, v in sd.items():
            if v.is_floating_point() and v.numel() and not bool(torch.isfinite(v).all()):
                bad(f"network {name!r} has NaN or infinite weights ({key})")


def upgrade(state: dict[str, Any]) -> dict[str, Any]:
    """A checkpoint in today's layout: version 2 as it is; a run checkpoint of gankit 0.1 rearranged (GAN and VAE
    networks at the top level; image-to-image files with ``kind: translate``); any other version-1 file as it is."""
    if state.get("version") == VERSION:
        return state
    if state.get("kind") == "translate":
        return _upgrade_translate_01(state)
    if "G" in state and "config" in state and "nets" not in state:
        return _upgrade_gan_01(state)
    return state


def _upgrade_gan_01(state: dict[str, Any]) -> dict[str, Any]:
    """A GAN or VAE checkpoint of gankit 0.1 in today's layout (its D is "E" in a VAE run)."""
    k = "E" if "E" in state else "D"
    extra = {name: state[name] for name in ("data_shape", "data_info", "sampler", "z_fixed", "world_size")
             if name in state}
    return {"format": state["format"], "version": VERSION, "system": system_of(state), "config": state["config"],
            "step": int(state["step"]), "nets": {"G": state["G"], k: state[k], "G_ema": state.get("G_ema", state["G"])},
            "optims": {"G": state.get("opt_G", {}), k: state.get(f"opt_{k}", {})}, "rng": state.get("rng", {}),
            "extra": extra}


def _upgrade_translate_01(state: dict[str, Any]) -> dict[str, Any]:
    """An image-to-image checkpoint of gankit 0.1 (flat config, ``kind: translate``) in today's layout."""
    from gankit.config import to_dict
    from gankit.systems.i2i import as_run_config

    rng = {"torch": state["rng_torch"], "cuda_all": state.get("rng_cuda") or []}
    if "batches" in state:
        rng["batches"] = state["batches"]
    extra = {"shape_a": list(state["shape_a"]), "shape_b": list(state["shape_b"]),
             "data_info": state.get("data_info", {}), **state.get("extra", {})}
    return {"format": state["format"], "version": VERSION, "system": state["system"],
            "config": to_dict(as_run_config(state["config"])), "step": int(state["step"]), "nets": state["nets"],
            "optims": state["optims"], "rng": rng, "extra": extra}


def system_of(state: dict[str, Any]) -> str:
    """The system a checkpoint was trained by: "gan", "vae", "pix2pix", "cyclegan", "srgan" or "simgan".

    Read from its ``system`` field, or, in files of gankit 0.1 that have none, from the config's
    ``model`` (GAN and VAE runs).
    """
    if isinstance(state.get("system"), str):
        return state["system"]
    config = state.get("config")
    model = config.get("model", "gan") if isinstance(config, dict) else "gan"
    return model if isinstance(model, str) else "gan"


def require_generator_run(state: dict[str, Any], path: str | os.PathLike, command: str) -> None:
    """UserError in one line unless ``state`` is a run with a latent-space G (the GAN or the VAE)."""
    system = system_of(state)
    if system not in ("gan", "vae"):
        raise UserError(f"{str(path)!r} is a {system} image-to-image run, which has no noise-to-image G for "
                        f"`gankit {command}`; use `gankit translate apply {path} IMAGES --out DIR`")
