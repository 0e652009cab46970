"""The metrics package: exports, the generated-side-first convention, and runnable docstrings."""

import doctest
import importlib
import inspect

import pytest

import gankit.metrics as metrics

# importlib, not attribute access: the package attributes `prdc` and `ndb` are the functions,
# which shadow their modules of the same name.
MODULES = [
    importlib.import_module(f"gankit.metrics.{name}")
    for name in ("parzen", "frechet", "prdc", "modes", "ndb")
]


def test_every_public_function_is_exported_from_the_package():
    for module in MODULES:
        for name in module.__all__:
            if callable(getattr(module, name)):
                assert name in metrics.__all__ and getattr(metrics, name) is getattr(module, name)


def test_generated_side_is_the_first_argument():
    first = {
        "parzen_log_likelihood": "samples",
        "parzen_select_sigma": "samples",
        "parzen_evaluate": "samples",
        "frechet_distance": "feats_gen",
        "frechet_distance_from_stats": "mu1",
        "kid": "feats_gen",
        "prdc": "feats_gen",
        "mode_coverage": "samples",
        "ndb": "samples",
    }
    for name, arg in first.items():
        assert next(iter(inspect.signature(getattr(metrics, name)).parameters)) == arg, name


@pytest.mark.parametrize("module", MODULES, ids=lambda m: m.__name__)
def test_docstring_examples_run(module):
    result = doctest.testmod(module, optionflags=doctest.NORMALIZE_WHITESPACE)
    assert result.attempted > 0
    assert result.failed == 0


def test_every_public_function_documents_args_returns_raises_and_example():
    for name in metrics.__all__:
        doc = inspect.getdoc(getattr(metrics, name))
        for section in ("Args:", "Returns:", "Example:"):
            assert section in doc, (name, section)
        if name != "to_unit_interval":
            assert "Raises:" in doc, name
