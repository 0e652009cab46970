"""Stacked MNIST: three digits stacked as the channels of one image, 1,000 modes.

The benchmark of Metz et al., *Unrolled Generative Adversarial Networks* (ICLR 2017, section
3.3), used for mode collapse by VEEGAN (Srivastava et al. 2017) and PacGAN (Lin et al. 2018,
Table 2): draw three MNIST digits at random, put one in each channel, and a sample's mode is the
triple of its digits, ``100 d0 + 10 d1 + d2``. A generator that covers the data makes all 1,000
triples about equally often; :func:`gankit.metrics.classes.stacked_mnist_coverage` counts them.

gankit stacks the bundled ``mnist-5k`` digits, so no download is needed. Each split stacks only
the digits of the same ``mnist-5k`` split ("train" stacks train digits, "test" stacks test
digits), so no test digit is ever seen in training. "all" is the train stacks followed by the
test stacks.

How many stacks: ``STACKS_PER_DIGIT`` (10) per source digit, so 40,000 train and 10,000 test
stacks at the default split. PacGAN's reference code draws 128,000 stacks from MNIST's 60,000
training digits (``num_training_sample`` in ``stacked_MNIST_experiments/VEEGAN_experiment/
config.py`` of github.com/fjxmlzn/PacGAN); we keep fewer because the whole split lives in memory
as float32 (40,000 x 3 x 28 x 28 x 4 bytes = 376 MB), but enough that the training set's own mode
histogram is close to uniform: with N stacks, its KL to uniform is about 999 / (2 N) nats (the
chi-square approximation), 0.012 for 40,000 against the target of 0.1 (it would be 0.12 with
4,000 stacks, one per digit).
"""

from __future__ import annotations

import numpy as np
import torch

from gankit.errors import UserError

STACKED_NAME = "stacked-mnist"
DESCRIPTION = ("Stacked MNIST: 3 mnist-5k digits as the channels [N, 3, 28, 28], 1,000 classes "
               "(100 d0 + 10 d1 + d2; bundled, 40,000 train / 10,000 test)")
SOURCE_DATASET = "mnist-5k"  # the digits that are stacked, split for split
CHANNELS = 3  # Metz et al. 2017, section 3.3: one digit per colour channel
N_CLASSES = 10**CHANNELS  # 1,000 modes
DIGIT_WEIGHTS = np.array([100, 10, 1])  # label = 100 d0 + 10 d1 + d2: the mode of stacked_mnist_coverage
STACKS_PER_DIGIT = 10  # stacks per source digit of the split; why 10: the module docstring
SPLIT_STREAMS = {"train": 2, "test": 3}  # draws use the seed sequence [data seed, this], apart from the split's own


def check_options(channels: int) -> None:
    """Reject data options that make no sense for stacks (UserError, one line)."""
    if channels not in (0, CHANNELS):
        raise UserError(f"data.channels={channels} does not apply to {STACKED_NAME}: its 3 channels are 3 digits "
                        f"(gray would average them into one blur); use 0 or 3")


def stack_digits(x: torch.Tensor, y: torch.Tensor, n: int, seed: list[int]) -> tuple[torch.Tensor, torch.Tensor]:
    """Draw ``n`` stacks of three digits, each channel an independent uniform draw with replacement.

    Args:
        x: gray digits [M, 1, H, W] in [-1, 1].
        y: their labels [M], 0..9.
        n: stacks to draw.
        seed: seed sequence of the draw (``numpy.random.default_rng(seed)``).

    Returns:
        x: [n, 3, H, W] float32, channel k is digit ``index[:, k]``; y: [n] int64, ``100 y0 + 10 y1 + y2``.

    Example:
        >>> x = torch.linspace(-1, 1, 10).reshape(10, 1, 1, 1).expand(10, 1, 2, 2)
        >>> xs, ys = stack_digits(x, torch.arange(10), 4, [0])
        >>> xs.shape, bool((ys // 100 == ((xs[:, 0, 0, 0] + 1) * 4.5).round()).all())
        (torch.Size([4, 3, 2, 2]), True)
    """
    assert x.ndim == 4 and x.shape[1] == 1 and y.shape == (x.shape[0],), (x.shape, y.shape)
    index = torch.from_numpy(np.random.default_rng(seed).integers(0, len(x), size=(n, CHANNELS)))  # [n, 3]
    stacks = x[:, 0][index]  # [n, 3, H, W]
    labels = y[index].long() @ torch.from_numpy(DIGIT_WEIGHTS)  # [n]
    return stacks.contiguous(), labels
