"""Server-side copy and move, folder delete and file listings: bk-repo does the work, in one request."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import pytest
import requests
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from bkstorages.exceptions import ObjectAlreadyExists
from tests.faultproxy import FaultProxy

Counting = Callable[..., tuple[BKRepoStorage, FaultProxy]]


def read(storage: BKRepoStorage, name: str) -> bytes:
    with storage.open(name, "rb") as remote:
        return bytes(remote.read())


def test_copy_is_one_request_and_keeps_the_source(counting: Counting) -> None:
    storage, proxy = counting()
    payload = b"x" * 300_000
    storage.save("copy/source.bin", ContentFile(payload))
    proxy.reset_counts()
    storage.copy("copy/source.bin", "copy/elsewhere/target.bin")
    # One request, and none of the bytes went through this process.
    assert [(seen.method, seen.path) for seen in proxy.seen] == [("POST", "/repository/api/node/copy")]
    assert read(storage, "copy/elsewhere/target.bin") == payload
    assert read(storage, "copy/source.bin") == payload
    assert storage.stat("copy/elsewhere/target.bin").sha256 == hashlib.sha256(payload).hexdigest()


def test_move_removes_the_source(storage: BKRepoStorage) -> None:
    storage.save("move/a.txt", ContentFile(b"moving"))
    storage.move("move/a.txt", "moved/b.txt")
    assert not storage.exists("move/a.txt")
    assert read(storage, "moved/b.txt") == b"moving"


@pytest.mark.parametrize("method", ["copy", "move"])
def test_overwrite_off_refuses_and_leaves_both_untouched(make_storage: Callable[..., Any], method: str) -> None:
    storage = make_storage(file_overwrite=False)
    storage.save("keep/source.txt", ContentFile(b"new"))
    storage.save("keep/target.txt", ContentFile(b"old"))
    with pytest.raises(ObjectAlreadyExists) as refused:
        getattr(storage, method)("keep/source.txt", "keep/target.txt")
    assert isinstance(refused.value, FileExistsError)
    assert read(storage, "keep/target.txt") == b"old"
    assert read(storage, "keep/source.txt") == b"new"
    # An explicit overwrite wins over the storage's setting.
    getattr(storage, method)("keep/source.txt", "keep/target.txt", overwrite=True)
    assert read(storage, "keep/target.txt") == b"new"


@pytest.mark.parametrize("method", ["copy", "move"])
def test_overwrite_on_replaces(storage: BKRepoStorage, method: str) -> None:
    assert storage.file_overwrite
    storage.save("over/source.txt", ContentFile(b"new"))
    storage.save("over/target.txt", ContentFile(b"old"))
    getattr(storage, method)("over/source.txt", "over/target.txt")
    assert read(storage, "over/target.txt") == b"new"
    assert storage.exists("over/source.txt") == (method == "copy")
    with pytest.raises(ObjectAlreadyExists):
        getattr(storage, method)("over/target.txt", "over/target.txt/inside.txt")  # a file is in the way


@pytest.mark.parametrize("method", ["copy", "move"])
def test_missing_source_is_file_not_found(storage: BKRepoStorage, method: str) -> None:
    with pytest.raises(FileNotFoundError):
        getattr(storage, method)("no/such/file.txt", "somewhere.txt")
    assert not storage.exists("somewhere.txt")


@pytest.mark.parametrize("method", ["copy", "move"])
@pytest.mark.parametrize("name", ["../outside.txt", "a/../../outside.txt", ""])
def test_names_are_checked_before_any_request(counting: Counting, method: str, name: str) -> None:
    storage, proxy = counting()
    for source, target in ((name, "fine.txt"), ("fine.txt", name)):
        with pytest.raises(SuspiciousFileOperation):
            getattr(storage, method)(source, target)
    assert proxy.seen == []


def test_names_are_cleaned_and_stay_inside_the_location(make_storage: Callable[..., Any]) -> None:
    storage = make_storage(location="inside")
    outside = make_storage()
    storage.save("a.txt", ContentFile(b"a"))
    storage.copy("/a.txt", "./sub//b.txt")
    assert read(outside, "inside/sub/b.txt") == b"a"
    assert not outside.exists("sub/b.txt")


def test_a_file_copied_onto_a_folder_goes_inside_it(storage: BKRepoStorage) -> None:
    storage.save("into/file.txt", ContentFile(b"f"))
    storage.save("folder/other.txt", ContentFile(b"o"))
    storage.copy("into/file.txt", "folder")
    assert read(storage, "folder/file.txt") == b"f"


def test_a_folder_is_copied_with_everything_in_it(storage: BKRepoStorage) -> None:
    for name in ("tree/a.txt", "tree/sub/b.txt"):
        storage.save(name, ContentFile(name.encode()))
    storage.copy("tree", "tree-copy")
    assert read(storage, "tree-copy/sub/b.txt") == b"tree/sub/b.txt"
    storage.move("tree", "tree-moved")
    assert storage.listdir("tree-moved") == (["sub"], ["a.txt"])
    assert not storage.exists("tree/a.txt")


def test_cached_signed_links_stay_right_after_copy_and_move(bkrepo_settings: Any) -> None:
    """Signed links are bound to a path, not to content: a cached link of an overwritten target
    serves the new content, and a moved source's link fails like any link to a deleted file."""
    storage = BKRepoStorage()  # the private repository: links are signed and cached
    assert not storage.is_public
    storage.save("links/target.txt", ContentFile(b"old"))
    storage.save("links/source.txt", ContentFile(b"new"))
    target_link, source_link = storage.url("links/target.txt"), storage.url("links/source.txt")
    storage.move("links/source.txt", "links/target.txt", overwrite=True)
    assert storage.url("links/target.txt") == target_link  # from the cache
    assert requests.get(target_link, timeout=30).content == b"new"
    assert requests.get(source_link, timeout=30).status_code == 404


