"""Errors that are not worth retrying: clear, typed, and free of secrets.

A 401 raises an authentication error at once (nothing is refreshed or
retried silently) and never shows the password. Answers that are not
bk-repo JSON - a gateway's HTML page, plain text, broken JSON - become errors
showing the HTTP status and a short excerpt of the body, never a JSON
decoding traceback.
"""

from __future__ import annotations

import json
import traceback
from collections.abc import Callable
from typing import Any

import pytest
from django.core.files.base import ContentFile

from bkstorages.exceptions import (
    AuthenticationError,
    BKStorageError,
    InvalidResponseError,
    PermissionDeniedError,
    ServerError,
)
from tests.faultproxy import FaultProxy
from tests.faults.conftest import MAX_RETRIES, Bucket, Routes

SECRET = "s3cret-pass-7f3a9c"


def _whole_story(error: BaseException) -> str:
    """Everything a user could see of an error: message, repr and printed traceback."""
    return "\n".join([str(error), repr(error), "".join(traceback.format_exception(error))])


def test_a_401_from_a_gateway_raises_at_once_without_the_password(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", b"content")
    storage = make_storage()
    fault_proxy.add_fault("unauthorized", path_regex=routes.object("doc.txt"), times=None)
    for action in (
        lambda: storage.open("doc.txt").read(),
        lambda: storage.exists("doc.txt"),
        lambda: storage.save("doc.txt", ContentFile(b"new")),
        lambda: storage.delete("doc.txt"),
    ):
        fault_proxy.reset_counts()
        with pytest.raises(AuthenticationError) as caught:
            action()
        assert caught.value.status == 401
        assert caught.value.code in (250114, None)  # None: a HEAD answer has no body
        assert "authenticat" in str(caught.value).lower()
        assert fault_proxy.count() == 1  # no retry, no silent refresh
    assert bucket.read("doc.txt") == b"content"


def test_wrong_credentials_raise_a_clear_error_without_the_password(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket
) -> None:
    bucket.put("doc.txt", b"content")
    storage = make_storage(password=SECRET)
    for action in (
        lambda: storage.open("doc.txt").read(),
        lambda: storage.exists("doc.txt"),
        lambda: storage.size("doc.txt"),
        lambda: storage.save("doc.txt", ContentFile(b"new")),
        lambda: storage.listdir(""),
        lambda: storage.url("doc.txt"),
    ):
        fault_proxy.reset_counts()
        with pytest.raises(AuthenticationError) as caught:
            action()
        assert caught.value.status == 401
        story = _whole_story(caught.value)
        assert SECRET not in story
        assert "BKREPO_PASSWORD" in str(caught.value) or "authenticat" in str(caught.value).lower()
        assert fault_proxy.count() == 1
    assert SECRET not in repr(storage)
    assert bucket.read("doc.txt") == b"content"


def test_a_gateway_html_page_becomes_an_error_with_status_and_excerpt(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", b"content")
    fault_proxy.add_fault("html", method="GET", path_regex=routes.object("doc.txt"), times=None, status=502)
    with pytest.raises(ServerError) as caught:
        make_storage().open("doc.txt").read()
    message = str(caught.value)
    assert caught.value.status == 502
    assert "502" in message
    assert "Bad Gateway" in message
    assert len(message) < 600  # an excerpt, not the whole page
    assert "JSONDecodeError" not in _whole_story(caught.value)
    assert fault_proxy.count("GET", routes.object("doc.txt")) == MAX_RETRIES + 1


def test_a_gateway_html_403_is_a_permission_error_and_not_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket, routes: Routes
) -> None:
    bucket.put("doc.txt", b"content")
    fault_proxy.add_fault("html", method="GET", path_regex=routes.object("doc.txt"), times=None, status=403)
    with pytest.raises(PermissionDeniedError) as caught:
        make_storage().open("doc.txt").read()
    assert caught.value.status == 403
    assert "403 Forbidden" in str(caught.value)
    assert "JSONDecodeError" not in _whole_story(caught.value)
    assert fault_proxy.count("GET", routes.object("doc.txt")) == 1


def test_a_plain_text_503_shows_its_text(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes
) -> None:
    fault_proxy.add_fault("error", method="GET", path_regex=routes.listing(), times=None, status=503, plain=True)
    with pytest.raises(ServerError) as caught:
        make_storage().listdir("")
    assert caught.value.status == 503
    assert "503 Service Unavailable" in str(caught.value)


@pytest.mark.parametrize(("status", "error_class"), [(200, InvalidResponseError), (500, ServerError)])
def test_broken_json_becomes_an_error_with_status_and_excerpt(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, routes: Routes, status: int, error_class: type
) -> None:
    fault_proxy.add_fault("invalid_json", method="GET", path_regex=routes.listing(), times=None, status=status)
    with pytest.raises(error_class) as caught:
        make_storage().listdir("")
    error = caught.value
    assert isinstance(error, BKStorageError)
    assert not isinstance(error, json.JSONDecodeError)
    assert error.status == status
    assert str(status) in str(error)
    assert "/trunc" in str(error)  # the excerpt of the body
    assert "JSONDecodeError" not in _whole_story(error)


def test_broken_json_from_node_detail_is_retried(
    make_storage: Callable[..., Any], fault_proxy: FaultProxy, bucket: Bucket
) -> None:
    bucket.put("doc.txt", b"content")
    fault_proxy.add_fault("invalid_json", method="GET", path_regex=r"^/repository/api/node/detail/")
    stat = make_storage().stat("doc.txt")
    assert stat.size == len(b"content")
    assert fault_proxy.count("GET", r"^/repository/api/node/detail/") == 2
