"""Fréchet distance and KID: closed forms, hand-computed cases and independent references."""

import itertools
import math

import numpy as np
import pytest
import torch

from gankit.errors import UserError
from gankit.metrics.frechet import (
    feature_statistics,
    frechet_distance,
    frechet_distance_from_stats,
    kid,
)

# ---------------------------------------------------------------------------- Fréchet distance


def test_diagonal_covariances_match_the_closed_form():
    # Commuting covariances: Tr(S1 + S2 - 2 sqrt(S1 S2)) = sum_i (sqrt(a_i) - sqrt(b_i))^2.
    mu1, mu2 = np.array([0.0, 1.0, -2.0]), np.array([0.5, 1.0, 1.0])
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = ((mu1 - mu2) ** 2).sum() + ((np.sqrt(a) - np.sqrt(b)) ** 2).sum()
    got = frechet_distance_from_stats(mu1, np.diag(a), mu2, np.diag(b))
    assert got == pytest.approx(expected, abs=1e-12)


def test_singular_covariances_match_the_closed_form():
    # Each Gaussian is degenerate along a different axis: sqrt(S1 S2) = 0.
    got = frechet_distance_from_stats(np.zeros(2), np.diag([1.0, 0.0]), np.zeros(2), np.diag([0.0, 1.0]))
    assert got == pytest.approx(2.0, abs=1e-12)


def test_general_2x2_case_computed_by_hand():
    # S1 S2 = [[2, 4], [1, 8]] does not commute. For a 2x2 matrix with eigenvalues l1, l2 >= 0,
    # Tr sqrt(M) = sqrt(l1) + sqrt(l2) = sqrt(tr M + 2 sqrt(det M)), and det(S1 S2) = 3 * 4.
    s1 = np.array([[2.0, 1.0], [1.0, 2.0]])
    s2 = np.array([[1.0, 0.0], [0.0, 4.0]])
    mu1, mu2 = np.array([1.0, 0.0]), np.array([0.0, 2.0])
    tr_sqrt = math.sqrt(10.0 + 2.0 * math.sqrt(12.0))
    expected = 5.0 + (4.0 + 5.0) - 2.0 * tr_sqrt
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(expected, abs=1e-12)


def test_matches_scipy_sqrtm_on_random_full_rank_covariances():
    from scipy.linalg import sqrtm

    rng = np.random.default_rng(0)
    a, b = rng.normal(size=(40, 30)), rng.normal(size=(40, 30))
    s1, s2 = a.T @ a / 40 + 0.1 * np.eye(30), b.T @ b / 40 + 0.1 * np.eye(30)
    mu1, mu2 = rng.normal(size=30), rng.normal(size=30)
    ref = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * np.real(sqrtm(s1 @ s2)))
    assert frechet_distance_from_stats(mu1, s1, mu2, s2) == pytest.approx(ref, rel=1e-9)


def test_a_set_against_itself_is_zero_even_when_rank_deficient():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(2000, 16))
    assert abs(frechet_distance(x, x)) < 1e-9
    few = rng.normal(size=(10, 64))  # 10 rows in 64 dims: covariance of rank 9
    assert abs(frechet_distance(few, few)) < 1e-9


def test_symmetric_in_its_arguments():
    rng = np.random.default_rng(2)
    x, y = rng.normal(size=(300, 8)), 0.5 + 2.0 * rng.normal(size=(400, 8))
    assert frechet_distance(x, y) == pytest.approx(frechet_distance(y, x), rel=1e-10)


def test_large_samples_converge_to_the_gaussians_distance():
    rng = np.random.default_rng(3)
    mu1, mu2 = np.array([0.0, 0.0, 0.0]), np.array([1.0, -1.0, 0.5])
    s1 = np.array([[1.0, 0.5, 0.0], [0.5, 2.0, 0.3], [0.0, 0.3, 0.5]])
    s2 = np.array([[2.0, -0.4, 0.1], [-0.4, 1.0, 0.0], [0.1, 0.0, 1.5]])
    exact = frechet_distance_from_stats(mu1, s1, mu2, s2)
    x = rng.multivariate_normal(mu1, s1, size=200_000)
    y = rng.multivariate_normal(mu2, s2, size=200_000)
    assert frechet_distance(x, y) == pytest.approx(exact, abs=0.02)


def test_tensors_and_arrays_agree_and_statistics_are_unbiased():
    rng = np.random.default_rng(4)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(60, 4))
    got = frechet_distance(torch.from_numpy(x).float(), torch.from_numpy(y))
    assert got == pytest.approx(frechet_distance(x.astype(np.float32), y), rel=1e-9)
    mu, sigma = feature_statistics(x)
    np.testing.assert_allclose(sigma, (x - x.mean(0)).T @ (x - x.mean(0)) / 49, atol=1e-12)
    np.testing.assert_allclose(mu, x.mean(0), atol=1e-15)


@pytest.mark.parametrize(
    "call",
    [
        lambda: frechet_distance(np.zeros((1, 3)), np.zeros((5, 3))),  # one row: no covariance
        lambda: frechet_distance(np.zeros((5, 3)), np.zeros((5, 4))),  # widths differ
        lambda: frechet_distance(np.zeros(5), np.zeros((5, 1))),  # 1-D input
        lambda: frechet_distance_from_stats(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2)),
        lambda: frechet_distance_from_stats(np.zeros(2), -np.eye(2), np.zeros(2), np.eye(2)),
        lambda: frechet_distance_from_stats(np.zeros(2), np.eye(2), np.full(2, np.nan), np.eye(2)),
    ],
)
def test_frechet_bad_arguments_raise_user_error(call):
    with pytest.raises(UserError):
        call()


