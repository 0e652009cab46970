"""The shared parts of the image-to-image systems (gankit.systems.i2i, gankit.data.tasks): config, data,
history buffer, tiles, metrics, and their runs through the engine."""

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.models.i2i import PatchDiscriminator, ResnetGenerator, UNet
from gankit.data.tasks import Batches, TaskData, load_folders
from gankit.metrics.translation import psnr_ssim
from gankit.systems.i2i import (DEFAULT_PRESETS, TranslationSystem, as_run_config, config_for, dotted_overrides,
                                flat_config, parse_overrides, tile_columns)
from gankit.training.sampler import ImageHistory
from tests.helpers import user_error


# ----------------------------------------------------------------------------------------------
# Config: the one run config, its image-to-image sections, and gankit 0.1's flat keys.


def test_parse_overrides_reads_json_and_plain_strings():
    assert parse_overrides(["lr=1e-3", "task=edges", "n_train=64", 'data_a="x y"', "flag=true"]) == {
        "lr": 1e-3, "task": "edges", "n_train": 64, "data_a": "x y", "flag": True}
    user_error(lambda: parse_overrides(["lr"]), "bad --set 'lr'", "KEY=VALUE")


def test_flat_keys_of_gankit_01_map_to_the_sections():
    assert dotted_overrides("pix2pix", {"lambda_l1": 10, "steps": 5, "lr": 1e-3, "task.size": 32}) == [
        "pix2pix.lambda_l1=10", "train.steps=5", "optim.lr_g=0.001", "optim.lr_d=0.001", "task.size=32"]
    cfg = config_for("pix2pix", {"lr": 1, "steps": 7, "n_train": 64, "snapshot_every": 9})
    assert cfg.optim.lr_g == 1.0 and isinstance(cfg.optim.lr_d, float) and cfg.train.steps == 7
    assert cfg.task.n_train == 64 and cfg.train.snapshot_every == cfg.train.ckpt_every == 9
    # --set strings, dotted or flat, reach the same config
    assert config_for("pix2pix", ["train.steps=7", "lambda_l1=3"]) == config_for("pix2pix", {"steps": 7,
                                                                                             "lambda_l1": 3})


def test_the_config_parser_refuses_with_one_line_and_a_suggestion():
    user_error(lambda: config_for("pix2pix", {"stepz": 3}), "unknown config key 'pix2pix.stepz'")
    user_error(lambda: config_for("pix2pix", {"lambda": 3}), "did you mean pix2pix.lambda_l1")
    user_error(lambda: config_for("pix2pix", {"steps": 2.5}), "'train.steps' expects int")
    user_error(lambda: config_for("pix2pix", {"batch": 0}), "'train.batch' must be a positive integer")
    user_error(lambda: config_for("pix2pix", {"lr": -1.0}), "'optim.lr_g' must be > 0")
    user_error(lambda: config_for("pix2pix", ["cyclegan.history=3"]), "read only by model=cyclegan")
    user_error(lambda: config_for("pix2pix", ["D.arch=dcgan"]), "'D.arch' is read only by model=gan")
    user_error(lambda: config_for("pix2pix", ["train.d_steps=2"]), "not yet for the image-to-image")
    user_error(lambda: config_for("quick-mlp"), "trains model=gan", "gankit train --preset quick")
    user_error(lambda: config_for("pix2pix", ["model=cyclegan"]), "cannot change 'pix2pix' to 'cyclegan'")


def test_every_image_to_image_preset_is_a_json_file_naming_its_system():
    from gankit.config import I2I_SYSTEMS, list_presets, load_preset
    from gankit.presets import __file__ as presets_init

    from pathlib import Path

    folder = Path(presets_init).parent
    i2i = {n: load_preset(n) for n in list_presets() if load_preset(n).model in I2I_SYSTEMS}
    assert {c.model for c in i2i.values()} == set(I2I_SYSTEMS) and len(i2i) == 9
    for name, cfg in i2i.items():
        assert json.loads((folder / f"{name}.json").read_text())["model"] == cfg.model
        assert cfg.description and config_for(name) == cfg  # each preset passes its own checks
    for system, preset in DEFAULT_PRESETS.items():
        assert i2i[preset].model == system


