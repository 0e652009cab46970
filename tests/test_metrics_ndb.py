"""NDB and JS (Richardson & Weiss 2018): z-tests against scipy, invariants, known outcomes."""

import numpy as np
import pytest
import torch

from gankit.errors import UserError
from gankit.metrics.ndb import ndb


def blobs(n: int, rng: np.random.Generator) -> np.ndarray:
    """Four well separated 2-D clusters with equal weight."""
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0], [10.0, 10.0]])
    return centres[rng.integers(0, 4, n)] + rng.normal(size=(n, 2))


def test_z_tests_agree_with_scipy_chi_square_on_each_bin():
    # The pooled two-proportion z-test is the Pearson chi-square test of the 2 x 2 table
    # (in bin / not in bin) x (data / samples) without continuity correction: z^2 = chi^2.
    from scipy.stats import chi2_contingency

    rng = np.random.default_rng(0)
    data, samples = blobs(3000, rng), blobs(2000, rng) + np.array([0.8, 0.0])
    r = ndb(samples, data, k=12, seed=1)
    for p_d, p_s, z, p_value in zip(r["data_proportions"], r["sample_proportions"], r["z"], r["p_values"]):
        a, b = round(p_d * 3000), round(p_s * 2000)
        table = np.array([[a, 3000 - a], [b, 2000 - b]])
        if a + b == 0:
            assert z == 0.0 and p_value == 1.0
            continue
        chi2, p_ref, dof, _ = chi2_contingency(table, correction=False)
        assert dof == 1
        assert z**2 == pytest.approx(chi2, rel=1e-9)
        assert p_value == pytest.approx(p_ref, rel=1e-9, abs=1e-300)
    assert r["ndb"] == sum(p < 0.05 for p in r["p_values"]) == sum(r["different_bins"])


def test_js_agrees_with_scipy():
    from scipy.spatial.distance import jensenshannon

    rng = np.random.default_rng(1)
    r = ndb(blobs(1000, rng) * 1.3, blobs(1000, rng), k=8)
    ref = jensenshannon(r["data_proportions"], r["sample_proportions"]) ** 2  # natural log
    assert r["js"] == pytest.approx(ref, rel=1e-9)


def test_same_distribution_has_few_different_bins():
    rng = np.random.default_rng(2)
    data, samples = rng.normal(size=(6000, 3)), rng.normal(size=(6000, 3))
    r = ndb(samples, data, k=50)
    # Under the null each bin is "different" with probability ~alpha = 0.05: 2.5 bins expected.
    assert r["ndb"] <= 8
    assert r["js"] < 0.01
    assert sum(r["data_proportions"]) == pytest.approx(1.0)
    assert sum(r["sample_proportions"]) == pytest.approx(1.0)


def test_shifted_and_collapsed_generators_differ_in_many_bins():
    rng = np.random.default_rng(3)
    data = rng.normal(size=(6000, 3))
    shifted = ndb(rng.normal(loc=0.5, size=(6000, 3)), data, k=50)
    collapsed = ndb(np.zeros((6000, 3)) + 0.01 * rng.normal(size=(6000, 3)), data, k=50)
    assert shifted["ndb"] >= 25
    assert collapsed["ndb"] >= 45 and collapsed["ndb_over_k"] >= 0.9
    assert collapsed["js"] > shifted["js"] > 0.01


def test_bins_are_sorted_largest_first_and_seeded():
    rng = np.random.default_rng(4)
    data, samples = blobs(2000, rng), blobs(1000, rng)
    a = ndb(samples, data, k=10, seed=5)
    assert a["data_proportions"] == sorted(a["data_proportions"], reverse=True)
    b = ndb(torch.from_numpy(samples), torch.from_numpy(data).float().double(), k=10, seed=5)
    assert a == b
    assert (a["k"], a["n_samples"], a["n_data"], a["alpha"]) == (10, 1000, 2000, 0.05)


@pytest.mark.parametrize(
    "kwargs",
    [dict(k=0), dict(k=101), dict(k=2.0), dict(alpha=0.0), dict(alpha=1.5), dict(data=np.zeros((100, 3)))],
)
def test_bad_arguments_raise_user_error(kwargs):
    args = dict(samples=np.zeros((50, 2)), data=np.random.default_rng(0).normal(size=(100, 2)))
    args.update(kwargs)
    with pytest.raises(UserError):
        ndb(**args)
