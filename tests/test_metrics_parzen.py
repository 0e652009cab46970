"""Parzen-window log-likelihood (Goodfellow et al. 2014): closed forms and a float64 reference."""

import math

import numpy as np
import pytest
import torch

from gankit.errors import UserError
from gankit.metrics.parzen import (
    DEFAULT_SIGMAS,
    parzen_evaluate,
    parzen_log_likelihood,
    parzen_select_sigma,
    to_unit_interval,
)


def reference_ll(samples: np.ndarray, data: np.ndarray, sigma: float) -> np.ndarray:
    """Direct float64 evaluation: explicit differences, no norm expansion, scipy logsumexp."""
    from scipy.special import logsumexp

    g = np.asarray(samples, dtype=np.float64).reshape(len(samples), -1)
    x = np.asarray(data, dtype=np.float64).reshape(len(data), -1)
    out = np.empty(len(x))
    for i, row in enumerate(x):
        sq = ((row[None, :] - g) ** 2).sum(axis=1)
        out[i] = logsumexp(-sq / (2 * sigma**2)) - math.log(len(g))
    return out - g.shape[1] * math.log(sigma * math.sqrt(2 * math.pi))


def test_single_kernel_is_a_gaussian_log_density():
    rng = np.random.default_rng(0)
    g = rng.normal(size=(1, 5))
    x = rng.normal(size=(7, 5))
    sigma = 0.7
    expected = -((x - g) ** 2).sum(1) / (2 * sigma**2) - 5 * math.log(sigma * math.sqrt(2 * math.pi))
    got = parzen_log_likelihood(g, x, sigma).numpy()
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-9)


def test_one_dimensional_density_integrates_to_one():
    g = np.array([[-1.0], [0.3], [2.0]])
    grid = np.linspace(-8, 10, 20001)[:, None]
    density = np.exp(parzen_log_likelihood(g, grid, sigma=0.4).numpy())
    assert abs(np.trapezoid(density, grid[:, 0]) - 1.0) < 1e-6


@pytest.mark.parametrize("sigma", [0.1, 0.3, 1.0])
def test_matches_float64_direct_reference_on_mnist_like_data(sigma):
    # [0, 1] pixels in 784 dims with mostly-zero "background" and near-duplicates of samples in the
    # data: the case where ||x||^2 + ||g||^2 - 2 x.g loses digits to cancellation if done naively.
    gen = torch.Generator().manual_seed(1)
    g = (torch.rand(300, 784, generator=gen) > 0.8).float() * torch.rand(300, 784, generator=gen)
    near = g[:40] + 0.01 * torch.rand(40, 784, generator=gen)
    far = (torch.rand(40, 784, generator=gen) > 0.8).float()
    x = torch.cat([near, far]).float()
    got = parzen_log_likelihood(g, x, sigma, batch_size=17).numpy()
    ref = reference_ll(g.numpy(), x.numpy(), sigma)
    np.testing.assert_allclose(got, ref, rtol=0, atol=1e-5)


def test_large_offset_does_not_cancel():
    # All points far from the origin (squared norms ~ 2e11) but close to each other: without
    # centring, float64 rounding of the norms alone would move the result by ~1e-2 nats.
    rng = np.random.default_rng(2)
    g = 1e5 + rng.normal(scale=0.05, size=(50, 20))
    x = 1e5 + rng.normal(scale=0.05, size=(30, 20))
    got = parzen_log_likelihood(g, x, 0.05).numpy()
    np.testing.assert_allclose(got, reference_ll(g, x, 0.05), rtol=0, atol=1e-5)


def test_batch_size_and_input_type_do_not_change_the_result():
    rng = np.random.default_rng(3)
    g, x = rng.random((64, 10)), rng.random((33, 10))
    a = parzen_log_likelihood(g, x, 0.2, batch_size=1)
    b = parzen_log_likelihood(torch.from_numpy(g).float(), torch.from_numpy(x).float(), 0.2)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)
    assert a.dtype == torch.float64 and a.shape == (33,)