def test_the_flat_view_and_old_flat_configs_round_trip():
    cfg = config_for("srgan-x2", {"warmup": 10, "batch": 4, "ckpt_every": 7})
    flat = flat_config(cfg)
    assert flat["warmup"] == 10 and flat["batch"] == 4 and flat["lr"] == 5e-4 and flat["task"] == "digits-x2"
    assert as_run_config(flat) == cfg
    old = {k: v for k, v in flat.items() if k not in ("lr_d", "ckpt_every")}  # a gankit 0.1 translate config
    assert as_run_config(old).train.ckpt_every == old["snapshot_every"]


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
    A, B, C = (str(tmp_path / n) for n in "ABC")
    d = load_folders(A, B, 0, paired=True)
    # Pixel p on side A belongs to 255 - p on side B: in [-1, 1] that is b == -a.
    assert torch.allclose(d.b, -d.a, atol=1e-6) and d.a[:, 0, 0, 0].unique().numel() == 3
    _write_pngs(tmp_path / "C", ["a.png", "b.png", "z.png"], lambda n: 0)
    user_error(lambda: load_folders(A, C, 0, paired=True), "same file names", "c.png", "z.png")
    assert len(load_folders(A, C, 0, paired=False).b) == 3  # unpaired sides need not match
    user_error(lambda: load_folders(A, "", 0, paired=False), "needs both task.data_a and task.data_b")
    user_error(lambda: load_folders(A, str(tmp_path / "missing"), 0, paired=False), "no such file or folder")


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
# The engine, with a small real system: a U-Net fitted by L1 to a fixed pixel map.


class _L1Net(TranslationSystem):
    name = "l1net"

    def __init__(self, cfg, shape_a, shape_b, device):
        super().__init__(cfg, shape_a, shape_b, device)
        self.nets = {"G": UNet(shape_a[0], shape_b[0], base=self.cfg["g_base"], depth=2).to(device)}
        self.optims = {"G": self.adam(self.nets["G"])}

    def update(self, step, batch):
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
    cfg = config_for("pix2pix", {"steps": steps, "batch": 8, "log_every": 5, "snapshot_every": 10, "lr": 1e-2,
                                 "g_base": 4})
    return cfg, data


def _fit(cfg, data, run_dir, state=None):
    """The engine's fit over an _L1Net, as gankit.train runs an image-to-image system."""
    from gankit.training.loop import Cadence, fit

    system = _L1Net(cfg, data.shape_a, data.shape_b, torch.device("cpu")).bind(data)
    step = system.load_state(state) if state is not None else 0
    t = cfg.train
    r = fit(system, run_dir, Cadence(t.steps, t.log_every, t.snapshot_every, t.ckpt_every), step=step,
            progress=False, hint=system.hint)
    return r, system


