"""RemoteFile: the file object ``storage.open()`` returns.

Reading (``rb``/``r``) is lazy: nothing is requested until the first read, then
one streaming GET from the current position serves sequential reads;
``seek()`` elsewhere starts a new ranged GET on the next read, so reading the
header of a large image never downloads the rest. Writing (``wb``/``ab``/
``r+b``/``xb`` and their text forms) goes to a ``SpooledTemporaryFile`` that is
uploaded on ``close()`` or ``flush()``; leaving a ``with`` block with an
exception uploads nothing.

This module talks to the store only through the storage object, never
through HTTP itself.
"""

from __future__ import annotations

import io
import tempfile
from typing import IO, TYPE_CHECKING, Any, Protocol

from django.core.files.base import File

from bkstorages import conf

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import TracebackType

__all__ = ["RemoteFile"]

MiB = 1024 * 1024
READAHEAD = 64 * 1024  # first window of reads that do not start a whole read


class Reader(Protocol):
    """What a storage returns for reading an object from an offset."""

    position: int
    total: int | None
    etag: str | None
    readahead: int | None

    def read(self, size: int = -1) -> bytes: ...

    def close(self) -> None: ...


class RemoteStore(Protocol):
    """The storage methods a RemoteFile uses."""

    max_memory_size: int

    def open_reader(self, name: str, start: int = 0) -> Reader: ...

    def size(self, name: str) -> int: ...

    def exists(self, name: str) -> bool: ...

    def download_into(self, name: str, fileobj: IO[bytes]) -> None: ...

    def upload_file(self, name: str, fileobj: IO[bytes], *, exclusive: bool = False) -> None: ...


class RemoteReadStream(io.RawIOBase):
    """An unbuffered, seekable, read-only stream over a remote object."""

    def __init__(self, storage: RemoteStore, name: str) -> None:
        super().__init__()
        self._storage = storage
        self._name = name
        self._position = 0
        self._reader: Reader | None = None
        self._size: int | None = None
        self._etag: str | None = None  # the version being read: every later range must match it

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    @property
    def size(self) -> int:
        if self._size is None:
            if self._reader is not None and self._reader.total is not None:
                self._size = self._reader.total
            else:
                self._size = self._storage.size(self._name)
        return self._size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if not len(view):
            return 0
        reader = self._reader_here(bounded=True)
        data = reader.read(len(view))
        self._etag = self._etag or reader.etag
        if self._size is None and reader.total is not None:
            self._size = reader.total
        count = len(data)
        view[:count] = data
        self._position += count
        return count

    def _reader_here(self, *, bounded: bool = False) -> Reader:
        """The reader at the current position; a new one asks for bounded ranges if ``bounded``."""
        if self._reader is None or self._reader.position != self._position:
            self._drop_reader()
            reader = self._storage.open_reader(self._name, self._position)
            reader.etag = self._etag
            if bounded:
                reader.readahead = READAHEAD
            self._reader = reader
        return self._reader

    def iter_chunks(self, chunk_size: int) -> Iterator[bytes]:
        """The rest of the object in chunks of up to ``chunk_size`` bytes, with no extra copy."""
        while True:
            reader = self._reader_here()
            data = reader.read(chunk_size)
            self._etag = self._etag or reader.etag
            if self._size is None and reader.total is not None:
                self._size = reader.total
            if not data:
                return
            self._position += len(data)
            yield data

    def readall(self) -> bytes:
        """The rest of the object, as one operation (one deadline)."""
        reader = self._reader_here()
        data = reader.read(-1)
        self._etag = self._etag or reader.etag
        if reader.total is not None:
            self._size = reader.total
        self._position += len(data)
        return data

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        if whence == io.SEEK_SET:
            position = offset
        elif whence == io.SEEK_CUR:
            position = self._position + offset
        elif whence == io.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence ({whence})")
        if position < 0:
            raise ValueError("negative seek position")
        self._position = position
        return position

    def tell(self) -> int:
        return self._position

    def _drop_reader(self) -> None:
        reader, self._reader = self._reader, None
        if reader is not None:
            reader.close()

    def close(self) -> None:
        self._drop_reader()
        super().close()


