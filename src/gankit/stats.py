"""Training statistics: collected on the device every step, written to stats.jsonl in batches.

Values stay tensors until ``flush`` so the training step never waits for the host; one flush per
log interval turns them into numbers, writes one JSON line per step and returns the interval's
means for the progress bar.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import torch


class StatsLog:
    """Append-only JSON-lines log of per-step scalars."""

    def __init__(self, path: str | os.PathLike | None):
        self.path = Path(path) if path is not None else None  # None: keep count (NaN checks, means) but write nothing
        self._steps: list[int] = []
        self._rows: list[dict[str, torch.Tensor]] = []
        self.first_nonfinite: tuple[int, str] | None = None  # (step, name) of the first NaN/inf seen

    def add(self, step: int, **values: torch.Tensor | float) -> None:
        """Record the scalars of one step (0-d tensors or floats)."""
        self._steps.append(step)
        self._rows.append(values)

    def flush(self) -> dict[str, float]:
        """Write pending rows; return the mean of each scalar over them ({} if none).

        Rows may name different scalars (a loss that starts after a warm-up): each run of rows
        with the same names is written and averaged on its own, and the means of the last run
        are returned.
        """
        if not self._rows:
            return {}
        means: dict[str, float] = {}
        start = 0
        for end in range(1, len(self._rows) + 1):
            if end == len(self._rows) or list(self._rows[end]) != list(self._rows[start]):
                means = self._flush_rows(self._steps[start:end], self._rows[start:end])
                start = end
        self._steps, self._rows = [], []
        return means

    def _flush_rows(self, steps: list[int], rows: list[dict[str, torch.Tensor | float]]) -> dict[str, float]:
        """Write rows that all name the same scalars; return their means."""
        keys = list(rows[0])
        table = torch.stack([torch.stack([torch.as_tensor(r[k], dtype=torch.float32).detach().cpu()
                                          for k in keys]) for r in rows])  # [rows, keys]
        if self.path is not None:
            try:
                with open(self.path, "a") as f:
                    for step, vals in zip(steps, table.tolist()):
                        f.write(json.dumps({"step": step, **{k: round(v, 6) for k, v in zip(keys, vals)}}) + "\n")
            except OSError as e:  # write() names no file: name it, so the one-line error says which
                raise OSError(e.errno, e.strerror, str(self.path)) from None
        if self.first_nonfinite is None and not torch.isfinite(table).all():
            row, col = map(int, (~torch.isfinite(table)).nonzero()[0])
            self.first_nonfinite = (steps[row], keys[col])
        return dict(zip(keys, table.mean(0).tolist()))

    def truncate_after(self, step: int) -> None:
        """Drop lines of steps after ``step`` (written after the checkpoint a run resumes from), and a last line
        cut short by a crash in the middle of a write."""
        if self.path is None or not self.path.exists():
            return
        keep = []
        for line in self.path.read_text().splitlines():
            try:
                row = json.loads(line)
            except json.JSONDecodeError:
                continue  # a partial line: the step it began is re-run and logged again
            if isinstance(row, dict) and isinstance(row.get("step"), int) and row["step"] <= step:
                keep.append(line)
        self.path.write_text("".join(line + "\n" for line in keep))


def read_stats(path: str | os.PathLike) -> list[dict[str, float]]:
    """All rows of a stats.jsonl file."""
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]
