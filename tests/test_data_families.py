"""The MNIST family from local IDX files: every set, every layout, every damaged file."""

from __future__ import annotations

import gzip
import string
import struct
from pathlib import Path

import numpy as np
import pytest

from core.data.families import (
    FAMILIES,
    DatasetMissing,
    family_available,
    find_files,
    how_to_get,
    load_family,
)
from core.data.idx import IdxError

IDX_CODES = {np.dtype(np.uint8): 0x08, np.dtype(np.int8): 0x09, np.dtype(">i4"): 0x0C}


def write_idx(path: Path, array: np.ndarray, compress: bool = False) -> Path:
    """An IDX file as the sets ship them: big-endian header, then the data."""
    array = np.asarray(array)
    if array.dtype.kind == "i" and array.dtype.itemsize == 4:
        array = array.astype(">i4")
    header = struct.pack(">BBBB", 0, 0, IDX_CODES[array.dtype], array.ndim)
    header += struct.pack(f">{array.ndim}I", *array.shape)
    data = header + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        data = gzip.compress(data)
        path = path.with_name(path.name + ".gz")
    path.write_bytes(data)
    return path


def write_split(folder: Path, name: str, split: str = "test", count: int = 6,
                compress: bool = True, labels: bool = True, seed: int = 0) -> np.ndarray:
    """A fake split of family ``name``: random images (as stored) and labels."""
    family = FAMILIES[name]
    rng = np.random.default_rng(seed)
    images = rng.integers(0, 256, size=(count, 28, 28), dtype=np.uint8)
    write_idx(folder / family.images[split], images, compress)
    if labels:
        label_values = rng.integers(0, len(family.classes), size=count, dtype=np.uint8)
        write_idx(folder / family.labels[split], label_values, compress)
    return images


def upright(family_name: str, stored: np.ndarray) -> np.ndarray:
    stored = stored.transpose(0, 2, 1) if FAMILIES[family_name].transpose else stored
    return stored.astype(np.float32) / 255.0


LAYOUTS = [(name, sub) for name, family in FAMILIES.items() for sub in ("", *family.subfolders)]
#: A folder given directly ("" layout): named after the set where the file names are shared.
PLAIN = {"mnist": "anything", "fashion-mnist": "Fashion_MNIST", "kmnist": "kuzushiji",
         "emnist": "anything"}


# ------------------------------------------------------------------------------ the table


def test_the_four_sets_are_described():
    assert set(FAMILIES) == {"mnist", "fashion-mnist", "kmnist", "emnist"}
    assert FAMILIES["fashion-mnist"].classes[0] == "T-shirt/top"
    assert FAMILIES["fashion-mnist"].classes[-1] == "Ankle boot"
    assert len(FAMILIES["emnist"].classes) == 47
    assert FAMILIES["emnist"].classes[:10] == tuple(string.digits)
    assert FAMILIES["emnist"].transpose and not FAMILIES["mnist"].transpose
    assert FAMILIES["emnist"].images["train"] == "emnist-balanced-train-images-idx3-ubyte"
    for family in FAMILIES.values():
        assert len(family.classes) in (10, 47)
        assert family.downloads and all(len(d.md5) == 32 for d in family.downloads)
        assert all(d.url.endswith("/" + d.filename) for d in family.downloads)
    zipped = FAMILIES["emnist"].downloads[0]
    assert zipped.filename == "gzip.zip" and len(zipped.members) == 4
    assert all("balanced" in member for member in zipped.members)


# ----------------------------------------------------------------------------- layouts


@pytest.mark.parametrize(("name", "subfolder"), LAYOUTS)
def test_every_set_loads_from_every_layout(tmp_path, name, subfolder):
    data = tmp_path / PLAIN[name] if subfolder == "" else tmp_path
    stored = write_split(data / subfolder, name, "test", count=5)
    assert family_available(name, data)
    images, labels, split = load_family(name, data)
    assert split == "test"
    assert images.dtype == np.float32 and images.shape == (5, 28, 28)
    assert images.flags.c_contiguous
    np.testing.assert_allclose(images, upright(name, stored), rtol=1e-6)
    assert labels.dtype == np.int64 and labels.shape == (5,)


@pytest.mark.parametrize("compress", [True, False])
@pytest.mark.parametrize("split", ["train", "test"])
def test_one_split_alone_gzipped_or_raw(tmp_path, compress, split):
    stored = write_split(tmp_path / "fashion", "fashion-mnist", split, count=4,
                         compress=compress)
    found = find_files(FAMILIES["fashion-mnist"], tmp_path / "fashion")
    assert list(found) == [split]
    assert found[split].name.endswith(".gz") == compress
    images, _, used = load_family("fashion-mnist", tmp_path / "fashion")
    assert used == split
    np.testing.assert_allclose(images, stored / 255.0, rtol=1e-6)


