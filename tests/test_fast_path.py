"""The fast-path switches: bf16 autocast, torch.compile, channels_last, fused optimizers; each must not change what
is trained."""

import pytest
import torch

from gankit.config import apply_overrides, load_preset
from gankit.train import make_optimizer, native_bf16, resolve_precision, train
from tests.helpers import user_error

RING = ["train.steps=3", "data.toy_n=500", "train.batch=32", "train.log_every=1", "train.snapshot_every=3"]
DCGAN = ["train.steps=2", "train.batch=8", "train.grid=4", "train.log_every=1", "G.base_channels=8",
         "D.base_channels=8"]


def max_gap(a: torch.nn.Module, b: torch.nn.Module) -> float:
    sa, sb = a.state_dict(), b.state_dict()
    return max((sa[k].float() - sb[k].float()).abs().max().item() for k in sa)


def test_auto_precision_is_bf16_only_where_the_hardware_has_it():
    from gankit.training import runtime

    cpu = torch.device("cpu")
    assert resolve_precision("auto", cpu) == ("bf16" if runtime.native_bf16(cpu) else "fp32")
    assert resolve_precision("fp32", cpu) == "fp32" and resolve_precision("bf16", cpu) == "bf16"
    flags = open("/proc/cpuinfo").read().split()
    assert native_bf16(cpu) == ("amx_bf16" in flags or "avx512_bf16" in flags)  # the detection itself, never pretended


def test_precision_must_be_a_known_choice():
    user_error(lambda: apply_overrides(load_preset("ring8"), ["train.precision=fp16"]),
               "'train.precision' must be one of auto, fp32, bf16")


@pytest.mark.parametrize("preset,extra", [("ring8", RING), ("dcgan-mnist", DCGAN), ("wgan-gp-mnist", DCGAN)])
def test_bf16_runs_its_matmuls_in_bf16_and_trains_close_to_fp32(tmp_path, preset, extra):
    seen = []
    hook = torch.nn.modules.module.register_module_forward_hook(
        lambda m, args, out: seen.append(out.dtype) if m.training and isinstance(out, torch.Tensor)
        and isinstance(m, (torch.nn.Linear, torch.nn.Conv2d, torch.nn.ConvTranspose2d)) else None)
    try:
        bf16 = train(apply_overrides(load_preset(preset), extra + ["train.precision=bf16"]), out=tmp_path / "bf16",
                     progress=False)
    finally:
        hook.remove()
    # every linear / convolution of training (not G_ema's grid) ran in bf16
    assert seen and all(dt == torch.bfloat16 for dt in seen)
    fp32 = train(apply_overrides(load_preset(preset), extra + ["train.precision=fp32"]), out=tmp_path / "fp32",
                 progress=False)
    for net in ("G", "D"):
        assert all(p.dtype == torch.float32 for p in getattr(bf16, net).parameters())  # weights stay fp32
    # A few Adam steps move each weight by about lr per step; bf16 rounding changes the steps a
    # little but not the direction of most, so the nets stay within a few steps' size of fp32's.
    lr = load_preset(preset).optim.lr_g
    gap = max(max_gap(bf16.G, fp32.G), max_gap(bf16.D, fp32.D))
    assert 0 < gap < 2.5 * lr * bf16.step * load_preset(preset).train.d_steps


def test_compiled_training_matches_eager(tmp_path):
    eager = train(apply_overrides(load_preset("ring8"), RING + ["train.precision=fp32"]), out=tmp_path / "e",
                  progress=False)
    comp = train(apply_overrides(load_preset("ring8"), RING + ["train.precision=fp32", "train.compile=true"]),
                 out=tmp_path / "c", progress=False)
    assert max(max_gap(eager.G, comp.G), max_gap(eager.D, comp.D)) < 1e-5
    assert comp.checkpoint.exists()


@pytest.mark.parametrize("arch", ["dcgan", "resnet"])
def test_channels_last_changes_the_layout_not_the_result(tmp_path, arch):
    # On the CPU: on a GPU cuDNN picks other (TF32, by PyTorch's default) kernels per layout, and the
    # training steps amplify their differences past this tolerance (seen on an H100: 8e-4).
    nets = [] if arch == "dcgan" else ["G.arch=resnet", "D.arch=resnet", "G.base_channels=16", "D.base_channels=16"]
    runs = {}
    for flag in ("true", "false"):
        runs[flag] = train(apply_overrides(load_preset("dcgan-mnist"),
                                           DCGAN + nets + ["train.device=cpu", "train.precision=fp32",
                                                           f"train.channels_last={flag}"]),
                           out=tmp_path / flag, progress=False)
    for flag, want in (("true", True), ("false", False)):
        # (a 1-channel or a 1x1 kernel is contiguous in both layouts, so only the others can tell)
        convs = [m for m in runs[flag].D.modules() if isinstance(m, torch.nn.Conv2d) and m.weight.shape[1] > 1
                 and m.kernel_size != (1, 1)]
        assert convs and all(m.weight.is_contiguous(memory_format=torch.channels_last) == want for m in convs)
    assert max(max_gap(runs["true"].G, runs["false"].G), max_gap(runs["true"].D, runs["false"].D)) < 1e-4


@pytest.mark.parametrize("name,cls", [("adam", torch.optim.Adam), ("sgd", torch.optim.SGD)])
def test_adam_and_sgd_use_the_fused_kernels_and_match_the_reference_update(name, cls):
    cfg = apply_overrides(load_preset("ring8"), [f"optim.name={name}"])
    torch.manual_seed(0)
    w = torch.randn(300, requires_grad=True)
    w_ref = w.detach().clone().requires_grad_(True)
    opt = make_optimizer(cfg, [w], 1e-2)
    assert opt.param_groups[0]["fused"] is True
    kwargs = {"betas": (cfg.optim.beta1, cfg.optim.beta2)} if name == "adam" else {"momentum": cfg.optim.momentum}
    ref = cls([w_ref], lr=1e-2, foreach=False, **kwargs)  # the plain per-parameter loop
    for step in range(5):
        g = torch.randn(300)
        w.grad, w_ref.grad = g.clone(), g.clone()
        opt.step()
        ref.step()
    assert torch.allclose(w, w_ref, rtol=1e-5, atol=1e-7)
