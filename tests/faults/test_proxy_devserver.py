"""The proxy in front of the real dev server, with plain HTTP (no bkstorages code).

These make sure the proxy forwards the dev server's answers faithfully, and
that a cut upload never leaves a partial object on the server: the ground
the storage-level resilience tests stand on.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import pytest
import requests

from tests.faultproxy import FaultProxy
from tests.faults.conftest import Bucket, Routes

MiB = 1024 * 1024


def _url(proxy: FaultProxy, bucket: Bucket, name: str) -> str:
    return f"{proxy.url}/generic/{bucket.project}/{bucket.repo}/{name}"


def test_round_trip_through_the_proxy_on_one_connection(fault_proxy: FaultProxy, bucket: Bucket) -> None:
    data = os.urandom(3 * MiB)
    digest = hashlib.sha256(data).hexdigest()
    url = _url(fault_proxy, bucket, "dir/round-trip.bin")
    with requests.Session() as session:
        session.auth = bucket.auth
        put = session.put(url, data=data, headers={"X-BKREPO-OVERWRITE": "true", "X-BKREPO-SHA256": digest}, timeout=10)
        assert put.status_code == 200
        assert put.json()["data"]["sha256"] == digest
        head = session.head(url, timeout=10)
        assert head.headers["Content-Length"] == str(len(data))
        assert session.get(url, timeout=10).content == data
        ranged = session.get(url, headers={"Range": f"bytes={MiB}-"}, timeout=10)
        assert ranged.status_code == 206
        assert ranged.content == data[MiB:]
        assert session.delete(url, timeout=10).json()["code"] == 0
        assert session.get(url, timeout=10).status_code == 404
    assert bucket.read("dir/round-trip.bin") is None
    assert fault_proxy.count() == 6


@pytest.mark.parametrize("chunked", [False, True])
def test_an_upload_cut_mid_body_leaves_the_old_object(
    fault_proxy: FaultProxy, bucket: Bucket, routes: Routes, chunked: bool
) -> None:
    bucket.put("cut.bin", b"old content")
    new = os.urandom(3 * MiB)
    fault_proxy.add_fault("reset_request", method="PUT", path_regex=routes.object("cut.bin"), after_bytes=MiB)
    body: Any = (new[i : i + 256 * 1024] for i in range(0, len(new), 256 * 1024)) if chunked else new
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(
            _url(fault_proxy, bucket, "cut.bin"),
            data=body,
            headers={"X-BKREPO-OVERWRITE": "true"},
            auth=bucket.auth,
            timeout=10,
        )
    assert bucket.read("cut.bin") == b"old content"
    assert bucket.names() == ["/cut.bin"]
