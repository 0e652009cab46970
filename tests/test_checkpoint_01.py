"""Runs written by gankit 0.1 still work: sample, eval, report, resume and translate apply.

gankit 0.1 wrote checkpoints of version 1: a GAN or VAE with its networks, optimizers and extras at
the top level (``G``, ``D`` or ``E``, ``G_ema``, ``opt_G``, ``opt_D``, ``data_shape``, ...; no
``system`` field), and an image-to-image run with ``kind: translate``, a flat config and
``rng_torch``; its run directories held ``preview-*.png`` and the flat config. Each test trains a
run today, rewrites its checkpoint (and run directory) in that old layout by hand, and checks that
every command gives what it gives on the run as written today.
"""

import json

import numpy as np
import torch

from gankit.checkpoint import FORMAT, load_checkpoint
from gankit.config import I2I_SYSTEMS, apply_overrides, load_preset
from helpers import run_cli

NEW_SECTIONS = ("task", *I2I_SYSTEMS)  # config sections gankit 0.1 did not have


def _save_01(path, payload):
    torch.save(payload, path)  # what 0.1's save_checkpoint wrote (atomically; the rename does not matter here)


def _gan_01(state):
    """A GAN / VAE checkpoint of today as gankit 0.1 wrote it."""
    nets, optims, extra = state["nets"], state["optims"], state["extra"]
    k = "E" if "E" in nets else "D"
    config = {name: v for name, v in state["config"].items() if name not in NEW_SECTIONS}
    return {"format": FORMAT, "version": 1, "config": config, "step": state["step"],
            "data_shape": extra["data_shape"], "data_info": extra["data_info"], "G": nets["G"], k: nets[k],
            "G_ema": nets["G_ema"], "opt_G": optims["G"], f"opt_{k}": optims[k], "sampler": extra["sampler"],
            "rng": state["rng"], "z_fixed": extra["z_fixed"], "world_size": extra["world_size"]}


def _copy_run_as_01(run_dir, dest, convert):
    dest.mkdir()
    for p in run_dir.iterdir():
        if p.name != "checkpoint.pt":
            (dest / p.name).write_bytes(p.read_bytes())
    _save_01(dest / "checkpoint.pt", convert(load_checkpoint(run_dir)))
    return dest


def test_a_gan_run_of_gankit_01_samples_evaluates_reports_and_resumes(tmp_path, capsys):
    from gankit.evaluate import evaluate
    from gankit.report import write_report
    from gankit.train import train

    cfg = apply_overrides(load_preset("ring8"), ["train.steps=20", "train.batch=32", "data.toy_n=1000",
                                                 "G.hidden=[16,16]", "D.hidden=[16,16]", "train.precision=fp32",
                                                 "train.log_every=5"])
    new = train(cfg, out=tmp_path / "new", progress=False).run_dir
    old = _copy_run_as_01(new, tmp_path / "old", _gan_01)
    assert "nets" not in torch.load(old / "checkpoint.pt", weights_only=True)  # really the old layout

    for name, run in (("new", new), ("old", old)):
        code, _, err = run_cli(["sample", str(run), "-n", "12", "--seed", "4", "--out", str(tmp_path / f"{name}.npz")],
                               capsys)
        assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "new.npz")["x"], np.load(tmp_path / "old.npz")["x"])
    a = evaluate(new, metrics="modes", n=500, seed=1, record=False)["modes"]
    b = evaluate(old, metrics="modes", n=500, seed=1, record=False)["modes"]
    a.pop("protocol"), b.pop("protocol")  # names the run's path
    assert a == b
    assert write_report(old).is_file()

    # Resuming the old file continues exactly as resuming today's file does.
    r_new = train(resume=new, steps=25, progress=False)
    r_old = train(resume=old, steps=25, progress=False)
    for k, v in r_new.G.state_dict().items():
        assert torch.equal(v, r_old.G.state_dict()[k]), k
    assert load_checkpoint(old)["version"] == 2  # written anew in today's layout


def test_a_vae_run_of_gankit_01_samples(tmp_path, capsys):
    from gankit.train import train

    cfg = apply_overrides(load_preset("vae-mnist"), ["data.name=digits", "G.hidden=[16]", "D.hidden=[16]", "z_dim=4",
                                                     "train.steps=3", "train.batch=16", "train.precision=fp32"])
    new = train(cfg, out=tmp_path / "new", progress=False).run_dir
    old = _copy_run_as_01(new, tmp_path / "old", _gan_01)
    assert set(load_checkpoint(old)["nets"]) == {"G", "E", "G_ema"}
    for name, run in (("new", new), ("old", old)):
        code, _, err = run_cli(["sample", str(run), "-n", "6", "--out", str(tmp_path / f"{name}.npz")], capsys)
        assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "new.npz")["x"], np.load(tmp_path / "old.npz")["x"])


def test_a_translation_run_of_gankit_01_applies_and_reports(tmp_path, capsys):
    from gankit.report import write_report
    from gankit.systems.i2i import flat_config
    from gankit.translate import train_translation
    from gankit.config import from_dict

    tiny = {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 64, "batch": 8, "threads": 1, "snapshot_every": 2,
            "log_every": 1}
    new = train_translation("pix2pix", {**tiny, "steps": 4}, out=tmp_path / "new", progress=False).run_dir

    def as_01(state):
        flat = flat_config(from_dict(state["config"]))
        flat = {k: v for k, v in flat.items() if k not in ("lr_d", "ckpt_every")}  # keys 0.1 did not have
        extra = {k: v for k, v in state["extra"].items() if k not in ("shape_a", "shape_b", "data_info")}
        return {"format": FORMAT, "version": 1, "kind": "translate", "system": state["system"], "config": flat,
                "shape_a": state["extra"]["shape_a"], "shape_b": state["extra"]["shape_b"], "nets": state["nets"],
                "optims": state["optims"], "extra": extra, "step": state["step"], "rng_torch": state["rng"]["torch"],
                "rng_cuda": [], "batches": state["rng"]["batches"], "data_info": state["extra"]["data_info"]}

    old = _copy_run_as_01(new, tmp_path / "old", as_01)
    # 0.1's run directory: the flat config and preview-*.png
    (old / "config.json").write_text(json.dumps(torch.load(old / "checkpoint.pt", weights_only=True)["config"]))
    for p in old.glob("samples*.png"):
        p.rename(old / p.name.replace("samples", "preview"))

    for name, run in (("new", new), ("old", old)):
        code, _, err = run_cli(["translate", "apply", str(run), "task:test", "--out", str(tmp_path / f"{name}.npz")],
                               capsys)
        assert code == 0, err
    assert np.array_equal(np.load(tmp_path / "new.npz")["x"], np.load(tmp_path / "old.npz")["x"])
    page = write_report(old).read_text()
    assert "task edges" in page and "the pix2pix system" in page and page.count("<figcaption>step ") == 2
