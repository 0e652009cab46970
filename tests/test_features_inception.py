"""gankit.features.inception: the FID Inception-v3's structure, input mapping and weight loading.

The real weights file cannot be fetched in tests (no internet), so a state_dict of the same
network with seeded random weights is served from a real HTTP server on 127.0.0.1 and goes
through the same download, SHA-256 check and strict load. The structure is checked against a
table written here from the Inception-v3 layer list and against published parameter counts.
"""

from __future__ import annotations

import doctest
import functools
import hashlib
import http.server
import pickle
import re
import socket
import threading
from pathlib import Path

import pytest
import torch
from torch import nn

from gankit.features import inception, inception_net, inception_weights
from gankit.features.inception import (
    INCEPTION_WEIGHTS,
    InceptionV3FID,
    inception_weights_path,
    load_inception,
)
from helpers import user_error

FILENAME = INCEPTION_WEIGHTS.filename  # the test server uses the real file's name
SMALL, SMALL_BYTES = "small.pth", b"twelve bytes"  # a tiny file to test downloads with
SMALL_SHA256 = hashlib.sha256(SMALL_BYTES).hexdigest()


# --- The expected architecture, written independently as a table --------------------------------
# Every BasicConv2d as (name, c_in, c_out, kernel_h, kernel_w), from the Inception-v3 layer list
# (Szegedy et al. 2016, as laid out by torchvision's Inception3 and patched by pytorch-fid).
# Each block's input width is the previous block's output width, computed here from the branch
# widths, so a wrong concatenation shows up as a wrong c_in further on.


def block_a(prefix, c_in, pool_c):
    convs = [("branch1x1", c_in, 64, 1, 1), ("branch5x5_1", c_in, 48, 1, 1),
             ("branch5x5_2", 48, 64, 5, 5), ("branch3x3dbl_1", c_in, 64, 1, 1),
             ("branch3x3dbl_2", 64, 96, 3, 3), ("branch3x3dbl_3", 96, 96, 3, 3),
             ("branch_pool", c_in, pool_c, 1, 1)]  # fmt: skip
    return [(f"{prefix}.{n}", *rest) for n, *rest in convs], 64 + 64 + 96 + pool_c


def block_b(prefix, c_in):
    convs = [("branch3x3", c_in, 384, 3, 3), ("branch3x3dbl_1", c_in, 64, 1, 1),
             ("branch3x3dbl_2", 64, 96, 3, 3), ("branch3x3dbl_3", 96, 96, 3, 3)]  # fmt: skip
    return [(f"{prefix}.{n}", *rest) for n, *rest in convs], 384 + 96 + c_in  # + max pool


def block_c(prefix, c_in, c7):
    convs = [("branch1x1", c_in, 192, 1, 1), ("branch7x7_1", c_in, c7, 1, 1),
             ("branch7x7_2", c7, c7, 1, 7), ("branch7x7_3", c7, 192, 7, 1),
             ("branch7x7dbl_1", c_in, c7, 1, 1), ("branch7x7dbl_2", c7, c7, 7, 1),
             ("branch7x7dbl_3", c7, c7, 1, 7), ("branch7x7dbl_4", c7, c7, 7, 1),
             ("branch7x7dbl_5", c7, 192, 1, 7), ("branch_pool", c_in, 192, 1, 1)]  # fmt: skip
    return [(f"{prefix}.{n}", *rest) for n, *rest in convs], 4 * 192


def block_d(prefix, c_in):
    convs = [("branch3x3_1", c_in, 192, 1, 1), ("branch3x3_2", 192, 320, 3, 3),
             ("branch7x7x3_1", c_in, 192, 1, 1), ("branch7x7x3_2", 192, 192, 1, 7),
             ("branch7x7x3_3", 192, 192, 7, 1), ("branch7x7x3_4", 192, 192, 3, 3)]  # fmt: skip
    return [(f"{prefix}.{n}", *rest) for n, *rest in convs], 320 + 192 + c_in  # + max pool


