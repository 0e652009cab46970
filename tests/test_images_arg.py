"""The one IMAGES reader (gankit.data.images.read_images): split slices, files, and one-line errors."""

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset
from gankit.data.images import parse_indices, read_images
from helpers import user_error

DIGITS = DataConfig(name="digits")


@pytest.fixture(scope="module")
def test_split():
    return build_dataset(DIGITS, "test")


def test_split_slices_select_examples_with_labels(test_split):
    images = read_images("test:0-4,7,2", (1, 8, 8), dataset=DIGITS)
    idx = [0, 1, 2, 3, 4, 7, 2]
    assert torch.equal(images.x, test_split.x[idx]) and torch.equal(images.y, test_split.y[idx])
    assert images.names == [f"test:{i}" for i in idx] and images.index == idx
    x, y, names = read_images("test:all", (1, 8, 8), dataset=DIGITS)  # unpacks as a 3-tuple
    assert len(x) == len(test_split) and names[-1] == f"test:{len(test_split) - 1}"


def test_a_function_can_supply_the_splits(test_split):
    asked = []

    def splits(name):
        asked.append(name)
        return test_split

    images = read_images("train:5", (1, 8, 8), dataset=splits)
    assert asked == ["train"] and torch.equal(images.x, test_split.x[[5]])


def test_files_have_no_index(tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 8, 8), dtype=np.uint8))
    images = read_images(tmp_path / "x.npy", (1, 4, 4), dataset=DIGITS)  # resized to the model's size
    assert images.x.shape == (3, 1, 4, 4) and images.index is None and images.y is None


def test_parse_indices():
    assert parse_indices("3,10-12", 20) == [3, 10, 11, 12]
    assert parse_indices(" 1 - 2 , 0 ", 3) == [1, 2, 0]
    assert parse_indices("all", 2) == [0, 1]
    user_error(lambda: parse_indices("5", 5, "the test split of digits"), "index 5 is out of range",
               "the test split of digits has 5 examples", "0..4")


@pytest.mark.parametrize("spec,fragments", [
    ("test:x", ["IMAGES 'test:x': bad image spec 'x'", "test:0-99"]),
    ("test:", ["IMAGES 'test:'", "bad image spec"]),
    ("test:4-1", ["IMAGES 'test:4-1'", "the end is before the start"]),
    ("test:0,100000", ["IMAGES 'test:0,100000'", "index 100000 is out of range", "the test split of digits"]),
    ("nowhere/x.png", ["IMAGES 'nowhere/x.png': no such file or folder", "SPLIT:INDICES"]),
])
def test_bad_specs_are_one_line(spec, fragments):
    user_error(lambda: read_images(spec, (1, 8, 8), dataset=DIGITS), *fragments)


def test_without_a_dataset_only_paths_are_images(tmp_path):
    msg = user_error(lambda: read_images("test:0", (1, 8, 8)), "no such file or folder")
    assert "SPLIT:INDICES" not in msg
    (tmp_path / "notes.txt").write_text("hi")
    user_error(lambda: read_images(tmp_path / "notes.txt", (1, 8, 8)), ".txt file")
    np.save(tmp_path / "v.npy", np.zeros((4, 5), dtype=np.float32))
    user_error(lambda: read_images(tmp_path / "v.npy", (1, 8, 8), what="this generator makes"),
               "have shape [5]", "this generator makes [1, 8, 8]")
