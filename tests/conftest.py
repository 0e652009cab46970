"""Test-wide settings: every cache lives in a temporary folder, never in the user's home."""

import os
import tempfile

import pytest
import torch

# train.threads=0 (auto) counts the cores other processes leave idle, so two runs of one test could
# train with different thread counts (and so different float sums) when the machine's load changes
# between them. The suite fixes the count at PyTorch's default through OMP_NUM_THREADS, which auto
# obeys; child processes inherit it. tests/test_threads.py unsets it to test auto itself.
os.environ.setdefault("OMP_NUM_THREADS", str(torch.get_num_threads()))


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache():
    with tempfile.TemporaryDirectory(prefix="gankit-test-cache-") as d:
        old = os.environ.get("GANKIT_CACHE")
        os.environ["GANKIT_CACHE"] = d
        yield d
        if old is None:
            os.environ.pop("GANKIT_CACHE", None)
        else:
            os.environ["GANKIT_CACHE"] = old


# GANKIT_TEST_PRETEND_NATIVE_BF16=1 makes train.precision=auto resolve as on a CPU with native bf16
# (AMX / avx512_bf16) in this test process, so that a machine without it can find the tests that
# silently assume fp32. Child processes (torchrun, the CLI) are not affected: such tests pin
# train.precision themselves.
@pytest.fixture(autouse=True)
def _pretend_native_bf16(monkeypatch):
    if os.environ.get("GANKIT_TEST_PRETEND_NATIVE_BF16") == "1":
        import gankit.training.runtime

        monkeypatch.setattr(gankit.training.runtime, "native_bf16", lambda device: device.type in ("cpu", "cuda"))
    yield


@pytest.fixture(scope="session")
def scaled_inception():
    """The FID Inception-v3 with seeded random weights that keep activations O(1) (not FID's features; the
    same cost). Tests must not change it: copy it first."""
    from gankit.features.inception_net import scaled_random_inception

    return scaled_random_inception(seed=0)
