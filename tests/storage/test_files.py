"""RemoteFile: lazy ranged reads, spooled writes, modes, integrity."""

from __future__ import annotations

import io
import os
from collections.abc import Callable

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from bkstorages.exceptions import BKStorageError
from bkstorages.files import RemoteFile
from tests.faultproxy import FaultProxy

MiB = 1024 * 1024
Counting = Callable[..., tuple[BKRepoStorage, FaultProxy]]


def test_opening_costs_nothing_and_a_small_read_one_request(counting: Counting) -> None:
    storage, proxy = counting()
    storage.save("f.txt", ContentFile(b"hello world"))
    proxy.reset_counts()
    fh = storage.open("f.txt")
    assert isinstance(fh, RemoteFile)
    assert fh.name == "f.txt"
    assert fh.mode == "rb"
    assert proxy.count() == 0
    assert fh.read() == b"hello world"
    assert proxy.count() == 1
    fh.close()
    assert fh.closed


def test_opening_a_missing_file_fails_on_first_read(storage: BKRepoStorage) -> None:
    fh = storage.open("missing.txt")
    with pytest.raises(FileNotFoundError):
        fh.read()
    fh.close()


def test_ranged_reads_seek_tell_and_partial_reads(counting: Counting) -> None:
    storage, proxy = counting()
    data = os.urandom(3 * MiB)
    storage.save("big.bin", ContentFile(data))
    proxy.reset_counts()
    with storage.open("big.bin") as fh:
        assert fh.read(10) == data[:10]
        assert fh.tell() == 10
        fh.seek(2 * MiB)
        assert fh.read(5) == data[2 * MiB : 2 * MiB + 5]
        fh.seek(-4, io.SEEK_END)
        assert fh.read() == data[-4:]
        assert fh.read() == b""
        assert fh.size == len(data)
    # One GET per position the reader jumped to, and nothing else.
    assert proxy.count("GET") == 3
    assert proxy.count("HEAD") == 0


def test_size_comes_from_one_head_on_demand(counting: Counting) -> None:
    storage, proxy = counting()
    storage.save("s.bin", ContentFile(b"12345"))
    proxy.reset_counts()
    with storage.open("s.bin") as fh:
        assert fh.size == 5
        assert fh.size == 5
    assert proxy.count() == 1
    assert proxy.count("HEAD") == 1


def test_lines_and_iteration(storage: BKRepoStorage) -> None:
    storage.save("lines.txt", ContentFile(b"one\ntwo\nthree"))
    with storage.open("lines.txt") as fh:
        assert fh.readline() == b"one\n"
        assert list(fh) == [b"two\n", b"three"]
    with storage.open("lines.txt", "r") as text:
        assert text.read() == "one\ntwo\nthree"
    with storage.open("lines.txt", "rt", encoding="utf-8") as text:
        assert text.readlines() == ["one\n", "two\n", "three"]


def test_chunks_stream_in_large_pieces(storage: BKRepoStorage) -> None:
    data = os.urandom(2 * MiB + 123)
    storage.save("chunks.bin", ContentFile(data))
    with storage.open("chunks.bin") as fh:
        pieces = list(fh.chunks())
    assert b"".join(pieces) == data
    assert len(pieces[0]) >= MiB
    assert len(pieces) == 3


def test_reopening_rewinds_and_refuses_another_mode(storage: BKRepoStorage) -> None:
    storage.save("again.txt", ContentFile(b"abc"))
    fh = storage.open("again.txt")
    assert fh.read() == b"abc"
    assert fh.open() is fh
    assert fh.read() == b"abc"
    with pytest.raises(ValueError, match="mode"):
        fh.open("wb")
    fh.close()
    fh.open("rb")
    assert fh.read() == b"abc"
    fh.close()


def test_write_uploads_once_on_close(counting: Counting) -> None:
    storage, proxy = counting()
    fh = storage.open("w/new.txt", "wb")
    fh.write(b"part one, ")
    fh.write(b"part two")
    assert proxy.count("PUT") == 0
    fh.close()
    fh.close()  # harmless
    assert proxy.count("PUT") == 1
    assert storage.open("w/new.txt").read() == b"part one, part two"


def test_flush_uploads_what_was_written(storage: BKRepoStorage) -> None:
    with storage.open("w/flushed.txt", "wb") as fh:
        fh.write(b"first")
        fh.flush()
        assert storage.open("w/flushed.txt").read() == b"first"
        fh.write(b" second")
    assert storage.open("w/flushed.txt").read() == b"first second"


def test_closing_without_writing_uploads_nothing(counting: Counting) -> None:
    storage, proxy = counting()
    with storage.open("w/untouched.txt", "wb"):
        pass
    assert proxy.count("PUT") == 0
    assert not storage.exists("w/untouched.txt")


