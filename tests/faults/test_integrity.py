"""Transfers are checked end to end, and random reads stay small.

A ``corrupt`` fault flips one byte of an answer while keeping its length, as
a broken proxy or disk would: only the sha256 check can notice it. Small
objects are hashed as they arrive, large ones in a worker thread; both must
refuse the bytes. Random reads must ask for bounded ranges and reuse their
connection instead of asking for the rest of the object every time.
"""

from __future__ import annotations

import hashlib
import os
import random
import re
import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files import File
from django.core.files.base import ContentFile

from bkstorages.exceptions import IncompleteDownloadError, IntegrityError
from tests.faultproxy import FaultProxy
from tests.faults.conftest import Bucket, Routes

KiB = 1024
MiB = 1024 * KiB
SMALL = os.urandom(256 * KiB)
LARGE = os.urandom(12 * MiB)  # above the size that is hashed in a worker thread
RANGE_RE = re.compile(r"^bytes=(\d+)-(\d*)$")


def _read_all(storage: Any, name: str) -> bytes:
    with storage.open(name, "rb") as fh:
        return fh.read()


def _read_chunks(storage: Any, name: str) -> bytes:
    with storage.open(name, "rb") as fh:
        return b"".join(fh.chunks())


def _hash_threads() -> list[threading.Thread]:
    return [thread for thread in threading.enumerate() if thread.name == "bkstorages-sha256"]


@pytest.mark.parametrize("read", [_read_all, _read_chunks], ids=["read", "chunks"])
@pytest.mark.parametrize("data", [SMALL, LARGE], ids=["small", "large"])
def test_a_flipped_byte_is_refused(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    read: Callable[[Any, str], bytes],
    data: bytes,
) -> None:
    bucket.put("blob.bin", data)
    fault_proxy.add_fault("corrupt", method="GET", path_regex=routes.object("blob.bin"))
    with pytest.raises(IntegrityError, match="do not match the object's sha256"):
        read(make_storage(), "blob.bin")
    assert fault_proxy.count("GET", routes.object("blob.bin")) == 1
    assert not _hash_threads()  # the worker thread of a large download ended with it
    assert bucket.read("blob.bin") == data  # nothing was changed on the server


def test_the_same_read_without_the_fault_succeeds(
    make_storage: Callable[..., Any], bucket: Bucket, routes: Routes
) -> None:
    bucket.put("blob.bin", LARGE)
    assert _read_chunks(make_storage(), "blob.bin") == LARGE
    assert not _hash_threads()


