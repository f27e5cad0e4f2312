"""Sixteen threads sharing one storage, straight to the dev server.

Each thread saves, reads back and deletes names of its own (plain and block
uploads side by side, sharing the part workers), all of them write the very
same bytes under one shared name, all of them overwrite one name with bytes
of their own, and, with overwrite off, all of them save under one name at
once. Nothing may fail and nothing may be mixed up.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from tests.faults.conftest import Bucket

THREADS = 16
ROUNDS = 3
KiB = 1024
# Small enough that a few hundred KiB go up as block uploads.
BLOCK_OPTIONS = {"block_upload_threshold": 256 * KiB, "block_size": 128 * KiB, "block_upload_workers": 3}


def run_in_threads(work: Callable[[int], None]) -> None:
    """Run ``work(i)`` in THREADS threads started together; fail with every error seen."""
    barrier = threading.Barrier(THREADS)
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def run(i: int) -> None:
        try:
            barrier.wait(30)
            work(i)
        except BaseException as exc:
            with lock:
                errors.append((i, exc))

    threads = [threading.Thread(target=run, args=(i,), name=f"storage-user-{i}") for i in range(THREADS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert not any(thread.is_alive() for thread in threads)
    assert not errors, "\n".join(f"thread {i}: {exc!r}" for i, exc in sorted(errors, key=lambda e: e[0]))


def test_sixteen_threads_with_their_own_names_and_the_same_bytes(bkrepo_settings: Any, bucket: Bucket) -> None:
    storage = BKRepoStorage(**BLOCK_OPTIONS)
    contents = {i: os.urandom((300 if i % 2 else 20) * KiB + i) for i in range(THREADS)}
    same_small = b"every thread writes these very bytes\n" * 50
    same_big = os.urandom(300 * KiB)

    def work(i: int) -> None:
        data = contents[i]
        for round_number in range(ROUNDS):
            own = f"threads/{i}/round-{round_number}.bin"
            assert storage.save(own, ContentFile(data)) == own
            with storage.open(own, "rb") as fh:
                assert fh.read() == data
            assert storage.size(own) == len(data)

            assert storage.save("threads/same.txt", ContentFile(same_small)) == "threads/same.txt"
            assert storage.open("threads/same.txt", "rb").read() == same_small
            assert storage.save("threads/same.bin", ContentFile(same_big)) == "threads/same.bin"
            with storage.open("threads/same.bin", "rb") as fh:
                assert b"".join(fh.chunks()) == same_big

            storage.delete(own)
            assert not storage.exists(own)

    run_in_threads(work)
    assert bucket.read("threads/same.txt") == same_small
    assert bucket.read("threads/same.bin") == same_big
    assert bucket.names() == ["/threads/same.bin", "/threads/same.txt"]


def test_sixteen_threads_saving_one_name_without_overwrite_get_sixteen_names(
    bkrepo_settings: Any, bucket: Bucket
) -> None:
    storage = BKRepoStorage(file_overwrite=False, **BLOCK_OPTIONS)
    contents = {i: os.urandom((300 if i % 2 else 20) * KiB + i) for i in range(THREADS)}
    saved: dict[int, str] = {}

    def work(i: int) -> None:
        name = storage.save("uploads/report.pdf", ContentFile(contents[i]))
        saved[i] = name
        with storage.open(name, "rb") as fh:
            assert fh.read() == contents[i]

    run_in_threads(work)
    assert len(set(saved.values())) == THREADS
    assert "uploads/report.pdf" in saved.values()
    assert bucket.names() == sorted(f"/{name}" for name in saved.values())
    for i, name in saved.items():
        assert bucket.read(name) == contents[i]


@pytest.mark.parametrize("upload", ["plain", "block"])
def test_sixteen_threads_overwriting_one_name(bkrepo_settings: Any, bucket: Bucket, upload: str) -> None:
    storage = BKRepoStorage(**BLOCK_OPTIONS)
    size = 20 * KiB if upload == "plain" else 300 * KiB
    contents = {i: os.urandom(size + i) for i in range(THREADS)}
    valid = {hashlib.sha256(data).hexdigest() for data in contents.values()}

    def work(i: int) -> None:
        for _round in range(ROUNDS):
            assert storage.save("threads/shared.bin", ContentFile(contents[i])) == "threads/shared.bin"
            with storage.open("threads/shared.bin", "rb") as fh:
                assert hashlib.sha256(fh.read()).hexdigest() in valid  # one writer's bytes, whole

    run_in_threads(work)
    final = bucket.read("threads/shared.bin")
    assert final is not None
    assert hashlib.sha256(final).hexdigest() in valid
    assert bucket.names() == ["/threads/shared.bin"]