def block_e(prefix, c_in):
    convs = [("branch1x1", c_in, 320, 1, 1), ("branch3x3_1", c_in, 384, 1, 1),
             ("branch3x3_2a", 384, 384, 1, 3), ("branch3x3_2b", 384, 384, 3, 1),
             ("branch3x3dbl_1", c_in, 448, 1, 1), ("branch3x3dbl_2", 448, 384, 3, 3),
             ("branch3x3dbl_3a", 384, 384, 1, 3), ("branch3x3dbl_3b", 384, 384, 3, 1),
             ("branch_pool", c_in, 192, 1, 1)]  # fmt: skip
    return [(f"{prefix}.{n}", *rest) for n, *rest in convs], 320 + 2 * 384 + 2 * 384 + 192


def expected_shapes() -> dict[str, tuple[int, ...]]:
    convs = [("Conv2d_1a_3x3", 3, 32, 3, 3), ("Conv2d_2a_3x3", 32, 32, 3, 3),
             ("Conv2d_2b_3x3", 32, 64, 3, 3), ("Conv2d_3b_1x1", 64, 80, 1, 1),
             ("Conv2d_4a_3x3", 80, 192, 3, 3)]  # fmt: skip
    width = 192
    blocks = [("Mixed_5b", block_a, 32), ("Mixed_5c", block_a, 64), ("Mixed_5d", block_a, 64),
              ("Mixed_6a", block_b), ("Mixed_6b", block_c, 128), ("Mixed_6c", block_c, 160),
              ("Mixed_6d", block_c, 160), ("Mixed_6e", block_c, 192), ("Mixed_7a", block_d),
              ("Mixed_7b", block_e), ("Mixed_7c", block_e)]  # fmt: skip
    widths = []
    for name, make, *args in blocks:
        layers, width = make(name, width, *args)
        convs += layers
        widths.append(width)
    assert widths == [256, 288, 288, 768, 768, 768, 768, 768, 1280, 2048, 2048]
    shapes: dict[str, tuple[int, ...]] = {}
    for name, c_in, c_out, kh, kw in convs:
        shapes[f"{name}.conv.weight"] = (c_out, c_in, kh, kw)  # no conv bias: BN follows
        for buffer in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{buffer}"] = (c_out,)
        shapes[f"{name}.bn.num_batches_tracked"] = ()
    shapes["fc.weight"] = (1008, 2048)  # the TF graph's 1008-way softmax layer
    shapes["fc.bias"] = (1008,)
    return shapes


# torchvision documents 27,161,264 parameters for its inception_v3 (1000 classes, with the
# auxiliary classifier). Remove what the FID graph lacks, counted from its shapes:
TORCHVISION_INCEPTION_V3_PARAMS = 27_161_264
AUX_PARAMS = (768 * 128 + 2 * 128) + (128 * 768 * 5 * 5 + 2 * 768) + (768 * 1000 + 1000)
FC1000_PARAMS = 2048 * 1000 + 1000
BACKBONE_PARAMS = TORCHVISION_INCEPTION_V3_PARAMS - AUX_PARAMS - FC1000_PARAMS
FC1008_PARAMS = 2048 * 1008 + 1008


@pytest.fixture(scope="module")
def net(scaled_inception) -> InceptionV3FID:
    return scaled_inception


@pytest.fixture(scope="module")
def x_gray() -> torch.Tensor:
    return torch.rand(2, 1, 28, 28, generator=torch.Generator().manual_seed(1)) * 2 - 1


@pytest.fixture(scope="module")
def reference_features(net, x_gray) -> torch.Tensor:
    return net(x_gray)


# --- Structure ---------------------------------------------------------------------------------


def test_keys_and_shapes_match_the_table(net):
    got = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    want = expected_shapes()
    assert sorted(got) == sorted(want)
    assert got == want
    assert got["Conv2d_1a_3x3.conv.weight"] == (32, 3, 3, 3)
    assert got["Mixed_7c.branch_pool.conv.weight"] == (192, 2048, 1, 1)
    assert not any(k.startswith("AuxLogits") for k in got)


def test_parameter_count_matches_published_torchvision_count(net):
    assert BACKBONE_PARAMS == 21_785_568
    n_params = sum(p.numel() for p in net.parameters())
    assert n_params == BACKBONE_PARAMS + FC1008_PARAMS == 23_850_960
    from_table = sum(
        torch.Size(s).numel()
        for k, s in expected_shapes().items()
        if k.endswith(("conv.weight", "bn.weight", "bn.bias")) or k.startswith("fc.")
    )
    assert from_table == n_params


