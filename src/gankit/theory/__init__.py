"""The 2014 paper's claims as experiments: each trains (or iterates) on the CPU, draws its pictures and
returns its measured numbers beside the theoretical ones.

Every experiment is a module here with one function
``run(out: Path, quick: bool = False, progress: bool = False) -> dict``: it writes PNGs (and a GIF
where motion is the point) into ``out`` and returns a JSON-ready dict with at least ``"name"``,
``"claims"`` (a list of ``{"claim", "measured", "theory", "tolerance", "holds"}``) and ``"files"``
(the pictures written). ``quick=True`` is the reduced version the tests run; ``progress=True`` shows
a bar on stderr over the experiment's steps (:func:`gankit.progress.progress_bar`).

``gankit theory NAME --out DIR [--json] [--quick] [--quiet]`` calls :func:`run_theory`.
"""

from __future__ import annotations

import importlib
import json
import os
from pathlib import Path

from gankit.errors import UserError

EXPERIMENTS: dict[str, str] = {  # name -> one line; the module is gankit.theory.<name>
    "fig1": "the paper's Figure 1 on gauss1d: p_data, p_g and D(x) over training, with D* = p_data / (p_data + p_g)",
    "optimum": "V(D*, G) -> -log 4 and JSD -> 0 as G learns (Theorem 1: C(G) = -log 4 + 2 JSD)",
    "saturation": "the gradient G gets early on: saturating log(1 - D(G(z))) against non-saturating -log D(G(z))",
    "saddle": "simultaneous and alternating gradient play on x^2 - y^2 and x*y: converge, cycle or diverge",
    "collapse": "ring8-vanilla against the ring8 preset: samples over training and modes covered",
}


def claim(text: str, measured: float, theory: float | str, tolerance: str, holds: bool) -> dict:
    """One measured-versus-theory line of an experiment's result."""
    return {"claim": text, "measured": float(measured), "theory": theory, "tolerance": tolerance, "holds": bool(holds)}


def run_theory(name: str, out: str | os.PathLike, quick: bool = False, progress: bool = False) -> dict:
    """Run experiment ``name`` (see :data:`EXPERIMENTS`), write its pictures into ``out`` and ``out/NAME.json``.

    ``progress``: a bar with an ETA on stderr while it runs (the command's default; off here).
    """
    if name not in EXPERIMENTS:
        raise UserError(f"unknown theory experiment {name!r}; choose from {', '.join(EXPERIMENTS)}")
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise UserError(f"--out {str(out)!r} is a file; give a folder for the pictures")
    out.mkdir(parents=True, exist_ok=True)
    module = importlib.import_module(f"gankit.theory.{name}")
    result = module.run(out, quick=quick, progress=progress)
    (out / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
