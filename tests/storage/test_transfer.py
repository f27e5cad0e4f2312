"""Large transfers: block upload with parallel parts, retries and abort; bounded memory; threads."""

from __future__ import annotations

import hashlib
import os
import tempfile
import threading
from collections.abc import Callable
from typing import Any

import psutil
import pytest
from django.core.files.base import ContentFile, File

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from bkstorages.exceptions import BKStorageError
from tests.faultproxy import FaultProxy
from tests.storage.test_contract import OneWayStream

KiB = 1024
MiB = 1024 * KiB
BLOCKS = {"block_upload_threshold": MiB, "block_size": 256 * KiB, "block_upload_workers": 3}
Counting = Callable[..., tuple[BKRepoStorage, FaultProxy]]


def object_route(storage: BKRepoStorage, name: str) -> str:
    return f"^/generic/{storage.project}/{storage.bucket}/{name}$"


def block_route(storage: BKRepoStorage, name: str) -> str:
    return f"^/generic/block/{storage.project}/{storage.bucket}/{name}$"


def test_large_files_go_up_in_parallel_parts(counting: Counting) -> None:
    storage, proxy = counting(**BLOCKS)
    data = os.urandom(3 * MiB + 17)
    assert storage.save("big/file.bin", ContentFile(data)) == "big/file.bin"
    assert proxy.count("POST", block_route(storage, "big/file.bin")) == 1  # start
    assert proxy.count("PUT", object_route(storage, "big/file.bin")) == 13  # 12 full parts and a short one
    assert proxy.count("GET", block_route(storage, "big/file.bin")) == 1  # parts checked by sha256
    assert proxy.count("PUT", block_route(storage, "big/file.bin")) == 1  # complete
    assert storage.open("big/file.bin").read() == data
    assert storage.stat("big/file.bin").sha256 == hashlib.sha256(data).hexdigest()


def test_block_uploads_respect_overwrite_off(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(file_overwrite=False, **BLOCKS)
    first, second = os.urandom(2 * MiB), os.urandom(2 * MiB)
    assert storage.save("keep.bin", ContentFile(first)) == "keep.bin"
    other = storage.save("keep.bin", ContentFile(second))
    assert other != "keep.bin"
    assert storage.open("keep.bin").read() == first
    assert storage.open(other).read() == second


def test_a_failed_part_is_sent_again(counting: Counting) -> None:
    storage, proxy = counting(backoff=0.01, **BLOCKS)
    data = os.urandom(2 * MiB)
    proxy.add_fault("error", method="PUT", path_regex=object_route(storage, "retry.bin"), status=503, times=2)
    assert storage.save("retry.bin", ContentFile(data)) == "retry.bin"
    assert proxy.count("PUT", object_route(storage, "retry.bin")) == 8 + 2
    assert storage.open("retry.bin").read() == data


def test_a_block_upload_that_fails_is_aborted_and_leaves_nothing(counting: Counting) -> None:
    storage, proxy = counting(backoff=0.01, max_retries=1, **BLOCKS)
    storage.save("old.bin", ContentFile(b"old content"))
    proxy.add_fault("error", method="PUT", path_regex=object_route(storage, "old.bin"), status=500, times=None)
    with pytest.raises(BKStorageError):
        storage.save("old.bin", ContentFile(os.urandom(2 * MiB)))
    assert proxy.count("DELETE", block_route(storage, "old.bin")) == 1  # abort
    proxy.clear()
    assert storage.open("old.bin").read() == b"old content"
    assert storage.listdir("") == ([], ["old.bin"])


def test_large_content_that_cannot_seek_is_spooled_to_disk(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(**BLOCKS)
    data = os.urandom(2 * MiB + 5)
    assert storage.save("piped.bin", File(OneWayStream(data), name="piped.bin")) == "piped.bin"
    assert storage.open("piped.bin").read() == data


@pytest.mark.slow
def test_memory_stays_bounded_for_a_large_file(bkrepo_settings: Any) -> None:
    """256 MiB up (block upload, from a file on disk) and back (chunks): RSS grows by at most 32 MiB."""
    size = 256 * MiB
    storage = BKRepoPrivateStorage()
    process = psutil.Process()
    with tempfile.TemporaryFile() as fh:
        hasher = hashlib.sha256()
        block = os.urandom(MiB)
        for i in range(size // MiB):
            piece = block[i % 256 :] + block[: i % 256]
            hasher.update(piece)
            fh.write(piece)
        fh.seek(0)
        expected = hasher.hexdigest()
        baseline = process.memory_info().rss
        assert storage.save("huge.bin", File(fh, name="huge.bin")) == "huge.bin"
        after_save = process.memory_info().rss
    received = hashlib.sha256()
    total = 0
    with storage.open("huge.bin") as remote:
        for chunk in remote.chunks():
            received.update(chunk)
            total += len(chunk)
    after_read = process.memory_info().rss
    assert total == size
    assert received.hexdigest() == expected
    assert after_save - baseline <= 32 * MiB
    assert after_read - baseline <= 32 * MiB


def test_sixteen_threads_share_storages(bkrepo_settings: Any) -> None:
    private, public = BKRepoPrivateStorage(), BKRepoPublicStorage()
    for storage in (private, public):
        for i in range(16):
            storage.save(f"t/{i}.txt", ContentFile(f"file {i}".encode()))
    barrier = threading.Barrier(16)
    errors: list[BaseException] = []
    urls: dict[int, set[str]] = {i: set() for i in range(16)}

    def work(i: int) -> None:
        try:
            barrier.wait(30)
            for _ in range(5):
                for storage in (private, public):
                    assert storage.exists(f"t/{i}.txt")
                    assert storage.open(f"t/{i}.txt").read() == f"file {i}".encode()
                    assert storage.listdir("t")[1] == sorted(f"{n}.txt" for n in range(16))
                urls[i].add(private.url(f"t/{i}.txt"))
                urls[i].add(private.url("t/0.txt"))
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not errors, errors
    # Every thread got the same cached URL for the shared name, and its own for its file.
    shared = {url for i in range(16) for url in urls[i] if "/t/0.txt?" in url}
    assert len(shared) == 1
    assert all(len(urls[i]) == (1 if i == 0 else 2) for i in range(16))
