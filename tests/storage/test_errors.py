"""Errors mean something: authentication, permissions, broken answers; never a secret in them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from bkstorages.exceptions import (
    AuthenticationError,
    BKStorageError,
    InvalidResponseError,
    PermissionDeniedError,
    ServerError,
)
from bkstorages_contrib.testing import DevServer
from tests.faultproxy import FaultProxy


def test_a_wrong_password_raises_a_clear_authentication_error(bkrepo_settings: Any) -> None:
    storage = BKRepoPrivateStorage(password="not-the-password")
    for call in (
        lambda: storage.exists("a.txt"),
        lambda: storage.save("a.txt", ContentFile(b"x")),
        lambda: storage.open("a.txt").read(),
        lambda: storage.listdir(""),
        lambda: storage.url("a.txt"),
    ):
        with pytest.raises(AuthenticationError) as info:
            call()
        assert info.value.status == 401
        assert info.value.code in (250114, None)  # None: a HEAD answer has no body
        assert "BKREPO_PASSWORD" in str(info.value)
        assert "not-the-password" not in str(info.value)
        assert "not-the-password" not in repr(info.value)


def test_anonymous_access(bkrepo_settings: Any) -> None:
    BKRepoPublicStorage().save("open.txt", ContentFile(b"for everyone"))
    anonymous = BKRepoPublicStorage(username="", password="")
    assert anonymous.exists("open.txt")
    assert anonymous.open("open.txt").read() == b"for everyone"
    assert anonymous.url("open.txt").endswith("/open.txt")
    with pytest.raises(AuthenticationError):
        anonymous.save("mine.txt", ContentFile(b"no"))
    private = BKRepoPrivateStorage(username="", password="")
    with pytest.raises(AuthenticationError):
        private.exists("anything.txt")  # never a quiet False


@pytest.fixture(scope="module")
def read_only_server() -> Iterator[DevServer]:
    with DevServer(read_only_users={"reader": "reader-pass"}) as server:
        yield server


def test_a_read_only_user_can_read_but_not_write(read_only_server: DevServer) -> None:
    options = {
        "endpoint_url": read_only_server.endpoint_url,
        "project": read_only_server.project,
        "bucket": read_only_server.private_bucket,
    }
    BKRepoStorage(username=read_only_server.username, password=read_only_server.password, **options).save(
        "r.txt", ContentFile(b"readable")
    )
    reader = BKRepoStorage(username="reader", password="reader-pass", public=False, **options)
    assert reader.exists("r.txt")
    assert reader.open("r.txt").read() == b"readable"
    with pytest.raises(PermissionDeniedError) as info:
        reader.save("w.txt", ContentFile(b"no"))
    assert info.value.status == 403
    assert info.value.code == 250113
    with pytest.raises(PermissionDeniedError):
        reader.delete("r.txt")


def test_html_and_broken_json_become_clear_errors(bkrepo_settings: Any, proxy: FaultProxy) -> None:
    storage = BKRepoStorage(endpoint_url=proxy.url, max_retries=1, backoff=0.01, deadline=3)
    proxy.add_fault("html", method="GET", path_regex="/repository/api/node/page/", times=None, status=502)
    started = time.monotonic()
    with pytest.raises(ServerError) as info:
        storage.listdir("")
    assert time.monotonic() - started < 5
    message = str(info.value)
    assert "HTTP 502" in message
    assert "<html" in message.lower()
    assert len(message) < 500
    assert proxy.count("GET", "/repository/api/node/page/") == 2  # one retry
    proxy.clear()
    proxy.add_fault("invalid_json", method="GET", path_regex="/repository/api/node/page/", times=None, status=200)
    with pytest.raises(InvalidResponseError) as broken:
        storage.listdir("")
    assert broken.value.status == 200
    assert "not bk-repo JSON" in str(broken.value)


def test_a_missing_repository(bkrepo_settings: Any) -> None:
    storage = BKRepoStorage(bucket="no-such-repo", public=False)
    assert storage.exists("a.txt") is False  # HEAD: 404, as bk-repo answers
    with pytest.raises(FileNotFoundError):
        storage.open("a.txt").read()
    with pytest.raises(BKStorageError) as info:
        storage.save("a.txt", ContentFile(b"x"))
    assert info.value.code == 251006


def test_errors_survive_pickling(bkrepo_settings: Any) -> None:
    import pickle

    storage = BKRepoPrivateStorage(password="wrong")
    with pytest.raises(AuthenticationError) as info:
        storage.listdir("")
    copy = pickle.loads(pickle.dumps(info.value))  # noqa: S301 - our own bytes
    assert type(copy) is AuthenticationError
    assert (copy.status, copy.code, copy.message) == (401, 250114, info.value.message)
    assert copy.response is None
    assert str(copy) == str(info.value)
