"""Reads through the fault proxy: GET, HEAD and listing requests are retried.

Every test either ends with exactly the stored bytes (and the expected number
of attempts) or with a typed error well within the storage's deadline —
never with partial data passed off as the whole object.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest

from bkstorages.exceptions import (
    DeadlineExceededError,
    RateLimitedError,
    ServerError,
    TransportError,
)
from tests.faultproxy import FaultProxy
from tests.faults.conftest import DEADLINE, DEADLINE_MARGIN, MAX_RETRIES, SHORT_DEADLINE, Bucket, Routes

MiB = 1024 * 1024
SMALL = b"a small object, " * 64
BIG = os.urandom(3 * MiB)


def _read(storage: Any, name: str) -> bytes:
    with storage.open(name, "rb") as fh:
        return fh.read()


@pytest.mark.parametrize(("status", "plain"), [(502, False), (503, False), (503, True), (504, True)])
def test_gateway_errors_on_download_are_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, status: int, plain: bool
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("error", method="GET", path_regex=routes.object("doc.txt"), status=status, plain=plain)
    assert _read(make_storage(), "doc.txt") == SMALL
    assert fault_proxy.count("GET", routes.object("doc.txt")) == 2


def test_http_500_on_download_is_not_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("error", method="GET", path_regex=routes.object("doc.txt"), status=500)
    with pytest.raises(ServerError) as caught:
        _read(make_storage(), "doc.txt")
    assert caught.value.status == 500
    assert caught.value.code == 250102
    assert fault_proxy.count("GET", routes.object("doc.txt")) == 1


def test_a_gateway_that_keeps_failing_gives_up_after_the_retries(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("error", method="GET", path_regex=routes.object("doc.txt"), times=None, status=503)
    started = time.monotonic()
    with pytest.raises(ServerError) as caught:
        _read(make_storage(), "doc.txt")
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
    assert caught.value.status == 503
    assert fault_proxy.count("GET", routes.object("doc.txt")) == MAX_RETRIES + 1


def test_retry_after_is_honoured(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("throttle", method="GET", path_regex=routes.object("doc.txt"), retry_after=1)
    storage = make_storage(backoff=0.01)
    started = time.monotonic()
    assert _read(storage, "doc.txt") == SMALL
    # The backoff alone would have waited about 10 ms; Retry-After asked for 1 s.
    assert time.monotonic() - started >= 0.9
    assert fault_proxy.count("GET", routes.object("doc.txt")) == 2


def test_retry_after_never_waits_past_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("throttle", method="GET", path_regex=routes.object("doc.txt"), times=None, retry_after=60)
    started = time.monotonic()
    with pytest.raises(RateLimitedError) as caught:
        _read(make_storage(), "doc.txt")
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
    assert caught.value.status == 429


@pytest.mark.parametrize("kind", ["reset_response", "truncate"])
def test_a_body_cut_once_is_resumed_and_verified(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, kind: str
) -> None:
    bucket.put("big.bin", BIG)
    params = {"after_bytes": MiB} if kind == "reset_response" else {"keep_bytes": MiB}
    fault_proxy.add_fault(kind, method="GET", path_regex=routes.object("big.bin"), **params)
    assert _read(make_storage(), "big.bin") == BIG
    assert fault_proxy.count("GET", routes.object("big.bin")) == 2


@pytest.mark.parametrize("kind", ["reset_response", "truncate"])
def test_a_body_that_always_breaks_raises_instead_of_returning_part_of_it(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, kind: str
) -> None:
    bucket.put("big.bin", BIG)
    params = {"after_bytes": 0} if kind == "reset_response" else {"keep_bytes": 0}
    fault_proxy.add_fault(kind, method="GET", path_regex=routes.object("big.bin"), times=None, **params)
    storage = make_storage()
    started = time.monotonic()
    with pytest.raises(TransportError):
        _read(storage, "big.bin")
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
    with pytest.raises(TransportError), storage.open("big.bin", "rb") as fh:
        for _chunk in fh.chunks():
            pass


def test_a_body_cut_every_megabyte_still_arrives_whole(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("big.bin", BIG)
    fault_proxy.add_fault("reset_response", method="GET", path_regex=routes.object("big.bin"), times=2, after_bytes=MiB)
    storage = make_storage()
    with storage.open("big.bin", "rb") as fh:
        received = b"".join(fh.chunks())
    assert received == BIG
    assert fault_proxy.count("GET", routes.object("big.bin")) == 3


def test_an_object_replaced_during_a_resumed_download_is_never_mixed(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    # The body breaks after 1 MiB, and at that moment another writer replaces
    # the object: resuming would splice two objects together.
    other = os.urandom(len(BIG))
    bucket.put("big.bin", BIG)
    fault_proxy.add_fault(
        "reset_response",
        method="GET",
        path_regex=routes.object("big.bin"),
        after_bytes=MiB,
        action=lambda: bucket.put("big.bin", other),
    )
    with pytest.raises(TransportError), make_storage().open("big.bin", "rb") as fh:
        fh.read()
    assert bucket.read("big.bin") == other


def test_a_stall_before_the_answer_is_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("stall", method="GET", path_regex=routes.object("doc.txt"), seconds=3)
    assert _read(make_storage(), "doc.txt") == SMALL
    assert fault_proxy.count("GET", routes.object("doc.txt")) == 2


def test_a_stall_mid_body_is_resumed(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("big.bin", BIG)
    fault_proxy.add_fault("stall", method="GET", path_regex=routes.object("big.bin"), seconds=3, after_bytes=MiB)
    assert _read(make_storage(), "big.bin") == BIG
    assert fault_proxy.count("GET", routes.object("big.bin")) == 2


def test_a_server_that_never_answers_fails_within_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("stall", method="GET", path_regex=routes.object("doc.txt"), times=None, seconds=30)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        _read(make_storage(deadline=SHORT_DEADLINE), "doc.txt")
    assert time.monotonic() - started < SHORT_DEADLINE + DEADLINE_MARGIN


def test_a_trickling_download_fails_within_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    # Each read gets bytes well within the read timeout, but the whole body
    # would take about 20 s: only the operation's deadline can stop it.
    bucket.put("slow.txt", SMALL * 4)
    fault_proxy.add_fault("trickle", method="GET", path_regex=routes.object("slow.txt"), chunk=4, interval=0.02)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError), make_storage(deadline=SHORT_DEADLINE).open("slow.txt", "rb") as fh:
        fh.read()
    assert time.monotonic() - started < SHORT_DEADLINE + DEADLINE_MARGIN


def test_head_requests_are_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    storage = make_storage()
    fault_proxy.add_fault("error", method="HEAD", path_regex=routes.object("doc.txt"), status=502)
    assert storage.exists("doc.txt") is True
    fault_proxy.add_fault("reset_response", method="HEAD", path_regex=routes.object("doc.txt"))
    fault_proxy.add_fault("stall", method="HEAD", path_regex=routes.object("doc.txt"), seconds=3)
    assert storage.size("doc.txt") == len(SMALL)
    assert fault_proxy.count("HEAD", routes.object("doc.txt")) >= 4


def test_exists_raises_rather_than_answering_false_when_the_server_fails(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", SMALL)
    fault_proxy.add_fault("error", method="HEAD", path_regex=routes.object("doc.txt"), times=None, status=503)
    with pytest.raises(ServerError):
        make_storage().exists("doc.txt")
    assert fault_proxy.count("HEAD", routes.object("doc.txt")) == MAX_RETRIES + 1


def test_a_missing_object_is_still_missing_after_a_retry(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes
) -> None:
    fault_proxy.add_fault("error", method="GET", path_regex=routes.object("nothing.txt"), status=503)
    with pytest.raises(FileNotFoundError):
        _read(make_storage(), "nothing.txt")
    assert fault_proxy.count("GET", routes.object("nothing.txt")) == 2


def test_listing_is_retried_after_broken_answers(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("dir/a.txt", b"a")
    bucket.put("dir/b.txt", b"b")
    fault_proxy.add_fault("invalid_json", method="GET", path_regex=routes.listing())
    fault_proxy.add_fault("reset_response", method="GET", path_regex=routes.listing(), after_bytes=10)
    fault_proxy.add_fault("html", method="GET", path_regex=routes.listing(), status=502)
    assert make_storage().listdir("dir") == ([], ["a.txt", "b.txt"])
    assert fault_proxy.count("GET", routes.listing()) == 4


def test_a_trickling_listing_fails_within_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    for i in range(20):
        bucket.put(f"dir/file-{i:02}.txt", b"x")
    fault_proxy.add_fault("trickle", method="GET", path_regex=routes.listing(), chunk=32, interval=0.02)
    started = time.monotonic()
    # Each read gets bytes well within the read timeout, but the whole answer
    # takes several seconds: only the operation's deadline can stop it.
    with pytest.raises(DeadlineExceededError):
        make_storage().listdir("dir")
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