def test_the_training_split_is_preferred(tmp_path):
    write_split(tmp_path / "kmnist", "kmnist", "test", count=3)
    write_split(tmp_path / "kmnist", "kmnist", "train", count=8)
    images, labels, split = load_family("kmnist", tmp_path)
    assert split == "train" and images.shape[0] == 8 and labels.shape == (8,)


def test_labels_are_optional(tmp_path):
    write_split(tmp_path / "KMNIST" / "raw", "kmnist", "train", count=3, labels=False)
    images, labels, _ = load_family("kmnist", tmp_path)
    assert images.shape == (3, 28, 28) and labels is None


def test_labels_are_taken_only_from_beside_the_images(tmp_path):
    write_split(tmp_path / "mnist", "mnist", "test", count=3, labels=False)
    write_idx(tmp_path / "MNIST" / "raw" / "t10k-labels-idx1-ubyte",
              np.zeros(3, np.uint8))  # another layout: not this image file's labels
    assert load_family("mnist", tmp_path)[1] is None


def test_emnist_is_turned_back_upright(tmp_path):
    # An "L": a vertical stroke down the left, a foot along the bottom.
    letter = np.zeros((28, 28), np.uint8)
    letter[4:24, 6] = 255
    letter[23, 6:20] = 255
    stored = letter.T[None]  # EMNIST stores each image transposed
    family = FAMILIES["emnist"]
    write_idx(tmp_path / "gzip" / family.images["train"], stored, compress=True)
    write_idx(tmp_path / "gzip" / family.labels["train"], np.array([21], np.uint8), True)
    images, labels, split = load_family("emnist", tmp_path)
    assert split == "train" and labels.tolist() == [21]
    assert images[0, 4:24, 6].min() == 1.0 and images[0, 23, 6:20].min() == 1.0
    assert images[0, 6, 8:24].max() == 0.0  # not the transposed stroke
    np.testing.assert_array_equal(images[0], letter / 255.0)


def test_sets_in_one_data_folder_do_not_mix(tmp_path):
    write_split(tmp_path / "mnist", "mnist", "test", count=2, seed=1)
    fashion = write_split(tmp_path / "fashion-mnist", "fashion-mnist", "test", count=7, seed=2)
    assert not family_available("kmnist", tmp_path)
    images, _, _ = load_family("fashion-mnist", tmp_path)
    np.testing.assert_allclose(images, fashion / 255.0, rtol=1e-6)
    assert load_family("mnist", tmp_path)[0].shape[0] == 2


def test_loose_files_with_shared_names_count_as_mnist_only(tmp_path):
    write_split(tmp_path, "mnist", "test", count=3)
    assert family_available("mnist", tmp_path)
    assert not family_available("fashion-mnist", tmp_path)
    assert not family_available("kmnist", tmp_path)
    with pytest.raises(DatasetMissing) as info:
        load_family("fashion-mnist", tmp_path)
    message = str(info.value)
    assert "count as MNIST" in message and "share names" in message
    assert str(tmp_path / "fashion-mnist") in message


@pytest.mark.parametrize("folder_name", ["fashion-mnist", "FashionMNIST/raw", "Fashion MNIST"])
def test_a_folder_named_after_a_set_holds_that_set(tmp_path, folder_name):
    write_split(tmp_path / folder_name, "fashion-mnist", "test", count=3)
    assert family_available("fashion-mnist", tmp_path / folder_name)
    assert not family_available("mnist", tmp_path / folder_name)
    with pytest.raises(DatasetMissing, match="count as Fashion-MNIST"):
        load_family("mnist", tmp_path / folder_name)


# ------------------------------------------------------------------------ missing data


def test_a_missing_folder_says_where_and_how(tmp_path):
    missing = tmp_path / "nowhere"
    assert not family_available("mnist", missing)
    with pytest.raises(DatasetMissing) as info:
        load_family("kmnist", missing)
    message = str(info.value)
    assert f"{missing} does not exist" in message
    assert "--download kmnist" in message and "Download button" in message


def test_a_file_instead_of_a_folder(tmp_path):
    path = tmp_path / "file"
    path.write_text("x")
    with pytest.raises(DatasetMissing, match="not a folder"):
        load_family("mnist", path)


