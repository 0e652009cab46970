"""The shared parts of gankit.translate: config, data, history buffer, tiles, metrics, the loop."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.models.i2i import PatchDiscriminator, ResnetGenerator, UNet
from gankit.translate.common import (COMMON, Batches, ImageHistory, TaskData, TranslationSystem, fit, load_folders,
                                     merge_config, parse_overrides, psnr_ssim, tile_columns)
from tests.helpers import user_error


# ----------------------------------------------------------------------------------------------
# Config.


def test_parse_overrides_reads_json_and_plain_strings():
    assert parse_overrides(["lr=1e-3", "task=edges", "n_train=64", 'data_a="x y"', "flag=true"]) == {
        "lr": 1e-3, "task": "edges", "n_train": 64, "data_a": "x y", "flag": True}
    user_error(lambda: parse_overrides(["lr"]), "bad --set 'lr'", "KEY=VALUE")


def test_merge_config_keeps_types_and_refuses_unknown_keys():
    cfg = merge_config(COMMON, {"lr": 1, "steps": 7})
    assert cfg["lr"] == 1.0 and isinstance(cfg["lr"], float) and cfg["steps"] == 7
    user_error(lambda: merge_config(COMMON, {"stepz": 3}), "unknown config key 'stepz'", "steps")
    user_error(lambda: merge_config(COMMON, {"steps": 2.5}), "'steps' must be int")
    user_error(lambda: merge_config(COMMON, {"steps": True}), "'steps' must be int")
    user_error(lambda: merge_config(COMMON, {"batch": 0}), "'batch' must be at least 1")
    user_error(lambda: merge_config(COMMON, {"lr": -1.0}), "'lr' must be positive")


# ----------------------------------------------------------------------------------------------
# Data.


def test_task_data_checks_shapes_and_pairing():
    a = torch.zeros(4, 1, 8, 8)
    user_error(lambda: TaskData(a, torch.zeros(3, 1, 8, 8), paired=True), "as many A as B", "4 and 3")
    user_error(lambda: TaskData(torch.zeros(4, 64), a, paired=False), "must be images")
    d = TaskData(a, torch.zeros(3, 3, 16, 16), paired=False, y_a=torch.arange(4))
    assert d.shape_a == (1, 8, 8) and d.shape_b == (3, 16, 16)
    h = d.head(2)
    assert len(h.a) == 2 and len(h.b) == 2 and h.y_a.tolist() == [0, 1] and h.info["n_train"] == 2


def test_batches_pair_indices_only_for_paired_data():
    a = torch.arange(50.0).view(50, 1, 1, 1)
    paired = Batches(TaskData(a, a + 1000, paired=True), batch=64, seed=0).next()
    assert torch.equal(paired["b"], paired["a"] + 1000)  # the same index on both sides
    unpaired = Batches(TaskData(a, a + 1000, paired=False), batch=64, seed=0).next()
    assert not torch.equal(unpaired["b"], unpaired["a"] + 1000)
    again = Batches(TaskData(a, a + 1000, paired=False), batch=64, seed=0).next()
    assert torch.equal(unpaired["a"], again["a"]) and torch.equal(unpaired["b"], again["b"])  # seeded


def _write_pngs(folder, names, value_of):
    folder.mkdir()
    for n in names:
        Image.fromarray(np.full((6, 6), value_of(n), dtype=np.uint8)).save(folder / n)


def test_load_folders_matches_paired_files_by_name(tmp_path):
    names = ["c.png", "a.png", "b.png"]
    value = {"a.png": 0, "b.png": 100, "c.png": 200}
    _write_pngs(tmp_path / "A", names, value.get)
    _write_pngs(tmp_path / "B", list(reversed(names)), lambda n: 255 - value[n])
    cfg = dict(COMMON, data_a=str(tmp_path / "A"), data_b=str(tmp_path / "B"))
    d = load_folders(cfg, paired=True)
    # Pixel p on side A belongs to 255 - p on side B: in [-1, 1] that is b == -a.
    assert torch.allclose(d.b, -d.a, atol=1e-6) and d.a[:, 0, 0, 0].unique().numel() == 3
    _write_pngs(tmp_path / "C", ["a.png", "b.png", "z.png"], lambda n: 0)
    cfg["data_b"] = str(tmp_path / "C")
    user_error(lambda: load_folders(cfg, paired=True), "same file names", "c.png", "z.png")
    assert len(load_folders(cfg, paired=False).b) == 3  # unpaired sides need not match
    cfg["data_b"] = ""
    user_error(lambda: load_folders(cfg, paired=False), "needs both data_a and data_b")
    cfg["data_b"] = str(tmp_path / "missing")
    user_error(lambda: load_folders(cfg, paired=False), "no such file or folder")


# ----------------------------------------------------------------------------------------------
# The history buffer.


def _const(value, n=3):
    return torch.full((n, 1, 2, 2), float(value))


def test_history_fills_then_returns_only_images_it_was_given():
    pool = ImageHistory(size=4, seed=0)
    assert torch.equal(pool.query(_const(1)), _const(1)) and len(pool) == 3
    assert torch.equal(pool.query(_const(2)), _const(2)) and len(pool) == 4  # filled; the last 2 was not stored
    seen = {1.0, 2.0}
    mixed = 0
    for v in range(3, 40):
        out = pool.query(_const(v))
        vals = set(out[:, 0, 0, 0].tolist())
        assert vals <= seen | {float(v)}  # never an image it was not given
        mixed += len(vals) > 1 or vals != {float(v)}
        seen |= set(pool.images[:, 0, 0, 0].tolist())
        assert len(pool) == 4
    assert mixed > 10  # old images do come back (probability 1/2 per position)


def test_history_half_rule_takes_half_the_batch_from_the_pool():
    pool = ImageHistory(size=8, seed=1)
    pool.query(_const(-1, n=8))  # fill with -1
    out = pool.query(_const(5, n=8), half=True)
    assert (out[:, 0, 0, 0] == -1).sum() == 4 and (out[:, 0, 0, 0] == 5).sum() == 4
    assert (pool.images[:, 0, 0, 0] == 5).sum() >= 1  # new images replaced some old ones
    assert torch.equal(ImageHistory(0).query(_const(3)), _const(3))  # size 0: off


def test_history_state_round_trip():
    pool = ImageHistory(size=4, seed=2)
    for v in range(6):
        pool.query(_const(v))
    copy = ImageHistory(size=4, seed=99)
    copy.load_state_dict(pool.state_dict())
    assert torch.equal(pool.query(_const(7)), copy.query(_const(7)))


# ----------------------------------------------------------------------------------------------
# Nets, tiles and metrics.


def test_i2i_nets_keep_sizes_that_are_not_powers_of_two():
    assert UNet(1, 3, base=4, depth=3)(torch.zeros(2, 1, 28, 28)).shape == (2, 3, 28, 28)  # 28 pads to 32
    assert ResnetGenerator(3, 3, base=4, n_down=2, n_blocks=1)(torch.zeros(2, 3, 28, 28)).shape == (2, 3, 28, 28)
    assert ResnetGenerator(1, 1, base=4, n_down=0, n_blocks=1, stem=3)(torch.zeros(1, 1, 13, 9)).shape == (1, 1, 13, 9)
    with pytest.raises(ValueError, match="divisible by 4"):
        ResnetGenerator(1, 1, base=4, n_down=2, n_blocks=1)(torch.zeros(1, 1, 30, 30))


@pytest.mark.parametrize("n_layers,field", [(1, 16), (2, 34), (3, 70)])
def test_patch_discriminator_receptive_field(n_layers, field):
    """The docstring's 16 / 34 / 70 pixels: the centre logit's gradient reaches exactly a field x field square."""
    torch.manual_seed(0)
    D = PatchDiscriminator(1, base=4, n_layers=n_layers, norm="none").double()
    x = torch.randn(1, 1, 96, 96, dtype=torch.float64, requires_grad=True)
    out = D(x)
    out[0, 0, out.shape[2] // 2, out.shape[3] // 2].backward()
    rows = x.grad[0, 0].abs().sum(1).nonzero().flatten()
    cols = x.grad[0, 0].abs().sum(0).nonzero().flatten()
    assert int(rows[-1] - rows[0] + 1) == field and int(cols[-1] - cols[0] + 1) == field


def test_tile_columns_brings_columns_to_one_size_and_colour():
    low = torch.zeros(2, 1, 7, 7)
    high = torch.ones(2, 3, 28, 28)
    tiles, cols = tile_columns([low, high])
    assert cols == 2 and tiles.shape == (4, 3, 28, 28)
    assert torch.equal(tiles[0], torch.zeros(3, 28, 28)) and torch.equal(tiles[1], torch.ones(3, 28, 28))


def test_psnr_ssim_match_closed_forms():
    target = torch.zeros(2, 1, 16, 16)
    pred = torch.full((2, 1, 16, 16), 0.2)  # in [0, 1] pixels: an error of 0.1 everywhere
    s = psnr_ssim(pred, target)
    assert s["psnr"] == pytest.approx(20.0, abs=1e-4)  # 10 log10(1 / 0.1^2)
    assert psnr_ssim(target + 0.3, target + 0.3)["ssim"] == pytest.approx(1.0, abs=1e-6)


# ----------------------------------------------------------------------------------------------
# The loop, with a small real system: a U-Net fitted by L1 to a fixed pixel map.


class _L1Net(TranslationSystem):
    name = "l1net"
    DEFAULTS = {"width": 4}

    def __init__(self, cfg, shape_a, shape_b, device):
        super().__init__(cfg, shape_a, shape_b, device)
        self.nets = {"G": UNet(shape_a[0], shape_b[0], base=cfg["width"], depth=2).to(device)}
        self.optims = {"G": self.adam(self.nets["G"])}

    def train_step(self, step, batch):
        loss = (self.nets["G"](batch["a"]) - batch["b"]).abs().mean()
        self.optims["G"].zero_grad()
        loss.backward()
        self.optims["G"].step()
        return {"l1": loss}

    def translate(self, x, direction="AtoB"):
        return self.nets["G"](x)


def _l1_setup(steps):
    torch.manual_seed(0)
    a = torch.rand(40, 1, 12, 12) * 2 - 1
    data = TaskData(a, -a, paired=True)
    cfg = merge_config({**COMMON, **_L1Net.DEFAULTS}, {"steps": steps, "batch": 8, "log_every": 5, "snapshot_every": 10,
                                                        "lr": 1e-2})
    return cfg, data


def test_fit_writes_a_run_learns_and_resumes_bitwise(tmp_path):
    from gankit.checkpoint import load_checkpoint

    cfg, data = _l1_setup(30)
    (tmp_path / "whole").mkdir()
    torch.manual_seed(1)
    whole = fit(_L1Net(cfg, data.shape_a, data.shape_b, torch.device("cpu")), data, tmp_path / "whole", progress=False)
    rows = [json.loads(line) for line in (whole.run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert np.mean([r["l1"] for r in rows[-5:]]) < 0.8 * np.mean([r["l1"] for r in rows[:5]])  # it learns
    names = {p.name for p in whole.run_dir.iterdir()}
    assert {"preview.png", "preview-000010.png", "preview-000030.png", "checkpoint.pt"} <= names
    state = load_checkpoint(whole.run_dir)
    assert state["kind"] == "translate" and state["step"] == 30 and state["config"]["width"] == 4

    # 20 steps, then 10 more from the checkpoint, equals 30 in one go.
    (tmp_path / "split").mkdir()
    cfg20 = dict(cfg, steps=20)
    torch.manual_seed(1)
    fit(_L1Net(cfg20, data.shape_a, data.shape_b, torch.device("cpu")), data, tmp_path / "split", progress=False)
    resumed = fit(_L1Net(cfg, data.shape_a, data.shape_b, torch.device("cpu")), data, tmp_path / "split",
                  state=load_checkpoint(tmp_path / "split"), progress=False)
    for k, v in whole.system.nets["G"].state_dict().items():
        assert torch.equal(v, resumed.system.nets["G"].state_dict()[k]), k
    assert (tmp_path / "split" / "stats.jsonl").read_text() == (whole.run_dir / "stats.jsonl").read_text()


def test_fit_stops_on_nan_and_keeps_the_last_checkpoint(tmp_path):
    from gankit.translate.common import TranslationDiverged

    cfg, data = _l1_setup(30)
    data.a[5:] = float("nan")  # batches soon draw NaN inputs
    with pytest.raises(TranslationDiverged, match="became NaN or infinite"):
        fit(_L1Net(cfg, data.shape_a, data.shape_b, torch.device("cpu")), data, tmp_path, progress=False)


def test_ctrl_c_stops_a_translate_run_with_its_checkpoint(tmp_path):
    """A real `gankit translate train` process gets SIGINT mid-run: exit 130, a checkpoint at the step reached,
    resumable."""
    import signal
    import subprocess
    import sys
    import time

    from gankit.checkpoint import load_checkpoint

    args = [sys.executable, "-m", "gankit", "translate", "train", "--system", "pix2pix", "--steps", "100000", "--quiet",
            "--out", str(tmp_path), "--set", "n_train=64", "--set", "batch=4", "--set", "threads=1",
            "--set", "log_every=1",
            "--set", "snapshot_every=100000", "--set", "g_base=4", "--set", "d_base=4"]
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    stats = None
    while time.time() < deadline and p.poll() is None:
        found = list(tmp_path.glob("*/stats.jsonl"))
        if found and len(found[0].read_text().splitlines()) >= 5:
            stats = found[0]
            break
        time.sleep(0.05)
    assert stats is not None, p.communicate(timeout=10)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    assert p.returncode == 130 and "Traceback" not in err, err
    assert "interrupted at step" in err and "gankit translate train --resume" in err
    state = load_checkpoint(stats.parent)
    assert 5 <= state["step"] < 100000 and state["kind"] == "translate"
    assert len(stats.read_text().splitlines()) == state["step"]  # every step up to the checkpoint is logged


def test_under_torchrun_a_translation_refuses_in_one_line(monkeypatch):
    from helpers import user_error

    from gankit.translate import train_translation

    monkeypatch.setenv("WORLD_SIZE", "2")  # what torchrun sets in each worker
    user_error(lambda: train_translation("pix2pix", {"steps": 1}, progress=False), "one process only",
               "without torchrun")