def test_an_exception_in_the_with_block_stores_nothing(storage: BKRepoStorage) -> None:
    storage.save("w/keep.txt", ContentFile(b"old"))

    def write_then_fail() -> None:
        with storage.open("w/keep.txt", "wb") as fh:
            fh.write(b"half-written")
            raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        write_then_fail()
    assert storage.open("w/keep.txt").read() == b"old"


def test_append_and_update_modes(storage: BKRepoStorage) -> None:
    storage.save("m.txt", ContentFile(b"hello"))
    with storage.open("m.txt", "ab") as fh:
        fh.write(b" world")
    assert storage.open("m.txt").read() == b"hello world"
    with storage.open("m.txt", "r+b") as fh:
        assert fh.read(5) == b"hello"
        fh.seek(0)
        fh.write(b"HELLO")
    assert storage.open("m.txt").read() == b"HELLO world"
    with storage.open("new-append.txt", "ab") as fh:
        fh.write(b"created")
    assert storage.open("new-append.txt").read() == b"created"
    with pytest.raises(FileNotFoundError):
        storage.open("nothing-here.txt", "r+b").read()


def test_exclusive_mode(storage: BKRepoStorage) -> None:
    with storage.open("x.txt", "xb") as fh:
        fh.write(b"mine")
    with pytest.raises(FileExistsError):
        storage.open("x.txt", "xb")
    assert storage.open("x.txt").read() == b"mine"


def test_text_modes(storage: BKRepoStorage) -> None:
    with storage.open("t.txt", "w", encoding="utf-16") as fh:
        fh.write("héllo\n")
    assert storage.open("t.txt").read() == "héllo\n".encode("utf-16")
    with storage.open("t.txt", "r", encoding="utf-16") as fh:
        assert fh.read() == "héllo\n"
    with storage.open("t8.txt", "w") as fh:
        fh.write("ü")
        with pytest.raises(TypeError):
            fh.write(b"bytes")
    assert storage.open("t8.txt").read() == "ü".encode()


def test_modes_are_checked(storage: BKRepoStorage) -> None:
    for mode in ("", "q", "rw", "rbt", "rr"):
        with pytest.raises(ValueError, match="mode"):
            storage.open("a.txt", mode)
    fh = storage.open("a.txt", "rb")
    with pytest.raises(io.UnsupportedOperation):
        fh.write(b"x")
    fh.close()
    fh = storage.open("a.txt", "wb")
    with pytest.raises(io.UnsupportedOperation):
        fh.read()
    with pytest.raises(TypeError):
        fh.write("text")
    fh.close()


def test_a_corrupted_download_is_never_returned_as_whole(counting: Counting, bkrepo_settings: object) -> None:
    storage, proxy = counting()
    data = os.urandom(200_000)
    storage.save("trunc.bin", ContentFile(data))
    fast = BKRepoStorage(endpoint_url=proxy.url, bucket=storage.bucket, backoff=0.01, max_retries=2)
    # Answers that end before their first byte: resuming makes no progress, so the read fails.
    proxy.add_fault("truncate", method="GET", path_regex=r"trunc\.bin", times=None, keep_bytes=0)
    with pytest.raises(BKStorageError, match=r"broke"), fast.open("trunc.bin") as fh:
        fh.read()
    proxy.clear()
    # Answers cut short after some bytes are resumed with Range from where they broke.
    proxy.reset_counts()
    proxy.add_fault("truncate", method="GET", path_regex=r"trunc\.bin", times=3, keep_bytes=30_000)
    with fast.open("trunc.bin") as fh:
        assert fh.read() == data
    assert proxy.count("GET") == 4


def test_write_mode_spools_big_files_to_disk(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(max_memory_size=1024)
    data = os.urandom(100_000)
    with storage.open("spooled.bin", "wb") as fh:
        fh.write(data)
        assert fh.size == len(data)
        assert fh.file._rolled  # type: ignore[attr-defined]  # on disk, not in memory
    assert storage.open("spooled.bin").read() == data


def test_a_file_replaced_between_ranged_reads_is_not_mixed(storage: BKRepoStorage) -> None:
    old, new = os.urandom(300_000), os.urandom(300_000)
    storage.save("changing.bin", ContentFile(old))
    with storage.open("changing.bin") as fh:
        assert fh.read(10) == old[:10]
        storage.save("changing.bin", ContentFile(new))
        fh.seek(200_000)  # a new ranged GET, now of different bytes
        with pytest.raises(BKStorageError, match="changed"):
            fh.read(10)
    assert storage.open("changing.bin").read() == new
