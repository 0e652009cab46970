"""The labelled picture of the latent apps: tiles unchanged, words around them, inside their own columns."""

import numpy as np
import torch
from PIL import Image

from gankit.viz import GRID_BOX_KEY, image_grid, read_grid_box, save_image_grid, save_labelled_grid


def _tiles(n=6, c=1, side=8, seed=0):
    return torch.rand(n, c, side, side, generator=torch.Generator().manual_seed(seed)) * 2 - 1


def test_grid_inside_the_words_is_the_plain_grid(tmp_path):
    x = _tiles()
    plain = save_image_grid(x, tmp_path / "plain.png", nrow=3, scale=2)
    words = save_labelled_grid(x, tmp_path / "words.png", nrow=3, scale=2, title="a title",
                               row_labels=["first", "second"], col_labels=["0", "1", "2"])
    grid = read_grid_box(words)
    assert np.array_equal(grid, np.asarray(Image.open(plain)))
    full = np.asarray(Image.open(words))
    left, top, right, bottom = (int(v) for v in Image.open(words).text[GRID_BOX_KEY].split(","))
    assert left > 0 and top > 0 and (right, bottom) == (left + grid.shape[1], top + grid.shape[0])
    assert full[:top].max() > 0  # the title and column labels were drawn above the grid
    assert full[top:bottom, :left].max() > 0  # the row labels left of it


def test_no_words_gives_the_grid_alone(tmp_path):
    x = _tiles(4)
    p = save_labelled_grid(x, tmp_path / "g.png", nrow=2, scale=1)
    assert np.array_equal(np.asarray(Image.open(p)), image_grid(x, 2)[..., 0])


def test_a_long_column_label_stays_in_its_column(tmp_path):
    x = -torch.ones(3, 1, 28, 28)  # black tiles: every bright pixel above the grid is a word
    p = save_labelled_grid(x, tmp_path / "g.png", nrow=3, scale=2,
                           col_labels=["", "a label far wider than one tile of 58 pixels", ""])
    full = np.asarray(Image.open(p))
    left, top, right, _ = (int(v) for v in Image.open(p).text[GRID_BOX_KEY].split(","))
    cols = np.nonzero(full[:top].max(0) > 0)[0]
    cell = (right - left) / 3
    assert len(cols) > 0 and cols.min() >= left + cell and cols.max() < left + 2 * cell


def test_colour_tiles_keep_their_colour(tmp_path):
    x = _tiles(2, c=3)
    p = save_labelled_grid(x, tmp_path / "g.png", nrow=2, scale=3, title="rgb")
    assert np.array_equal(read_grid_box(p), np.asarray(Image.open(save_image_grid(x, tmp_path / "p.png", 2, 3))))


def test_read_grid_box_of_a_plain_png_is_the_whole_picture(tmp_path):
    p = save_image_grid(_tiles(), tmp_path / "g.png", nrow=3, scale=1)
    assert np.array_equal(read_grid_box(p), np.asarray(Image.open(p)))
