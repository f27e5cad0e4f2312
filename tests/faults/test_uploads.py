"""Writes through the fault proxy: the bucket never holds a partial object.

Overwrite PUTs are idempotent and retried. A PUT without overwrite is only
repeated when the storage can tell by sha256 what an earlier attempt left
behind, so a lost answer never turns one upload into two names. After every
test the bucket is read directly (no proxy, no bkstorages code): it holds the
old object or the new one, whole.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.exceptions import BKStorageError, DeadlineExceededError, ServerError, TransportError
from tests.faultproxy import FaultProxy
from tests.faults.conftest import DEADLINE, DEADLINE_MARGIN, MAX_RETRIES, SHORT_DEADLINE, Bucket, Routes

MiB = 1024 * 1024
OLD = b"the old content\n" * 100
NEW = os.urandom(3 * MiB)


def _save(storage: Any, name: str, data: bytes) -> str:
    return str(storage.save(name, ContentFile(data)))


# Overwrite on: every PUT may be repeated ------------------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("error", {"status": 503}),
        ("error", {"status": 502, "forward": True}),
        ("html", {"status": 504}),
        ("throttle", {"retry_after": 0}),
        ("reset_request", {"after_bytes": MiB}),
        ("reset_response", {}),
        ("stall", {"seconds": 3}),
        ("invalid_json", {"status": 200, "forward": True}),
    ],
)
def test_an_overwrite_upload_is_retried_and_stored_whole(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("doc.bin", OLD)
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.object("doc.bin"), **params)
    assert _save(make_storage(), "doc.bin", NEW) == "doc.bin"
    assert bucket.read("doc.bin") == NEW
    assert fault_proxy.count("PUT", routes.object("doc.bin")) == 2


def test_http_500_on_upload_is_not_retried_and_keeps_the_old_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.bin", OLD)
    fault_proxy.add_fault("error", method="PUT", path_regex=routes.object("doc.bin"), status=500)
    with pytest.raises(ServerError):
        _save(make_storage(), "doc.bin", NEW)
    assert fault_proxy.count("PUT", routes.object("doc.bin")) == 1
    assert bucket.read("doc.bin") == OLD


def test_an_upload_cut_every_time_fails_in_time_and_keeps_the_old_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.bin", OLD)
    fault_proxy.add_fault(
        "reset_request", method="PUT", path_regex=routes.object("doc.bin"), times=None, after_bytes=MiB
    )
    started = time.monotonic()
    with pytest.raises(TransportError):
        _save(make_storage(), "doc.bin", NEW)
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
    assert fault_proxy.count("PUT", routes.object("doc.bin")) == MAX_RETRIES + 1
    assert bucket.read("doc.bin") == OLD
    assert bucket.names() == ["/doc.bin"]


def test_an_upload_whose_answers_never_come_fails_within_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.bin", OLD)
    fault_proxy.add_fault("stall", method="PUT", path_regex=routes.object("doc.bin"), times=None, seconds=30)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        _save(make_storage(deadline=SHORT_DEADLINE), "doc.bin", NEW)
    assert time.monotonic() - started < SHORT_DEADLINE + DEADLINE_MARGIN
    # The server did store the upload; only the answers were held back.
    assert bucket.read("doc.bin") in (OLD, NEW)


# Overwrite off: repeat only what sha256 can vouch for ------------------------


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("reset_response", {}),  # stored, answer lost in a reset
        ("stall", {"seconds": 3}),  # stored, answer too late
        ("error", {"status": 502, "forward": True}),  # stored, gateway error instead of the answer
        ("error", {"status": 504, "forward": True, "plain": True}),
        ("invalid_json", {"status": 200, "forward": True}),  # stored, answer mangled
    ],
)
def test_a_lost_answer_to_a_new_upload_keeps_one_name(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.object("new.bin"), **params)
    assert _save(make_storage(file_overwrite=False), "new.bin", NEW) == "new.bin"
    assert bucket.names() == ["/new.bin"]
    assert bucket.read("new.bin") == NEW
    assert fault_proxy.count("PUT", routes.object("new.bin")) == 1


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("reset_request", {"after_bytes": MiB}),
        ("throttle", {"retry_after": 0}),
    ],
)
def test_a_new_upload_that_never_landed_is_sent_again(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.object("new.bin"), **params)
    assert _save(make_storage(file_overwrite=False), "new.bin", NEW) == "new.bin"
    assert bucket.names() == ["/new.bin"]
    assert bucket.read("new.bin") == NEW
    assert fault_proxy.count("PUT", routes.object("new.bin")) == 2


def test_a_gateway_error_before_a_new_upload_landed_leaves_nothing_or_the_whole_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    fault_proxy.add_fault("error", method="PUT", path_regex=routes.object("new.bin"), status=503)
    outcome: str | BKStorageError
    try:
        outcome = _save(make_storage(file_overwrite=False), "new.bin", NEW)
    except BKStorageError as error:
        outcome = error
    if isinstance(outcome, BKStorageError):
        assert outcome.status == 503
        assert bucket.names() == []
    else:
        assert outcome == "new.bin"
        assert bucket.names() == ["/new.bin"]
        assert bucket.read("new.bin") == NEW


def test_a_new_upload_never_overwrites_what_another_writer_stored_meanwhile(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    # Our first attempt is cut; at that very moment another writer stores
    # other bytes under the same name. The storage must not replace them.
    fault_proxy.add_fault(
        "reset_request",
        method="PUT",
        path_regex=routes.object("race.bin"),
        after_bytes=MiB,
        action=lambda: bucket.put("race.bin", OLD),
    )
    try:
        name = _save(make_storage(file_overwrite=False), "race.bin", NEW)
    except FileExistsError:
        assert bucket.names() == ["/race.bin"]
    else:
        assert name != "race.bin"
        assert bucket.read(name) == NEW
        assert bucket.names() == sorted(["/race.bin", f"/{name}"])
    assert bucket.read("race.bin") == OLD


# Block upload ------------------------------------------------------------------

BLOCK_OPTIONS = {"block_upload_threshold": 512 * 1024, "block_size": 512 * 1024, "block_upload_workers": 2}
PARTS = 6  # 3 MiB in 512 KiB parts


def test_a_block_upload_without_faults_uses_parts(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    assert _save(make_storage(**BLOCK_OPTIONS), "block.bin", NEW) == "block.bin"
    assert bucket.read("block.bin") == NEW
    assert fault_proxy.count("POST", routes.block("block.bin")) == 1
    assert fault_proxy.count("PUT", routes.object("block.bin")) == PARTS
    assert fault_proxy.count("PUT", routes.block("block.bin")) == 1


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("error", {"status": 503}),
        ("reset_request", {"after_bytes": 100_000}),
        ("reset_response", {}),
        ("stall", {"seconds": 3}),
    ],
)
def test_a_failed_block_part_is_retried(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("block.bin", OLD)
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.object("block.bin"), **params)
    assert _save(make_storage(**BLOCK_OPTIONS), "block.bin", NEW) == "block.bin"
    assert bucket.read("block.bin") == NEW
    assert fault_proxy.count("PUT", routes.object("block.bin")) == PARTS + 1


def test_a_block_upload_that_cannot_finish_is_aborted_and_keeps_the_old_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("block.bin", OLD)
    fault_proxy.add_fault("error", method="PUT", path_regex=routes.object("block.bin"), times=None, status=503)
    started = time.monotonic()
    with pytest.raises(ServerError):
        _save(make_storage(**BLOCK_OPTIONS), "block.bin", NEW)
    assert time.monotonic() - started < DEADLINE + DEADLINE_MARGIN
    assert fault_proxy.count("DELETE", routes.block("block.bin")) == 1
    assert fault_proxy.count("PUT", routes.block("block.bin")) == 0  # never completed
    assert bucket.read("block.bin") == OLD
    assert bucket.names() == ["/block.bin"]


def test_a_block_upload_whose_parts_never_get_answers_stops_at_the_deadline(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("block.bin", OLD)
    fault_proxy.add_fault("stall", method="PUT", path_regex=routes.object("block.bin"), times=None, seconds=30)
    started = time.monotonic()
    with pytest.raises(DeadlineExceededError):
        _save(make_storage(deadline=SHORT_DEADLINE, **BLOCK_OPTIONS), "block.bin", NEW)
    assert time.monotonic() - started < SHORT_DEADLINE + DEADLINE_MARGIN
    assert fault_proxy.count("DELETE", routes.block("block.bin")) == 1
    assert bucket.read("block.bin") == OLD


@pytest.mark.parametrize(
    ("kind", "params"),
    [
        ("error", {"status": 503}),  # not merged: the complete is simply sent again
        ("error", {"status": 502, "forward": True}),  # merged, answer lost: the upload id is gone now
        ("reset_response", {}),
    ],
)
def test_a_failed_block_complete_ends_with_the_whole_new_object(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    kind: str,
    params: dict[str, Any],
) -> None:
    bucket.put("block.bin", OLD)
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.block("block.bin"), **params)
    assert _save(make_storage(**BLOCK_OPTIONS), "block.bin", NEW) == "block.bin"
    assert bucket.read("block.bin") == NEW
    assert fault_proxy.count("PUT", routes.block("block.bin")) == 2


def test_a_failed_block_start_is_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    fault_proxy.add_fault("error", method="POST", path_regex=routes.block("block.bin"), status=502)
    assert _save(make_storage(**BLOCK_OPTIONS), "block.bin", NEW) == "block.bin"
    assert bucket.read("block.bin") == NEW
    assert fault_proxy.count("POST", routes.block("block.bin")) == 2


@pytest.mark.parametrize("existing", [True, False], ids=["overwrite", "new"])
@pytest.mark.parametrize(
    ("kind", "params"),
    [
        # The server forgot the upload id (restarted during the merge): nothing was merged.
        ("error", {"status": 400, "code": 251201, "message": "Upload id[x] not found"}),
        # The merge failed on the server.
        ("error", {"status": 500}),
    ],
    ids=["forgotten id", "failed merge"],
)
def test_a_block_upload_whose_complete_was_lost_starts_again(
    make_storage: Callable[..., Any],
    fault_proxy: FaultProxy,
    bucket: Bucket,
    routes: Routes,
    existing: bool,
    kind: str,
    params: dict[str, Any],
) -> None:
    if existing:
        bucket.put("block.bin", OLD)
    fault_proxy.add_fault(kind, method="PUT", path_regex=routes.block("block.bin"), **params)
    storage = make_storage(file_overwrite=existing, **BLOCK_OPTIONS)
    assert _save(storage, "block.bin", NEW) == "block.bin"
    assert bucket.read("block.bin") == NEW
    assert bucket.names() == ["/block.bin"]
    assert fault_proxy.count("POST", routes.block("block.bin")) == 2  # started again
    assert fault_proxy.count("PUT", routes.block("block.bin")) == 2


def test_a_block_upload_whose_complete_is_always_lost_gives_up_and_keeps_the_old_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("block.bin", OLD)
    fault_proxy.add_fault("error", method="PUT", path_regex=routes.block("block.bin"), times=None, status=500)
    with pytest.raises(ServerError):
        _save(make_storage(file_overwrite=True, **BLOCK_OPTIONS), "block.bin", NEW)
    assert bucket.read("block.bin") == OLD
    assert fault_proxy.count("POST", routes.block("block.bin")) == MAX_RETRIES + 1  # bounded


def test_a_lost_complete_without_overwrite_never_replaces_another_writers_object(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    other = b"another writer's object\n" * 10

    def other_writer_lands() -> None:
        bucket.put("block.bin", other)

    fault_proxy.add_fault(
        "error", method="PUT", path_regex=routes.block("block.bin"), status=400, code=251201, action=other_writer_lands
    )
    name = _save(make_storage(file_overwrite=False, **BLOCK_OPTIONS), "block.bin", NEW)
    assert name != "block.bin"  # Django picked another name
    assert bucket.read("block.bin") == other
    assert bucket.read(name) == NEW