@pytest.mark.parametrize("name", list(FAMILIES))
def test_missing_files_name_folder_files_and_how(tmp_path, name):
    (tmp_path / "unrelated.txt").write_text("x")
    family = FAMILIES[name]
    with pytest.raises(DatasetMissing) as info:
        load_family(name, tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message
    assert family.images["train"] in message and family.images["test"] in message
    assert family.subfolders[0] in message  # where it also looked
    assert f"python main.py datasets --download {name}" in message
    assert "\n" not in message


def test_how_to_get_is_one_line_with_every_way(tmp_path):
    line = how_to_get("emnist", tmp_path)
    assert "\n" not in line and str(tmp_path) in line
    assert "EMNIST/raw" in line and "gzip" in line
    assert "emnist-balanced-train-images-idx3-ubyte.gz" in line
    assert "--download emnist" in line and "Download button" in line
    assert f"in {tmp_path};" in line
    kmnist = how_to_get("kmnist", tmp_path)
    assert f"looked in {tmp_path}'s subfolders KMNIST/raw" in kmnist
    assert f"in {tmp_path / 'kmnist'};" in kmnist  # not loose: the names are MNIST's too


def test_an_unknown_name_lists_the_known_ones(tmp_path):
    with pytest.raises(KeyError, match="fashion-mnist"):
        load_family("cifar", tmp_path)


# ----------------------------------------------------------------------- damaged files


def image_file(folder: Path) -> Path:
    return folder / FAMILIES["mnist"].images["test"]


def test_an_empty_file_is_named(tmp_path):
    image_file(tmp_path).write_bytes(b"")
    with pytest.raises(IdxError, match="empty file"):
        load_family("mnist", tmp_path)


def test_an_empty_gzip_file_is_named(tmp_path):
    (tmp_path / "t10k-images-idx3-ubyte.gz").write_bytes(b"")
    with pytest.raises(IdxError, match=r"t10k-images-idx3-ubyte\.gz: empty file"):
        load_family("mnist", tmp_path)


def test_a_truncated_file_is_refused(tmp_path):
    path = write_idx(image_file(tmp_path), np.zeros((5, 28, 28), np.uint8))
    path.write_bytes(path.read_bytes()[:-30])
    with pytest.raises(IdxError, match="truncated"):
        load_family("mnist", tmp_path)


def test_a_truncated_gzip_stream_is_refused(tmp_path):
    path = write_idx(image_file(tmp_path), np.zeros((5, 28, 28), np.uint8), compress=True)
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(IdxError, match="cannot be read"):
        load_family("mnist", tmp_path)


def test_a_wrong_magic_number_is_refused(tmp_path):
    image_file(tmp_path).write_bytes(b"\x1f\x8b\x08\x03" + bytes(40))
    with pytest.raises(IdxError, match="bad magic"):
        load_family("mnist", tmp_path)


@pytest.mark.parametrize("array", [np.zeros((4, 784), np.uint8),
                                   np.zeros((4, 28, 28), np.int8),
                                   np.zeros((2, 2, 28, 28), np.uint8)])
def test_images_must_be_uint8_and_three_dimensional(tmp_path, array):
    write_idx(image_file(tmp_path), array)
    with pytest.raises(IdxError, match=r"expected uint8 images of shape \(n, rows, cols\)"):
        load_family("mnist", tmp_path)


def test_a_file_with_no_images_is_refused(tmp_path):
    write_idx(image_file(tmp_path), np.zeros((0, 28, 28), np.uint8))
    with pytest.raises(IdxError, match="no usable images"):
        load_family("mnist", tmp_path)


def test_a_label_count_mismatch_is_refused(tmp_path):
    write_split(tmp_path, "mnist", "test", count=6, compress=False, labels=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros(5, np.uint8))
    with pytest.raises(IdxError, match="5 labels for 6 images"):
        load_family("mnist", tmp_path)


def test_labels_outside_the_classes_are_refused(tmp_path):
    folder = tmp_path / "fashion-mnist"
    write_split(folder, "fashion-mnist", "test", count=3, compress=False, labels=False)
    write_idx(folder / "t10k-labels-idx1-ubyte", np.array([0, 3, 12], np.uint8))
    with pytest.raises(IdxError, match=r"labels range 0\.\.12.*classes 0\.\.9"):
        load_family("fashion-mnist", tmp_path)


def test_labels_of_the_wrong_shape_are_refused(tmp_path):
    write_split(tmp_path, "mnist", "test", count=4, compress=False, labels=False)
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", np.zeros((4, 2), np.uint8))
    with pytest.raises(IdxError, match="one label per image"):
        load_family("mnist", tmp_path)


# ---------------------------------------------------------------------------- real files


def test_the_real_mnist_files_load(mnist_dir):
    assert family_available("mnist", mnist_dir)
    images, labels, split = load_family("mnist", mnist_dir)
    assert split == "test" and images.shape == (10_000, 28, 28)
    assert images.dtype == np.float32 and images.min() >= 0.0 and images.max() <= 1.0
    assert 0.12 < images.mean() < 0.14
    assert labels is not None and set(np.unique(labels)) == set(range(10))
