"""File contents on disk: upload bodies received into ``tmp/``, then kept by sha256 in ``blobs/``.

A body is streamed into ``tmp/`` while it is hashed (sha256 and md5) and
fsynced; the store then renames it to ``blobs/ab/cd/<sha256>`` under its
write lock, in the same step that commits the node. Nothing here knows
about nodes or SQLite.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import threading
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import BinaryIO

from .records import BodyIncomplete, Received

#: Size of the buffers used to move upload bodies to disk.
CHUNK_SIZE = 4 * 1024 * 1024
#: While an upload streams in, ask the kernel to write it to disk every so often.
FLUSH_EVERY = 32 * 1024 * 1024


class Blobs:
    """Content-addressed blobs and the scratch space uploads arrive in."""

    def __init__(self, root: Path) -> None:
        self.blob_dir = root / "blobs"
        self.tmp_dir = root / "tmp"
        for folder in (self.blob_dir, self.tmp_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp_dir.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()

    def path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def all(self) -> Iterator[Path]:
        return self.blob_dir.glob("*/*/*")

    def new_tmp_path(self, suffix: str) -> Path:
        return self.tmp_dir / f"{uuid.uuid4().hex}{suffix}"

    def receive(self, body: BinaryIO, length: int | None) -> Received:
        """Stream ``body`` into a temp file while hashing it; fsync it.

        ``length`` is the declared Content-Length (None for chunked bodies).
        Raises ``BodyIncomplete`` if fewer bytes arrive; the temp file is removed.

        Reading the next chunk from the socket overlaps with hashing (sha256
        and md5) and writing the previous one, each in a worker thread
        (hashlib and ``os.write`` release the GIL), with two buffers in turn.
        """
        path = self.new_tmp_path(".part")
        sha256 = hashlib.sha256()
        md5 = hashlib.md5()  # noqa: S324 - bk-repo's checksum, not security
        size = 0
        # Sized by the declared length: a 4 KiB body needs no 4 MiB buffers, and
        # the second buffer is made only once a body needs more than one.
        first = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length)
        buffers = [memoryview(bytearray(first))]
        turn = 0
        pending: list[Future[None]] = []
        flushing: Future[None] | None = None
        flushed = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while length is None or size < length:
                want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length - size)
                if turn == len(buffers):
                    buffers.append(memoryview(bytearray(CHUNK_SIZE)))
                got = _fill(body, buffers[turn][:want])
                for future in pending:  # the previous chunk is done before the next one starts
                    future.result()
                pending = []
                if not got:
                    break
                chunk = buffers[turn][:got]
                size += got
                if size == got and (got < want or (length is not None and size >= length)):
                    # A small body: not worth a trip to the worker threads.
                    sha256.update(chunk)
                    md5.update(chunk)
                    _write_all(fd, chunk)
                else:
                    workers = _workers()
                    pending = [
                        workers.submit(sha256.update, chunk),
                        workers.submit(md5.update, chunk),
                        workers.submit(_write_all, fd, chunk),
                    ]
                    if size - flushed >= FLUSH_EVERY and (flushing is None or flushing.done()):
                        # Start writing to disk early, so the final fsync has little left to do.
                        flushing = workers.submit(os.fdatasync, fd)
                        flushed = size
                turn ^= 1
                if got < want:
                    break
            for future in pending:
                future.result()
            if length is not None and size < length:
                raise BodyIncomplete(f"{size} of {length} bytes")
            if flushing is not None:
                flushing.result()
            os.fsync(fd)
        except BaseException:
            _abandon(fd, path, [*pending, *([flushing] if flushing else [])])
            raise
        os.close(fd)
        return Received(path=path, size=size, sha256=sha256.hexdigest(), md5=md5.hexdigest())

    def temp_file(self) -> BinaryIO:
        """An anonymous scratch file in the data dir, gone once closed."""
        path = self.new_tmp_path(".scratch")
        handle = open(path, "w+b")  # noqa: SIM115 - the caller closes it
        with contextlib.suppress(OSError):
            path.unlink()
        return handle

    def discard(self, received: Received) -> None:
        if not received.committed:
            with contextlib.suppress(OSError):
                received.path.unlink()

    def place(self, received: Received) -> None:
        """Move a received file into its content-addressed place (under the store's write lock)."""
        target = self.path(received.sha256)
        if target.exists():
            remove_later(received.path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received.path, target)
            _fsync_dir(target.parent)
        received.committed = True

    def drop(self, sha256: str) -> None:
        """Remove a blob no node references (under the store's write lock).

        Renamed away at once (so a new upload of the same content cannot lose
        its blob), deleted later (unlinking a big file takes a while).
        """
        trash = self.new_tmp_path(".trash")
        with contextlib.suppress(OSError):
            os.replace(self.path(sha256), trash)
            remove_later(trash)


def remove_later(path: Path) -> None:
    def remove() -> None:
        with contextlib.suppress(OSError):
            path.unlink()

    _workers().submit(remove)


def _abandon(fd: int, path: Path, futures: list[Future[None]]) -> None:
    """After a failed receive: let the workers finish with ``fd``, then close and remove the file."""
    for future in futures:
        with contextlib.suppress(BaseException):
            future.result()
    os.close(fd)
    with contextlib.suppress(OSError):
        path.unlink()


_worker_pool: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    """A shared pool for hashing and writing upload chunks."""
    global _worker_pool
    with _worker_lock:
        if _worker_pool is None:
            _worker_pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="bkrepo-upload")
        return _worker_pool


def _fill(body: BinaryIO, view: memoryview) -> int:
    """Read until ``view`` is full or the body ends; returns the byte count."""
    filled = 0
    readinto = getattr(body, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            data = body.read(len(view) - filled)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        filled += got
    return filled


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
