"""Download an MNIST-family set on request, with progress, cancellation and checksums.

Only ever called when the user asks (the GUI's download button, ``python main.py datasets
--download NAME``): never at start-up, never in the tests (they serve files from a local
http.server through ``base_url``).  Each file is streamed into a temporary file beside its
destination and renamed into place only once complete and its md5 verified, so a
cancelled or failed download leaves no partial file; complete files already there are not
fetched again, so a retry resumes where the last one stopped.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import tempfile
import urllib.error
import urllib.parse
import urllib.request
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import BinaryIO

from core.data.families import Download, IdxFamily, get_family

__all__ = ["CHUNK_BYTES", "DownloadCancelled", "DownloadError", "Progress", "download_family",
           "download_folder"]

#: Bytes read between two progress calls: a cancel takes effect within one chunk.
CHUNK_BYTES = 64 * 1024

#: (bytes done, bytes total or None when unknown, what is being done) -> False to cancel.
Progress = Callable[[int, int | None, str], bool]


class DownloadError(OSError):
    """A download that failed; ``str(error)`` says what failed in one line."""


class DownloadCancelled(Exception):
    """The progress callback asked to stop; nothing partial was left behind."""


def download_folder(name: str, folder: Path) -> Path:
    """Where ``download_family(name, folder)`` puts the files: a subfolder named after the set.

    The members of the family share file names (train-images-idx3-ubyte.gz...), so each
    gets its own subfolder of the data folder, one that ``find_files`` searches.
    """
    return Path(folder) / get_family(name).name


def download_family(name: str, folder: Path, progress: Progress | None = None,
                    base_url: str | None = None, timeout: float = 20.0) -> list[Path]:
    """Fetch the set's files into ``download_folder(name, folder)``; return the files' paths.

    ``base_url`` replaces everything before the file name in the official URLs (tests point
    it at a local server).  ``progress`` is called after every chunk; returning False (not
    merely a falsy None) cancels with DownloadCancelled.  Raises DownloadError with a
    one-line reason: no network, an HTTP error, a checksum mismatch, an unwritable folder.
    """
    family = get_family(name)
    target = download_folder(name, folder)
    _make_folder(target)
    report = progress or (lambda done, total, what: True)
    paths: list[Path] = []
    count = len(family.downloads)
    for index, download in enumerate(family.downloads, start=1):
        label = f"{family.title}: {download.filename} ({index} of {count})"
        if download.members:
            paths += _fetch_archive(family, download, target, base_url, timeout, report, label)
        else:
            paths.append(_fetch_verified(download, target, base_url, timeout, report, label))
    return paths


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise DownloadError(f"cannot write to {folder}: permission denied") from None
    except OSError as error:
        raise DownloadError(f"cannot write to {folder}: {error.strerror or error}") from None
    if not os.access(folder, os.W_OK | os.X_OK):
        raise DownloadError(f"cannot write to {folder}: permission denied")


def _fetch_verified(download: Download, target: Path, base_url: str | None, timeout: float,
                    report: Progress, label: str) -> Path:
    """The file in ``target``, downloaded unless a copy with the right md5 is there."""
    destination = target / download.filename
    if _md5_of(destination) == download.md5:
        return destination
    with _temporary_file(target, download.filename) as (handle, temporary):
        digest = _stream(_urls(download, base_url), handle, timeout, report, label)
        handle.close()
        if digest != download.md5:
            raise DownloadError(f"checksum mismatch for {download.filename} "
                                f"(expected {download.md5}, got {digest})")
        _move(temporary, destination)
    return destination


def _fetch_archive(family: IdxFamily, download: Download, target: Path, base_url: str | None,
                   timeout: float, report: Progress, label: str) -> list[Path]:
    """Extract only ``download.members`` from a zip (fetched first unless already valid).

    Members are extracted to temporary files and all renamed into place at the end, so a
    cancel leaves none of them; the verified zip stays until every member is out, so a
    retry does not download it again.
    """
    outputs = [target / Path(member).name for member in download.members]
    if all(path.is_file() and path.stat().st_size > 0 for path in outputs):
        return outputs
    archive = _fetch_verified(download, target, base_url, timeout, report, label)
    try:
        with zipfile.ZipFile(archive) as zipped, _Temporaries(target) as temps:
            for member, output in zip(download.members, outputs, strict=True):
                handle = temps.new(output.name)
                _extract(zipped, member, handle, report, f"{family.title}: extracting "
                         f"{output.name}", archive)
            temps.rename_all(outputs)
    except zipfile.BadZipFile as error:
        raise DownloadError(f"{archive} is not a valid zip file ({error})") from None
    archive.unlink(missing_ok=True)
    return outputs


def _extract(zipped: zipfile.ZipFile, member: str, handle: BinaryIO, report: Progress,
             label: str, archive: Path) -> None:
    try:
        info = zipped.getinfo(member)
    except KeyError:
        raise DownloadError(f"{archive} lacks {member}") from None
    done = 0
    _check(report(done, info.file_size, label))
    with zipped.open(info) as source:
        while chunk := source.read(CHUNK_BYTES):
            _write(handle, chunk)
            done += len(chunk)
            _check(report(done, info.file_size, label))


class _Temporaries:
    """Temporary files in one folder: removed on any exit unless renamed into place."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.files: list[tuple[BinaryIO, Path]] = []

    def __enter__(self) -> _Temporaries:
        return self

    def new(self, name: str) -> BinaryIO:
        handle, path = _open_temporary(self.folder, name)
        self.files.append((handle, path))
        return handle

    def rename_all(self, destinations: list[Path]) -> None:
        for (handle, path), destination in zip(self.files, destinations, strict=True):
            handle.close()
            _move(path, destination)
        self.files.clear()

    def __exit__(self, *exc_info: object) -> None:
        for handle, path in self.files:
            handle.close()
            path.unlink(missing_ok=True)
        self.files.clear()


