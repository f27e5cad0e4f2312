"""Object metadata and Cache-Control: stored with each save, served back by bk-repo (the dev server)."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.test import override_settings

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from tests.faultproxy import FaultProxy


def served_headers(storage: BKRepoStorage, name: str) -> requests.structures.CaseInsensitiveDict[str]:
    response = requests.get(storage.url(name), timeout=30)
    assert response.status_code == 200, response.text
    return response.headers


def test_cache_control_is_stored_and_served(make_storage: Callable[..., BKRepoStorage]) -> None:
    storage = make_storage(cache_control="public, max-age=600")
    name = storage.save("cached/app.css", ContentFile(b"body {}"))
    assert served_headers(storage, name)["Cache-Control"] == "public, max-age=600"
    assert storage.get_metadata(name) == {"cache-control": "public, max-age=600"}  # bk-repo lower-cases keys
    plain = make_storage()
    other = plain.save("cached/plain.css", ContentFile(b"p {}"))
    assert served_headers(plain, other)["Cache-Control"] == "no-cache"  # bk-repo's default
    assert plain.get_metadata(other) == {}


class PerFile(BKRepoPrivateStorage):
    """Metadata chosen per file by overriding the hook."""

    def get_object_metadata(self, name: str, content: Any) -> dict[str, str]:
        metadata = super().get_object_metadata(name, content)
        metadata["Kind"] = name.rsplit(".", 1)[-1]
        metadata["Size"] = str(content.size)
        return metadata


def test_object_metadata_and_the_per_file_hook(bkrepo_settings: Any) -> None:
    storage = PerFile(object_metadata={"owner": "张三 & co", "note": " 100% +1 "}, cache_control="no-store")
    name = storage.save("reports/q1.pdf", ContentFile(b"%PDF"))
    assert storage.get_metadata(name) == {
        "owner": "张三 & co",
        "note": " 100% +1 ",
        "cache-control": "no-store",
        "kind": "pdf",
        "size": "4",
    }
    with storage.open("reports/written.txt", "wb") as written:  # files opened for writing too
        written.write(b"abc")
    assert storage.get_metadata("reports/written.txt")["kind"] == "txt"


def test_block_uploads_carry_metadata(bkrepo_settings: Any) -> None:
    storage = BKRepoPublicStorage(cache_control="max-age=60", block_upload_threshold=1024, block_size=1024)
    name = storage.save("big.bin", ContentFile(b"x" * 5000))
    assert storage.get_metadata(name) == {"cache-control": "max-age=60"}
    assert served_headers(storage, name)["Cache-Control"] == "max-age=60"


def test_cache_control_key_of_any_case_gives_way_to_the_option(bkrepo_settings: Any) -> None:
    storage = BKRepoPrivateStorage(object_metadata={"CACHE-control": "no-cache", "a": "1"}, cache_control="max-age=5")
    name = storage.save("x.txt", ContentFile(b"x"))
    assert storage.get_metadata(name) == {"a": "1", "cache-control": "max-age=5"}


@pytest.mark.parametrize(
    ("metadata", "message"),
    [
        ({"bad key": "x"}, "not a header name token"),
        ({"k": "no-cache\r\nSet-Cookie: x=1"}, "control character"),
        ({"k": "tab\there"}, "control character"),
        ({"Owner": "a", "owner": "b"}, "differ only in case"),
        ({"Cache-Control": "max-age=60, 中"}, "printable ASCII"),
        ({"k": 1}, "must be a string"),
        ({"k": "x" * 5000}, "at most"),
    ],
    ids=["key", "crlf", "tab", "case", "cache-control", "not-str", "too-big"],
)
def test_metadata_bk_repo_cannot_carry_is_refused_before_any_request(
    counting: Callable[..., tuple[BKRepoStorage, FaultProxy]], metadata: dict[str, Any], message: str
) -> None:
    class Hooked(BKRepoStorage):
        def get_object_metadata(self, name: str, content: Any) -> dict[str, str]:
            return metadata

    storage, proxy = counting()
    hooked = Hooked(endpoint_url=proxy.url, file_overwrite=False, public=storage.is_public)
    proxy.reset_counts()
    with pytest.raises(ValueError, match=message):
        hooked.save("refused.txt", ContentFile(b"x"))
    with pytest.raises(ValueError, match=message):
        hooked._save("refused.txt", ContentFile(b"x"))
    with pytest.raises(ValueError, match=message), hooked.open("refused.txt", "wb") as file:
        file.write(b"x")
    assert proxy.count() == 0


def test_get_metadata_of_a_missing_file(storage: BKRepoStorage) -> None:
    with pytest.raises(FileNotFoundError):
        storage.get_metadata("missing.txt")


def test_settings_and_environment(bkrepo_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BKREPO_OBJECT_METADATA", json.dumps({"team": "storage"}))
    monkeypatch.setenv("BKREPO_CACHE_CONTROL", "max-age=30")
    storage = BKRepoPrivateStorage()
    name = storage.save("env.txt", ContentFile(b"x"))
    assert storage.get_metadata(name) == {"team": "storage", "cache-control": "max-age=30"}
    with (
        override_settings(BKREPO_CACHE_CONTROL="max-age=60\r\nSet-Cookie: x=1"),
        pytest.raises(ImproperlyConfigured, match="BKREPO_CACHE_CONTROL cannot be stored"),
    ):
        BKRepoPrivateStorage().save("refused.txt", ContentFile(b"x"))
    with (
        override_settings(BKREPO_OBJECT_METADATA=["not", "a", "dict"]),
        pytest.raises(ImproperlyConfigured, match="BKREPO_OBJECT_METADATA must be a dict"),
    ):
        BKRepoPrivateStorage().save("refused.txt", ContentFile(b"x"))
    monkeypatch.setenv("BKREPO_OBJECT_METADATA", "{not json")
    with pytest.raises(ImproperlyConfigured, match="BKREPO_OBJECT_METADATA must be a dict"):
        BKRepoPrivateStorage().save("refused.txt", ContentFile(b"x"))


def test_a_long_name_leaves_less_room_for_metadata(counting: Callable[..., tuple[BKRepoStorage, FaultProxy]]) -> None:
    storage, proxy = counting(object_metadata={"note": "n" * 3000}, file_overwrite=True)
    storage.is_public  # noqa: B018 - asked once, before counting
    proxy.reset_counts()
    with pytest.raises(ValueError, match="do not fit one bk-repo request head"):
        storage.save("/".join(["y" * 1000] * 5), ContentFile(b"x"))  # 5,004 bytes of name, 3,000 of metadata
    assert proxy.count("PUT") == 0
    assert storage.save("short.txt", ContentFile(b"x")) == "short.txt"