def test_published_file_size_fits_these_float32_tensors(net):
    # The published weights file (95,628,359 bytes) should hold every parameter and BN running
    # statistic as float32 plus names and container overhead: a check that the real file has
    # the 1008-way fc and no auxiliary classifier (that would add ~13 MB).
    n_floats = sum(v.numel() for k, v in net.state_dict().items() if v.is_floating_point())
    overhead = INCEPTION_WEIGHTS.size_bytes - 4 * n_floats
    assert 0 < overhead < 100_000


def test_batchnorm_eps_and_no_conv_bias(net):
    bns = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d)]
    assert len(bns) == len(convs) == 94
    assert all(m.eps == 0.001 for m in bns)
    assert all(m.bias is None for m in convs)


def test_pool_branches_are_the_fid_variant(net):
    """Avg pools exclude the padding (TF 'SAME'); Mixed_7c max-pools (FIDInceptionE_2)."""
    ones = torch.ones(1, 1, 5, 5)
    spike = torch.zeros(1, 1, 5, 5)
    spike[0, 0, 2, 2] = 1.0
    avg_blocks = ["Mixed_5b", "Mixed_5c", "Mixed_5d", "Mixed_6b", "Mixed_6c", "Mixed_6d",
                  "Mixed_6e", "Mixed_7b"]  # fmt: skip
    for name in avg_blocks:
        pool = getattr(net, name).pool
        assert torch.equal(pool(ones), ones), name  # corners would be 4/9 with the padding in
        assert torch.allclose(pool(spike)[0, 0, 1:4, 1:4], torch.full((3, 3), 1 / 9)), name
    pool = net.Mixed_7c.pool
    assert torch.equal(pool(spike)[0, 0, 1:4, 1:4], torch.ones(3, 3))
    assert pool(spike).sum() == 9


# --- Input mapping -----------------------------------------------------------------------------


def test_preprocess_follows_pytorch_fid(net):
    # A 299x299 image goes through unchanged: resize to the same size is the identity and
    # (x + 1) / 2 -> 2 u - 1 gives back x, so gankit's [-1, 1] is what the graph receives.
    x = torch.rand(1, 3, 299, 299, generator=torch.Generator().manual_seed(2)) * 2 - 1
    assert torch.allclose(net.preprocess(x), x, atol=1e-6)
    # A constant image stays that constant at any size (bilinear weights sum to one).
    assert torch.allclose(net.preprocess(torch.full((1, 1, 28, 28), -0.3)), torch.tensor(-0.3))
    # Bilinear with align_corners=False: a 1x2 image [a, b] -> output column 1 is exactly a
    # (its source coordinate is clamped at 0) and the middle column 149 is (a + b) / 2.
    a, b = -0.5, 0.75
    out = net.preprocess(torch.tensor([a, b]).view(1, 1, 1, 2))
    assert out.shape == (1, 3, 299, 299)
    assert torch.allclose(out[0, :, :, 1], torch.tensor(a), atol=1e-6)
    assert torch.allclose(out[0, :, :, 149], torch.tensor((a + b) / 2), atol=1e-6)
    assert torch.allclose(out[0, :, :, -1], torch.tensor(b), atol=1e-6)


def test_preprocess_rejects_bad_shapes(net):
    user_error(lambda: net.preprocess(torch.zeros(2, 28, 28)), "[2, 28, 28]", "C = 1 or 3")
    user_error(lambda: net(torch.zeros(2, 4, 28, 28)), "[2, 4, 28, 28]")


# --- Forward -----------------------------------------------------------------------------------


def test_forward_gives_nonnegative_pool3_features(net, x_gray, reference_features):
    f = reference_features
    assert f.shape == (2, 2048) and f.dtype == torch.float32
    assert torch.isfinite(f).all()
    assert (f >= 0).all()  # the average of ReLU outputs
    assert (f > 0).float().mean() > 0.1  # the seeded weights keep the signal alive
    assert not torch.allclose(f[0], f[1])  # two different images, two different features


def test_gray_equals_tiled_rgb_and_features_alias(net, x_gray, reference_features):
    tiled = x_gray.repeat(1, 3, 1, 1)  # [2, 3, 28, 28]
    assert torch.equal(net.features(tiled), reference_features)


