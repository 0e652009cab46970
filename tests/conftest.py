"""Test-wide settings: every cache lives in a temporary folder, never in the user's home."""

import os
import tempfile

import pytest


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
