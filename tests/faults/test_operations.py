"""The other storage operations through the fault proxy: delete, signed URLs,
files opened for writing, and a server that cannot be reached at all."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest
import requests

from bkstorages.exceptions import ConnectionFailedError, ServerError, TransportError
from tests.faultproxy import FaultProxy
from tests.faults.conftest import DEADLINE, DEADLINE_MARGIN, MAX_RETRIES, Bucket, Routes

SIGN_ROUTE = r"^/generic/temporary/url/create"


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("error", {"status": 503}),
        ("error", {"status": 502, "forward": True}),  # deleted, answer lost: the retry gets 404
        ("reset_response", {}),
        ("stall", {"seconds": 3}),
    ],
)
def test_delete_is_retried_and_the_object_is_gone(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("doc.txt", b"content")
    fault_proxy.add_fault(kind, method="DELETE", path_regex=routes.object("doc.txt"), **params)
    make_storage().delete("doc.txt")
    assert bucket.read("doc.txt") is None
    assert fault_proxy.count("DELETE", routes.object("doc.txt")) == 2


def test_delete_that_keeps_failing_raises_and_keeps_the_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", b"content")
    fault_proxy.add_fault("error", method="DELETE", path_regex=routes.object("doc.txt"), times=None, status=503)
    with pytest.raises(ServerError):
        make_storage().delete("doc.txt")
    assert fault_proxy.count("DELETE", routes.object("doc.txt")) == MAX_RETRIES + 1
    assert bucket.read("doc.txt") == b"content"


@pytest.mark.parametrize(
    ("kind", "params"),
    [("error", {"status": 503}), ("reset_response", {}), ("invalid_json", {"status": 200})],
)
def test_signing_urls_is_retried(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("private.txt", b"private content")
    fault_proxy.add_fault(kind, method="POST", path_regex=SIGN_ROUTE, **params)
    url = make_storage(public=False).url("private.txt")
    assert "token=" in url
    assert requests.get(url, timeout=10).content == b"private content"
    assert fault_proxy.count("POST", SIGN_ROUTE) == 2


@pytest.mark.parametrize(
    ("kind", "params"),
    [("error", {"status": 503}), ("reset_request", {"after_bytes": 50_000}), ("stall", {"seconds": 3})],
)
def test_a_file_written_through_open_is_uploaded_whole_on_close(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("notes.txt", b"old notes\n")
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.object("notes.txt"), **params)
    lines = [f"line {i}\n".encode() for i in range(20_000)]
    with make_storage().open("notes.txt", "wb") as fh:
        for line in lines:
            fh.write(line)
    assert bucket.read("notes.txt") == b"".join(lines)
    attempts = fault_proxy.count("PUT", routes.object("notes.txt"))
    if kind == "stall":
        # The retry gets the same 1 s read timeout; on a loaded machine it may need one more.
        assert attempts >= 2
    else:
        assert attempts == 2


def test_a_file_written_through_open_keeps_the_old_object_when_the_upload_fails(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("notes.txt", b"old notes\n")
    fault_proxy.add_fault(
        "reset_request", method="PUT", path_regex=routes.object("notes.txt"), times=None, after_bytes=50_000
    )
    fh = make_storage().open("notes.txt", "wb")
    fh.write(b"new notes\n" * 20_000)
    with pytest.raises(TransportError):
        fh.close()
    assert bucket.read("notes.txt") == b"old notes\n"


def test_an_unreachable_server_fails_within_the_deadline(make_storage: Callable[..., Any]) -> None:
    # A port nobody listens on: every connection attempt is refused.
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    storage = make_storage(endpoint_url=f"http://127.0.0.1:{port}")
    for action in (lambda: storage.exists("doc.txt"), lambda: storage.open("doc.txt").read()):
        started = time.monotonic()
        with pytest.raises(ConnectionFailedError):
            action()
        assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