def test_fit_writes_a_run_learns_and_resumes_bitwise(tmp_path):
    from gankit.checkpoint import load_checkpoint

    cfg, data = _l1_setup(30)
    (tmp_path / "whole").mkdir()
    torch.manual_seed(1)
    whole, whole_system = _fit(cfg, data, tmp_path / "whole")
    rows = [json.loads(line) for line in (whole.run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == list(range(1, 31))
    assert np.mean([r["l1"] for r in rows[-5:]]) < 0.8 * np.mean([r["l1"] for r in rows[:5]])  # it learns
    names = {p.name for p in whole.run_dir.iterdir()}
    assert {"samples.png", "samples-000010.png", "samples-000030.png", "checkpoint.pt"} <= names
    state = load_checkpoint(whole.run_dir)
    assert state["system"] == "l1net" and state["step"] == 30 and state["config"]["pix2pix"]["g_base"] == 4
    assert set(state) >= {"format", "version", "system", "config", "nets", "optims", "step", "rng", "extra"}

    # 20 steps, then 10 more from the checkpoint, equals 30 in one go.
    (tmp_path / "split").mkdir()
    torch.manual_seed(1)
    _fit(config_for("pix2pix", {**flat_config(cfg), "steps": 20}), data, tmp_path / "split")
    _, resumed = _fit(cfg, data, tmp_path / "split", state=load_checkpoint(tmp_path / "split"))
    for k, v in whole_system.nets["G"].state_dict().items():
        assert torch.equal(v, resumed.nets["G"].state_dict()[k]), k
    assert (tmp_path / "split" / "stats.jsonl").read_text() == (whole.run_dir / "stats.jsonl").read_text()


def test_fit_stops_on_nan_and_keeps_the_last_checkpoint(tmp_path):
    from gankit.errors import TrainingDiverged

    cfg, data = _l1_setup(30)
    data.a[5:] = float("nan")  # batches soon draw NaN inputs
    with pytest.raises(TrainingDiverged, match="became NaN or infinite"):
        _fit(cfg, data, tmp_path)


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
    assert 5 <= state["step"] < 100000 and state["system"] == "pix2pix"
    assert len(stats.read_text().splitlines()) == state["step"]  # every step up to the checkpoint is logged


def test_a_translation_run_is_a_function_of_its_seed(tmp_path):
    """The engine's image-to-image runs seed initialisation, dropout and batches from train.seed, as 0.1 did."""
    from gankit.translate import train_translation

    tiny = {"g_base": 4, "d_base": 4, "g_depth": 2, "n_train": 32, "batch": 4, "threads": 1, "steps": 3}
    nets = [train_translation("pix2pix", {**tiny, "seed": s}, out=tmp_path / str(i), progress=False).system.nets
            for i, s in enumerate((0, 0, 1))]
    same = [all(torch.equal(v, nets[j]["G"].state_dict()[k]) for k, v in nets[0]["G"].state_dict().items())
            for j in (1, 2)]
    assert same == [True, False]


TINY_I2I = ["g_base=4", "d_base=4", "g_depth=2", "n_train=32", "batch=4", "threads=1"]


def _pix2pix(out, steps, *more, resume=None):
    from gankit.translate import train_translation

    if resume is not None:
        return train_translation(resume=resume, steps=steps, progress=False)
    return train_translation("pix2pix", TINY_I2I + [f"steps={steps}", *more], out=out, progress=False)


def test_bf16_and_a_moving_average_train_resume_bitwise_and_keep_weights_in_fp32(tmp_path):
    """train.precision=bf16 (emulated where bf16 is not native) and train.ema on pix2pix: weights and optimizer
    moments stay fp32, the forward passes run in bf16 (the weights move differently from fp32, but not far), and
    2 + 2 steps from the checkpoint equal 4 in one go, moving average included."""
    from gankit.checkpoint import load_checkpoint

    whole = _pix2pix(tmp_path / "w", 4, "train.precision=bf16", "train.ema=0.5").system
    assert whole.precision == "bf16" and set(whole.ema) == {"G"}
    assert all(p.dtype == torch.float32 for net in whole.nets.values() for p in net.parameters())
    assert all(v.dtype == torch.float32 for o in whole.optims.values() for st in o.state.values()
               for v in st.values() if torch.is_tensor(v) and v.dim() > 0)
    fp32 = _pix2pix(tmp_path / "f", 4, "train.precision=fp32").system
    w_bf, w_fp = whole.nets["G"].state_dict(), fp32.nets["G"].state_dict()
    gaps = [float((w_bf[k] - w_fp[k]).abs().max()) for k in w_fp if w_fp[k].is_floating_point()]
    assert 0 < max(gaps) < 0.05, max(gaps)  # bf16 rounding changes the updates a little (Adam steps are ~1e-3)
    half = _pix2pix(tmp_path / "h", 2, "train.precision=bf16", "train.ema=0.5")
    state = load_checkpoint(half.run_dir)
    assert state["extra"]["precision"] == "bf16" and set(state["extra"]["ema"]) == {"G"}
    resumed = _pix2pix(None, 4, resume=half.run_dir).system
    for part in ("nets", "ema"):
        a = getattr(whole, part)["G"].state_dict()
        b = getattr(resumed, part)["G"].state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a), part


def test_the_moving_average_follows_its_recurrence_and_is_what_translates(tmp_path):
    """G_ema after step 2 = beta_1 * G_ema after step 1 + (1 - beta_1) * G after step 2 (beta from
    systems.gan.ema_beta), and previews and `translate apply` use the average, not the live G."""
    from gankit.systems.gan import ema_beta
    from gankit.translate import load_translator

    one = _pix2pix(tmp_path / "1", 1, "train.ema=0.9").system
    two = _pix2pix(tmp_path / "2", 2, "train.ema=0.9").system
    beta = ema_beta(1, 4, 0.9)
    avg1, avg2, live2 = one.ema["G"].state_dict(), two.ema["G"].state_dict(), two.nets["G"].state_dict()
    for k, v in avg2.items():
        if v.is_floating_point() and "running" not in k:
            torch.testing.assert_close(v, beta * avg1[k] + (1 - beta) * live2[k], rtol=1e-6, atol=1e-7)
    x = two.preview_data.a[:4]
    with torch.no_grad():
        two.ema["G"].eval()
        want = two.ema["G"](x)
    assert torch.equal(two.translate_batched(x), want)
    assert not torch.equal(two.nets["G"].eval()(x), want)  # the live G is another net
    loaded = load_translator(two.run_dir if hasattr(two, "run_dir") else tmp_path / "2" / "00000-pix2pix-edges")
    assert torch.equal(loaded.translate_batched(x), want)


def test_compile_wraps_every_net_and_keeps_the_checkpoint_keys(tmp_path):
    """train.compile=true compiles each net in place (nn.Module.compile); the compile itself happens at the first
    step, ~37 s for this tiny pix2pix on 2 cores, so the suite checks the wiring, not a compiled run."""
    from gankit.config import apply_overrides
    from gankit.systems.i2i import build, config_for

    cfg = apply_overrides(config_for("pix2pix", TINY_I2I + ["steps=1"]), ["train.compile=true"])
    system = build(cfg, torch.device("cpu"))
    assert system.nets and all(net._compiled_call_impl is not None for net in system.nets.values())
    plain = build(config_for("pix2pix", TINY_I2I + ["steps=1"]), torch.device("cpu"))
    assert all(net._compiled_call_impl is None for net in plain.nets.values())
    assert {k: list(v.state_dict()) for k, v in system.nets.items()} == \
        {k: list(v.state_dict()) for k, v in plain.nets.items()}
