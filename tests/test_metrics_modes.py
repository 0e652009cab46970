"""Mode coverage (VEEGAN / PacGAN protocol) on constructed samples with answers known by hand."""

import math

import numpy as np
import pytest
import torch

from gankit.errors import UserError
from gankit.metrics.modes import mode_coverage


def ring8(radius: float = 2.0) -> np.ndarray:
    angles = 2 * math.pi * np.arange(8) / 8
    return radius * np.stack([np.cos(angles), np.sin(angles)], axis=1)


def grid25() -> np.ndarray:
    return np.array([[x, y] for x in (-4, -2, 0, 2, 4) for y in (-4, -2, 0, 2, 4)], dtype=float)


def test_perfect_generator_on_the_ring_covers_everything_with_zero_kl():
    centers = ring8()
    samples = np.repeat(centers, 10, axis=0)  # 10 exact hits per mode
    r = mode_coverage(samples, centers, std=0.02)
    assert r["modes_covered"] == 8 and r["n_modes"] == 8
    assert r["high_quality"] == 1.0 and r["n_high_quality"] == 80
    assert r["counts"] == [10] * 8
    assert r["kl"] == pytest.approx(0.0, abs=1e-15)


def test_collapse_onto_one_mode_has_kl_log_k():
    centers = grid25()
    samples = centers[7] + np.array([[0.01, 0.0], [0.0, -0.01], [0.0, 0.0]])
    r = mode_coverage(samples, centers, std=0.05)
    assert r["modes_covered"] == 1
    assert r["counts"][7] == 3 and sum(r["counts"]) == 3
    assert r["kl"] == pytest.approx(math.log(25), abs=1e-12)


def test_hand_counted_mixture_of_good_bad_and_missing():
    centers = ring8()
    std = 0.1
    near = lambda k, dx: centers[k] + np.array([dx, 0.0])  # noqa: E731
    samples = np.array(
        [
            near(0, 0.0), near(0, 0.29), near(0, -0.1),  # mode 0: three within 3 std (0.3)
            near(1, 0.31),  # mode 1: 3.1 std away, nearest is mode 1 but not high quality
            near(2, 0.05),  # mode 2: one good sample
            [0.0, 0.0],  # the ring's centre: 20 std from every mode
        ]
    )
    r = mode_coverage(samples, centers, std=std)
    assert r["counts"] == [3, 0, 1, 0, 0, 0, 0, 0]
    assert r["modes_covered"] == 2
    assert r["n_high_quality"] == 4 and r["high_quality"] == pytest.approx(4 / 6)
    # p = (3/4, 1/4) on two of 8 modes: KL = 3/4 log(6) + 1/4 log(2).
    assert r["kl"] == pytest.approx(0.75 * math.log(0.75 * 8) + 0.25 * math.log(0.25 * 8), abs=1e-12)


def test_threshold_is_strict_and_scales_with_n_sigma():
    centers = np.array([[0.0, 0.0], [100.0, 0.0]])
    samples = np.array([[2.0, 0.0]])  # exactly 2 std from mode 0 at std 1
    assert mode_coverage(samples, centers, std=1.0, n_sigma=2.0)["n_high_quality"] == 0
    assert mode_coverage(samples, centers, std=1.0, n_sigma=2.0 + 1e-9)["n_high_quality"] == 1


def test_min_count_raises_the_bar_for_coverage():
    centers = ring8()
    samples = np.concatenate([np.repeat(centers[:2], 5, axis=0), centers[2:3]])
    assert mode_coverage(samples, centers, std=0.1)["modes_covered"] == 3
    assert mode_coverage(samples, centers, std=0.1, min_count=5)["modes_covered"] == 2


def test_per_mode_std_changes_the_nearest_mode():
    # A point at x = 4 is 4 units from both centres, but mode 1 is four times wider.
    centers = np.array([[0.0, 0.0], [8.0, 0.0]])
    r = mode_coverage(np.array([[4.0, 0.0]]), centers, std=np.array([1.0, 4.0]), n_sigma=1.5)
    assert r["counts"] == [0, 1]


def test_no_high_quality_samples_gives_nan_kl_and_no_modes():
    r = mode_coverage(np.array([[50.0, 50.0]]), ring8(), std=0.1)
    assert r["modes_covered"] == 0 and r["high_quality"] == 0.0
    assert math.isnan(r["kl"])


def test_tensor_input_is_accepted():
    centers = ring8()
    r = mode_coverage(torch.from_numpy(centers).float(), torch.from_numpy(centers), std=torch.tensor(0.1))
    assert r["modes_covered"] == 8


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(std=0.0),
        dict(std=np.ones(3)),  # wrong length for 8 modes
        dict(std=0.1, n_sigma=-1.0),
        dict(std=0.1, min_count=0),
        dict(std=0.1, centers=np.zeros((8, 3))),  # wrong width
        dict(std=0.1, samples=np.zeros(5)),  # 1-D samples
    ],
)
def test_bad_arguments_raise_user_error(kwargs):
    args = dict(samples=np.zeros((4, 2)), centers=ring8())
    args.update(kwargs)
    with pytest.raises(UserError):
        mode_coverage(**args)
