"""Helpers shared by the bkrepo_* management commands.

They work with any Django storage; when a storage offers bkstorages'
``stat(name)`` (size and sha256 in one metadata request) they use it instead
of downloading the file to hash it.
"""

from __future__ import annotations

import hashlib
import os
import queue
import sys
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import IO, Any, TypeVar

from django.core.files import File
from django.core.files.storage import Storage, storages
from django.core.files.storage.handler import InvalidStorageError
from django.core.management.base import CommandError, OutputWrapper

from bkstorages.backends.base import RemoteStorage

CHUNK_SIZE = 1024 * 1024

Item = TypeVar("Item")
Result = TypeVar("Result")


@dataclass(frozen=True)
class Fingerprint:
    """What two copies of a file must share to count as identical."""

    size: int
    sha256: str


def get_storage(alias: str) -> Storage:
    """The storage configured under ``alias`` in STORAGES, or a clear CommandError."""
    try:
        return storages[alias]
    except InvalidStorageError as exc:
        raise CommandError(f"No storage {alias!r} in STORAGES ({exc}).") from exc


def storage_label(storage: Storage, alias: str) -> str:
    return f"{alias!r} ({type(storage).__module__}.{type(storage).__qualname__})"


def human_size(size: float) -> str:
    """1536 -> '1.5 KiB'; bytes below 1 KiB are shown exactly."""
    if size < 1024:
        return f"{int(size)} B"
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}"
    raise AssertionError("unreachable")


def sha256_of_stream(stream: IO[bytes]) -> Fingerprint:
    digest = hashlib.sha256()
    size = 0
    while True:
        chunk = stream.read(CHUNK_SIZE)
        if not chunk:
            break
        digest.update(chunk)
        size += len(chunk)
    return Fingerprint(size, digest.hexdigest())


def local_fingerprint(path: str) -> Fingerprint:
    with open(path, "rb") as fh:
        return sha256_of_stream(fh)


def storage_fingerprint(storage: Storage, name: str) -> Fingerprint:
    """Size and sha256 of a stored file; FileNotFoundError when it is missing.

    Uses ``storage.stat()`` (bkstorages: one metadata request) when it exists
    and reports a sha256, otherwise reads the file once.
    """
    stat = getattr(storage, "stat", None)
    if callable(stat):
        info = stat(name)
        sha256 = getattr(info, "sha256", None)
        if sha256:
            return Fingerprint(int(info.size), str(sha256).lower())
    with storage.open(name, "rb") as fh:
        return sha256_of_stream(fh)


def storage_size(storage: Storage, name: str) -> int:
    stat = getattr(storage, "stat", None)
    if callable(stat):
        return int(stat(name).size)
    return storage.size(name)


def walk_storage(storage: Storage, path: str) -> Iterator[str]:
    """Every file name below ``path`` (recursively), relative to ``path``, in sorted order."""
    prefix = path.strip("/")
    pending = [""]
    while pending:
        relative = pending.pop()
        directory = f"{prefix}/{relative}".strip("/") if prefix else relative
        try:
            dirs, files = storage.listdir(directory)
        except FileNotFoundError:
            continue
        for name in sorted(files):
            yield f"{relative}/{name}".lstrip("/")
        pending.extend(f"{relative}/{d}".lstrip("/") for d in sorted(dirs, reverse=True))


def list_files(storage: Storage, path: str) -> dict[str, Fingerprint | None]:
    """Every file below ``path`` (relative name -> fingerprint, or None when the listing does not say).

    bkstorages storages list a whole tree with sizes and sha256 in listing
    pages (``storage.iter_files``): one request per page of files instead of
    one per folder and one metadata request per file; other storages are
    walked with ``listdir()``.
    """
    iter_files = getattr(storage, "iter_files", None)
    if not callable(iter_files):
        return dict.fromkeys(walk_storage(storage, path))
    root = path.strip("/")
    skip = len(root) + 1 if root else 0
    found: dict[str, Fingerprint | None] = {}
    for stat in iter_files(root):
        found[stat.name[skip:]] = Fingerprint(int(stat.size), str(stat.sha256).lower()) if stat.sha256 else None
    return dict(sorted(found.items()))


def save_exactly(storage: Storage, name: str, fileobj: IO[bytes]) -> None:
    """Store ``fileobj`` under exactly ``name``, replacing any file there.

    bkstorages storages do it in one upload (``upload_file``); for other
    storages an existing file is deleted first, since ``save()`` would pick
    another name, and a renamed result is an error.
    """
    if isinstance(storage, RemoteStorage):
        storage.upload_file(name, fileobj)
        return
    if storage.exists(name):
        storage.delete(name)
    saved = storage.save(name, File(fileobj, name=name.rsplit("/", 1)[-1]))
    if saved != name:
        storage.delete(saved)
        raise CommandError(f"the storage saved the file as {saved!r} instead of {name!r}")


