"""TensorBoard event files beside stats.jsonl, read back by TensorBoard's own reader."""

import json

import numpy as np
import pytest

from gankit.config import apply_overrides, load_preset
from gankit.train import train

EventAccumulator = pytest.importorskip("tensorboard.backend.event_processing.event_accumulator").EventAccumulator

RING = ["data.toy_n=500", "train.batch=32", "train.precision=fp32", "train.threads=1", "G.hidden=[16,16]",
        "D.hidden=[16,16]", "train.log_every=2", "train.snapshot_every=3", "train.ckpt_every=3"]


def _read(run_dir):
    acc = EventAccumulator(str(run_dir / "tensorboard"), size_guidance={"scalars": 0, "images": 0})
    acc.Reload()
    return acc


def _interval_means(run_dir, name, ends):
    rows = [json.loads(line) for line in (run_dir / "stats.jsonl").read_text().splitlines()]
    out, start = [], 0
    for end in ends:
        out.append(np.mean([r[name] for r in rows if start < r["step"] <= end]))
        start = end
    return out


def test_scalars_are_the_interval_means_and_grids_are_images(tmp_path):
    cfg = apply_overrides(load_preset("ring8"), RING + ["train.steps=7", "train.tensorboard=true"])
    r = train(cfg, out=tmp_path, progress=False, report=False)
    acc = _read(r.run_dir)
    tags = acc.Tags()
    assert {"loss_D", "loss_G"} <= set(tags["scalars"]) and tags["images"] == ["samples"]
    events = acc.Scalars("loss_D")
    # flushes at every log interval, at each picture / checkpoint step, and at the end
    assert [e.step for e in events] == [2, 3, 4, 6, 7]
    want = _interval_means(r.run_dir, "loss_D", [2, 3, 4, 6, 7])
    assert np.allclose([e.value for e in events], want, rtol=1e-5)
    images = acc.Images("samples")
    assert [e.step for e in images] == [3, 6, 7] and images[0].width > 8


def test_off_by_default_and_a_resume_continues_the_same_curves(tmp_path):
    plain = train(apply_overrides(load_preset("ring8"), RING + ["train.steps=3"]), out=tmp_path / "p",
                  progress=False, report=False)
    assert not (plain.run_dir / "tensorboard").exists()

    half = train(apply_overrides(load_preset("ring8"), RING + ["train.steps=3", "train.tensorboard=true"]),
                 out=tmp_path / "r", progress=False, report=False)
    at3 = (half.run_dir / "checkpoint.pt").read_bytes()
    train(resume=half.run_dir, steps=5, progress=False, report=False)  # logs steps 4 and 5 ...
    (half.run_dir / "checkpoint.pt").write_bytes(at3)  # ... then is lost, as a crash would lose it
    train(resume=half.run_dir, steps=7, progress=False, report=False)
    events = _read(half.run_dir).Scalars("loss_G")
    assert [e.step for e in events] == [2, 3, 4, 6, 7]  # one curve, no step twice
    assert np.allclose([e.value for e in events], _interval_means(half.run_dir, "loss_G", [2, 3, 4, 6, 7]),
                       rtol=1e-5)  # the values of the run that continued, not of the lost one
