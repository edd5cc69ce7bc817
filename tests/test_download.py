"""Downloading a set, against a local http.server only: never the internet."""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import io
import os
import socket
import threading
import zipfile
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from core.data.download import (
    CHUNK_BYTES,
    DownloadCancelled,
    DownloadError,
    download_family,
    download_folder,
)
from core.data.families import FAMILIES, Download, load_family


@pytest.fixture(autouse=True)
def no_proxy(monkeypatch):
    """A proxy from the environment must not see requests meant for 127.0.0.1."""
    for variable in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")


class Server:
    """A local HTTP server over a folder that records the paths it was asked for."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.requests: list[str] = []
        server = self

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self) -> None:
                server.requests.append(self.path)
                super().do_GET()

            def log_message(self, *args) -> None:  # keep the test output quiet
                pass

        handler = functools.partial(Handler, directory=str(root))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.02,),
                                       name="test-http", daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


@pytest.fixture
def server(tmp_path):
    root = tmp_path / "served"
    root.mkdir()
    served = Server(root)
    yield served
    served.close()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def idx_gz(array: np.ndarray) -> bytes:
    """A gzipped uint8 IDX file, byte-for-byte the same on every run (mtime 0)."""
    buffer = io.BytesIO()
    header = bytes([0, 0, 0x08, array.ndim]) + b"".join(
        int(d).to_bytes(4, "big") for d in array.shape)
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped:
        zipped.write(header + array.tobytes())
    return buffer.getvalue()


def serve_fake_mnist(monkeypatch, root: Path, count: int = 250) -> dict[str, bytes]:
    """Fake MNIST files in the served folder, and the table patched to their md5 sums."""
    rng = np.random.default_rng(0)
    files = {
        "train-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (count, 28, 28), np.uint8)),
        "train-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, count, np.uint8)),
        "t10k-images-idx3-ubyte.gz": idx_gz(rng.integers(0, 256, (20, 28, 28), np.uint8)),
        "t10k-labels-idx1-ubyte.gz": idx_gz(rng.integers(0, 10, 20, np.uint8)),
    }
    for name, data in files.items():
        (root / name).write_bytes(data)
    real = FAMILIES["mnist"]
    downloads = tuple(replace(d, md5=md5(files[d.filename])) for d in real.downloads)
    monkeypatch.setitem(FAMILIES, "mnist", replace(real, downloads=downloads))
    return files


def leftovers(folder: Path) -> list[str]:
    return sorted(path.name for path in folder.rglob("*")) if folder.exists() else []


# ------------------------------------------------------------------------------ success


def test_files_appear_verified_and_load(tmp_path, server, monkeypatch):
    files = serve_fake_mnist(monkeypatch, server.root)
    data = tmp_path / "data"
    paths = download_family("mnist", data, base_url=server.url)
    target = download_folder("mnist", data)
    assert target == data / "mnist"
    assert [path.name for path in paths] == list(files)
    assert all(path.parent == target for path in paths)
    assert leftovers(target) == sorted(files)  # no temporary files left
    for path in paths:
        assert path.read_bytes() == files[path.name]
    images, labels, split = load_family("mnist", data)
    assert split == "train" and images.shape == (250, 28, 28) and labels.shape == (250,)
    # The official URL's file name is kept; only the prefix is replaced.
    assert sorted(server.requests) == sorted(f"/{name}" for name in files)


def test_progress_counts_up_to_the_total(tmp_path, server, monkeypatch):
    files = serve_fake_mnist(monkeypatch, server.root)
    calls: list[tuple[int, int | None, str]] = []
    download_family("mnist", tmp_path, progress=lambda *call: calls.append(call) or True,
                    base_url=server.url)
    first = [call for call in calls if "train-images-idx3-ubyte.gz" in call[2]]
    assert len(first) > 2  # called at every chunk, not only at the end
    size = len(files["train-images-idx3-ubyte.gz"])
    assert size > 2 * CHUNK_BYTES
    counts = [done for done, _, _ in first]
    assert counts == sorted(counts) and counts[0] == 0 and counts[-1] == size
    assert {total for _, total, _ in first} == {size}
    assert "(1 of 4)" in first[0][2] and "MNIST" in first[0][2]
    assert any("(4 of 4)" in what for _, _, what in calls)


def test_present_valid_files_are_not_fetched_again(tmp_path, server, monkeypatch):
    files = serve_fake_mnist(monkeypatch, server.root)
    download_family("mnist", tmp_path, base_url=server.url)
    assert len(server.requests) == 4
    server.requests.clear()
    damaged = download_folder("mnist", tmp_path) / "t10k-labels-idx1-ubyte.gz"
    damaged.write_bytes(b"damaged")
    paths = download_family("mnist", tmp_path, base_url=server.url)
    assert server.requests == ["/t10k-labels-idx1-ubyte.gz"]  # only the bad one
    assert damaged.read_bytes() == files[damaged.name] and len(paths) == 4


def test_a_mirror_is_tried_when_the_first_url_cannot_be_reached(tmp_path, server,
                                                                monkeypatch):
    data = b"mirror data" * 100
    (server.root / "file.gz").write_bytes(data)
    dead = f"http://127.0.0.1:{closed_port()}/x/file.gz"
    download = Download(dead, "file.gz", md5(data), mirrors=(f"{server.url}/file.gz",))
    monkeypatch.setitem(FAMILIES, "kmnist", replace(FAMILIES["kmnist"], downloads=(download,)))
    [path] = download_family("kmnist", tmp_path)
    assert path.read_bytes() == data and server.requests == ["/file.gz"]


# ------------------------------------------------------------------------------ failures


def test_cancel_leaves_no_file_and_no_temporary_file(tmp_path, server, monkeypatch):
    serve_fake_mnist(monkeypatch, server.root)
    calls: list[int] = []

    def stop_after_first_chunk(done: int, total: int | None, what: str) -> bool:
        calls.append(done)
        return done == 0

    with pytest.raises(DownloadCancelled):
        download_family("mnist", tmp_path, stop_after_first_chunk, base_url=server.url)
    assert calls == [0, CHUNK_BYTES]  # stopped within one chunk
    assert leftovers(download_folder("mnist", tmp_path)) == []


def test_cancel_on_a_later_file_keeps_only_the_complete_ones(tmp_path, server, monkeypatch):
    files = serve_fake_mnist(monkeypatch, server.root)

    def stop_at_third(done: int, total: int | None, what: str) -> bool:
        return "(3 of 4)" not in what or done == 0

    with pytest.raises(DownloadCancelled):
        download_family("mnist", tmp_path, stop_at_third, base_url=server.url)
    target = download_folder("mnist", tmp_path)
    assert leftovers(target) == ["train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"]
    assert all((target / name).read_bytes() == files[name] for name in leftovers(target))


def test_a_none_returning_callback_does_not_cancel(tmp_path, server, monkeypatch):
    serve_fake_mnist(monkeypatch, server.root)
    assert len(download_family("mnist", tmp_path, lambda *call: None,
                               base_url=server.url)) == 4


def test_a_checksum_mismatch_keeps_nothing(tmp_path, server, monkeypatch):
    files = serve_fake_mnist(monkeypatch, server.root)
    real = FAMILIES["mnist"]
    wrong = (replace(real.downloads[0], md5="0" * 32), *real.downloads[1:])
    monkeypatch.setitem(FAMILIES, "mnist", replace(real, downloads=wrong))
    with pytest.raises(DownloadError) as info:
        download_family("mnist", tmp_path, base_url=server.url)
    message = str(info.value)
    assert message.startswith("checksum mismatch for train-images-idx3-ubyte.gz")
    assert "0" * 32 in message and md5(files["train-images-idx3-ubyte.gz"]) in message
    assert leftovers(download_folder("mnist", tmp_path)) == []


def test_http_404_names_the_url(tmp_path, server, monkeypatch):
    serve_fake_mnist(monkeypatch, server.root)
    with pytest.raises(DownloadError) as info:
        download_family("mnist", tmp_path, base_url=server.url + "/nothing/here/")
    url = f"{server.url}/nothing/here/train-images-idx3-ubyte.gz"
    assert str(info.value) == f"HTTP 404 for {url}"
    assert leftovers(download_folder("mnist", tmp_path)) == []


def test_no_network_is_said_plainly(tmp_path):
    port = closed_port()
    with pytest.raises(DownloadError) as info:
        download_family("fashion-mnist", tmp_path, base_url=f"http://127.0.0.1:{port}/x",
                        timeout=5)
    message = str(info.value)
    assert message.startswith(f"no network: could not reach 127.0.0.1:{port}")
    assert "\n" not in message
    assert isinstance(info.value, OSError)
    assert leftovers(download_folder("fashion-mnist", tmp_path)) == []


def test_an_unwritable_place_is_said_plainly(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    with pytest.raises(DownloadError, match=f"cannot write to {blocker / 'mnist'}"):
        download_family("mnist", blocker, base_url="http://127.0.0.1:9/")


def test_a_read_only_folder_is_permission_denied(tmp_path):
    folder = tmp_path / "read-only"
    (folder / "mnist").mkdir(parents=True)
    (folder / "mnist").chmod(0o500)
    try:
        if os.access(folder / "mnist", os.W_OK):
            pytest.skip("running as root: permission bits do not apply")
        with pytest.raises(DownloadError, match="cannot write to .*permission denied"):
            download_family("mnist", folder, base_url="http://127.0.0.1:9/")
    finally:
        (folder / "mnist").chmod(0o700)


def test_permission_denied_is_said_plainly_even_as_root(tmp_path, monkeypatch):
    def refuse(self, *args, **kwargs):
        raise PermissionError(13, "Permission denied", str(self))

    monkeypatch.setattr(Path, "mkdir", refuse)
    with pytest.raises(DownloadError) as info:
        download_family("kmnist", tmp_path / "data", base_url="http://127.0.0.1:9/")
    assert str(info.value) == f"cannot write to {tmp_path / 'data' / 'kmnist'}: permission denied"


# ------------------------------------------------------------------------------- EMNIST


def serve_fake_emnist(monkeypatch, root: Path) -> dict[str, bytes]:
    rng = np.random.default_rng(1)
    family = FAMILIES["emnist"]
    balanced = {
        f"{family.images['train']}.gz": idx_gz(rng.integers(0, 256, (30, 28, 28), np.uint8)),
        f"{family.labels['train']}.gz": idx_gz(rng.integers(0, 47, 30, np.uint8)),
        f"{family.images['test']}.gz": idx_gz(rng.integers(0, 256, (10, 28, 28), np.uint8)),
        f"{family.labels['test']}.gz": idx_gz(rng.integers(0, 47, 10, np.uint8)),
    }
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in balanced.items():
            archive.writestr(f"gzip/{name}", data)
        archive.writestr("gzip/emnist-letters-train-images-idx3-ubyte.gz", b"not wanted")
        archive.writestr("gzip/emnist-byclass-mapping.txt", b"not wanted")
    (root / "gzip.zip").write_bytes(buffer.getvalue())
    real = family.downloads[0]
    monkeypatch.setitem(FAMILIES, "emnist", replace(
        family, downloads=(replace(real, md5=md5(buffer.getvalue())),)))
    return balanced


def test_emnist_extracts_only_the_balanced_files(tmp_path, server, monkeypatch):
    balanced = serve_fake_emnist(monkeypatch, server.root)
    whats: set[str] = set()
    paths = download_family("emnist", tmp_path, lambda d, t, what: whats.add(what) or True,
                            base_url=server.url)
    target = download_folder("emnist", tmp_path)
    assert sorted(path.name for path in paths) == sorted(balanced)
    assert leftovers(target) == sorted(balanced)  # no zip, no other split, no temporaries
    assert all((target / name).read_bytes() == data for name, data in balanced.items())
    assert any("extracting" in what for what in whats)
    images, labels, split = load_family("emnist", tmp_path)
    assert images.shape == (30, 28, 28) and labels.shape == (30,) and split == "train"
    server.requests.clear()
    download_family("emnist", tmp_path, base_url=server.url)
    assert server.requests == []  # already there: nothing fetched


def test_emnist_cancel_while_extracting_leaves_no_member(tmp_path, server, monkeypatch):
    balanced = serve_fake_emnist(monkeypatch, server.root)
    count = {"extracting": 0}

    def stop_in_second_member(done: int, total: int | None, what: str) -> bool:
        if "extracting" in what and done == 0:
            count["extracting"] += 1
        return count["extracting"] < 2

    with pytest.raises(DownloadCancelled):
        download_family("emnist", tmp_path, stop_in_second_member, base_url=server.url)
    target = download_folder("emnist", tmp_path)
    assert leftovers(target) == ["gzip.zip"]  # the verified zip stays for a retry
    server.requests.clear()
    download_family("emnist", tmp_path, base_url=server.url)
    assert server.requests == []  # the zip was not fetched again
    assert leftovers(target) == sorted(balanced)
