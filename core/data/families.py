"""The MNIST family (MNIST, Fashion-MNIST, KMNIST, EMNIST balanced) as data, read from IDX files.

Every member ships as the same four IDX files (train/test images/labels), so one table
per set and one loader cover them all.  Files are found in a user's folder in any of the
layouts people actually have (plain, torchvision's ``<Set>/raw``, a folder named after the
set, EMNIST's ``gzip`` folder), gzipped or raw, and either split alone is enough to
train an autoencoder.  torchvision's own dataset classes are not used for loading: they
refuse a folder unless all four files are there.  Nothing here downloads (see
``core.data.download``).
"""

from __future__ import annotations

import string
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from core.data.idx import IdxError, read_idx

__all__ = ["FAMILIES", "SPLIT_ORDER", "DatasetMissing", "Download", "IdxFamily",
           "candidate_folders", "family_available", "find_files", "find_labels", "get_family",
           "how_to_get", "load_family", "named_for", "owns_plain_folder"]

#: The split load_family prefers first: the bigger training split, else the test split.
SPLIT_ORDER = ("train", "test")


class DatasetMissing(FileNotFoundError):
    """The data set is not where it was looked for; the message says how to get it."""


@dataclass(frozen=True)
class Download:
    """One file to fetch, as torchvision lists it; ``members`` are what to extract from a zip.

    ``mirrors`` are tried in order after ``url`` when it cannot be reached.
    """

    url: str
    filename: str
    md5: str
    members: tuple[str, ...] = ()
    mirrors: tuple[str, ...] = ()


@dataclass(frozen=True)
class IdxFamily:
    """One member of the MNIST family: its file names, where to look, how to fetch it."""

    name: str
    title: str
    images: dict[str, str]  # split -> file stem (without .gz)
    labels: dict[str, str]
    subfolders: tuple[str, ...]
    downloads: tuple[Download, ...]
    transpose: bool  # EMNIST stores each image transposed
    classes: tuple[str, ...]
    #: Names a folder holding only this set may have (compared lowercase without - _ . and
    #: spaces): they tell MNIST, Fashion-MNIST and KMNIST apart, whose files share names.
    aliases: tuple[str, ...] = ()

    @property
    def short_title(self) -> str:
        """The title's first word: "Fashion-MNIST", "Kuzushiji-MNIST", "EMNIST"."""
        return self.title.split(" ")[0]



def _mnist_files() -> tuple[dict[str, str], dict[str, str]]:
    images = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
    labels = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}
    return images, labels


def _downloads(mirrors: list[str], table: list[tuple[str, str]]) -> tuple[Download, ...]:
    return tuple(Download(mirrors[0] + filename, filename, md5,
                          mirrors=tuple(mirror + filename for mirror in mirrors[1:]))
                 for filename, md5 in table)


# Mirrors, file names and md5 sums as torchvision 0.29 lists them
# (torchvision/datasets/mnist.py: MNIST, FashionMNIST, KMNIST, EMNIST).
_MNIST_DOWNLOADS = _downloads(
    ["https://ossci-datasets.s3.amazonaws.com/mnist/", "http://yann.lecun.com/exdb/mnist/"],
    [("train-images-idx3-ubyte.gz", "f68b3c2dcbeaaa9fbdd348bbdeb94873"),
     ("train-labels-idx1-ubyte.gz", "d53e105ee54ea40749a09fcbcd1e9432"),
     ("t10k-images-idx3-ubyte.gz", "9fb629c4189551a2d022fa330f9573f3"),
     ("t10k-labels-idx1-ubyte.gz", "ec29112dd5afa0611ce80d1b7f02629c")])
_FASHION_DOWNLOADS = _downloads(
    ["http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/"],
    [("train-images-idx3-ubyte.gz", "8d4fb7e6c68d591d4c3dfef9ec88bf0d"),
     ("train-labels-idx1-ubyte.gz", "25c81989df183df01b3e8a0aad5dffbe"),
     ("t10k-images-idx3-ubyte.gz", "bef4ecab320f06d8554ea6380940ec79"),
     ("t10k-labels-idx1-ubyte.gz", "bb300cfdad3c16e7a12a480ee83cd310")])
_KMNIST_DOWNLOADS = _downloads(
    ["http://codh.rois.ac.jp/kmnist/dataset/kmnist/"],
    [("train-images-idx3-ubyte.gz", "bdb82020997e1d708af4cf47b453dcf7"),
     ("train-labels-idx1-ubyte.gz", "e144d726b3acfaa3e44228e80efcd344"),
     ("t10k-images-idx3-ubyte.gz", "5c965bf0a639b31b8f53240b1b52f4d7"),
     ("t10k-labels-idx1-ubyte.gz", "7320c461ea6c1c855c0b718fb2a4b134")])

