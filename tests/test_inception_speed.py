"""The fast Inception path (BatchNorm folded, channels-last, bf16) and the cache of reference features.

The network has seeded random weights scaled to keep activations O(1) (conftest's ``scaled_inception``),
so its features are not FID's; what is tested is that the fast path computes the same function as the
plain network (fp32: to float rounding; bf16: to bf16's 8 mantissa bits), and that cached features are
exactly the computed ones and are found only for the same data, weights and precision.
"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from gankit.errors import UserError
from gankit.evaluate import evaluate
from gankit.features import cached_features, module_digest
from gankit.features.inception import load_inception
from gankit.features.inception_net import FEATURE_DIM


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    return torch.rand(3, 1, 28, 28, generator=torch.Generator().manual_seed(5)) * 2 - 1


@pytest.fixture(scope="module")
def plain_features(scaled_inception, images) -> torch.Tensor:
    return scaled_inception(images)


def _rel(a: torch.Tensor, b: torch.Tensor) -> float:
    return ((a - b).norm() / b.norm()).item()


def test_folded_fp32_is_the_same_function(scaled_inception, images, plain_features):
    fast = copy.deepcopy(scaled_inception).optimize_for_inference("fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    conv = fast.Mixed_6b.branch7x7_2.conv
    assert conv.bias is not None and conv.weight.is_contiguous(memory_format=torch.channels_last)
    out = fast(images)
    assert out.dtype == torch.float32 and out.shape == (3, FEATURE_DIM)
    # fp32 throughout: folding reorders one multiply-add per layer, so rounding only (measured ~1e-7)
    assert _rel(out, plain_features) < 1e-5
    assert fast.optimize_for_inference("fp32") is fast and _rel(fast(images), out) == 0.0  # folding twice: no-op


def test_bf16_runs_the_trunk_in_bf16_and_agrees_with_fp32(scaled_inception, images, plain_features):
    fast = copy.deepcopy(scaled_inception).optimize_for_inference("bf16")
    seen = {}
    def record(module, inputs, output):
        seen["dtype"] = output.dtype

    fast.Mixed_7c.branch1x1.conv.register_forward_hook(record)
    out = fast(images)
    assert seen["dtype"] == torch.bfloat16 and out.dtype == torch.float32
    # bf16 keeps 8 mantissa bits (relative rounding 2^-9 per product, averaged over long sums): the features
    # agree with fp32's to about 0.5% in norm here; 2% and a per-image cosine of 0.9995 leave room, while a
    # wrong layer or layout would be off by tens of percent.
    assert _rel(out, plain_features) < 0.02
    cos = nn.functional.cosine_similarity(out, plain_features, dim=1)
    assert bool((cos > 0.9995).all()), cos
    with pytest.raises(UserError, match="fp32 or bf16"):
        copy.deepcopy(scaled_inception).optimize_for_inference("fp16")


def test_load_inception_optimises_on_request(tmp_path, scaled_inception, images, plain_features):
    path = tmp_path / "weights.pth"
    torch.save(scaled_inception.state_dict(), path)
    plain = load_inception(path, progress=False)
    assert plain.precision == "fp32" and any(isinstance(m, nn.BatchNorm2d) for m in plain.modules())
    fast = load_inception(path, progress=False, precision="fp32")
    assert not any(isinstance(m, nn.BatchNorm2d) for m in fast.modules())
    assert _rel(fast(images), plain_features) < 1e-5
    with pytest.raises(UserError, match="fp32 or bf16"):
        load_inception(path, progress=False, precision="half")


def test_cached_features_are_found_only_for_the_same_data_weights_and_tag(tmp_path):
    torch.manual_seed(0)
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 3))
    x = torch.randn(5, 1, 2, 2)
    first, hit = cached_features(net, x, tmp_path, "toy")
    assert not hit and torch.equal(first, net(x.flatten(1)).detach())
    files = list((tmp_path / "features").glob("toy-*.npy"))
    assert len(files) == 1 and not list((tmp_path / "features").glob(".*"))  # no temporary left
    again, hit = cached_features(net, x, tmp_path, "toy")
    assert hit and torch.equal(again, first)

    changed = x.clone()
    changed[2, 0, 1, 1] += 1e-3  # one value of the data
    assert not cached_features(net, changed, tmp_path, "toy")[1]
    assert not cached_features(net, x, tmp_path, "toy-bf16")[1]  # another precision's tag
    before = module_digest(net)
    with torch.no_grad():
        net[1].bias[0] += 1e-6  # one weight
    assert module_digest(net) != before
    fresh, hit = cached_features(net, x, tmp_path, "toy")
    assert not hit and not torch.equal(fresh, first)
    assert len(list((tmp_path / "features").glob("*.npy"))) == 4


def test_an_unreadable_cache_file_is_computed_again(tmp_path, capsys):
    net = nn.Sequential(nn.Flatten(), nn.Linear(4, 2))
    x = torch.ones(3, 1, 2, 2)
    want, _ = cached_features(net, x, tmp_path, "toy")
    (path,) = (tmp_path / "features").glob("toy-*.npy")
    path.write_bytes(path.read_bytes()[:40])  # cut short
    got, hit = cached_features(net, x, tmp_path, "toy")
    assert not hit and torch.equal(got, want) and np.load(path).shape == (3, 2)  # replaced by a whole file

    blocked = tmp_path / "file-not-folder"
    blocked.write_text("")
    got, hit = cached_features(net, x, blocked, "toy")  # the cache cannot be made: computed, one warning
    assert not hit and torch.equal(got, want)
    assert "could not keep the features" in capsys.readouterr().err


def test_eval_with_inception_reuses_the_reference_features(tmp_path, monkeypatch, scaled_inception):
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path / "cache"))
    weights = tmp_path / "weights.pth"
    torch.save(scaled_inception.state_dict(), weights)
    rng = np.random.default_rng(0)
    ref = tmp_path / "ref"
    ref.mkdir()
    for i in range(4):
        Image.fromarray(rng.integers(0, 256, (12, 12), dtype=np.uint8)).save(ref / f"{i}.png")
    samples = tmp_path / "samples.npz"
    np.savez(samples, x=rng.integers(0, 256, (4, 1, 12, 12), dtype=np.uint8))

    def kid(precision):  # KID, not FID: the same features, without a 2048 x 2048 matrix square root per call
        res = evaluate(samples, metrics="kid", data=str(ref), features="inception", inception_weights=str(weights),
                       inception_precision=precision, split="train", record=False)["kid"]
        return res["mean"], res["protocol"]["real_features_cached"], res["features"]

    first = kid("fp32")
    second = kid("fp32")
    assert (first[1], second[1]) == (False, True) and first[0] == second[0] and first[2] == "inception (fp32)"
    bf16 = kid("bf16")
    assert not bf16[1] and bf16[2] == "inception (bf16)"  # its own features, not fp32's
    assert len(list((tmp_path / "cache" / "features").glob("inception-*.npy"))) == 2
    with pytest.raises(UserError, match="--inception-precision"):
        evaluate(samples, metrics="fid", data=str(ref), split="train", features="inception", inception_precision="fp16")
