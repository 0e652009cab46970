"""gankit.data on user data: folders of images and .npy / .npz arrays, and every bad input."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.config import DataConfig
from gankit.data import build_dataset
from helpers import user_error


def build(path, split: str = "train", **kw):
    return build_dataset(DataConfig(name=str(path), **kw), split)


def gray_png(path, value: int, size=(6, 5)) -> None:
    Image.new("L", size, value).save(path)  # size is (width, height)


# ---------------------------------------------------------------------------------------------
# Folders.


def test_gray_folder_scales_uint8_to_minus_one_one(tmp_path):
    for i, value in enumerate((0, 51, 255)):
        gray_png(tmp_path / f"{i}.png", value)
    ds = build(tmp_path)
    assert ds.x.shape == (3, 1, 5, 6) and ds.x.dtype == torch.float32  # height 5, width 6
    assert ds.y is None and ds.info["n_classes"] == 0
    assert ds.info["kind"] == "image" and ds.info["raw_range"] == [0.0, 255.0]
    assert ds.x[:, 0, 0, 0].tolist() == pytest.approx([-1.0, 51 / 127.5 - 1, 1.0])
    assert torch.equal(build(tmp_path, "all").x, ds.x)  # user data: train = all
    json.dumps(ds.info)


def test_colour_folder_channels_as_found_forced_gray_and_forced_rgb(tmp_path):
    gray_png(tmp_path / "a.png", 100)
    Image.new("RGB", (6, 5), (255, 0, 0)).save(tmp_path / "b.png")
    found = build(tmp_path)
    assert found.x.shape == (2, 3, 5, 6)  # any colour image -> RGB
    assert found.x[0, :, 0, 0].tolist() == pytest.approx([100 / 127.5 - 1] * 3)
    assert found.x[1, :, 0, 0].tolist() == pytest.approx([1.0, -1.0, -1.0])
    gray = build(tmp_path, channels=1)
    assert gray.x.shape == (2, 1, 5, 6)
    luma = Image.new("RGB", (1, 1), (255, 0, 0)).convert("L").getpixel((0, 0))  # Pillow's 601-2
    assert gray.x[1, 0, 0, 0].item() == pytest.approx(luma / 127.5 - 1)
    gray_only = tmp_path / "gray_only"
    gray_only.mkdir()
    gray_png(gray_only / "a.png", 100)
    assert build(gray_only).x.shape == (1, 1, 5, 6)  # only gray images -> gray
    rgb = build(gray_only, channels=3)
    assert rgb.x.shape == (1, 3, 5, 6) and torch.equal(rgb.x[:, 0], rgb.x[:, 1])


def test_folder_jpeg_and_resize(tmp_path):
    Image.new("RGB", (40, 30), (200, 100, 50)).save(tmp_path / "a.jpg", quality=95)
    Image.new("RGB", (20, 20), (200, 100, 50)).save(tmp_path / "b.PNG")
    ds = build(tmp_path, size=16)
    assert ds.x.shape == (2, 3, 16, 16)
    # A flat colour stays that colour after bilinear resizing (JPEG within a few levels).
    expected = torch.tensor([200, 100, 50]) / 127.5 - 1
    assert torch.allclose(ds.x.mean(dim=(2, 3)), expected.expand(2, 3), atol=4 / 127.5)


def test_16_bit_gray_png_is_reduced_to_8_bits_not_clipped(tmp_path):
    deep = np.array([[0, 257 * 51, 65535]], dtype=np.uint16)
    Image.fromarray(deep).save(tmp_path / "deep.png")
    ds = build(tmp_path)
    assert ds.x.shape == (1, 1, 1, 3)
    assert ds.x.flatten().tolist() == pytest.approx([-1.0, 51 / 127.5 - 1, 1.0])


def test_class_subfolders_give_labels(tmp_path):
    for cls, count in (("cat", 2), ("dog", 3)):
        (tmp_path / cls).mkdir()
        for i in range(count):
            gray_png(tmp_path / cls / f"{i}.png", 10 * i)
    ds = build(tmp_path)
    assert ds.y.tolist() == [0, 0, 1, 1, 1]
    assert ds.info["n_classes"] == 2 and ds.info["classes"] == ["cat", "dog"]


def test_folder_errors_are_one_line_and_name_the_problem(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "readme.txt").write_text("no images")
    user_error(lambda: build(empty), str(empty), ".png", ".jpg")

    mixed = tmp_path / "mixed"
    mixed.mkdir()
    gray_png(mixed / "a.png", 0, size=(28, 28))
    gray_png(mixed / "b.png", 0, size=(32, 32))
    user_error(lambda: build(mixed), "28x28", "32x32", "--size")
    assert build(mixed, size=8).x.shape == (2, 1, 8, 8)

    truncated = tmp_path / "truncated"
    truncated.mkdir()
    gray_png(truncated / "good.png", 0)
    noisy = Image.fromarray(np.random.default_rng(0).integers(0, 256, (64, 64), dtype=np.uint8))
    noisy.save(truncated / "cut.png")
    data = (truncated / "cut.png").read_bytes()
    (truncated / "cut.png").write_bytes(data[: len(data) // 2])
    user_error(lambda: build(truncated), "cut.png")

    garbage = tmp_path / "garbage"
    garbage.mkdir()
    (garbage / "x.jpg").write_bytes(b"this is not a jpeg")
    user_error(lambda: build(garbage), "x.jpg")

    single = tmp_path / "single"
    single.mkdir()
    gray_png(single / "a.png", 0)
    user_error(lambda: build(single, "test"), "no test split")


# ---------------------------------------------------------------------------------------------
# Arrays.


def test_npy_float_vectors_are_divided_by_their_largest_magnitude(tmp_path):
    path = tmp_path / "v.npy"
    np.save(path, np.array([[2.0, -8.0, 1.0], [4.0, 0.0, -2.0]]))
    ds = build(path)
    assert ds.shape == (3,) and ds.info["kind"] == "vector"
    assert ds.info["scale"] == 0.125 and ds.info["raw_range"] == [-8.0, 8.0]
    assert ds.x.tolist() == [[0.25, -1.0, 0.125], [0.5, 0.0, -0.25]]
    json.dumps(ds.info)


def test_npy_uint8_gray_and_channel_last_images(tmp_path):
    gray = np.arange(2 * 4 * 5, dtype=np.uint8).reshape(2, 4, 5)
    np.save(tmp_path / "g.npy", gray)
    ds = build(tmp_path / "g.npy")
    assert ds.x.shape == (2, 1, 4, 5)
    assert torch.allclose(ds.x[:, 0], torch.from_numpy(gray.astype(np.float32)) / 127.5 - 1)

    last = np.zeros((2, 4, 5, 3), dtype=np.uint8)
    last[1, 2, 3] = (255, 0, 127)  # sample 1, row 2, column 3
    np.save(tmp_path / "c.npy", last)
    ds = build(tmp_path / "c.npy")
    assert ds.x.shape == (2, 3, 4, 5)
    assert ds.x[1, :, 2, 3].tolist() == pytest.approx([1.0, -1.0, 127 / 127.5 - 1])

    first = last.transpose(0, 3, 1, 2).copy()  # [N, C, H, W] as given
    np.save(tmp_path / "f.npy", first)
    assert torch.equal(build(tmp_path / "f.npy").x, ds.x)


def test_float_images_in_zero_one_or_minus_one_one(tmp_path):
    np.save(tmp_path / "unit.npy", np.array([[[0.0, 0.5], [1.0, 0.25]]]))
    assert build(tmp_path / "unit.npy").x.flatten().tolist() == [-1.0, 0.0, 1.0, -0.5]
    np.save(tmp_path / "sym.npy", np.array([[[-1.0, 0.5], [1.0, -0.25]]], dtype=np.float32))
    ds = build(tmp_path / "sym.npy")
    assert ds.x.flatten().tolist() == [-1.0, 0.5, 1.0, -0.25]
    assert ds.info["raw_range"] == [-1.0, 1.0]
    np.save(tmp_path / "big.npy", np.array([[[0.0, 255.0], [3.0, 1.0]]]))
    user_error(lambda: build(tmp_path / "big.npy"), "[0, 255]", "uint8")


def test_npz_with_labels_and_test_split(tmp_path):
    path = tmp_path / "d.npz"
    np.savez(
        path,
        x=np.full((4, 3), 2.0),
        y=np.array([0, 1, 2, 1]),
        x_test=np.full((2, 3), -4.0),
        y_test=np.array([4, 0]),
    )
    train, test, full = (build(path, s) for s in ("train", "test", "all"))
    assert (len(train), len(test), len(full)) == (4, 2, 6)
    assert train.info["n_classes"] == 5  # labels of train and test together
    assert train.info["scale"] == 0.25  # one scale for x and x_test
    assert test.x.unique().tolist() == [-1.0] and train.x.unique().tolist() == [0.5]
    assert full.y.tolist() == [0, 1, 2, 1, 4, 0] and test.y.dtype == torch.int64


def test_npz_key_rules(tmp_path):
    np.savez(tmp_path / "one.npz", np.ones((3, 2)))  # stored as arr_0: the only array is x
    assert build(tmp_path / "one.npz").x.shape == (3, 2)
    np.savez(tmp_path / "many.npz", images=np.ones((3, 2)), labels=np.zeros(3))
    user_error(lambda: build(tmp_path / "many.npz"), "images", "labels", "'x'")
    np.savez(tmp_path / "bad_y.npz", x=np.ones((3, 2)), y=np.zeros(4, dtype=int))
    user_error(lambda: build(tmp_path / "bad_y.npz"), "['y']", "[3]", "[4]")


def test_array_errors(tmp_path):
    np.save(tmp_path / "r1.npy", np.ones(5))
    user_error(lambda: build(tmp_path / "r1.npy"), "rank 1", "[5]", "rank 2", "rank 4")
    np.save(tmp_path / "r5.npy", np.ones((2, 1, 2, 2, 2)))
    user_error(lambda: build(tmp_path / "r5.npy"), "rank 5", "[2, 1, 2, 2, 2]")
    np.save(tmp_path / "c4.npy", np.ones((2, 4, 5, 6), dtype=np.uint8))
    user_error(lambda: build(tmp_path / "c4.npy"), "rank 4", "[2, 4, 5, 6]", "C = 1 or 3")
    nan = np.ones((3, 2))
    nan[1, 1] = np.nan
    np.save(tmp_path / "nan.npy", nan)
    user_error(lambda: build(tmp_path / "nan.npy"), "NaN", "nan.npy")
    np.save(tmp_path / "s.npy", np.array([["a", "b"]]))
    user_error(lambda: build(tmp_path / "s.npy"), "dtype")
    (tmp_path / "broken.npy").write_bytes(b"\x93NUMPY garbage")
    user_error(lambda: build(tmp_path / "broken.npy"), "broken.npy")
    np.save(tmp_path / "v.npy", np.ones((3, 2)))
    user_error(lambda: build(tmp_path / "v.npy", "test"), "no test split")
    user_error(lambda: build(tmp_path / "v.npy", channels=3), "vectors")
