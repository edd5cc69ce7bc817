"""The user's own images: a PNG/JPEG folder and .npy/.npz arrays, and every refusal."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from core.data.own import DataError, LoadReport, load_array_file, load_image_folder


def save(folder: Path, name: str, array: np.ndarray, **options) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    Image.fromarray(array).save(path, **options)
    return path


def gray(height: int, width: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)


# ------------------------------------------------------------------------- image folders


def test_png_and_jpeg_gray_and_rgb_load_in_name_order(tmp_path):
    first = gray(12, 10, seed=1)
    save(tmp_path, "a.png", first)
    save(tmp_path, "b.PNG", np.stack([gray(12, 10, seed=2)] * 3, axis=-1))  # RGB
    save(tmp_path, "c.jpg", np.full((12, 10), 200, np.uint8), quality=95)
    save(tmp_path, "d.JPEG", np.full((12, 10, 3), 60, np.uint8), quality=95)
    (tmp_path / "notes.txt").write_text("ignored")
    (tmp_path / "sub").mkdir()
    save(tmp_path / "sub", "e.png", gray(12, 10))  # subfolders are not read
    images, report = load_image_folder(tmp_path)
    assert images.shape == (4, 12, 10) and images.dtype == np.float32
    assert images.flags.c_contiguous
    assert report == LoadReport(4, [])
    np.testing.assert_allclose(images[0], first / 255.0, rtol=1e-6)
    np.testing.assert_allclose(images[2], 200 / 255.0, atol=2 / 255)
    np.testing.assert_allclose(images[3], 60 / 255.0, atol=2 / 255)
    assert images.min() >= 0.0 and images.max() <= 1.0


def test_unreadable_files_are_skipped_and_counted(tmp_path):
    save(tmp_path, "good.png", gray(8, 8))
    (tmp_path / "corrupt.png").write_bytes(np.random.default_rng(0).bytes(300))
    (tmp_path / "empty.jpg").write_bytes(b"")
    (tmp_path / "readme.txt").write_text("not an image, not counted")
    images, report = load_image_folder(tmp_path)
    assert images.shape == (1, 8, 8) and report.loaded == 1
    skipped = dict(report.skipped)
    assert set(skipped) == {"corrupt.png", "empty.jpg"}
    assert "not a readable PNG/JPEG" in skipped["corrupt.png"]
    assert ".cpp" not in skipped["corrupt.png"]  # torchvision's source paths trimmed
    assert skipped["empty.jpg"] == "empty file"


def test_image_size_resizes_every_image_to_one_square(tmp_path):
    save(tmp_path, "big.png", np.full((40, 40), 255, np.uint8))
    save(tmp_path, "small.png", np.zeros((10, 10), np.uint8))
    wide = np.zeros((20, 60), np.uint8)
    wide[:, 20:40] = 255  # a white centre third: what the centre crop keeps
    save(tmp_path, "wide.png", wide)
    images, report = load_image_folder(tmp_path, image_size=16)
    assert images.shape == (3, 16, 16) and report.loaded == 3
    np.testing.assert_allclose(images[0], 1.0, atol=1e-6)
    np.testing.assert_allclose(images[1], 0.0, atol=1e-6)
    assert images[2, :, 4:12].min() > 0.99  # the centre, not squashed
    assert images[2].mean() > 0.5


def test_antialiasing_averages_fine_detail(tmp_path):
    stripes = np.zeros((32, 32), np.uint8)
    stripes[:, ::2] = 255
    save(tmp_path, "stripes.png", stripes)
    images, _ = load_image_folder(tmp_path, image_size=8)
    np.testing.assert_allclose(images[0], 0.5, atol=0.05)


def test_mixed_sizes_without_image_size_list_the_sizes(tmp_path):
    for index in range(3):
        save(tmp_path, f"a{index}.png", gray(28, 28))
    save(tmp_path, "b.png", gray(32, 32))
    save(tmp_path, "c.png", gray(20, 30))
    with pytest.raises(DataError) as info:
        load_image_folder(tmp_path)
    message = str(info.value)
    assert str(tmp_path) in message and "3 sizes" in message
    assert "28x28 (3 files)" in message and "32x32 (1 file)" in message
    assert "30x20 (1 file)" in message and "image size" in message


@pytest.mark.parametrize("size", [0, 1, 513, 2.5, True])
def test_an_image_size_out_of_range_is_refused(tmp_path, size):
    save(tmp_path, "a.png", gray(8, 8))
    with pytest.raises(DataError, match=f"image_size = {size!r} is not allowed: .*2 to 512"):
        load_image_folder(tmp_path, image_size=size)


def test_images_too_large_without_image_size_are_refused(tmp_path):
    save(tmp_path, "huge.png", np.zeros((600, 20), np.uint8))
    with pytest.raises(DataError, match=r"20x600 are not allowed.*2 to 512"):
        load_image_folder(tmp_path)
    assert load_image_folder(tmp_path, image_size=16)[0].shape == (1, 16, 16)


def test_an_empty_folder_says_which_extensions(tmp_path):
    with pytest.raises(DataError, match=r"no PNG or JPEG images .*\.png, \.jpg, \.jpeg"):
        load_image_folder(tmp_path)
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match="1 other file"):
        load_image_folder(tmp_path)


def test_all_files_unreadable(tmp_path):
    (tmp_path / "a.png").write_bytes(b"garbage" * 10)
    (tmp_path / "b.jpeg").write_bytes(b"more garbage" * 10)
    with pytest.raises(DataError) as info:
        load_image_folder(tmp_path)
    message = str(info.value)
    assert "none of the 2 PNG/JPEG files could be read" in message
    assert "a.png" in message and str(tmp_path) in message


def test_a_missing_folder_and_a_file_are_refused(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_image_folder(tmp_path / "absent")
    path = save(tmp_path, "a.png", gray(4, 4))
    with pytest.raises(DataError, match="not a folder"):
        load_image_folder(path)


def test_a_folder_without_permission(tmp_path):
    folder = tmp_path / "locked"
    save(folder, "a.png", gray(4, 4))
    folder.chmod(0)
    try:
        if os.access(folder, os.R_OK):
            pytest.skip("running as root: permission bits do not apply")
        with pytest.raises(DataError, match="permission denied"):
            load_image_folder(folder)
    finally:
        folder.chmod(0o700)


def test_permission_denied_is_said_plainly_even_as_root(tmp_path, monkeypatch):
    import core.data.own as own

    def refuse(path):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(own.os, "scandir", refuse)
    with pytest.raises(DataError, match=f"{tmp_path}: permission denied"):
        load_image_folder(tmp_path)


def test_an_unreadable_file_is_skipped_with_permission_denied(tmp_path, monkeypatch):
    save(tmp_path, "a.png", gray(4, 4))
    save(tmp_path, "b.png", gray(4, 4))
    real = Path.read_bytes

    def refuse_b(self):
        if self.name == "b.png":
            raise PermissionError(13, "Permission denied")
        return real(self)

    monkeypatch.setattr(Path, "read_bytes", refuse_b)
    _, report = load_image_folder(tmp_path)
    assert report == LoadReport(1, [("b.png", "permission denied")])


# -------------------------------------------------------------------------------- arrays


@pytest.mark.parametrize(("shape", "expected"), [((5, 6, 7), (5, 6, 7)),
                                                ((5, 6, 7, 1), (5, 6, 7)),
                                                ((5, 36), (5, 6, 6))])
def test_each_accepted_shape(tmp_path, shape, expected):
    array = np.random.default_rng(0).random(shape).astype(np.float32)
    np.save(tmp_path / "a.npy", array)
    images = load_array_file(tmp_path / "a.npy")
    assert images.shape == expected
    assert images.dtype == np.float32 and images.flags.c_contiguous
    np.testing.assert_array_equal(images.ravel(), array.ravel())


def test_a_flat_square_row_becomes_an_image(tmp_path):
    array = np.arange(3 * 784, dtype=np.uint8).reshape(3, 784)
    np.save(tmp_path / "flat.npy", array)
    images = load_array_file(tmp_path / "flat.npy")
    assert images.shape == (3, 28, 28)
    np.testing.assert_allclose(images.reshape(3, 784), array / 255.0, rtol=1e-6)


def test_uint8_is_scaled_and_other_ints_too(tmp_path):
    np.save(tmp_path / "u8.npy", np.array([[[0, 255], [51, 102]]], np.uint8))
    np.testing.assert_allclose(load_array_file(tmp_path / "u8.npy")[0],
                               [[0, 1], [0.2, 0.4]], rtol=1e-6)
    np.save(tmp_path / "i64.npy", np.array([[[0, 255], [51, 102]]], np.int64))
    np.testing.assert_allclose(load_array_file(tmp_path / "i64.npy")[0],
                               [[0, 1], [0.2, 0.4]], rtol=1e-6)


def test_bool_is_accepted_as_zero_and_one(tmp_path):
    np.save(tmp_path / "b.npy", np.array([[[True, False], [False, True]]]))
    np.testing.assert_array_equal(load_array_file(tmp_path / "b.npy")[0], [[1, 0], [0, 1]])


def test_float64_in_range_is_kept(tmp_path):
    array = np.linspace(0, 1, 2 * 9).reshape(2, 3, 3)
    np.save(tmp_path / "f.npy", array)
    images = load_array_file(tmp_path / "f.npy")
    assert images.dtype == np.float32
    np.testing.assert_allclose(images, array, rtol=1e-6)


@pytest.mark.parametrize(("bad", "words"), [
    (np.nan, ["2 value(s) are NaN or infinite", "0 to 0.5"]),
    (np.inf, ["2 value(s) are NaN or infinite"]),
    (-0.25, ["2 value(s) out of range", "found -0.25 to 0.5", "[0, 1]"]),
    (3.0, ["2 value(s) out of range", "found 0 to 3", "divide 0..255 data by 255"]),
])
def test_bad_float_values_give_the_count_and_range(tmp_path, bad, words):
    array = np.zeros((2, 4, 4), np.float32)
    array[0, 0, 0] = 0.5
    array[1, 1, 1] = array[1, 2, 2] = bad
    np.save(tmp_path / "bad.npy", array)
    with pytest.raises(DataError) as info:
        load_array_file(tmp_path / "bad.npy")
    message = str(info.value)
    assert "bad.npy" in message
    for word in words:
        assert word in message


def test_integers_out_of_0_255_are_refused(tmp_path):
    np.save(tmp_path / "i.npy", np.array([[[-3, 300], [4, 5]]], np.int32))
    with pytest.raises(DataError, match=r"2 value\(s\) out of range \(found -3 to 300\).*0\.\.255"):
        load_array_file(tmp_path / "i.npy")


def test_a_pickled_object_array_is_refused(tmp_path):
    np.save(tmp_path / "o.npy", np.array([None, {"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="pickled object array, which is refused"):
        load_array_file(tmp_path / "o.npy")
    np.savez(tmp_path / "o.npz", images=np.array([None], dtype=object))
    with pytest.raises(DataError, match="pickled"):
        load_array_file(tmp_path / "o.npz")


@pytest.mark.parametrize("dtype", [np.complex64, "<U3"])
def test_other_dtypes_are_refused(tmp_path, dtype):
    np.save(tmp_path / "d.npy", np.zeros((2, 3, 3), dtype))
    with pytest.raises(DataError, match="is not allowed: uint8, integers in 0..255"):
        load_array_file(tmp_path / "d.npy")


def test_npz_picks_images_then_x_then_the_only_array(tmp_path):
    images = np.zeros((2, 3, 3), np.uint8)
    np.savez(tmp_path / "named.npz", labels=np.zeros(2), images=images + 255)
    assert load_array_file(tmp_path / "named.npz").max() == 1.0
    np.savez(tmp_path / "x.npz", y=np.zeros(2), x=images)
    assert load_array_file(tmp_path / "x.npz").shape == (2, 3, 3)
    np.savez_compressed(tmp_path / "only.npz", whatever=images)
    assert load_array_file(tmp_path / "only.npz").shape == (2, 3, 3)


def test_npz_with_several_unnamed_arrays_lists_the_keys(tmp_path):
    np.savez(tmp_path / "many.npz", train=np.zeros((2, 3, 3)), test=np.zeros((1, 3, 3)))
    with pytest.raises(DataError) as info:
        load_array_file(tmp_path / "many.npz")
    message = str(info.value)
    assert "2 arrays (train, test)" in message and "'images'" in message


@pytest.mark.parametrize("shape", [(5,), (5, 42), (2, 3, 4, 3), (1, 2, 3, 4, 5)])
def test_wrong_shapes_are_refused(tmp_path, shape):
    np.save(tmp_path / "s.npy", np.zeros(shape, np.float32))
    with pytest.raises(DataError, match=r"shape .* is not allowed: \(n, h, w\)"):
        load_array_file(tmp_path / "s.npy")


@pytest.mark.parametrize(("shape", "words"), [
    ((0, 4, 4), "holds no images"),
    ((3, 1, 8), "8x1 are not allowed"),
    ((3, 1), "1x1 are not allowed"),
    ((1, 600, 600), "600x600 are not allowed"),
])
def test_too_small_or_large_images_are_refused(tmp_path, shape, words):
    np.save(tmp_path / "t.npy", np.zeros(shape, np.uint8))
    with pytest.raises(DataError, match=words):
        load_array_file(tmp_path / "t.npy")


def test_missing_damaged_and_wrongly_named_files(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_array_file(tmp_path / "absent.npy")
    with pytest.raises(DataError, match="a folder, not a .npy/.npz file"):
        load_array_file(tmp_path)
    (tmp_path / "data.csv").write_text("1,2")
    with pytest.raises(DataError, match=r"accepted: \.npy, \.npz"):
        load_array_file(tmp_path / "data.csv")
    (tmp_path / "junk.npy").write_bytes(b"\x93NUMPY junk")
    with pytest.raises(DataError, match="not a valid .npy/.npz file"):
        load_array_file(tmp_path / "junk.npy")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 truncated zip")
    with pytest.raises(DataError, match="not a valid .npy/.npz file"):
        load_array_file(tmp_path / "junk.npz")
