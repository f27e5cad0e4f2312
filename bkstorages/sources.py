"""Upload sources: content to upload, readable by range from several threads.

Neutral ground between the storages (which turn Django's ``File`` objects into
sources) and the client (which sends them); it imports neither.
"""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
import threading
from collections.abc import Iterator
from typing import IO, Any

from bkstorages.exceptions import IntegrityError

__all__ = ["CHUNK_SIZE", "ContentError", "UploadSource"]

MiB = 1024 * 1024
CHUNK_SIZE = MiB  # unit of streaming, both directions
HASH_UP_FRONT_MAX = 4 * MiB  # seekable content up to this size is hashed before it is sent


class ContentError(Exception):
    """Internal: reading the caller's content failed while a request was sending it.

    Deliberately not an ``OSError``: HTTP libraries take an ``OSError`` raised
    while a body is sent for a broken connection (and a retry). This wrapper
    passes through them, and the transport raises ``original`` - the
    caller's own exception object - at once.
    """

    def __init__(self, original: BaseException) -> None:
        super().__init__(str(original))
        self.original = original


class UploadSource:
    """Binary content to upload, readable by range from several threads.

    Reads are serialised with a lock (seek + read), so the parts of a block
    upload can share one file handle while holding at most one chunk each in
    memory. Build one with :meth:`from_fileobj`.
    """

    def __init__(self, fileobj: IO[bytes], size: int, sha256: str | None = None, *, owned: bool = False) -> None:
        self.fileobj = fileobj
        self.size = size
        self.sha256 = sha256
        self._owned = owned
        self._lock = threading.Lock()

    @classmethod
    def from_fileobj(cls, fileobj: Any, *, spool_dir: str | None = None) -> UploadSource:
        """Wrap ``fileobj`` (rewound first). Text and non-seekable content is spooled to disk.

        The sha256 is computed up front when it is cheap (spooled content, or
        seekable content up to ``HASH_UP_FRONT_MAX`` bytes) so it can be
        declared to the server; otherwise it is computed while the bytes
        stream out.
        """
        probe = fileobj.read(0) if hasattr(fileobj, "read") else b""
        seekable = _rewind(fileobj)
        if isinstance(probe, str) or not seekable:
            return cls._spool(fileobj, spool_dir)
        source = cls(fileobj, _measure(fileobj))
        if source.size <= HASH_UP_FRONT_MAX:
            source.sha256 = source.compute_sha256()
        return source

    @classmethod
    def _spool(cls, fileobj: Any, spool_dir: str | None) -> UploadSource:
        spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - owned by the source, closed by close()
        hasher = hashlib.sha256()
        size = 0
        try:
            while True:
                chunk = fileobj.read(CHUNK_SIZE)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return cls(spool, size, hasher.hexdigest(), owned=True)

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:
            self.fileobj.seek(offset)
            data = self.fileobj.read(length)
        if isinstance(data, str):  # pragma: no cover - text content is spooled
            data = data.encode("utf-8")
        return data

    def chunks(self, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        end = self.size if length is None else offset + length
        position = offset
        while position < end:
            data = self.read_at(position, min(CHUNK_SIZE, end - position))
            if not data:
                raise IntegrityError(f"the content ended at byte {position}, {end - position} bytes short")
            position += len(data)
            yield data

    def sending(self, offset: int, length: int) -> Iterator[bytes]:
        """:meth:`chunks` for a request body: a failure of the content itself becomes :class:`ContentError`."""
        chunks = self.chunks(offset, length)
        while True:
            try:
                data = next(chunks)
            except StopIteration:
                return
            except OSError as error:
                raise ContentError(error) from error
            yield data

    def compute_sha256(self) -> str:
        hasher = hashlib.sha256()
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher.hexdigest()

    def close(self) -> None:
        if self._owned:
            self.fileobj.close()


def _rewind(fileobj: Any) -> bool:
    """Seek to the start if possible; True when the object is seekable."""
    seekable = getattr(fileobj, "seekable", None)
    try:
        if seekable is not None and not seekable():
            return False
        fileobj.seek(0)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


def _measure(fileobj: Any) -> int:
    fileobj.seek(0, os.SEEK_END)
    size = int(fileobj.tell())
    fileobj.seek(0)
    return size
