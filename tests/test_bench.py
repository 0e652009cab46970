"""gankit bench: FLOPs per step against the closed form of a tiny MLP GAN, the reported ratios, the CLI."""

import json
import math

import pytest
import torch

from gankit.bench import matmul_peak, step_flops
from gankit.config import apply_overrides, load_preset
from helpers import run_cli as run

B, Z, H, DIM = 4, 3, 5, 2  # batch, z_dim, hidden width, data dimension (ring8 is 2-D)
TINY = [f"z_dim={Z}", f"G.hidden=[{H}]", f"D.hidden=[{H}]", f"train.batch={B}", "data.toy_n=100"]


def closed_form(d_steps: int) -> int:
    """Matmul FLOPs (2 per multiply-add) of one step of G: z -> H -> DIM and D: DIM -> H -> 1, two D passes.

    A linear layer on B rows costs 2 B in out forward; backward costs the same again for the weight
    gradient and again for the input gradient, each only when something needs it.
    """
    g_fwd = 2 * B * (Z * H + H * DIM)
    d_fwd = 2 * B * (DIM * H + H * 1)
    # D update: G forward without gradients, D forward on real and on fake, and D backward for both:
    # the last layer needs weight and input gradients, the first only its weight gradient (x needs none).
    d_update = g_fwd + 2 * d_fwd + 2 * (2 * (2 * B * H * 1) + 2 * B * DIM * H)
    # G update: G and D forward; D backward gives input gradients only (D is frozen); G backward: the last
    # layer weight and input gradients, the first layer its weight gradient (z needs none).
    g_update = g_fwd + d_fwd + (2 * B * H + 2 * B * DIM * H) + (2 * (2 * B * H * DIM) + 2 * B * Z * H)
    return d_steps * d_update + g_update


@pytest.mark.parametrize("d_steps", [1, 3])
def test_flops_per_step_match_the_closed_form(d_steps):
    cfg = apply_overrides(load_preset("ring8-vanilla"), TINY + [f"train.d_steps={d_steps}"])
    assert step_flops(cfg) == closed_form(d_steps)


def test_flops_of_a_step_with_a_gradient_penalty_are_counted():
    # R1 takes D's input gradient with torch.autograd.grad inside the step. Through a convolutional D, as in the
    # quick and dcgan-mnist presets, PyTorch's FlopCounterMode raised there (its module tracker's hooks), which
    # broke `gankit bench` on those presets with a traceback.
    conv = apply_overrides(load_preset("dcgan-mnist"), ["G.base_channels=4", "D.base_channels=4", "z_dim=4",
                                                        "train.batch=4", "train.grid=4", "loss.reg_every=1",
                                                        "train.threads=1"])
    no_r1 = apply_overrides(conv, ["loss.r1_gamma=0"])
    # R1 adds D's forward on the real batch's graph, its input gradient and the backward through that gradient.
    assert 0 < step_flops(no_r1) < step_flops(conv) < 4 * step_flops(no_r1)


def test_flops_scale_with_the_batch():
    base = apply_overrides(load_preset("ring8-vanilla"), TINY)
    double = apply_overrides(base, [f"train.batch={2 * B}"])
    assert step_flops(double) == 2 * step_flops(base)


def test_matmul_peak_is_a_positive_rate():
    assert 1e6 < matmul_peak(torch.float32, n=128, seconds=0.02) < 1e15


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_matmul_peak_on_a_gpu_is_the_gpus():
    """On a GPU the peak is timed there (synchronised), not on the CPU: bench compared GPU steps with the CPU's peak."""
    gpu = matmul_peak(torch.bfloat16, seconds=0.2, device="cuda")
    assert gpu > 10 * matmul_peak(torch.bfloat16, n=512, seconds=0.05, device="cpu") and gpu < 1e16