# ---------------------------------------------------------------------------- KID


def naive_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Plain loops over pairs, the unbiased MMD^2 of Binkowski et al. (2018) with a cubic kernel."""
    m, d = x.shape

    def k(a, b):
        return (sum(ai * bi for ai, bi in zip(a, b)) / d + 1.0) ** 3

    xx = sum(k(x[i], x[j]) for i, j in itertools.permutations(range(m), 2))
    yy = sum(k(y[i], y[j]) for i, j in itertools.permutations(range(m), 2))
    xy = sum(k(x[i], y[j]) for i in range(m) for j in range(m))
    return xx / (m * (m - 1)) + yy / (m * (m - 1)) - 2.0 * xy / (m * m)


def test_kid_matches_a_naive_loop_when_the_subset_is_the_whole_set():
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 3)), 0.7 + rng.normal(size=(12, 3))
    mean, std = kid(x, y, subsets=3, subset_size=50)  # capped at 12: every subset is the full set
    assert mean == pytest.approx(naive_unbiased_mmd2(x, y), rel=1e-10)
    assert std == pytest.approx(0.0, abs=1e-12)
    assert mean > 0


def vectorised_unbiased_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """NumPy reference with the diagonal masked out (an independent route to the same estimate)."""
    m, d = x.shape
    off = ~np.eye(m, dtype=bool)
    k_xx, k_yy, k_xy = ((a @ b.T / d + 1.0) ** 3 for a, b in ((x, x), (y, y), (x, y)))
    return k_xx[off].mean() + k_yy[off].mean() - 2.0 * k_xy.mean()


def test_kid_subsets_follow_the_documented_draws():
    rng = np.random.default_rng(6)
    x, y = rng.normal(size=(40, 5)), rng.normal(loc=0.3, size=(30, 5))
    mean, std = kid(x, y, subsets=4, subset_size=25, seed=11)
    draws = np.random.default_rng(11)
    scores = []
    for _ in range(4):
        gi = draws.choice(40, 25, replace=False)
        ri = draws.choice(30, 25, replace=False)
        scores.append(vectorised_unbiased_mmd2(x[gi], y[ri]))
    assert mean == pytest.approx(np.mean(scores), rel=1e-9)
    assert std == pytest.approx(np.std(scores), rel=1e-9)


def test_kid_is_near_zero_for_one_distribution_and_positive_for_a_shift():
    rng = np.random.default_rng(7)
    a, b = rng.normal(size=(600, 16)), rng.normal(size=(600, 16))
    same, same_std = kid(a, b, subsets=20, subset_size=300)
    shifted, _ = kid(a + 0.5, b, subsets=20, subset_size=300)
    assert abs(same) < 3 * same_std + 1e-3
    assert shifted > 10 * abs(same) and shifted > 0.05


def test_kid_is_deterministic_given_the_seed():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(50, 4)), rng.normal(size=(50, 4))
    assert kid(x, y, subsets=5, subset_size=20, seed=3) == kid(x, y, subsets=5, subset_size=20, seed=3)
    assert kid(x, y, subsets=5, subset_size=20, seed=3) != kid(x, y, subsets=5, subset_size=20, seed=4)


@pytest.mark.parametrize(
    "kwargs",
    [dict(subsets=0), dict(subset_size=1), dict(subsets=2.5), dict(subset_size=True)],
)
def test_kid_bad_arguments_raise_user_error(kwargs):
    with pytest.raises(UserError):
        kid(np.zeros((5, 2)), np.zeros((5, 2)), **kwargs)


def test_kid_rejects_a_single_row():
    with pytest.raises(UserError):
        kid(np.zeros((1, 2)), np.zeros((5, 2)))


def test_fid_and_kid_equal_torchmetrics_on_the_same_features():
    # torchmetrics (a dependency) computes both from any feature module; with one that returns the first 16 pixels as
    # features, its FID and its KID over one subset of every row must equal ours on those pixels.
    from torchmetrics.image.fid import FrechetInceptionDistance
    from torchmetrics.image.kid import KernelInceptionDistance

    class FirstPixels(torch.nn.Module):
        def forward(self, x):  # any image of at least 4x4 (torchmetrics probes the module with a 299x299 one)
            return x[:, 0, :4, :4].flatten(1).double()

    rng = np.random.default_rng(0)
    gen = torch.from_numpy(rng.normal(size=(300, 1, 4, 4))).float()
    real = torch.from_numpy(rng.normal(0.3, 1.2, size=(250, 1, 4, 4))).float()
    g, r = gen.flatten(1).numpy(), real.flatten(1).numpy()
    tm_fid = FrechetInceptionDistance(feature=FirstPixels(), normalize=True)
    tm_fid.update(gen, real=False)
    tm_fid.update(real, real=True)
    assert math.isclose(float(tm_fid.compute()), frechet_distance(g, r), rel_tol=1e-9)
    tm_kid = KernelInceptionDistance(feature=FirstPixels(), subsets=1, subset_size=250, normalize=True)
    tm_kid.update(gen[:250], real=False)
    tm_kid.update(real, real=True)
    mean, _ = tm_kid.compute()
    assert math.isclose(float(mean), kid(g[:250], r, subsets=1, subset_size=250)[0], rel_tol=1e-9)