# --- Weights: finding, downloading, loading ----------------------------------------------------


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    requests: list[str] = []  # replaced per server

    def do_GET(self):  # noqa: N802 (http.server's name)
        self.requests.append(self.path)
        super().do_GET()

    def log_message(self, *args):  # keep the test output quiet
        pass


@pytest.fixture(scope="module")
def served(tmp_path_factory, net):
    """A folder with the seeded state_dict under the real file name, served on 127.0.0.1."""
    folder = tmp_path_factory.mktemp("served")
    torch.save(net.state_dict(), folder / FILENAME)
    digest = hashlib.sha256((folder / FILENAME).read_bytes()).hexdigest()
    (folder / SMALL).write_bytes(SMALL_BYTES)  # for tests of the download path alone
    requests: list[str] = []
    handler = type("Handler", (CountingHandler,), {"requests": requests})
    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(handler, directory=str(folder))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    yield {
        "url": base + FILENAME,
        "sha256": digest,
        "small_url": base + SMALL,
        "requests": requests,
        "folder": folder,
    }
    server.shutdown()
    server.server_close()


@pytest.fixture(autouse=True)
def _no_weights_env(monkeypatch):
    monkeypatch.delenv(inception.WEIGHTS_ENV_VAR, raising=False)


def test_download_verify_load_and_reuse(tmp_path, served, x_gray, reference_features):
    cache = tmp_path / "cache"
    before = len(served["requests"])
    loaded = load_inception(
        cache_dir=cache, url=served["url"], sha256=served["sha256"], progress=False
    )
    assert len(served["requests"]) == before + 1
    dest = cache / "weights" / FILENAME
    assert dest.is_file() and hashlib.sha256(dest.read_bytes()).hexdigest() == served["sha256"]
    assert not loaded.training
    assert all(t.device.type == "cpu" for t in loaded.state_dict().values())  # none left on meta
    assert all(p.dtype == torch.float32 for p in loaded.parameters())
    assert not any(p.requires_grad for p in loaded.parameters())
    assert torch.equal(loaded(x_gray), reference_features)
    # The second call finds the verified file in the cache and makes no request.
    again = inception_weights_path(cache_dir=cache, url=served["url"], sha256=served["sha256"])
    assert again == dest
    assert len(served["requests"]) == before + 1


def test_cache_dir_defaults_to_gankit_cache(tmp_path, monkeypatch, served):
    # The cached file takes the URL's file name, so another mirror's file cannot shadow it.
    monkeypatch.setenv("GANKIT_CACHE", str(tmp_path))
    path = inception_weights_path(url=served["small_url"], sha256=SMALL_SHA256, progress=False)
    assert path == tmp_path / "weights" / SMALL
    assert path.read_bytes() == SMALL_BYTES


def test_wrong_hash_is_refused_and_leaves_nothing(tmp_path, served):
    cache = tmp_path / "cache"
    user_error(
        lambda: inception_weights_path(
            cache_dir=cache, url=served["small_url"], sha256="0" * 64, progress=False
        ),
        "SHA-256 mismatch",
        "deleted",
    )
    folder = cache / "weights"
    assert not folder.exists() or list(folder.iterdir()) == []


def test_corrupt_cached_file_is_refused(tmp_path, served):
    dest = tmp_path / "weights" / FILENAME
    dest.parent.mkdir(parents=True)
    dest.write_bytes(b"not the weights")
    user_error(
        lambda: inception_weights_path(
            cache_dir=tmp_path, url=served["url"], sha256=served["sha256"]
        ),
        str(dest),
        "delete it",
    )


def test_unreachable_url_says_how_to_work_offline(tmp_path):
    with socket.socket() as s:  # a port nobody listens on once this socket is closed
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dest = tmp_path / "weights" / FILENAME
    user_error(
        lambda: inception_weights_path(
            cache_dir=tmp_path, url=f"http://127.0.0.1:{port}/{FILENAME}", progress=False
        ),
        "failed",
        "offline",
        f"place it at {dest}",
        "--inception-weights PATH",
        inception.WEIGHTS_ENV_VAR,
        INCEPTION_WEIGHTS.sha256,
    )
    assert not dest.exists()


def test_no_download_allowed_names_the_cache_path(tmp_path):
    dest = tmp_path / "weights" / FILENAME
    user_error(
        lambda: inception_weights_path(cache_dir=tmp_path, download=False),
        str(dest),
        "download=False",
        "offline",
        INCEPTION_WEIGHTS.url,
        "--inception-weights PATH",
    )