def test_a_resumed_download_is_checked_as_a_whole(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("blob.bin", LARGE)
    # The first answer breaks after 3 MiB; the resumed one carries a flipped byte.
    fault_proxy.add_fault("reset_response", method="GET", path_regex=routes.object("blob.bin"), after_bytes=3 * MiB)
    fault_proxy.add_fault("corrupt", method="GET", path_regex=routes.object("blob.bin"), at_byte=MiB)
    with pytest.raises(IntegrityError):
        _read_chunks(make_storage(), "blob.bin")
    ranges = [seen.headers.get("range") for seen in fault_proxy.seen if seen.method == "GET"]
    assert ranges[0] == "bytes=0-"
    resumed = RANGE_RE.match(ranges[1] or "")
    assert resumed is not None
    assert int(resumed.group(1)) > 0  # it went on from where the first answer broke


def test_verify_downloads_off_skips_the_sha256_but_not_the_length(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("blob.bin", SMALL)
    storage = make_storage(verify_downloads=False, max_retries=0)
    fault_proxy.add_fault("corrupt", method="GET", path_regex=routes.object("blob.bin"), at_byte=10)
    flipped = bytearray(SMALL)
    flipped[10] ^= 0xFF
    assert _read_all(storage, "blob.bin") == bytes(flipped)  # trusted: handed over as received
    fault_proxy.add_fault("truncate", method="GET", path_regex=routes.object("blob.bin"), keep_bytes=1000)
    with pytest.raises(IncompleteDownloadError):
        _read_all(storage, "blob.bin")


def test_random_reads_ask_for_small_ranges_on_one_connection(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("blob.bin", LARGE)
    storage = make_storage()
    picker = random.Random(7)
    offsets = [picker.randrange(0, len(LARGE) - 4 * KiB) for _ in range(40)]
    fault_proxy.reset_counts()
    connections_before = fault_proxy.connections
    for offset in offsets:
        with storage.open("blob.bin", "rb") as fh:
            fh.seek(offset)
            assert fh.read(4 * KiB) == LARGE[offset : offset + 4 * KiB]
    gets = [seen for seen in fault_proxy.seen if seen.method == "GET"]
    assert len(gets) == len(offsets)
    for seen, offset in zip(gets, offsets, strict=True):
        match = RANGE_RE.match(seen.headers.get("range", ""))
        assert match is not None, seen.headers
        start, end = int(match.group(1)), int(match.group(2))
        assert start == offset
        assert 4 * KiB <= end - start + 1 <= 64 * KiB  # a bounded window, not the rest of the object
    # Each answer was read to its end, so the connection went back to the pool.
    assert fault_proxy.connections - connections_before <= 2


def test_small_sequential_reads_widen_their_window(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("blob.bin", LARGE)
    fault_proxy.reset_counts()
    received = bytearray()
    with make_storage().open("blob.bin", "rb") as fh:
        while piece := fh.read(4 * KiB):
            received += piece
    assert received == LARGE
    # 64 KiB, 128 KiB, ... doubling: a dozen GETs for 12 MiB, not 3072.
    assert fault_proxy.count("GET", routes.object("blob.bin")) <= 10


# Uploads: a byte flipped on the way to the server ----------------------------

UNDECLARED = os.urandom(6 * MiB)  # a file this large is streamed without declaring its sha256 first


def _file(tmp_path: Any, data: bytes) -> Any:
    path = tmp_path / "upload.bin"
    path.write_bytes(data)
    return File(path.open("rb"), name="upload.bin")


@pytest.mark.parametrize("overwrite", [True, False], ids=["overwrite", "new-name"])
def test_a_declared_upload_that_arrives_changed_is_refused_and_sent_again(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, overwrite: bool
) -> None:
    name = "small.bin" if overwrite else "fresh.bin"
    if overwrite:
        bucket.put(name, b"old")
    fault_proxy.add_fault("corrupt", method="PUT", path_regex=routes.object(name), request=True)
    assert make_storage(file_overwrite=overwrite).save(name, ContentFile(SMALL)) == name
    assert bucket.read(name) == SMALL
    puts = [seen for seen in fault_proxy.seen if seen.method == "PUT"]
    assert len(puts) == 2  # bk-repo refused the changed body (251003), the second one went through
    assert puts[0].headers.get("x-bkrepo-sha256") == hashlib.sha256(SMALL).hexdigest()


def test_a_body_that_keeps_arriving_changed_gives_up_and_keeps_the_old_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("small.bin", b"old")
    fault_proxy.add_fault("corrupt", method="PUT", path_regex=routes.object("small.bin"), times=None, request=True)
    with pytest.raises(IntegrityError) as caught:
        make_storage(max_retries=1).save("small.bin", ContentFile(SMALL))
    assert caught.value.code == 251003
    assert fault_proxy.count("PUT", routes.object("small.bin")) == 2
    assert bucket.read("small.bin") == b"old"


def test_an_overwrite_that_arrives_changed_is_sent_again(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, tmp_path: Any
) -> None:
    fault_proxy.add_fault("corrupt", method="PUT", path_regex=routes.object("big.bin"), request=True)
    with _file(tmp_path, UNDECLARED) as content:
        assert make_storage().save("big.bin", content) == "big.bin"
    assert bucket.read("big.bin") == UNDECLARED
    assert fault_proxy.count("PUT", routes.object("big.bin")) == 2
    assert fault_proxy.seen[0].headers.get("x-bkrepo-sha256") is None  # not declared: checked afterwards


def test_a_new_object_that_arrives_changed_is_removed(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, tmp_path: Any
) -> None:
    fault_proxy.add_fault("corrupt", method="PUT", path_regex=routes.object("new.bin"), request=True)
    with _file(tmp_path, UNDECLARED) as content, pytest.raises(IntegrityError, match="sha256 mismatch"):
        make_storage(file_overwrite=False).save("new.bin", content)
    assert bucket.read("new.bin") is None  # the wrong bytes did not stay
    assert fault_proxy.count("DELETE", routes.object("new.bin")) == 1
