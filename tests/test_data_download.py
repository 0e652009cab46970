"""gankit.data.download against a real HTTP server on 127.0.0.1 serving tiny files in the real
formats (gzip IDX, CIFAR-10 binary tar.gz). No test touches the internet."""

from __future__ import annotations

import dataclasses
import functools
import gzip
import hashlib
import http.server
import io
import socket
import tarfile
import threading
import urllib.parse
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.config import DataConfig
from gankit.data import build_dataset, download
from gankit.data.download import RemoteFile
from helpers import user_error


def idx_gz(array: np.ndarray) -> bytes:
    """The IDX format: 0, 0, type 0x08 (uint8), ndim, big-endian uint32 dims, then the bytes."""
    header = bytes([0, 0, 0x08, array.ndim]) + np.array(array.shape, dtype=">u4").tobytes()
    return gzip.compress(header + array.astype(np.uint8).tobytes())


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# Tiny MNIST-like files: 3 train and 2 test images of 28x28 with known pixels and labels.
RNG = np.random.default_rng(0)
TRAIN_X = RNG.integers(0, 256, size=(3, 28, 28), dtype=np.uint8)
TRAIN_Y = np.array([7, 0, 9], dtype=np.uint8)
TEST_X = RNG.integers(0, 256, size=(2, 28, 28), dtype=np.uint8)
TEST_Y = np.array([3, 3], dtype=np.uint8)
MNIST_BYTES = {
    "train-images-idx3-ubyte.gz": idx_gz(TRAIN_X),
    "train-labels-idx1-ubyte.gz": idx_gz(TRAIN_Y),
    "t10k-images-idx3-ubyte.gz": idx_gz(TEST_X),
    "t10k-labels-idx1-ubyte.gz": idx_gz(TEST_Y),
}
MNIST_ROLES = {
    "train_images": "train-images-idx3-ubyte.gz",
    "train_labels": "train-labels-idx1-ubyte.gz",
    "test_images": "t10k-images-idx3-ubyte.gz",
    "test_labels": "t10k-labels-idx1-ubyte.gz",
}


def cifar_record(label: int, seed: int) -> tuple[bytes, np.ndarray]:
    """One CIFAR binary record: label byte, then R, G, B planes of 32x32 (row-major)."""
    image = np.random.default_rng(seed).integers(0, 256, size=(3, 32, 32), dtype=np.uint8)
    return bytes([label]) + image.tobytes(), image


def make_cifar_archive() -> tuple[bytes, dict[str, list]]:
    """cifar-10-binary.tar.gz with 2 records per training batch and 3 in the test batch."""
    truth: dict[str, list] = {"train": [], "test": []}
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        batches = [(f"data_batch_{i}.bin", "train", 2) for i in range(1, 6)]
        for member, split, count in batches + [("test_batch.bin", "test", 3)]:
            payload = b""
            for _ in range(count):
                label = len(truth[split]) % 10
                seed = len(truth["train"]) + 100 * len(truth["test"])
                record, image = cifar_record(label, seed)
                payload += record
                truth[split].append((label, image))
            info = tarfile.TarInfo(f"cifar-10-batches-bin/{member}")
            info.size = len(payload)
            tar.addfile(info, io.BytesIO(payload))
        meta = b"airplane\nautomobile\n"
        info = tarfile.TarInfo("cifar-10-batches-bin/batches.meta.txt")
        info.size = len(meta)
        tar.addfile(info, io.BytesIO(meta))
    return buffer.getvalue(), truth


CIFAR_BYTES, CIFAR_TRUTH = make_cifar_archive()


class Server:
    """A real http.server on 127.0.0.1 (port 0) in a thread, recording every request path."""

    def __init__(self, root: Path):
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's naming)
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep test output quiet
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server(tmp_path, monkeypatch):
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    root = tmp_path / "www"
    (root / "mnist").mkdir(parents=True)
    (root / "cifar").mkdir()
    for name, data in MNIST_BYTES.items():
        (root / "mnist" / name).write_bytes(data)
    (root / "cifar" / "cifar-10-binary.tar.gz").write_bytes(CIFAR_BYTES)
    srv = Server(root)
    yield srv
    srv.close()