def test_explicit_path_and_env_var(tmp_path, monkeypatch, served):
    local = served["folder"] / FILENAME
    assert inception_weights_path(local, download=False) == local
    user_error(lambda: inception_weights_path(tmp_path / "missing.pth"), "missing.pth", "not exist")
    monkeypatch.setenv(inception.WEIGHTS_ENV_VAR, str(local))
    assert inception_weights_path(cache_dir=tmp_path, download=False) == local
    monkeypatch.setenv(inception.WEIGHTS_ENV_VAR, str(tmp_path / "gone.pth"))
    user_error(lambda: inception_weights_path(), "gone.pth", inception.WEIGHTS_ENV_VAR)
    user_error(lambda: inception_weights_path(tmp_path / "a.pth", sha256="xyz"), "a.pth")
    monkeypatch.delenv(inception.WEIGHTS_ENV_VAR)
    user_error(lambda: inception_weights_path(cache_dir=tmp_path, sha256="xyz"), "64 hex", "xyz")


def test_file_with_wrong_keys_names_them(tmp_path):
    path = tmp_path / "wrong.pth"
    torch.save(
        {"Conv2d_1a_3x3.conv.weight": torch.zeros(32, 1, 3, 3), "extra.weight": torch.zeros(1)},
        path,
    )
    message = user_error(
        lambda: load_inception(path),
        "471 missing: Conv2d_1a_3x3.bn.bias",
        "1 unexpected: extra.weight",
        "Conv2d_1a_3x3.conv.weight [32, 1, 3, 3] (want [32, 3, 3, 3])",
    )
    assert len(message) < 1000  # a few names, not all 566


def test_file_saved_without_batchnorm_counters_loads(tmp_path, net, x_gray, reference_features):
    # Files written before PyTorch 0.4.1 carry no num_batches_tracked; they must still load.
    state = {k: v for k, v in net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "old.pth"
    torch.save(state, path)
    got = load_inception(path).state_dict()
    for key, value in net.state_dict().items():
        if not key.endswith("num_batches_tracked"):
            assert torch.equal(got[key], value), key
    assert all(got[k].item() == 0 for k in got if k.endswith("num_batches_tracked"))


def test_not_a_weights_file(tmp_path):
    path = tmp_path / "junk.pth"
    path.write_bytes(b"\x00junk")
    user_error(lambda: load_inception(path), "cannot read", "junk.pth", "weights_only")
    torch.save([torch.zeros(1)], path)
    user_error(lambda: load_inception(path), "not a state_dict")


def _touch(path: str) -> None:
    Path(path).touch()


class Payload:
    """Unpickling this calls _touch: code that weights_only must never run."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (_touch, (str(self.marker),))


def test_pickled_code_is_refused(tmp_path):
    marker = tmp_path / "ran"
    pickle.loads(pickle.dumps(Payload(marker)))  # the payload is live: plain pickle runs it
    assert marker.exists()
    marker.unlink()
    path = tmp_path / "evil.pth"
    torch.save({"fc.weight": Payload(marker)}, path)
    user_error(lambda: load_inception(path), "weights_only", "Unsupported global", "_touch")
    assert not marker.exists()


# --- Hygiene -----------------------------------------------------------------------------------


def test_module_doctests():
    for module in (inception, inception_net, inception_weights):  # the loader, the network, the weights file
        result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
        assert result.failed == 0 and result.attempted >= 1, module.__name__


def test_this_file_names_no_outside_address():
    text = Path(__file__).read_text()
    address = re.compile("https?" + ":" + "//" + r"([^/:\s\"']+)")  # split: not a match itself
    for match in address.finditer(text):
        assert match.group(1) in ("127.0.0.1", "localhost"), match.group(0)


def test_published_hash_prefix_is_in_the_file_name():
    # torch.hub names a file <stem>-<first 8 hex digits of its SHA-256>.<ext>.
    assert re.fullmatch(r"[0-9a-f]{64}", INCEPTION_WEIGHTS.sha256)
    assert FILENAME.endswith(f"-{INCEPTION_WEIGHTS.sha256[:8]}.pth")
    assert INCEPTION_WEIGHTS.url.endswith("/" + FILENAME)
