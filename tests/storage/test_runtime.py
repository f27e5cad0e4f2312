"""Time zones of bk-repo dates, and HTTP sessions across forks."""

from __future__ import annotations

import datetime
import os
import zoneinfo
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, parse_datetime, parse_zone

UTC = datetime.timezone.utc


@pytest.mark.parametrize(
    ("header", "offset"),
    [("+0800", 8), ("-0530", -5.5), ("+08:00", 8), ("UTC", 0), ("Z", 0), ("Asia/Shanghai", 8), ("GMT+0100", 1)],
)
def test_time_zone_headers(header: str, offset: float) -> None:
    zone = parse_zone(header)
    assert zone is not None
    moment = datetime.datetime(2024, 1, 15, 12, 0, tzinfo=zone)
    assert moment.utcoffset() == datetime.timedelta(hours=offset)


def test_unknown_zones_fall_back() -> None:
    assert parse_zone(None) is None
    assert parse_zone("") is None
    assert parse_zone("Mars/Olympus") is None


def test_bkrepo_dates_in_their_zone() -> None:
    shanghai = zoneinfo.ZoneInfo("Asia/Shanghai")
    assert parse_datetime("2020-07-27T16:02:31.394", shanghai) == datetime.datetime(
        2020, 7, 27, 8, 2, 31, 394000, tzinfo=UTC
    )
    assert parse_datetime("2020-07-27T16:02:31", UTC) == datetime.datetime(2020, 7, 27, 16, 2, 31, tzinfo=UTC)
    assert parse_datetime("2020-07-27T16:02:31.1234567", UTC) == datetime.datetime(
        2020, 7, 27, 16, 2, 31, 123456, tzinfo=UTC
    )
    assert parse_datetime("2020-07-27T16:02:31Z", shanghai) == datetime.datetime(2020, 7, 27, 16, 2, 31, tzinfo=UTC)
    assert parse_datetime(None, UTC) is None
    assert parse_datetime("yesterday", UTC) is None


# Pre-fork servers (gunicorn, uWSGI) fork a process that already has threads; so does this test.
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_its_own_session(bkrepo_settings: Any) -> None:
    storage = BKRepoPrivateStorage()
    storage.save("fork.txt", ContentFile(b"parent"))
    parent_session = storage.client.session
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report and leave without running pytest's teardown
        try:
            ok = storage.client.session is not parent_session and storage.open("fork.txt").read() == b"parent"
            os.write(write, b"ok" if ok else b"bad")
        finally:
            os._exit(0)
    os.close(write)
    _pid, status = os.waitpid(pid, 0)
    assert os.read(read, 10) == b"ok"
    os.close(read)
    assert status == 0
    assert storage.client.session is parent_session
    assert storage.exists("fork.txt")


def test_times_are_right_when_the_server_lives_in_another_zone() -> None:
    from bkstorages_contrib.testing import DevServer

    with DevServer(time_zone="Asia/Shanghai") as server:
        storage = BKRepoPrivateStorage(
            endpoint_url=server.endpoint_url,
            project=server.project,
            bucket=server.private_bucket,
            username=server.username,
            password=server.password,
        )
        before = datetime.datetime.now(UTC) - datetime.timedelta(seconds=5)
        storage.save("zoned.txt", ContentFile(b"z"))
        modified = storage.get_modified_time("zoned.txt")
        assert before <= modified <= datetime.datetime.now(UTC) + datetime.timedelta(seconds=5)