def _parse_mode(mode: str) -> tuple[str, bool, bool]:
    """(kind, plus, text) of an ``open()`` mode; kind is one of r, w, a, x."""
    if not mode or set(mode) - set("rwaxbt+") or len(set(mode)) != len(mode):
        raise ValueError(f"invalid mode: {mode!r}")
    kinds = [c for c in mode if c in "rwax"]
    if len(kinds) != 1 or ("b" in mode and "t" in mode):
        raise ValueError(f"invalid mode: {mode!r}")
    return kinds[0], "+" in mode, "b" not in mode


class RemoteFile(File):
    """A file in remote storage (``storage.open(name, mode)``).

    Attributes: ``name`` (the storage name), ``mode``, ``size`` (one HEAD,
    on demand, unless a read already told us). Binary by default; text modes
    decode/encode with ``encoding`` (UTF-8 by default).
    """

    DEFAULT_CHUNK_SIZE = 1 * MiB

    def __init__(self, name: str, mode: str, storage: RemoteStore, encoding: str | None = None) -> None:
        self.name: str = name
        self.mode = mode
        self._kind, self._plus, self._text = _parse_mode(mode)
        self._storage = storage
        self._encoding = encoding or "utf-8"
        self._file: IO[Any] | None = None
        self._binary: IO[bytes] | None = None
        self._raw: RemoteReadStream | None = None
        self._dirty = False
        self._closed = False
        if self._kind == "x" and storage.exists(name):
            raise FileExistsError(f"{name!r} already exists")

    def __repr__(self) -> str:
        return f"<RemoteFile: {self.name} ({self.mode})>"

    # -- the underlying file, created on first use ------------------------------

    @property
    def writable_mode(self) -> bool:
        return self._kind != "r" or self._plus

    def _get_file(self) -> IO[Any]:
        if self._closed:
            raise ValueError("I/O operation on closed file.")
        if self._file is None:
            if self.writable_mode:
                self._file = self._open_spool()
            else:
                self._raw = RemoteReadStream(self._storage, self.name)
                binary = io.BufferedReader(self._raw, buffer_size=64 * 1024)
                self._binary = binary
                self._file = io.TextIOWrapper(binary, encoding=self._encoding) if self._text else binary
        return self._file

    def _set_file(self, value: IO[Any] | None) -> None:
        self._file = value

    file = property(_get_file, _set_file)

    def _open_spool(self) -> IO[Any]:
        spool: IO[bytes]
        if self._text:
            # A real temporary file: TextIOWrapper needs a full binary file API.
            spool = tempfile.TemporaryFile(dir=conf.file_upload_temp_dir())  # noqa: SIM115 - closed in close()
        else:
            spool = tempfile.SpooledTemporaryFile(  # noqa: SIM115 - closed in close()
                max_size=self._storage.max_memory_size, dir=conf.file_upload_temp_dir()
            )
        try:
            if self._kind in ("a", "r"):
                try:
                    self._storage.download_into(self.name, spool)
                except FileNotFoundError:
                    if self._kind == "r":
                        raise
                spool.seek(0, io.SEEK_END if self._kind == "a" else io.SEEK_SET)
        except BaseException:
            spool.close()
            raise
        self._binary = spool
        if self._text:
            return io.TextIOWrapper(spool, encoding=self._encoding)  # type: ignore[type-var]
        return spool

    # -- reading --------------------------------------------------------------------

    @property
    def size(self) -> int:
        if self.writable_mode:
            binary = self._binary if self._file is not None else None
            if binary is None:
                self._get_file()
                binary = self._binary
            assert binary is not None
            if self._text:
                self._file.flush()  # type: ignore[union-attr]
            position = binary.tell()
            binary.seek(0, io.SEEK_END)
            size = binary.tell()
            binary.seek(position)
            return size
        self._get_file()  # no request: just the stream object, which remembers the size
        assert self._raw is not None
        return self._raw.size

    def read(self, *args: Any) -> Any:
        self._check_readable()
        return self.file.read(*args)

    def readline(self, *args: Any) -> Any:
        self._check_readable()
        return self.file.readline(*args)

    def readlines(self, *args: Any) -> Any:
        self._check_readable()
        return self.file.readlines(*args)

    def _check_readable(self) -> None:
        if self._kind != "r" and not self._plus:
            raise io.UnsupportedOperation(f"not readable (mode {self.mode!r})")

    def __iter__(self) -> Iterator[Any]:
        self._check_readable()
        return iter(self.file)

    def chunks(self, chunk_size: int | None = None) -> Iterator[bytes]:
        """The whole file in chunks; binary reads stream straight from the object."""
        if self.writable_mode or self._text:
            yield from super().chunks(chunk_size)
            return
        self._get_file()
        assert self._binary is not None
        assert self._raw is not None
        self._binary.seek(0)  # empties the buffer, so the raw stream is where the file is
        yield from self._raw.iter_chunks(chunk_size or self.DEFAULT_CHUNK_SIZE)

    def readable(self) -> bool:
        return self._kind == "r" or self._plus

    def writable(self) -> bool:
        return self.writable_mode

    def seekable(self) -> bool:
        return True

    def seek(self, *args: Any) -> int:
        return int(self.file.seek(*args))

    def tell(self) -> int:
        return int(self.file.tell())

    # -- writing --------------------------------------------------------------------

    def write(self, data: Any) -> int:
        if not self.writable_mode:
            raise io.UnsupportedOperation(f"not writable (mode {self.mode!r})")
        if self._text and isinstance(data, bytes):
            raise TypeError("write() argument must be str in text mode, not bytes")
        if not self._text and isinstance(data, str):
            raise TypeError("a bytes-like object is required in binary mode, not 'str'")
        self._dirty = True
        return int(self.file.write(data))

    def writelines(self, lines: Any) -> None:
        for line in lines:
            self.write(line)

    def truncate(self, size: int | None = None) -> int:
        if not self.writable_mode:
            raise io.UnsupportedOperation(f"not writable (mode {self.mode!r})")
        self._dirty = True
        return int(self.file.truncate(size))

    def flush(self) -> None:
        """Upload what was written so far (nothing if nothing was written)."""
        if self._closed or self._file is None:
            return
        self._file.flush()
        if self.writable_mode and self._dirty:
            self._upload()

    def _upload(self) -> None:
        binary = self._binary
        assert binary is not None
        position = binary.tell()
        binary.seek(0)
        try:
            self._storage.upload_file(self.name, binary, exclusive=self._kind == "x")
        finally:
            binary.seek(position)
        self._dirty = False

    # -- life cycle -------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        return self._closed

    def open(self, mode: str | None = None, *args: Any, **kwargs: Any) -> RemoteFile:
        """Re-open: rewind (Django's File.open); a different mode is refused."""
        if mode is not None and _parse_mode(mode) != (self._kind, self._plus, self._text):
            raise ValueError(f"{self.name!r} is open with mode {self.mode!r}; open the storage again for {mode!r}")
        if self._closed:
            self._closed = False
            self._dirty = False
            self._file = None
        else:
            self.seek(0)
        return self

    def close(self) -> None:
        """Upload pending writes, then release the connection or the spool. Safe to call twice."""
        if self._closed:
            return
        try:
            if self._file is not None and self.writable_mode and self._dirty:
                self._file.flush()
                self._upload()
        finally:
            self._discard()

    def _discard(self) -> None:
        file, self._file = self._file, None
        self._closed = True
        self._dirty = False
        try:
            if file is not None:
                file.close()
        finally:
            if self._binary is not None and not self._binary.closed:
                self._binary.close()
            if self._raw is not None:
                self._raw.close()
            self._binary = None
            self._raw = None

    def __enter__(self) -> RemoteFile:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is not None:
            # Never store half-written content.
            self._discard()
        else:
            self.close()

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("RemoteFile objects cannot be pickled; pickle the storage and the name instead")
