"""Reading a run directory for the report: its config, stats rows, sample grids and metric records.

Every file is checked as it is read; a malformed one raises :class:`~gankit.errors.UserError`
naming the file and, for JSON-lines files, the line.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

from gankit.errors import UserError

_STEM = re.compile(r"^(?:samples|preview)-(\d+)\.png$")  # GAN / VAE grids; image-to-image previews


def read_run(run_dir: str | os.PathLike) -> dict[str, Any]:
    """Everything the page shows, read from a run directory.

    Returns:
        dict with ``run_dir`` (Path), ``config`` (dict from config.json), ``rows`` (stats rows,
        sorted by step; [] before the first log), ``grids`` ([(step, Path)] of samples-*.png in
        step order), ``latest`` (Path of samples.png or None), ``metrics`` ({name: [records in
        file order]}) and ``checkpoint`` (Path or None).

    Raises:
        UserError: the folder or its config.json is missing, or a JSON file in it is malformed.
    """
    from gankit.pretrained import is_pretrained

    expected = "expected a run directory written by gankit train (config.json, stats.jsonl, samples-*.png)"
    if is_pretrained(run_dir):
        raise UserError(f"{run_dir} is a shipped generator without its training history, so it has no report; "
                        f"{expected}")
    run = Path(run_dir)
    if not run.exists():
        raise UserError(f"run directory {str(run)!r} does not exist; {expected}")
    if not run.is_dir():
        raise UserError(f"{str(run)!r} is a file, not a run directory; {expected}")
    cfg_path = run / "config.json"
    if not cfg_path.is_file():
        raise UserError(f"{str(run)!r} has no config.json, so it is not a gankit run directory; {expected}")
    try:
        config = json.loads(cfg_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(
            f"{cfg_path} is not valid JSON ({_reason(e)}); expected the config gankit train writes"
        ) from None
    if not isinstance(config, dict):
        raise UserError(
            f"{cfg_path} holds a JSON {type(config).__name__}, not an object; expected the config gankit train writes"
        )
    stats_path = run / "stats.jsonl"
    rows = read_stats_rows(stats_path) if stats_path.is_file() else []
    grids = sorted((int(m.group(1)), p) for p in run.iterdir() if (m := _STEM.match(p.name)) and p.is_file())
    metrics = {}
    for p in sorted(run.glob("metric-*.jsonl")):
        records = [obj for _, obj in _read_jsonl(p, "one JSON object per line, as gankit eval writes")]
        if records:
            metrics[p.name[len("metric-"):-len(".jsonl")]] = records
    latest = run / "samples.png"
    if not latest.is_file():  # an image-to-image run's latest picture
        latest = run / "preview.png"
    ckpt = run / "checkpoint.pt"
    return {"run_dir": run, "config": config, "rows": rows, "grids": grids,
            "latest": latest if latest.is_file() else None, "metrics": metrics,
            "checkpoint": ckpt if ckpt.is_file() else None}


def read_stats_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    """Rows of a stats.jsonl file, checked and sorted by step.

    Each line must be a JSON object with an integer ``step`` and numbers (or null, NaN, inf) for
    the other fields. Raises UserError naming the file and line of the first one that is not.
    """
    path = Path(path)
    what = "one JSON object per line with an integer step and numbers (loss_D, loss_G, ...), as gankit train writes"
    rows = []
    for n, row in _read_jsonl(path, what):
        step = row.get("step")
        if not isinstance(step, int) or isinstance(step, bool):
            raise UserError(f"{path} line {n}: step is {step!r}; expected {what}")
        for k, v in row.items():
            if v is not None and (isinstance(v, bool) or not isinstance(v, (int, float))):
                raise UserError(f"{path} line {n}: {k} is {v!r}, not a number; expected {what}")
        rows.append(row)
    return sorted(rows, key=lambda r: r["step"])


def _read_jsonl(path: Path, what: str) -> list[tuple[int, dict[str, Any]]]:
    """(line number, object) for each line of a JSON-lines file; blank lines are skipped."""
    try:
        text = path.read_text()
    except UnicodeDecodeError:
        raise UserError(f"{path} is not UTF-8 text; expected {what}") from None
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise UserError(f"{path} line {n} is not valid JSON ({_reason(e)}); expected {what}") from None
        if not isinstance(obj, dict):
            raise UserError(f"{path} line {n} is a JSON {type(obj).__name__}, not an object; expected {what}")
        out.append((n, obj))
    return out


def _reason(e: Exception) -> str:
    return f"{e.msg} at column {e.colno}" if isinstance(e, json.JSONDecodeError) else str(e)