def join_name(prefix: str, relative: str) -> str:
    prefix = prefix.strip("/")
    return f"{prefix}/{relative}" if prefix else relative


def describe_error(exc: BaseException) -> str:
    """A one-line description of an error for reports (exceptions never carry the password)."""
    text = str(exc) or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if not text.startswith(type(exc).__name__) else text


class Progress:
    """A progress display: a tqdm bar on a terminal, otherwise one plain line per finished item.

    tqdm is optional (``pip install bkstorages[contrib]``). The bar counts
    bytes when a total size is given.
    """

    def __init__(
        self,
        stdout: OutputWrapper,
        total_items: int,
        total_bytes: int | None = None,
        description: str = "",
        enabled: bool = True,
    ) -> None:
        self.stdout = stdout
        self.total_items = total_items
        self.done_items = 0
        self._lock = threading.Lock()
        self._bar: Any = None
        if enabled and total_items and sys.stderr.isatty():
            try:
                from tqdm import tqdm
            except ImportError:
                tqdm = None
            if tqdm is not None:
                if total_bytes:
                    self._bar = tqdm(
                        total=total_bytes, unit="B", unit_scale=True, unit_divisor=1024, desc=description, leave=True
                    )
                else:
                    self._bar = tqdm(total=total_items, unit="file", desc=description, leave=True)
                self._bytes_mode = bool(total_bytes)

    @property
    def is_bar(self) -> bool:
        return self._bar is not None

    def item_done(self, line: str, size: int = 0, style: Any = None) -> None:
        """One item finished: advance the bar, or print ``line`` when there is no bar."""
        with self._lock:
            self.done_items += 1
            if self._bar is not None:
                self._bar.update(size if self._bytes_mode else 1)
            else:
                counter = f"[{self.done_items}/{self.total_items}] "
                self.stdout.write(counter + line, style_func=style)

    def message(self, line: str, style: Any = None) -> None:
        """A line that must always be shown (e.g. a failure), without breaking the bar."""
        with self._lock:
            if self._bar is not None:
                self._bar.write(line, file=sys.stderr)
            else:
                self.stdout.write(line, style_func=style)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None


class Stopwatch:
    def __init__(self) -> None:
        self.started = time.monotonic()

    def __str__(self) -> str:
        return f"{time.monotonic() - self.started:.1f}s"


def atomic_local_write(destination: str, chunks: Iterator[bytes]) -> Fingerprint:
    """Write ``chunks`` to ``destination`` through a temporary file and an atomic rename.

    An interrupted download therefore never leaves a half-written file under
    the final name; the next run simply downloads that file again.
    """
    directory = os.path.dirname(destination) or "."
    os.makedirs(directory, exist_ok=True)
    temporary = os.path.join(directory, f".{os.path.basename(destination)}.bkrepo-partial-{os.getpid()}")
    digest = hashlib.sha256()
    size = 0
    try:
        with open(temporary, "wb") as fh:
            for chunk in chunks:
                fh.write(chunk)
                digest.update(chunk)
                size += len(chunk)
        os.replace(temporary, destination)
    except BaseException:
        if os.path.exists(temporary):
            os.remove(temporary)
        raise
    return Fingerprint(size, digest.hexdigest())


def run_parallel(
    function: Callable[[Item], Result], items: Iterable[Item], workers: int
) -> Iterator[tuple[Item, Result | None, BaseException | None]]:
    """Call ``function`` on every item from ``workers`` threads; yield ``(item, result, error)`` as each finishes.

    The threads are daemon threads: when the user presses Ctrl-C the command
    stops at once instead of waiting for transfers in flight (an upload that
    is cut off never creates a file, and downloads go through a temporary
    file), and no further item is started.
    """
    pending: queue.SimpleQueue[Item] = queue.SimpleQueue()
    finished: queue.SimpleQueue[tuple[Item, Result | None, BaseException | None]] = queue.SimpleQueue()
    count = 0
    for item in items:
        pending.put(item)
        count += 1
    stop = threading.Event()

    def work() -> None:
        while not stop.is_set():
            try:
                item = pending.get_nowait()
            except queue.Empty:
                return
            try:
                finished.put((item, function(item), None))
            except BaseException as exc:
                finished.put((item, None, exc))

    for number in range(min(workers, count)):
        threading.Thread(target=work, name=f"bkrepo-worker-{number}", daemon=True).start()
    try:
        for _ in range(count):
            while True:
                try:
                    yield finished.get(timeout=0.2)  # a timeout keeps the main thread responsive to Ctrl-C
                    break
                except queue.Empty:
                    continue
    finally:
        stop.set()
