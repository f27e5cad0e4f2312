"""Requests per save: with overwrite off the upload itself claims the name (bk-repo refuses a taken one)."""

from __future__ import annotations

import re
from collections.abc import Callable

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from tests.faultproxy import FaultProxy

Counting = Callable[..., tuple[BKRepoStorage, FaultProxy]]


def requests_made(proxy: FaultProxy) -> list[tuple[str, str, str | None]]:
    return [(seen.method, seen.path, seen.headers.get("x-bkrepo-overwrite")) for seen in proxy.seen]


def read(storage: BKRepoStorage, name: str) -> bytes:
    with storage.open(name, "rb") as remote:
        return bytes(remote.read())


@pytest.mark.parametrize("overwrite", [True, False])
def test_a_free_name_costs_one_request(counting: Counting, overwrite: bool) -> None:
    storage, proxy = counting(file_overwrite=overwrite)
    name = storage.save("trips/free.txt", ContentFile(b"one"))
    assert name == "trips/free.txt"
    ((method, path, header),) = requests_made(proxy)
    assert (method, header) == ("PUT", str(overwrite).lower())
    assert path.endswith("/trips/free.txt")
    assert read(storage, name) == b"one"


def test_a_taken_name_costs_two_uploads_and_gets_djangos_alternative_name(counting: Counting) -> None:
    storage, proxy = counting(file_overwrite=False)
    storage.save("trips/taken.txt", ContentFile(b"first"))
    proxy.reset_counts()
    name = storage.save("trips/taken.txt", ContentFile(b"second"))
    assert re.fullmatch(r"trips/taken_[A-Za-z0-9]{7}\.txt", name), name
    assert [(method, header) for method, _path, header in requests_made(proxy)] == [("PUT", "false")] * 2
    assert read(storage, "trips/taken.txt") == b"first"
    assert read(storage, name) == b"second"
    # exists() still asks the store.
    assert storage.exists("trips/taken.txt")
    assert not storage.exists("trips/never-saved.txt")


def test_an_alternative_name_still_fits_max_length(counting: Counting) -> None:
    storage, _proxy = counting(file_overwrite=False)
    long_name = "trips/" + "n" * 30 + ".txt"
    assert storage.save(long_name, ContentFile(b"1"), max_length=len(long_name)) == long_name
    second = storage.save(long_name, ContentFile(b"2"), max_length=len(long_name))
    assert second != long_name
    assert len(second) <= len(long_name)
    assert read(storage, second) == b"2"


def test_a_name_that_is_too_long_is_shortened_without_asking(counting: Counting) -> None:
    storage, proxy = counting(file_overwrite=False)
    name = storage.save("trips/" + "m" * 40 + ".txt", ContentFile(b"x"), max_length=30)
    assert len(name) <= 30
    assert [method for method, _path, _header in requests_made(proxy)] == ["PUT"]


def test_a_name_taken_by_a_folder_gets_another_name(counting: Counting) -> None:
    storage, _proxy = counting(file_overwrite=False)
    storage.save("trips/folder/inside.txt", ContentFile(b"in"))
    name = storage.save("trips/folder", ContentFile(b"file"))
    assert name.startswith("trips/folder_")
    assert read(storage, name) == b"file"