def test_cli_json_is_consistent(capsys):
    args = ["bench", "--preset", "ring8-vanilla", "--steps", "3", "--warmup", "2", "--json", "--set", "data.toy_n=500",
            "--set", "train.batch=16"]
    code, out, err = run(args, capsys)
    assert code == 0, err
    assert "bench: " in err and "%|" in err  # the progress bar goes to stderr; stdout is the JSON object alone
    r = json.loads(out)
    for key in ("samples_per_s", "flops_per_s", "peak_share", "flops_per_step", "step_seconds", "peak_flops_fp32",
                "peak_flops_bf16"):
        assert math.isfinite(r[key]) and r[key] > 0, key
    assert math.isclose(r["samples_per_s"], 16 / r["step_seconds"], rel_tol=1e-9)
    assert math.isclose(r["flops_per_s"], r["flops_per_step"] / r["step_seconds"], rel_tol=1e-9)
    assert math.isclose(r["peak_share_fp32"], r["flops_per_s"] / r["peak_flops_fp32"], rel_tol=1e-9)
    assert math.isclose(r["peak_share_bf16"], r["flops_per_s"] / r["peak_flops_bf16"], rel_tol=1e-9)
    assert r["peak_share"] == r[f"peak_share_{r['precision']}"]  # the share of the peak of the precision that ran
    assert r["device"] == (torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu")
    assert r["batch"] == 16 and r["preset"] == "ring8-vanilla"


def test_cli_precision_switch_reaches_the_result(capsys):
    args = ["bench", "--preset", "ring8-vanilla", "--steps", "2", "--warmup", "1", "--json", "--set", "data.toy_n=500",
            "--set", "train.batch=16", "--precision", "bf16", "--quiet"]
    code, out, err = run(args, capsys)
    assert code == 0 and err == "", err  # --quiet: no progress bar
    r = json.loads(out)
    assert r["precision"] == "bf16" and r["peak_share"] == r["peak_share_bf16"]


@pytest.mark.parametrize("args,fragment", [
    (["bench", "--steps", "0"], "must be positive"),
    (["bench", "--preset", "nosuch"], "unknown preset"),
    (["bench", "--set", "train.batch=0"], "'train.batch' must be a positive integer"),
])
def test_cli_bad_input_is_one_line_and_exit_2(args, fragment, capsys):
    code, _, err = run(args, capsys)
    assert code == 2
    assert fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err


# --- time to a quality: gankit bench --until-fid ---------------------------------------------------------------
DIGITS = ["data.name=digits", "G.hidden=[32]", "D.hidden=[32]", "z_dim=8", "train.batch=32", "train.threads=1"]


def test_time_to_fid_segments_are_the_unbroken_run_and_stop_at_the_target(tmp_path):
    from gankit.bench import time_to_fid
    from gankit.evaluate import evaluate
    from gankit.train import train

    cfg = apply_overrides(load_preset("quick-mlp"), DIGITS)
    rows = []
    res = time_to_fid(cfg, target=1e-9, every=3, n=200, max_steps=6, out=str(tmp_path / "seg"), log=rows.append)
    assert not res["reached"] and res["seconds"] is None and res["steps"] is None  # FID 1e-9 is out of reach
    assert [r["steps"] for r in res["rows"]] == [3, 6] and rows == res["rows"]
    assert 0 < res["rows"][0]["seconds"] < res["rows"][1]["seconds"]  # training seconds, summed over segments
    assert res["best_fid"] == min(r["fid"] for r in res["rows"])
    # Two segments of 3 steps are the run of 6 steps: the same G_ema, so the same FID to the last bit.
    whole = train(apply_overrides(cfg, ["train.steps=6"]), out=tmp_path / "whole", progress=False, report=False)
    direct = evaluate(whole.run_dir, metrics="fid", n=200, seed=0, features="digits", record=False)["fid"]["value"]
    assert res["rows"][1]["fid"] == direct

    easy = time_to_fid(cfg, target=res["rows"][0]["fid"] + 1e-6, every=3, n=200, max_steps=6)
    assert easy["reached"] and easy["steps"] == 3 and len(easy["rows"]) == 1  # it stops at the first FID <= target
    assert easy["seconds"] == easy["rows"][0]["seconds"] and easy["run_dir"] is None


def test_cli_until_fid_prints_the_seconds(capsys):
    args = ["bench", "--preset", "quick-mlp", "--until-fid", "1e6", "--every", "2", "-n", "100", "--json", "--quiet",
            *[a for kv in DIGITS for a in ("--set", kv)]]
    code, out, err = run(args, capsys)
    assert code == 0 and err == "", err
    r = json.loads(out)
    assert r["reached"] and r["steps"] == 2 and r["seconds"] > 0 and r["target"] == 1e6


@pytest.mark.parametrize("args,fragment", [
    (["bench", "--until-fid", "0"], "must be positive"),
    (["bench", "--until-fid", "10", "--every", "0"], "must be positive"),
    (["bench", "--preset", "ring8-vanilla", "--until-fid", "10"], "reads images"),
    (["bench", "--preset", "pix2pix-edges", "--until-fid", "10"], "image-to-image"),
])
def test_cli_until_fid_bad_input_is_one_line_and_exit_2(args, fragment, capsys):
    code, _, err = run(args, capsys)
    assert code == 2 and fragment in err and len(err.strip().splitlines()) == 1 and "Traceback" not in err, err


def test_ctrl_c_during_until_fid_ends_with_the_figures_so_far_and_exit_130():
    import os
    import signal
    import subprocess
    import sys

    args = [sys.executable, "-m", "gankit", "bench", "--preset", "quick-mlp", "--until-fid", "1e-9", "--every", "20",
            "-n", "100", *[a for kv in DIGITS + ["train.steps=100000"] for a in ("--set", kv)]]
    # SIGINT as a terminal delivers it, also where this suite runs as a background job (which starts children with
    # SIGINT ignored, so a signal between segments would be dropped, not turned into "aborted")
    p = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                         env={**os.environ, "PYTHONUNBUFFERED": "1"},
                         preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    lines = []
    while not any(line.startswith("  step") for line in lines):  # the first evaluation's row: a segment runs next
        line = p.stderr.readline()
        assert line, "".join(lines)
        lines.append(line)
    p.send_signal(signal.SIGINT)
    out, err = p.communicate(timeout=120)
    err = "".join(lines) + err
    assert p.returncode == 130 and "Traceback" not in err, err
    # Inside a segment, training stops at a step and the figures so far are printed; inside an evaluation,
    # the process is aborted in one line. Either way nothing is half-reported.
    assert ("interrupted" in err and "not reached" in out) or "aborted" in err, (out, err)