def test_delete_folder_removes_everything_below_in_one_request(counting: Counting) -> None:
    storage, proxy = counting()
    for name in ("gone/a.txt", "gone/sub/b.txt", "gone/sub/deeper/c.txt", "kept/d.txt", "gone-not/e.txt"):
        storage.save(name, ContentFile(b"x"))
    proxy.reset_counts()
    storage.delete_folder("gone/")
    assert [seen.method for seen in proxy.seen] == ["DELETE"]
    assert not storage.exists("gone")
    assert storage.exists("kept/d.txt")
    assert storage.exists("gone-not/e.txt")
    storage.delete_folder("gone")  # a missing folder is fine, like delete()
    storage.delete_folder("kept/d.txt")  # a file name deletes that file
    assert not storage.exists("kept/d.txt")


@pytest.mark.parametrize("name", ["", "/", ".", "./"])
def test_delete_folder_refuses_the_root(counting: Counting, name: str) -> None:
    storage, proxy = counting(location="files")
    with pytest.raises(ValueError, match="storage root"):
        storage.delete_folder(name)
    with pytest.raises(SuspiciousFileOperation):
        storage.delete_folder("../files")
    assert proxy.seen == []


def test_iter_files_lists_sizes_and_digests_of_a_whole_tree_in_one_request(counting: Counting) -> None:
    storage, proxy = counting(location="walk", list_page_size=1000)
    contents = {"top.txt": b"t", "a/one.txt": b"11", "a/b/two.txt": b"222"}
    for name, data in contents.items():
        storage.save(name, ContentFile(data))
    proxy.reset_counts()
    found = {stat.name: stat for stat in storage.iter_files("")}
    assert proxy.count() == 1
    assert set(found) == set(contents)
    for name, data in contents.items():
        assert found[name].size == len(data)
        assert found[name].sha256 == hashlib.sha256(data).hexdigest()
        assert found[name].md5 == hashlib.md5(data).hexdigest()  # noqa: S324 - what bk-repo lists
    assert {stat.name for stat in storage.iter_files("a")} == {"a/one.txt", "a/b/two.txt"}
    assert list(storage.iter_files("missing")) == []
