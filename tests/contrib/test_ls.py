"""bkrepo_ls against the dev server."""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management.base import CommandError
from django.test import override_settings

from bkstorages_contrib.management.transfer import human_size
from tests.contrib.conftest import run


@pytest.fixture
def tree(bk: Any) -> Any:
    storage = storages["default"]
    storage.save("a.txt", ContentFile(b"0123456789"))
    storage.save("dir/b.txt", ContentFile(b"b" * 1536))
    storage.save("dir/sub/c.bin", ContentFile(b"c" * (3 * 1024 * 1024 + 1)))
    return bk


def lines(text: str) -> list[str]:
    return text.splitlines()


def test_root_listing(tree: Any) -> None:
    assert lines(run("bkrepo_ls").out) == ["a.txt", "dir/"]


def test_recursive_listing(tree: Any) -> None:
    assert lines(run("bkrepo_ls", recursive=True).out) == ["a.txt", "dir/", "dir/b.txt", "dir/sub/", "dir/sub/c.bin"]


def test_sub_directory(tree: Any) -> None:
    assert lines(run("bkrepo_ls", "dir").out) == ["b.txt", "sub/"]
    assert lines(run("bkrepo_ls", "/dir/").out) == ["b.txt", "sub/"]


def test_long_listing_shows_sizes_and_times(tree: Any) -> None:
    output = lines(run("bkrepo_ls", "-l", "-r").out)
    assert len(output) == 6
    by_name = {line.split()[-1]: line for line in output[:-1]}
    assert re.match(r"^\s+10 B  \d{4}-\d\d-\d\d \d\d:\d\d  a\.txt$", by_name["a.txt"])
    assert "1.5 KiB" in by_name["dir/b.txt"]
    assert "3.0 MiB" in by_name["dir/sub/c.bin"]
    assert by_name["dir/"].strip().startswith("-")
    stamp = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", by_name["a.txt"])
    assert stamp
    shown = datetime.strptime(stamp.group(0), "%Y-%m-%d %H:%M")
    assert abs(shown - datetime.now(timezone.utc).replace(tzinfo=None)) < timedelta(
        minutes=5
    )  # TIME_ZONE is UTC in the tests
    assert output[-1] == f"total 3 file(s), {human_size(10 + 1536 + 3 * 1024 * 1024 + 1)}"


def test_long_listing_uses_the_current_time_zone(tree: Any) -> None:
    with override_settings(TIME_ZONE="Asia/Shanghai"):
        output = run("bkrepo_ls", "-l").out
    stamp = re.search(r"\d{4}-\d\d-\d\d \d\d:\d\d", output)
    assert stamp
    shown = datetime.strptime(stamp.group(0), "%Y-%m-%d %H:%M")
    assert abs(shown - (datetime.now(timezone.utc).replace(tzinfo=None) + timedelta(hours=8))) < timedelta(minutes=5)


def test_a_file_path_lists_the_file(tree: Any) -> None:
    assert lines(run("bkrepo_ls", "dir/b.txt", "-l").out)[0].endswith("  dir/b.txt")


def test_other_storage_alias(tree: Any) -> None:
    storages["public"].save("only-public.txt", ContentFile(b"x"))
    assert lines(run("bkrepo_ls", storage="public").out) == ["only-public.txt"]
    with pytest.raises(CommandError, match="No storage 'missing'"):
        run("bkrepo_ls", storage="missing")


def test_human_size() -> None:
    assert human_size(0) == "0 B"
    assert human_size(1023) == "1023 B"
    assert human_size(1024) == "1.0 KiB"
    assert human_size(5 * 1024**3) == "5.0 GiB"
    assert human_size(3 * 1024**5) == "3072.0 TiB"
