"""Links chosen per call (lifetime, download or inline) and signed upload links."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoStorage
from tests.faultproxy import FaultProxy

SIGN = r"/generic/temporary/url/create"


def token(url: str) -> str:
    found = re.search(r"token=([0-9a-f]+)", url)
    assert found, url
    return found.group(1)


def disposition(url: str) -> str | None:
    response = requests.get(url, timeout=30)
    assert response.status_code == 200, response.text
    return response.headers.get("Content-Disposition")


@pytest.mark.parametrize("preview", [False, True], ids=["attachment-default", "inline-default"])
def test_download_or_inline_per_call(make_storage: Callable[..., BKRepoStorage], preview: bool) -> None:
    storage = make_storage(url_preview=preview)
    name = storage.save("docs/report.pdf", ContentFile(b"%PDF"))
    saved = disposition(storage.url(name, download=True))
    assert saved is not None
    assert saved.startswith("attachment;")
    assert disposition(storage.url(name, download=False)) is None
    default = disposition(storage.url(name))
    assert (default is None) is preview
    links = storage.urls([name], download=False)
    assert disposition(links[name]) is None


def test_lifetime_per_call_and_what_the_cache_may_reuse(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]],
) -> None:
    storage, proxy = counting(url_expire_seconds=600)
    if storage.is_public:
        assert storage.url("a.txt", 60) == storage.url("a.txt")  # public links never expire: no request
        assert proxy.count("POST", SIGN) == 0
        return
    storage.save("a.txt", ContentFile(b"a"))
    proxy.reset_counts()
    default = storage.url("a.txt")
    short = storage.url("a.txt", 60)  # positional, as before
    assert token(short) != token(default)
    # A link is reused only for the same lifetime: never a short one for a longer
    # request, nor a long one for a caller who wants the link to stop working soon.
    assert token(storage.url("a.txt", expire=60)) == token(short)
    assert token(storage.url("a.txt")) == token(default)
    assert token(storage.url("a.txt", download=False)) == token(default)  # inline reuses the signed link
    assert proxy.count("POST", SIGN) == 2
    with pytest.raises(ValueError, match="positive"):
        storage.url("a.txt", expire=0)


def test_upload_url_accepts_one_put_without_credentials(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(file_overwrite=False)
    link = storage.upload_url("/incoming//report 1.txt")
    assert "/generic/temporary/upload/" in link
    assert "report%201.txt" in link  # the cleaned name, encoded once
    put = requests.put(link, data=b"from elsewhere", timeout=30)
    assert put.status_code == 200, put.text
    with storage.open("incoming/report 1.txt") as stored:
        assert stored.read() == b"from elsewhere"
    again = requests.put(link, data=b"again", timeout=30)
    assert again.status_code == 400
    assert again.json()["code"] == 251021  # the one permit is used up


def test_upload_url_permits_and_overwrite(bkrepo_settings: Any) -> None:
    storage = BKRepoPrivateStorage()
    link = storage.upload_url("many.txt", expire=60, permits=None)
    assert requests.put(link, data=b"1", timeout=30).status_code == 200
    # bk-repo lets the holder of an upload link replace the file when it asks to.
    refused = requests.put(link, data=b"2", timeout=30)
    assert refused.json()["code"] == 251012
    replaced = requests.put(link, data=b"3", headers={"X-BKREPO-OVERWRITE": "true"}, timeout=30)
    assert replaced.status_code == 200
    with storage.open("many.txt") as stored:
        assert stored.read() == b"3"


def test_upload_url_checks_before_any_request(counting: Callable[..., tuple[BKRepoStorage, FaultProxy]]) -> None:
    storage, proxy = counting()
    storage.is_public  # noqa: B018 - asked once, before counting
    proxy.reset_counts()
    for bad in ("../escape.txt", "a\nb", ""):
        with pytest.raises(SuspiciousFileOperation):
            storage.upload_url(bad)
    with pytest.raises(ValueError, match="permits"):
        storage.upload_url("ok.txt", permits=0)
    with pytest.raises(ValueError, match="expire"):
        storage.upload_url("ok.txt", expire=-1)
    assert proxy.count() == 0
