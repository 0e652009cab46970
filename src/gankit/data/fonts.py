"""Synthetic digits rendered from fonts: a labelled, unlimited "simulator" for SimGAN.

SimGAN (Shrivastava et al. 2017) refines the output of a simulator, whose labels come for free,
until it looks like unlabelled real data. Here the simulator draws the digits 0-9 with Pillow in
fonts that need no download: the TrueType fonts shipped inside matplotlib (DejaVu Sans / Serif /
Mono, STIX, Computer Modern; found through ``matplotlib.get_data_path()``, without importing
pyplot) and Pillow's built-in font (``ImageFont.load_default``). Each digit gets a random font,
height, slant (shear), rotation, stroke thickness and position, and comes out white on black at
28x28 like MNIST, in [-1, 1].

The parameters of image ``i`` are drawn from ``numpy.random.default_rng([seed, stream])``, so
``render_digits(n, seed)`` is deterministic and the first ``k`` images of ``n`` are those of ``k``
("unlimited": ask for more and the earlier ones stay the same). Labels are balanced: each block of
ten consecutive images holds every digit once, in a random order.

Example:
    >>> x, y = render_digits(20, seed=0)
    >>> tuple(x.shape), sorted(y.tolist()) == sorted(list(range(10)) * 2)
    ((20, 1, 28, 28), True)
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch

from gankit.errors import UserError

__all__ = ["FONTS", "PILLOW_DEFAULT", "DigitStyle", "available_fonts", "draw_style", "render_digit", "render_digits"]

SIZE = 28  # output side in pixels, MNIST's
GLYPH_PX = 48  # font size the glyph is drawn at before shrinking (strokes stay smooth)
PILLOW_DEFAULT = "pillow-default"  # the name of Pillow's built-in font in FONTS

# matplotlib's bundled TrueType files whose digits are plain lining figures (cmmi10's are
# old-style and cmsy10 / cmex10 hold symbols, so those are left out).
FONTS = (
    "DejaVuSans.ttf", "DejaVuSans-Bold.ttf", "DejaVuSans-Oblique.ttf", "DejaVuSans-BoldOblique.ttf",
    "DejaVuSerif.ttf", "DejaVuSerif-Bold.ttf", "DejaVuSerif-Italic.ttf", "DejaVuSerif-BoldItalic.ttf",
    "DejaVuSansMono.ttf", "DejaVuSansMono-Bold.ttf",
    "STIXGeneral.ttf", "STIXGeneralBol.ttf", "STIXGeneralItalic.ttf",
    "cmr10.ttf", "cmss10.ttf", "cmtt10.ttf",
    PILLOW_DEFAULT,
)

# Ranges of the random style. MNIST digits are scaled to fit a 20x20 box and centred by their
# centre of mass in 28x28 (LeCun et al., the MNIST page); the ranges spread around that.
HEIGHT_PX = (15.0, 21.0)  # digit height in output pixels
MAX_WIDTH_PX = 22.0  # a wide glyph is shrunk further to fit this width
SHEAR = (-0.35, 0.35)  # x += shear * (y - centre): |0.35| is a slant of about 19 degrees
ROTATION_DEG = (-12.0, 12.0)  # counter-clockwise, after the shear
STROKE_PX = (0, 3)  # extra stroke width at GLYPH_PX, inclusive: 0 = the font's own weight (4 blots bold fonts)
SHIFT_PX = (-2, 2)  # offset of the centre of mass from the image centre, inclusive, per axis


@dataclass(frozen=True)
class DigitStyle:
    """How one digit is drawn.

    Attributes:
        font: a name in :data:`FONTS`.
        height: digit height in output pixels (before rotation).
        shear: horizontal shear, ``x += shear * (y - centre)``; positive leans the top left.
        angle: rotation in degrees, counter-clockwise.
        stroke: extra stroke width in pixels at the drawing size ``GLYPH_PX`` (thickness).
        dx, dy: offset of the centre of mass from the image centre, in output pixels.
    """

    font: str = "DejaVuSans.ttf"
    height: float = 20.0
    shear: float = 0.0
    angle: float = 0.0
    stroke: int = 0
    dx: int = 0
    dy: int = 0


def font_dir() -> Path:
    """matplotlib's folder of bundled TrueType fonts (``mpl-data/fonts/ttf``)."""
    import matplotlib  # the package only, not pyplot: no backend is loaded

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf"


def available_fonts() -> tuple[str, ...]:
    """The names of :data:`FONTS` present in this installation (Pillow's font always is)."""
    folder = font_dir()
    return tuple(f for f in FONTS if f == PILLOW_DEFAULT or (folder / f).is_file())


@lru_cache(maxsize=None)
def _font(name: str):
    """A Pillow font object at ``GLYPH_PX`` (cached: loading a TrueType file takes a millisecond)."""
    from PIL import ImageFont

    if name == PILLOW_DEFAULT:
        return ImageFont.load_default(size=GLYPH_PX)
    path = font_dir() / name
    if name not in FONTS or not path.is_file():
        raise UserError(f"font {name!r}: not one of the available fonts {', '.join(available_fonts())}")
    return ImageFont.truetype(str(path), size=GLYPH_PX)