def _open_temporary(folder: Path, name: str) -> tuple[BinaryIO, Path]:
    try:
        descriptor, path = tempfile.mkstemp(prefix=f".{name}.", suffix=".part", dir=folder)
    except PermissionError:
        raise DownloadError(f"cannot write to {folder}: permission denied") from None
    except OSError as error:
        raise DownloadError(f"cannot write to {folder}: {error.strerror or error}") from None
    os.close(descriptor)
    return open(path, "wb"), Path(path)  # closed by the caller


@contextmanager
def _temporary_file(folder: Path, name: str) -> Iterator[tuple[BinaryIO, Path]]:
    """A temporary file beside the destination, removed unless renamed away by the caller."""
    handle, path = _open_temporary(folder, name)
    try:
        yield handle, path
    finally:
        handle.close()
        path.unlink(missing_ok=True)


def _urls(download: Download, base_url: str | None) -> list[str]:
    if base_url is None:
        return [download.url, *download.mirrors]
    return [base_url.rstrip("/") + "/" + download.url.rsplit("/", 1)[-1]]


def _stream(urls: list[str], handle: BinaryIO, timeout: float, report: Progress,
            label: str) -> str:
    """Write the first URL that answers into ``handle``; return the md5 of what was written.

    A mirror is tried only when the one before could not be reached or refused the file
    before any byte came; the error reported is the first URL's, naming the others tried.
    """
    errors: list[DownloadError] = []
    for url in urls:
        try:
            response = _open(url, timeout)
        except DownloadError as error:
            errors.append(error)
            continue
        with response:
            return _copy(response, url, handle, timeout, report, label)
    first = str(errors[0])
    if len(errors) > 1:
        first += "; also tried " + "; ".join(str(error) for error in errors[1:])
    raise DownloadError(first)


def _open(url: str, timeout: float):
    request = urllib.request.Request(url, headers={"User-Agent": "rhoscope"})
    try:
        return urllib.request.urlopen(request, timeout=timeout)
    except urllib.error.HTTPError as error:
        error.close()
        raise DownloadError(f"HTTP {error.code} for {url}") from None
    except urllib.error.URLError as error:
        raise DownloadError(f"no network: could not reach {_host(url)} "
                            f"({_reason(error.reason)})") from None
    except TimeoutError:
        raise DownloadError(f"no network: {_host(url)} did not answer within "
                            f"{timeout:g} s") from None
    except (OSError, http.client.HTTPException) as error:
        raise DownloadError(f"no network: could not reach {_host(url)} "
                            f"({_reason(error)})") from None


def _copy(response, url: str, handle: BinaryIO, timeout: float, report: Progress,
          label: str) -> str:
    length = response.headers.get("Content-Length")
    total = int(length) if length and length.isdigit() else None
    digest = hashlib.md5(usedforsecurity=False)
    done = 0
    _check(report(done, total, label))
    while True:
        try:
            chunk = response.read(CHUNK_BYTES)
        except TimeoutError:
            raise DownloadError(f"no network: {_host(url)} stopped answering (nothing for "
                                f"{timeout:g} s) while sending {url}") from None
        except (OSError, http.client.HTTPException) as error:
            raise DownloadError(f"connection to {_host(url)} lost while downloading {url} "
                                f"({_reason(error)})") from None
        if not chunk:
            break
        _write(handle, chunk)
        digest.update(chunk)
        done += len(chunk)
        _check(report(done, total, label))
    if total is not None and done != total:
        raise DownloadError(f"download of {url} stopped after {done} of {total} bytes")
    return digest.hexdigest()


def _write(handle: BinaryIO, chunk: bytes) -> None:
    try:
        handle.write(chunk)
    except OSError as error:
        raise DownloadError(f"cannot write to {Path(handle.name).parent}: "
                            f"{error.strerror or error}") from None


def _move(source: Path, destination: Path) -> None:
    try:
        os.replace(source, destination)
    except OSError as error:
        raise DownloadError(f"cannot write to {destination}: "
                            f"{error.strerror or error}") from None


def _check(keep_going: bool) -> None:
    if keep_going is False:
        raise DownloadCancelled("download cancelled")


def _md5_of(path: Path) -> str | None:
    """The file's md5, or None when there is no readable file (it will be fetched again)."""
    digest = hashlib.md5(usedforsecurity=False)
    try:
        with path.open("rb") as source:
            while chunk := source.read(1 << 20):
                digest.update(chunk)
    except OSError:
        return None
    return digest.hexdigest()


def _host(url: str) -> str:
    return urllib.parse.urlsplit(url).netloc or url


def _reason(reason: object) -> str:
    if isinstance(reason, OSError) and reason.strerror:
        return reason.strerror
    return str(reason)