def test_images_are_flattened():
    rng = np.random.default_rng(4)
    g, x = rng.random((20, 1, 4, 4)), rng.random((5, 1, 4, 4))
    flat = parzen_log_likelihood(g.reshape(20, 16), x.reshape(5, 16), 0.3)
    np.testing.assert_allclose(parzen_log_likelihood(g, x, 0.3).numpy(), flat.numpy(), atol=1e-12)


def test_from_minus1_is_the_affine_map_to_unit_pixels():
    rng = np.random.default_rng(5)
    g, x = rng.uniform(-1, 1, (40, 6)), rng.uniform(-1, 1, (9, 6))
    a = parzen_log_likelihood(g, x, 0.2, from_minus1=True)
    b = parzen_log_likelihood((g + 1) / 2, (x + 1) / 2, 0.2)
    np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-9)
    assert to_unit_interval(torch.tensor([-1.0, 1.0])).tolist() == [0.0, 1.0]


def test_default_grid_is_the_reference_logspace():
    assert np.allclose(DEFAULT_SIGMAS, np.logspace(-1, 0, 10))
    assert len(DEFAULT_SIGMAS) == 10


def test_select_sigma_scores_are_the_means_and_argmax_wins():
    rng = np.random.default_rng(6)
    g, v = rng.random((200, 8)), rng.random((50, 8))
    best, scores = parzen_select_sigma(g, v, sigmas=[0.05, 0.2, 0.8])
    for s, score in scores.items():
        assert score == pytest.approx(parzen_log_likelihood(g, v, s).mean().item(), abs=1e-6)
    assert best == max(scores, key=scores.get)
    assert list(scores) == [0.05, 0.2, 0.8]


def test_select_sigma_picks_the_width_of_the_generating_blobs():
    # Data = samples + small noise: the tightest width in the grid must win.
    rng = np.random.default_rng(7)
    g = rng.random((100, 30)) * 10
    v = g[:50] + rng.normal(scale=0.01, size=(50, 30))
    best, _ = parzen_select_sigma(g, v, sigmas=[0.01, 0.1, 1.0])
    assert best == 0.01


def test_evaluate_reports_mean_and_standard_error_of_the_test_set():
    rng = np.random.default_rng(8)
    g, v, t = rng.random((150, 5)), rng.random((40, 5)), rng.random((60, 5))
    result = parzen_evaluate(g, v, t, sigmas=[0.1, 0.3])
    ll = reference_ll(g, t, result["sigma"])
    assert result["mean"] == pytest.approx(ll.mean(), abs=1e-5)
    assert result["sem"] == pytest.approx(ll.std() / math.sqrt(60), abs=1e-6)
    assert result["n_samples"] == 150 and result["n_test"] == 60
    assert result["sigmas_tried"] == [0.1, 0.3]
    best, scores = parzen_select_sigma(g, v, sigmas=[0.1, 0.3])
    assert result["sigma"] == best and result["valid_means"] == list(scores.values())


@pytest.mark.parametrize(
    "call",
    [
        lambda: parzen_log_likelihood(np.zeros(5), np.zeros((2, 1)), 0.1),  # 1-D samples
        lambda: parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 5)), 0.1),  # width mismatch
        lambda: parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 4)), 0.0),  # sigma <= 0
        lambda: parzen_log_likelihood(np.zeros((0, 4)), np.zeros((2, 4)), 0.1),  # empty
        lambda: parzen_log_likelihood(np.full((3, 4), np.nan), np.zeros((2, 4)), 0.1),
        lambda: parzen_log_likelihood(np.zeros((3, 4)), np.zeros((2, 4)), 0.1, batch_size=0),
        lambda: parzen_select_sigma(np.zeros((3, 4)), np.zeros((2, 4)), sigmas=[]),
    ],
)
def test_bad_arguments_raise_user_error(call):
    with pytest.raises(UserError):
        call()
