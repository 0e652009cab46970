"""gankit.data.fonts: labelled synthetic digits drawn from bundled fonts (SimGAN's simulator)."""

import numpy as np
import pytest
import torch

from gankit.data.fonts import FONTS, PILLOW_DEFAULT, DigitStyle, available_fonts, render_digit, render_digits
from helpers import user_error


@pytest.fixture(scope="module")
def forty():
    return render_digits(40, seed=3)


def test_shape_range_and_balanced_labels(forty):
    x, y = forty
    assert x.shape == (40, 1, 28, 28) and x.dtype == torch.float32 and y.dtype == torch.int64
    assert x.min() == -1 and x.max() == 1  # black background, full-white ink
    assert np.bincount(y.numpy(), minlength=10).tolist() == [4] * 10
    for block in y.view(4, 10):  # each block of ten holds every digit once
        assert sorted(block.tolist()) == list(range(10))
    ink = (x + 1) / 2
    assert 0.05 < ink.mean() < 0.35  # digits, not empty or filled frames (MNIST: about 0.13)
    border = torch.cat([ink[..., 0, :], ink[..., -1, :], ink[..., :, 0], ink[..., :, -1]], -1)
    assert border.max() < 0.5  # digits stay inside the frame, as MNIST's 20x20 box in 28x28


def test_deterministic_prefix_stable_and_streams_differ(forty):
    x, y = forty
    x2, y2 = render_digits(40, seed=3)
    assert torch.equal(x, x2) and torch.equal(y, y2)
    x15, y15 = render_digits(15, seed=3)  # "unlimited": asking for fewer gives the same first images
    assert torch.equal(x15, x[:15]) and torch.equal(y15, y[:15])
    x_other, _ = render_digits(40, seed=3, stream=1)
    x_seed, _ = render_digits(40, seed=4)
    assert not torch.equal(x_other, x) and not torch.equal(x_seed, x)


def test_every_font_draws_each_digit_and_fonts_differ():
    fonts = available_fonts()
    assert PILLOW_DEFAULT in fonts and len(fonts) >= 10  # matplotlib ships the DejaVu family
    sevens = {}
    for f in fonts:
        for d in (1, 7):
            img = render_digit(d, DigitStyle(font=f))
            assert img.shape == (28, 28) and img.dtype == np.uint8 and img.max() == 255
        sevens[f] = render_digit(7, DigitStyle(font=f)).astype(int)
    names = list(sevens)
    for i in range(len(names)):
        for j in range(i + 1, len(names)):
            assert np.abs(sevens[names[i]] - sevens[names[j]]).sum() > 0, (names[i], names[j])


def test_style_parameters_change_the_image_as_named():
    base = DigitStyle(font="DejaVuSans.ttf", height=18)
    img = render_digit(1, base).astype(float)

    def centre(a):
        ys, xs = np.mgrid[:28, :28]
        return (a * xs).sum() / a.sum(), (a * ys).sum() / a.sum()

    cx, cy = centre(img)
    assert abs(cx - 13.5) < 0.6 and abs(cy - 13.5) < 0.6  # centre of mass at the centre
    moved = render_digit(1, DigitStyle(font="DejaVuSans.ttf", height=18, dx=2, dy=-2)).astype(float)
    mx, my = centre(moved)
    assert mx - cx == pytest.approx(2, abs=0.6) and my - cy == pytest.approx(-2, abs=0.6)
    thick = render_digit(1, DigitStyle(font="DejaVuSans.ttf", height=18, stroke=3)).astype(float)
    assert thick.sum() > 1.2 * img.sum()  # more ink
    tall = render_digit(1, DigitStyle(font="DejaVuSans.ttf", height=21)).astype(float)
    rows = lambda a: np.flatnonzero(a.max(1) > 64)  # noqa: E731
    assert len(rows(tall)) > len(rows(img))
    # Positive shear moves the bottom right: the ink of the bottom half lies right of the top half's.
    leaning = render_digit(1, DigitStyle(font="DejaVuSans.ttf", height=18, shear=0.35)).astype(float)
    top, bottom = leaning[:14], leaning[14:]
    assert centre(np.vstack([np.zeros_like(top), bottom]))[0] > centre(np.vstack([top, np.zeros_like(bottom)]))[0] + 1
    turned = render_digit(1, DigitStyle(font="DejaVuSans.ttf", height=18, angle=12)).astype(float)
    assert np.abs(turned - img).sum() > 0.1 * img.sum()


def test_bad_arguments_are_one_line():
    user_error(lambda: render_digits(0), "n >= 1")
    user_error(lambda: render_digit(12, DigitStyle()), "digit must be 0..9")
    user_error(lambda: render_digit(3, DigitStyle(font="Comic.ttf")), "font 'Comic.ttf'", FONTS[0])