def mnist_files(corrupt: str | None = None) -> dict[str, RemoteFile]:
    """The file table of the tiny MNIST, with real checksums (or a wrong one for ``corrupt``)."""
    files = {}
    for role, name in MNIST_ROLES.items():
        digest = "0" * 64 if role == corrupt else sha256(MNIST_BYTES[name])
        files[role] = RemoteFile(name, digest)
    return files


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.rglob("*")) if folder.exists() else []


# ---------------------------------------------------------------------------------------------


def test_checksum_table_is_complete():
    for name, standard in download.STANDARD_SETS.items():
        assert urllib.parse.urlsplit(standard.base_url).scheme in ("http", "https"), name
        for remote in standard.files.values():
            assert len(remote.sha256) == 64 and int(remote.sha256, 16) >= 0, remote
    assert set(download.STANDARD_SETS["mnist"].files) == set(MNIST_ROLES)
    assert download.STANDARD_SETS["cifar10"].files["archive"].filename == "cifar-10-binary.tar.gz"


def test_mnist_downloads_verifies_parses_and_is_cached(server, tmp_path, monkeypatch):
    standard = dataclasses.replace(download.STANDARD_SETS["mnist"], files=mnist_files())
    monkeypatch.setitem(download.STANDARD_SETS, "mnist", standard)
    monkeypatch.setenv("GANKIT_MIRROR_MNIST", server.url + "/mnist/")  # the mirror override
    cfg = DataConfig(name="mnist", cache_dir=str(tmp_path / "cache"))

    train = build_dataset(cfg, "train")
    assert sorted(server.requests) == sorted(f"/mnist/{n}" for n in MNIST_BYTES)
    assert train.x.shape == (3, 1, 28, 28) and train.x.dtype == torch.float32
    expected = torch.from_numpy(TRAIN_X.astype(np.float32))[:, None] / 127.5 - 1
    assert torch.allclose(train.x, expected)
    assert train.y.tolist() == [7, 0, 9] and train.y.dtype == torch.int64
    assert train.info["raw_range"] == [0, 255] and train.info["n_classes"] == 10
    assert train.info["source"] == server.url + "/mnist/"
    assert leftovers(tmp_path / "cache" / "mnist") == sorted(MNIST_BYTES)  # no temporary files

    # Cached: the other splits make no request at all.
    test = build_dataset(cfg, "test")
    full = build_dataset(cfg, "all")
    assert len(server.requests) == 4
    assert test.y.tolist() == [3, 3] and len(full) == 5
    assert torch.equal(full.x, torch.cat([train.x, test.x]))


def test_fetch_takes_base_url_and_files_arguments_and_shows_progress(server, tmp_path, capsys):
    paths = download.fetch(
        "fashion-mnist", tmp_path, base_url=server.url + "/mnist", files=mnist_files()
    )
    assert paths["train_images"] == tmp_path / "fashion-mnist" / "train-images-idx3-ubyte.gz"
    assert paths["train_images"].read_bytes() == MNIST_BYTES["train-images-idx3-ubyte.gz"]
    assert "train-images-idx3-ubyte.gz" in capsys.readouterr().err  # the tqdm bar, on stderr
    x, y = download.load_standard(
        "fashion-mnist", "test", tmp_path, base_url=server.url + "/mnist", files=mnist_files()
    )
    assert x.shape == (2, 1, 28, 28) and x.dtype == np.uint8 and np.array_equal(x[:, 0], TEST_X)
    assert len(server.requests) == 4


