"""Choosing data in the window: missing sets, download on request, the user's own images."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PySide6.QtWidgets import QFileDialog

from core.config import TrainConfig
from tests.test_data_families import write_split
from tests.test_window import make_settings, open_window

SMALL = TrainConfig(hidden_units=16, samples=600, batch_size=50, lr=3e-3)


def choose_dataset(window, name):
    combo = window.controls.combos["dataset"]
    combo.setCurrentIndex(combo.findData(name))
    combo.activated.emit(combo.currentIndex())


@pytest.fixture
def window(qtbot, tmp_path, monkeypatch):
    data = tmp_path / "data"
    data.mkdir()
    win = open_window(qtbot, make_settings(tmp_path / "s.ini", SMALL), data_dir=str(data))
    monkeypatch.setattr(win, "confirm", lambda title, text: True)
    yield win
    win.close()


def test_the_chooser_lists_every_data_set(window):
    combo = window.controls.combos["dataset"]
    names = [combo.itemData(i) for i in range(combo.count())]
    assert names == ["digits", "patches", "mnist", "fashion-mnist", "kmnist", "emnist",
                     "folder", "npz"]


def test_the_current_data_is_described_and_previewed(window, qtbot):
    qtbot.waitUntil(lambda: window.controls.preview.pixmap() is not None, timeout=5000)
    assert "built-in digits" in window.controls.data_info.text()
    assert "held out" in window.controls.data_info.text()
    assert not window.controls.preview.pixmap().isNull()


def test_a_missing_set_says_how_to_get_it_and_offers_a_download(window, qtbot):
    choose_dataset(window, "fashion-mnist")
    assert window.banner.isVisible()
    assert "Fashion-MNIST is not here" in window.banner.text
    buttons = [b.text() for b in window.banner._buttons]
    assert "Download Fashion-MNIST…" in buttons and "Choose folder…" in buttons
    assert window.controls.combos["dataset"].currentData() == "digits"  # nothing changed
    qtbot.wait(200)
    assert window.worker.loop.trainer.config.dataset == "digits"


def test_download_on_request_then_train_on_it(window, qtbot, monkeypatch, tmp_path):
    from gui import download_dialog

    def fake_download(name, folder, progress=None, base_url=None, timeout=20.0):
        target = folder / name
        progress(0, 100, "train-images-idx3-ubyte.gz (1 of 1)")
        write_split(target, name, "train", count=300)
        progress(100, 100, "train-images-idx3-ubyte.gz (1 of 1)")
        return sorted(target.iterdir())

    monkeypatch.setattr(download_dialog, "download_family", fake_download)
    choose_dataset(window, "kmnist")
    button = next(b for b in window.banner._buttons if b.text().startswith("Download"))
    button.click()
    qtbot.waitUntil(lambda: window._painted.config.dataset == "kmnist", timeout=20000)
    assert window._painted.dataset_size == 270  # 300 images, 10% held out
    assert "Kuzushiji" in window._painted.data_description


def test_a_cancelled_or_failed_download_says_so(window, qtbot, monkeypatch):
    from core.data.download import DownloadCancelled, DownloadError
    from gui import download_dialog

    outcomes = iter([DownloadCancelled(), DownloadError("no network: could not reach host")])

    def failing(name, folder, progress=None, base_url=None, timeout=20.0):
        raise next(outcomes)

    monkeypatch.setattr(download_dialog, "download_family", failing)
    window._download("emnist")
    qtbot.waitUntil(lambda: "cancelled" in window.banner.text, timeout=10000)
    window._download("emnist")
    qtbot.waitUntil(lambda: "no network" in window.banner.text, timeout=10000)
    assert window.worker.loop.trainer.config.dataset == "digits"


def test_the_download_dialog_cancels(qtbot, monkeypatch, tmp_path):
    from core.data.download import DownloadCancelled
    from gui import download_dialog

    started = []

    def slow(name, folder, progress=None, base_url=None, timeout=20.0):
        for done in range(10_000):
            started.append(done)
            time.sleep(0.001)
            if progress(done, 10_000, "gzip.zip") is False:
                raise DownloadCancelled()
        return []

    monkeypatch.setattr(download_dialog, "download_family", slow)
    dialog = download_dialog.DownloadDialog("emnist", "EMNIST", tmp_path)
    qtbot.addWidget(dialog)
    with qtbot.waitSignal(dialog.finished_with, timeout=10000) as signal:
        dialog.start()
        qtbot.waitUntil(lambda: len(started) > 10, timeout=5000)
        dialog.canceled.emit()  # what the Cancel button sends
    assert signal.args == ["cancelled"]
    assert len(started) < 10_000


def write_pngs(folder, sizes):
    from PIL import Image

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for i, (height, width) in enumerate(sizes):
        pixels = rng.integers(0, 256, size=(height, width), dtype=np.uint8)
        Image.fromarray(pixels).save(folder / f"image{i:03d}.png")
    (folder / "broken.png").write_bytes(b"not a png")


def test_training_on_a_folder_of_own_images(window, qtbot, monkeypatch, tmp_path):
    images = tmp_path / "mine"
    write_pngs(images, [(20, 20)] * 60)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args, **kwargs: str(images)))
    choose_dataset(window, "folder")
    qtbot.waitUntil(lambda: window._painted.config.dataset == "folder", timeout=20000)
    assert window._painted.image_shape == (20, 20)
    assert "skipped 1 unreadable file" in window._painted.data_description
    assert window.controls.editors["image_size"].isVisibleTo(window.controls)


def test_mixed_sizes_are_refused_and_the_run_goes_on(window, qtbot, monkeypatch, tmp_path):
    images = tmp_path / "mixed"
    write_pngs(images, [(20, 20)] * 5 + [(24, 30)] * 5)
    monkeypatch.setattr(QFileDialog, "getExistingDirectory",
                        staticmethod(lambda *args, **kwargs: str(images)))
    choose_dataset(window, "folder")
    qtbot.waitUntil(lambda: "sizes" in window.banner.text, timeout=20000)
    assert window.worker.loop.trainer.config.dataset == "digits"  # the run carries on
    qtbot.waitUntil(lambda: window.controls.applied.dataset == "digits", timeout=5000)


def test_training_on_an_array_file(window, qtbot, monkeypatch, tmp_path):
    path = tmp_path / "images.npz"
    np.savez(path, images=np.random.default_rng(0).random((80, 12, 12)).astype(np.float32))
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: (str(path), "")))
    choose_dataset(window, "npz")
    qtbot.waitUntil(lambda: window._painted.config.dataset == "npz", timeout=20000)
    assert window._painted.image_shape == (12, 12)
    assert window.settings.own_data["npz"] == str(path)


def test_cancelling_the_file_dialog_changes_nothing(window, qtbot, monkeypatch):
    monkeypatch.setattr(QFileDialog, "getOpenFileName",
                        staticmethod(lambda *args, **kwargs: ("", "")))
    choose_dataset(window, "npz")
    assert window.controls.combos["dataset"].currentData() == "digits"
    qtbot.wait(200)
    assert window.worker.loop.trainer.config.dataset == "digits"