_EMNIST_IMAGES, _EMNIST_LABELS = (
    {"train": "emnist-balanced-train-images-idx3-ubyte",
     "test": "emnist-balanced-test-images-idx3-ubyte"},
    {"train": "emnist-balanced-train-labels-idx1-ubyte",
     "test": "emnist-balanced-test-labels-idx1-ubyte"})
# One 535 MB zip holds every EMNIST split; only the balanced files are extracted.
_EMNIST_DOWNLOADS = (Download(
    "https://biometrics.nist.gov/cs_links/EMNIST/gzip.zip", "gzip.zip",
    "58c8d27c78d21e728a6bc7b3cc06412e",
    members=tuple(f"gzip/{stem}.gz" for stem in [*_EMNIST_IMAGES.values(),
                                                   *_EMNIST_LABELS.values()])),)
# EMNIST balanced merges the 15 letters whose capital and small forms look alike.
_EMNIST_MERGED = set("cijklmopsuvwxyz")
_EMNIST_CLASSES = tuple(sorted(set(string.digits + string.ascii_letters) - _EMNIST_MERGED))


def _subfolders(torchvision_name: str, name: str, *extra: str) -> tuple[str, ...]:
    raw = f"{torchvision_name}/raw"
    return (raw, name, f"{name}/{raw}", *extra)


FAMILIES: dict[str, IdxFamily] = {
    "mnist": IdxFamily(
        "mnist", "MNIST handwritten digits", *_mnist_files(), _subfolders("MNIST", "mnist"),
        _MNIST_DOWNLOADS, False, tuple(string.digits), ("mnist",)),
    "fashion-mnist": IdxFamily(
        "fashion-mnist", "Fashion-MNIST clothing", *_mnist_files(),
        _subfolders("FashionMNIST", "fashion-mnist"), _FASHION_DOWNLOADS, False,
        ("T-shirt/top", "Trouser", "Pullover", "Dress", "Coat", "Sandal", "Shirt", "Sneaker",
         "Bag", "Ankle boot"), ("fashionmnist", "fashion")),
    "kmnist": IdxFamily(
        "kmnist", "Kuzushiji-MNIST (KMNIST)", *_mnist_files(), _subfolders("KMNIST", "kmnist"),
        _KMNIST_DOWNLOADS, False, ("o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"),
        ("kmnist", "kuzushijimnist", "kuzushiji")),
    "emnist": IdxFamily(
        "emnist", "EMNIST balanced (letters and digits)", _EMNIST_IMAGES, _EMNIST_LABELS,
        _subfolders("EMNIST", "emnist", "gzip", "emnist/gzip", "EMNIST/raw/gzip"),
        _EMNIST_DOWNLOADS, True, _EMNIST_CLASSES, ("emnist",)),
}


def get_family(name: str) -> IdxFamily:
    """The family called ``name``; a KeyError that lists the known names otherwise."""
    try:
        return FAMILIES[name]
    except KeyError:
        raise KeyError(f"unknown data set {name!r}: one of {', '.join(FAMILIES)}") from None


def candidate_folders(family: IdxFamily, folder: Path) -> list[Path]:
    """The folder itself (when it may hold this set), then each layout the set may be in."""
    folder = Path(folder)
    plain = [folder] if owns_plain_folder(family, folder) else []
    return [*plain, *(folder / sub for sub in family.subfolders)]


def sharing_file_names(family: IdxFamily) -> list[IdxFamily]:
    """The sets whose image files have the same names as ``family``'s, itself included."""
    stems = set(family.images.values())
    return [other for other in FAMILIES.values()
            if other.name == family.name or stems & set(other.images.values())]


def named_for(folder: Path) -> str | None:
    """The set a folder is named after (".../fashion-mnist", ".../KMNIST/raw"), if any."""
    folder = Path(folder)
    name = folder.name
    if name.lower() in ("raw", "gzip"):
        name = folder.parent.name
    key = "".join(char for char in name.lower() if char not in "-_. ")
    return next((family.name for family in FAMILIES.values() if key in family.aliases), None)


def owns_plain_folder(family: IdxFamily, folder: Path) -> bool:
    """Whether files directly in ``folder`` may be this set's.

    MNIST, Fashion-MNIST and KMNIST files share names, so loose files are taken as the set
    the folder is named after, else as the first of them (MNIST): never as all three.
    """
    sharing = sharing_file_names(family)
    if len(sharing) == 1:
        return True
    named = named_for(folder)
    if named in {other.name for other in sharing}:
        return named == family.name
    return sharing[0].name == family.name


def _find_stem(folders: list[Path], stem: str) -> Path | None:
    # Raw before gzipped: the same data, and raw reads faster.
    for candidate in folders:
        for name in (stem, stem + ".gz"):
            path = candidate / name
            if path.is_file():
                return path
    return None


def find_files(family: IdxFamily, folder: Path) -> dict[str, Path]:
    """Split -> image file found (raw or gzipped); either split alone is enough."""
    folders = candidate_folders(family, folder)
    found = {split: _find_stem(folders, stem) for split, stem in family.images.items()}
    return {split: path for split, path in found.items() if path is not None}