def test_cifar10_binary_archive_parses_channels_and_labels(server, tmp_path, monkeypatch):
    files = {"archive": RemoteFile("cifar-10-binary.tar.gz", sha256(CIFAR_BYTES))}
    monkeypatch.setitem(
        download.STANDARD_SETS,
        "cifar10",
        dataclasses.replace(download.STANDARD_SETS["cifar10"], files=files),
    )
    monkeypatch.setenv("GANKIT_MIRROR_CIFAR10", server.url + "/cifar")
    cfg = DataConfig(name="cifar10", cache_dir=str(tmp_path))
    train, test = build_dataset(cfg, "train"), build_dataset(cfg, "test")
    assert train.x.shape == (10, 3, 32, 32) and test.x.shape == (3, 3, 32, 32)
    assert train.y.tolist() == [label for label, _ in CIFAR_TRUTH["train"]]
    assert test.y.tolist() == [0, 1, 2]
    for ds, split in ((train, "train"), (test, "test")):
        images = np.stack([image for _, image in CIFAR_TRUTH[split]])  # [N, 3, 32, 32]: R, G, B
        assert torch.allclose(ds.x, torch.from_numpy(images.astype(np.float32)) / 127.5 - 1)
    assert build_dataset(DataConfig(name="cifar10", cache_dir=str(tmp_path), size=8)).x.shape == (
        10, 3, 8, 8,
    )
    assert server.requests == ["/cifar/cifar-10-binary.tar.gz"]


def test_wrong_checksum_is_refused_and_leaves_no_file(server, tmp_path):
    wrong = mnist_files(corrupt="train_labels")
    real = sha256(MNIST_BYTES["train-labels-idx1-ubyte.gz"])
    user_error(
        lambda: download.fetch("mnist", tmp_path, base_url=server.url + "/mnist", files=wrong),
        "SHA-256 mismatch",
        f"{server.url}/mnist/train-labels-idx1-ubyte.gz",
        "expected " + "0" * 64,
        "got " + real,
    )
    assert "train-labels-idx1-ubyte.gz" not in leftovers(tmp_path / "mnist")
    assert not [n for n in leftovers(tmp_path / "mnist") if n.endswith(".part")]


def test_unreachable_server_and_missing_file_give_user_errors(server, tmp_path):
    dead = f"http://127.0.0.1:{unused_port()}"
    dest = tmp_path / "mnist" / "train-images-idx3-ubyte.gz"
    user_error(
        lambda: download.fetch("mnist", tmp_path, base_url=dead, files=mnist_files()),
        f"{dead}/train-images-idx3-ubyte.gz",
        "offline",
        str(dest),
    )
    assert leftovers(tmp_path / "mnist") == []
    user_error(
        lambda: download.fetch("mnist", tmp_path, base_url=f"{server.url}/no", files=mnist_files()),
        "HTTP 404",
    )


def test_hand_placed_files_work_offline_and_bad_ones_are_named(tmp_path):
    folder = tmp_path / "mnist"
    folder.mkdir()
    for name, data in MNIST_BYTES.items():
        (folder / name).write_bytes(data)
    dead = f"http://127.0.0.1:{unused_port()}"
    files = mnist_files()
    x, y = download.load_standard("mnist", "train", tmp_path, base_url=dead, files=files)
    assert np.array_equal(x[:, 0], TRAIN_X) and y.tolist() == [7, 0, 9]

    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(b"wrong")
    user_error(
        lambda: download.load_standard("mnist", "test", tmp_path, base_url=dead, files=files),
        str(folder / "t10k-labels-idx1-ubyte.gz"),
        "delete it",
    )
    assert (folder / "t10k-labels-idx1-ubyte.gz").exists()  # a user's file is never deleted


def test_malformed_idx_and_unknown_names(tmp_path):
    bad = tmp_path / "bad.gz"
    bad.write_bytes(gzip.compress(bytes([0, 0, 8, 1]) + np.array([10], ">u4").tobytes() + b"abc"))
    user_error(lambda: download.parse_idx_gz(bad), "[10]", "3 data bytes")
    bad.write_bytes(b"plain")
    user_error(lambda: download.parse_idx_gz(bad), "gzip")
    user_error(lambda: download.fetch("svhn", tmp_path), "svhn", "mnist")
    user_error(lambda: download.load_standard("mnist", "val", tmp_path), "'val'")
    assert download.mirror_env_var("fashion-mnist") == "GANKIT_MIRROR_FASHION_MNIST"