def render_digit(digit: int, style: DigitStyle) -> np.ndarray:
    """One digit drawn in ``style``: uint8 ``[28, 28]``, white (255) on black (0).

    The glyph is drawn large (``GLYPH_PX``), thickened, sheared and rotated there, cropped to its
    ink, shrunk with an antialiasing filter to ``style.height`` pixels (or less, to fit
    ``MAX_WIDTH_PX``), and pasted so that its centre of mass lands at the centre plus (dx, dy).
    """
    from PIL import Image, ImageDraw

    if not 0 <= int(digit) <= 9:
        raise UserError(f"digit must be 0..9, got {digit}")
    font = _font(style.font)
    drawn = Image.new("L", (2 * GLYPH_PX, 2 * GLYPH_PX), 0)
    ImageDraw.Draw(drawn).text((GLYPH_PX // 2, GLYPH_PX // 4), str(int(digit)), font=font, fill=255,
                               stroke_width=style.stroke, stroke_fill=255)
    ink = drawn.crop(drawn.getbbox())
    side = int(1.6 * max(ink.size)) + 2  # room for any shear and rotation of the ranges above
    canvas = Image.new("L", (side, side), 0)
    canvas.paste(ink, ((side - ink.width) // 2, (side - ink.height) // 2))
    # Shear then rotate about the centre c in one resampling. Forward, ink at q goes to
    # c + Rot(angle) Shear(shear) (q - c) (y points down, so a counter-clockwise turn is
    # [[cos, sin], [-sin, cos]]); Image.transform wants the inverse map, output -> input:
    # Shear^-1 Rot^-1 = [[cos - s sin, -sin - s cos], [sin, cos]].
    t, s, c = np.radians(style.angle), style.shear, side / 2
    m = np.array([[np.cos(t) - s * np.sin(t), -np.sin(t) - s * np.cos(t)], [np.sin(t), np.cos(t)]])
    offset = c - m @ np.array([c, c])
    coeffs = (m[0, 0], m[0, 1], offset[0], m[1, 0], m[1, 1], offset[1])
    canvas = canvas.transform(canvas.size, Image.Transform.AFFINE, coeffs, resample=Image.Resampling.BILINEAR)
    box = canvas.getbbox()
    assert box is not None, f"font {style.font} drew no ink for {digit}"
    glyph = canvas.crop(box)
    scale = min(style.height / glyph.height, MAX_WIDTH_PX / glyph.width)
    w, h = max(1, round(glyph.width * scale)), max(1, round(glyph.height * scale))
    small = np.asarray(glyph.resize((w, h), Image.Resampling.LANCZOS), dtype=np.float64)  # [h, w]
    mass = small.sum()
    cy = (small.sum(1) * np.arange(h)).sum() / mass  # centre of mass, row
    cx = (small.sum(0) * np.arange(w)).sum() / mass  # centre of mass, column
    out = Image.new("L", (SIZE, SIZE), 0)
    out.paste(Image.fromarray(small.round().clip(0, 255).astype(np.uint8)),
              (round(SIZE / 2 - 0.5 + style.dx - cx), round(SIZE / 2 - 0.5 + style.dy - cy)))
    return np.asarray(out)


def draw_style(rng: np.random.Generator, fonts: tuple[str, ...]) -> DigitStyle:
    """A random :class:`DigitStyle` from the ranges at the top of this module."""
    return DigitStyle(
        font=fonts[int(rng.integers(len(fonts)))],
        height=float(rng.uniform(*HEIGHT_PX)),
        shear=float(rng.uniform(*SHEAR)),
        angle=float(rng.uniform(*ROTATION_DEG)),
        stroke=int(rng.integers(STROKE_PX[0], STROKE_PX[1] + 1)),
        dx=int(rng.integers(SHIFT_PX[0], SHIFT_PX[1] + 1)),
        dy=int(rng.integers(SHIFT_PX[0], SHIFT_PX[1] + 1)),
    )


def render_digits(n: int, seed: int = 0, stream: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` labelled synthetic digits.

    Args:
        n: number of images (any number: the simulator is unlimited).
        seed, stream: the random stream is ``numpy.random.default_rng([seed, stream])``; use
            another stream for a disjoint test set with the same seed.

    Returns:
        x: float32 ``[n, 1, 28, 28]`` in [-1, 1] (black -1, ink 1).
        y: int64 ``[n]`` digit labels; every block of ten holds each digit once.

    Raises:
        UserError: ``n`` < 1 or a negative seed / stream.
    """
    if n < 1 or seed < 0 or stream < 0:
        raise UserError(f"render_digits needs n >= 1 and seed, stream >= 0; got n={n}, seed={seed}, stream={stream}")
    fonts = available_fonts()
    rng = np.random.default_rng([seed, stream])
    labels, images = [], []
    while len(labels) < n:  # block by block, so that a prefix of n images does not depend on n
        for d in rng.permutation(10)[: n - len(labels)]:
            labels.append(int(d))
            images.append(render_digit(int(d), draw_style(rng, fonts)))
    y = np.array(labels)  # [n], balanced per block of ten
    x = np.stack(images)  # [n, 28, 28] uint8
    x = torch.from_numpy(x).float().div(127.5).sub(1.0).unsqueeze(1)  # [n, 1, 28, 28] in [-1, 1]
    return x, torch.from_numpy(y).long()