def find_labels(family: IdxFamily, split: str, image_path: Path) -> Path | None:
    """The label file next to an image file: never one from another layout or set."""
    return _find_stem([image_path.parent], family.labels[split])


def family_available(name: str, folder: Path) -> bool:
    try:
        return bool(find_files(get_family(name), folder))
    except OSError:  # a folder name the system refuses (too long...): nothing there
        return False


def how_to_get(name: str, folder: Path) -> str:
    """One line: where the set was looked for and the ways to get it."""
    family = get_family(name)
    folder = Path(folder)
    train, test = family.images["train"], family.images["test"]
    subfolders = ", ".join(family.subfolders)
    if owns_plain_folder(family, folder):
        looked, put_in = f"looked in {folder} and its subfolders {subfolders}", folder
    else:
        looked, put_in = f"looked in {folder}'s subfolders {subfolders}", folder / family.name
    return (f"{looked}; to get {family.title}: use the Download button, run "
            f"`python main.py datasets --download {family.name}`, or put {train}.gz or "
            f"{test}.gz (with its labels file) in {put_in}; or train on the built-in digits "
            f"(--dataset digits)")


def _missing_message(family: IdxFamily, folder: Path) -> str:
    how = how_to_get(family.name, folder)
    if not folder.exists():
        return f"{family.title}: folder {folder} does not exist; {how}"
    if not folder.is_dir():
        return f"{family.title}: {folder} is not a folder; {how}"
    names = " or ".join(f"{stem}[.gz]" for stem in family.images.values())
    return (f"{family.title}: no image file in {folder} (looked for {names})"
            f"{_taken_as_another(family, folder)}; {how}")


def _taken_as_another(family: IdxFamily, folder: Path) -> str:
    """Why loose files with this set's names were not used: they count as another set."""
    loose = any(_find_stem([folder], stem) for stem in family.images.values())
    if not loose or owns_plain_folder(family, folder):
        return ""
    sharing = sharing_file_names(family)
    owner = next(other for other in sharing if owns_plain_folder(other, folder))
    return (f"; the files directly in {folder} count as {owner.short_title} because "
            f"{', '.join(other.short_title for other in sharing)} files share names: put "
            f"{family.short_title}'s in {folder / family.name}")


def _read(path: Path) -> np.ndarray:
    # read_idx calls an empty file a bad magic number; say what it is.
    try:
        empty = path.stat().st_size == 0
    except OSError:
        empty = False  # read_idx reports it properly
    if empty:
        raise IdxError(f"{path}: empty file (0 bytes); download or copy it again")
    return read_idx(path)


def _read_images(path: Path) -> np.ndarray:
    images = _read(path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise IdxError(f"{path}: expected uint8 images of shape (n, rows, cols), "
                       f"got {images.dtype} {images.shape}")
    if images.shape[0] == 0 or min(images.shape[1:]) < 2:
        raise IdxError(f"{path}: holds no usable images (shape {images.shape})")
    return images


def _read_labels(path: Path, family: IdxFamily, count: int) -> np.ndarray:
    labels = _read(path)
    if labels.ndim != 1:
        raise IdxError(f"{path}: expected one label per image (shape (n,)), got {labels.shape}")
    if labels.shape[0] != count:
        raise IdxError(f"{path}: {labels.shape[0]} labels for {count} images")
    labels = labels.astype(np.int64)
    if labels.size and (labels.min() < 0 or labels.max() >= len(family.classes)):
        raise IdxError(f"{path}: labels range {labels.min()}..{labels.max()}, but "
                       f"{family.title} has classes 0..{len(family.classes) - 1}")
    return labels


def load_family(name: str, folder: Path) -> tuple[np.ndarray, np.ndarray | None, str]:
    """Images float32 (n, rows, cols) in [0, 1] upright, labels int64 or None, split used.

    Prefers the training split, falls back to the test split; labels are optional.
    Raises DatasetMissing (where it looked, how to get it) or IdxError (a damaged file);
    every file is checked before anything is returned, so nothing is half-loaded.
    """
    family = get_family(name)
    folder = Path(folder)
    try:
        found = find_files(family, folder) if folder.is_dir() else {}
    except OSError as error:  # a name the system refuses (too long...), a broken mount
        raise DatasetMissing(f"{family.title}: {folder} cannot be read "
                             f"({error.strerror or error}); {how_to_get(name, folder)}") \
            from None
    split = next((split for split in SPLIT_ORDER if split in found), None)
    if split is None:
        raise DatasetMissing(_missing_message(family, folder))
    image_path = found[split]
    images = _read_images(image_path)
    label_path = find_labels(family, split, image_path)
    labels = None if label_path is None else _read_labels(label_path, family, len(images))
    if family.transpose:
        images = images.transpose(0, 2, 1)
    upright = np.ascontiguousarray(images, dtype=np.float32)
    upright /= 255.0
    return upright, labels, split
