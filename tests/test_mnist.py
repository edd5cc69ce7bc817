"""Reading MNIST from a local folder: IDX files, layouts, errors; the real files if present."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from core.data import DatasetMissing, IdxError, load_dataset
from core.data.idx import read_idx
from core.data.mnist import load_mnist


def write_idx(path, array: np.ndarray, compress: bool = False) -> None:
    codes = {np.dtype(np.uint8): 0x08}
    header = struct.pack(">BBBB", 0, 0, codes[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    if compress:
        data = gzip.compress(data)
    path.write_bytes(data)


def fake_mnist(folder, split="t10k", count=12, compress=True, labels=True):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    suffix = ".gz" if compress else ""
    write_idx(folder / f"{split}-images-idx3-ubyte{suffix}", images, compress)
    if labels:
        write_idx(folder / f"{split}-labels-idx1-ubyte{suffix}",
                  rng.integers(0, 10, size=count, dtype=np.uint8), compress)
    return images


@pytest.mark.parametrize("compress", [True, False])
def test_one_split_alone_is_enough(tmp_path, compress):
    images = fake_mnist(tmp_path, "t10k", compress=compress)
    loaded, labels, split = load_mnist(tmp_path)
    assert split == "test"
    np.testing.assert_allclose(loaded, images / 255.0, rtol=1e-6)
    assert labels.shape == (12,)


def test_the_training_split_is_preferred(tmp_path):
    fake_mnist(tmp_path, "t10k", count=5)
    fake_mnist(tmp_path, "train", count=9)
    assert load_mnist(tmp_path)[0].shape == (9, 28, 28)


def test_torchvision_layout_is_accepted(tmp_path):
    fake_mnist(tmp_path / "MNIST" / "raw", "train", count=7, labels=False)
    images, labels, _ = load_mnist(tmp_path)
    assert images.shape == (7, 28, 28) and labels is None


def test_a_missing_folder_or_file_says_where_and_how(tmp_path):
    with pytest.raises(DatasetMissing, match=f"{tmp_path / 'nope'} does not exist"):
        load_mnist(tmp_path / "nope")
    with pytest.raises(DatasetMissing) as info:
        load_mnist(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert "t10k-images-idx3-ubyte" in message and "--dataset digits" in message


def test_bad_magic_and_truncated_files(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(b"\x12\x34\x08\x03" + b"\0" * 20)
    with pytest.raises(IdxError, match="bad magic"):
        load_mnist(tmp_path)
    images = np.zeros((4, 28, 28), np.uint8)
    write_idx(tmp_path / "t10k-images-idx3-ubyte", images)
    data = (tmp_path / "t10k-images-idx3-ubyte").read_bytes()
    (tmp_path / "t10k-images-idx3-ubyte").write_bytes(data[:-100])
    with pytest.raises(IdxError, match="truncated"):
        read_idx(tmp_path / "t10k-images-idx3-ubyte")
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"not gzip at all")
    (tmp_path / "t10k-images-idx3-ubyte").unlink()
    with pytest.raises(IdxError, match="cannot be read"):
        load_mnist(tmp_path)


def test_samples_beyond_the_file_are_refused(tmp_path):
    fake_mnist(tmp_path, count=10)
    assert len(load_dataset("mnist", samples=4, data_dir=tmp_path)) == 4
    with pytest.raises(ValueError, match="samples = 11 is not allowed.*holds 10 images"):
        load_dataset("mnist", samples=11, data_dir=tmp_path)


def test_real_mnist_loads(mnist_dir):
    dataset = load_dataset("mnist", data_dir=mnist_dir)
    assert len(dataset) == 10_000
    assert dataset.images.shape == (10_000, 784) and dataset.images.dtype == np.float32
    assert 0.12 < dataset.images.mean() < 0.14
    assert dataset.labels is not None and set(np.unique(dataset.labels)) == set(range(10))
