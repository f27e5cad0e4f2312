"""Node copy, move, rename and recursive delete (bk-repo's ``UserNodeController``)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from bkstorages_contrib.testing import DevServer
from tests.devserver.conftest import Api, assert_error, assert_ok


def move_copy(api: Api, action: str, src: str, dest: str, **extra: Any) -> requests.Response:
    body = {"srcProjectId": api.project, "srcRepoName": api.repos.private, "srcFullPath": src, "destFullPath": dest}
    return api.request("POST", f"/repository/api/node/{action}", json={**body, **extra})


def detail(api: Api, path: str, repo: str | None = None) -> requests.Response:
    return api.request("GET", f"/repository/api/node/detail/{api.project}/{repo or api.repos.private}/{path}")


def files(api: Api, repo: str | None = None) -> dict[str, bytes]:
    """Every file of the repository with its content."""
    url = f"/repository/api/node/page/{api.project}/{repo or api.repos.private}/"
    page = assert_ok(api.request("GET", url, params={"deep": "true", "includeFolder": "false", "pageSize": "1000"}))
    return {record["fullPath"]: api.get(record["fullPath"], repo).content for record in page["records"]}


def folders(api: Api) -> set[str]:
    url = f"/repository/api/node/page/{api.project}/{api.repos.private}/"
    page = assert_ok(api.request("GET", url, params={"deep": "true", "pageSize": "1000"}))
    return {record["fullPath"] for record in page["records"] if record["folder"]}


@pytest.fixture
def tree(api: Api) -> Api:
    for name in ("dir/a.txt", "dir/sub/b.txt", "other.txt"):
        assert_ok(api.put(name, name.encode(), headers={"X-BKREPO-META-Kind": "test"}))
    return api


@pytest.mark.parametrize("action", ["copy", "move"])
def test_file_onto_a_new_name(tree: Api, action: str) -> None:
    before = assert_ok(detail(tree, "other.txt"))
    assert assert_ok(move_copy(tree, action, "/other.txt", "/new/place.txt")) is None
    after = assert_ok(detail(tree, "new/place.txt"))
    assert tree.get("new/place.txt").content == b"other.txt"
    assert after["sha256"] == before["sha256"]
    assert after["metadata"] == {"kind": "test"}
    assert (after["path"], after["name"]) == ("/new/", "place.txt")
    assert "/new" in folders(tree)
    if action == "copy":
        assert tree.get("other.txt").content == b"other.txt"
    else:
        assert_error(detail(tree, "other.txt"), 400, 251010)


@pytest.mark.parametrize("action", ["copy", "move"])
def test_existing_file_is_refused_without_overwrite_and_left_untouched(tree: Api, action: str) -> None:
    body = assert_error(move_copy(tree, action, "/other.txt", "/dir/a.txt"), 400, 251013)
    assert body["message"] == "Node [/dir/a.txt] conflict"
    assert tree.get("dir/a.txt").content == b"dir/a.txt"
    assert tree.get("other.txt").content == b"other.txt"
    assert_error(move_copy(tree, action, "/other.txt", "/dir/a.txt", overwrite=False), 400, 251013)


@pytest.mark.parametrize("action", ["copy", "move"])
def test_overwrite_replaces_a_file(tree: Api, action: str) -> None:
    assert_ok(move_copy(tree, action, "/other.txt", "/dir/a.txt", overwrite=True))
    assert tree.get("dir/a.txt").content == b"other.txt"
    assert (tree.get("other.txt").status_code == 200) == (action == "copy")


def test_file_onto_a_folder_goes_inside_it(tree: Api) -> None:
    assert_ok(move_copy(tree, "copy", "/other.txt", "/dir"))
    assert tree.get("dir/other.txt").content == b"other.txt"
    assert_ok(move_copy(tree, "move", "/dir/a.txt", "/"))
    assert tree.get("a.txt").content == b"dir/a.txt"
    assert tree.get("dir/a.txt").status_code == 404


def test_file_onto_a_nested_folder_of_its_name_is_a_conflict(tree: Api) -> None:
    assert_ok(tree.put("box/other.txt/inner.txt", b"inner"))
    assert_error(move_copy(tree, "move", "/other.txt", "/box"), 400, 251013)
    assert tree.get("other.txt").content == b"other.txt"


@pytest.mark.parametrize("action", ["copy", "move"])
def test_folder_onto_a_new_name_and_into_a_folder(tree: Api, action: str) -> None:
    assert_ok(move_copy(tree, action, "/dir", "/renamed"))
    expected = {"/renamed/a.txt": b"dir/a.txt", "/renamed/sub/b.txt": b"dir/sub/b.txt", "/other.txt": b"other.txt"}
    if action == "copy":
        expected.update({"/dir/a.txt": b"dir/a.txt", "/dir/sub/b.txt": b"dir/sub/b.txt"})
    assert files(tree) == expected
    assert_ok(tree.put("target/keep.txt", b"keep"))
    assert_ok(move_copy(tree, action, "/renamed", "/target"))
    assert tree.get("target/renamed/sub/b.txt").content == b"dir/sub/b.txt"
    assert tree.get("target/keep.txt").content == b"keep"


def test_folders_merge_and_file_conflicts_inside_stop_everything(tree: Api) -> None:
    assert_ok(tree.put("target/dir/sub/b.txt", b"older"))
    assert_error(move_copy(tree, "move", "/dir", "/target"), 400, 251013)
    # All or nothing: nothing moved, nothing replaced.
    assert tree.get("dir/a.txt").content == b"dir/a.txt"
    assert tree.get("target/dir/a.txt").status_code == 404
    assert tree.get("target/dir/sub/b.txt").content == b"older"
    assert_ok(move_copy(tree, "move", "/dir", "/target", overwrite=True))
    assert tree.get("target/dir/sub/b.txt").content == b"dir/sub/b.txt"
    assert tree.get("target/dir/a.txt").content == b"dir/a.txt"
    assert not any(path.startswith("/dir/") for path in files(tree))


def test_folder_onto_a_file_or_into_itself_is_a_conflict(tree: Api) -> None:
    assert_error(move_copy(tree, "copy", "/dir", "/other.txt"), 400, 251013)
    assert_error(move_copy(tree, "copy", "/dir", "/dir/sub/deeper"), 400, 251013)
    assert_error(move_copy(tree, "move", "/dir", "/dir/sub"), 400, 251013)
    assert tree.get("dir/sub/b.txt").content == b"dir/sub/b.txt"
    assert tree.get("dir/sub/deeper").status_code == 404


def test_an_ancestor_that_is_a_file_is_a_conflict(tree: Api) -> None:
    body = assert_error(move_copy(tree, "copy", "/dir/a.txt", "/other.txt/inside.txt"), 400, 251013)
    assert body["message"] == "Node [/other.txt] conflict"


@pytest.mark.parametrize("action", ["copy", "move"])
def test_onto_itself_or_its_own_folder_does_nothing(tree: Api, action: str) -> None:
    assert_ok(move_copy(tree, action, "/dir/a.txt", "/dir/a.txt"))
    assert_ok(move_copy(tree, action, "/dir/a.txt", "/dir"))
    assert_ok(move_copy(tree, action, "/dir/sub", "/dir/"))
    assert files(tree) == {"/dir/a.txt": b"dir/a.txt", "/dir/sub/b.txt": b"dir/sub/b.txt", "/other.txt": b"other.txt"}


@pytest.mark.parametrize("action", ["copy", "move"])
def test_missing_source_is_node_not_found(tree: Api, action: str) -> None:
    body = assert_error(move_copy(tree, action, "missing.txt", "/x.txt"), 400, 251010)
    assert body["message"] == "Node [/missing.txt] not found"
    assert_error(move_copy(tree, action, "/", "/x"), 400, 251010)


@pytest.mark.parametrize("action", ["copy", "move"])
def test_across_repositories(tree: Api, action: str) -> None:
    extra = {"destProjectId": tree.project, "destRepoName": tree.repos.public}
    assert_ok(move_copy(tree, action, "/dir", "/copied", **extra))
    assert files(tree, tree.repos.public) == {"/copied/a.txt": b"dir/a.txt", "/copied/sub/b.txt": b"dir/sub/b.txt"}
    assert (tree.get("dir/a.txt").status_code == 200) == (action == "copy")
    missing = {"destProjectId": tree.project, "destRepoName": "no-such-repo"}
    assert_error(move_copy(tree, action, "/other.txt", "/x", **missing), 404, 251006)


def test_move_keeps_content_that_other_nodes_share(tree: Api) -> None:
    """Contents are shared by sha256: replacing or moving one node must not lose another's."""
    assert_ok(tree.put("twin.txt", b"other.txt"))
    assert_ok(move_copy(tree, "move", "/dir/a.txt", "/twin.txt", overwrite=True))
    assert_ok(move_copy(tree, "move", "/twin.txt", "/moved.txt"))
    assert tree.get("other.txt").content == b"other.txt"
    assert tree.get("moved.txt").content == b"dir/a.txt"


def test_bad_bodies(api: Api) -> None:
    url = "/repository/api/node/copy"
    assert_error(api.request("POST", url, data=b"not json"), 400, 250106)
    assert_error(api.request("POST", url, json={"srcProjectId": api.project}), 400, 250106)
    body = {"srcProjectId": api.project, "srcRepoName": api.repos.private, "srcFullPath": "/a", "destFullPath": "/b"}
    assert_error(api.request("POST", url, json={**body, "overwrite": "yes"}), 400, 250106)
    assert_error(api.request("GET", url), 405, 250112)


def test_only_local_repositories(api: Api) -> None:
    name = f"remote-{uuid.uuid4().hex[:8]}"
    create = {"projectId": api.project, "name": name, "type": "GENERIC", "category": "REMOTE"}
    assert_ok(api.request("POST", "/repository/api/repo/create", json=create))
    assert_ok(api.put("file.txt", b"x"))
    extra = {"destProjectId": api.project, "destRepoName": name}
    body = assert_error(move_copy(api, "copy", "/file.txt", "/file.txt", **extra), 400, 250112)
    assert "Only local repository is supported" in body["message"]


def test_writes_need_credentials_and_rights(tree: Api, reader_server: DevServer) -> None:
    assert_error(_anonymous_copy(tree), 401, 250114)
    base, project, repo = reader_server.endpoint_url, reader_server.project, reader_server.private_bucket
    admin, reader = (reader_server.username, reader_server.password), ("reader", "reader-pass")
    assert_ok(requests.put(f"{base}/generic/{project}/{repo}/ro.txt", data=b"ro", auth=admin, timeout=30))
    body = {"srcProjectId": project, "srcRepoName": repo, "srcFullPath": "/ro.txt", "destFullPath": "/ro2.txt"}
    for action in ("copy", "move"):
        url = f"{base}/repository/api/node/{action}"
        assert_error(requests.post(url, json=body, auth=reader, timeout=30), 403, 250113)
    rename = f"{base}/repository/api/node/rename/{project}/{repo}/ro.txt"
    assert_error(requests.post(rename, params={"newFullPath": "/x"}, auth=reader, timeout=30), 403, 250113)
    delete = f"{base}/repository/api/node/delete/{project}/{repo}/ro.txt"
    assert_error(requests.delete(delete, auth=reader, timeout=30), 403, 250113)
    assert requests.get(f"{base}/generic/{project}/{repo}/ro.txt", auth=admin, timeout=30).content == b"ro"


def _anonymous_copy(api: Api) -> requests.Response:
    body = {"srcProjectId": api.project, "srcRepoName": api.repos.private, "srcFullPath": "/a", "destFullPath": "/b"}
    return api.request("POST", "/repository/api/node/copy", json=body, anonymous=True)


def rename(api: Api, path: str, new_path: str | None) -> requests.Response:
    params = {} if new_path is None else {"newFullPath": new_path}
    return api.request("POST", f"/repository/api/node/rename/{api.project}/{api.repos.private}/{path}", params=params)


def test_rename_file_and_folder(tree: Api) -> None:
    created = assert_ok(detail(tree, "other.txt"))["createdDate"]
    assert assert_ok(rename(tree, "other.txt", "/elsewhere/renamed.txt")) is None
    assert assert_ok(detail(tree, "elsewhere/renamed.txt"))["createdDate"] == created
    assert_ok(rename(tree, "dir", "/folder"))
    assert files(tree) == {
        "/elsewhere/renamed.txt": b"other.txt",
        "/folder/a.txt": b"dir/a.txt",
        "/folder/sub/b.txt": b"dir/sub/b.txt",
    }
    assert "/dir" not in folders(tree)
    assert {"/folder", "/folder/sub", "/elsewhere"} <= folders(tree)


def test_rename_refusals(tree: Api) -> None:
    body = assert_error(rename(tree, "other.txt", "/dir/a.txt"), 400, 251012)
    assert body["message"] == "Node [/dir/a.txt] existed"
    assert_error(rename(tree, "other.txt", "/dir"), 400, 251012)
    assert_error(rename(tree, "missing.txt", "/x"), 400, 251010)
    assert_error(rename(tree, "other.txt", None), 400, 250103)
    assert_error(rename(tree, "dir", "/dir/sub/inner"), 400, 251013)
    assert tree.get("other.txt").content == b"other.txt"


def test_rename_with_a_body(tree: Api) -> None:
    body = {"projectId": tree.project, "repoName": tree.repos.private, "fullPath": "other.txt", "newFullPath": "o.txt"}
    assert_ok(tree.request("POST", "/repository/api/node/rename", json=body))
    assert tree.get("o.txt").content == b"other.txt"
    assert_error(tree.request("POST", "/repository/api/node/rename", json={"projectId": tree.project}), 400, 250106)


def delete(api: Api, path: str) -> requests.Response:
    return api.request("DELETE", f"/repository/api/node/delete/{api.project}/{api.repos.private}/{path}")


def test_delete_folder_recursively(tree: Api) -> None:
    result = assert_ok(delete(tree, "dir"))
    assert set(result) == {"deletedNumber", "deletedSize", "deletedTime"}
    assert result["deletedNumber"] == 2
    assert result["deletedSize"] == len(b"dir/a.txt") + len(b"dir/sub/b.txt")
    assert files(tree) == {"/other.txt": b"other.txt"}
    assert folders(tree) == set()


def test_delete_file_missing_node_and_root(tree: Api) -> None:
    assert assert_ok(delete(tree, "other.txt"))["deletedNumber"] == 1
    assert tree.get("other.txt").status_code == 404
    missing = assert_ok(delete(tree, "no/such/thing"))
    assert (missing["deletedNumber"], missing["deletedSize"]) == (0, 0)
    for root in ("", "/", "./"):
        body = assert_error(delete(tree, root), 400, 250112)
        assert "Can't delete root node." in body["message"]
    assert tree.get("dir/a.txt").content == b"dir/a.txt"


def test_deleted_content_shared_with_a_copy_stays(tree: Api) -> None:
    assert_ok(move_copy(tree, "copy", "/dir", "/copy"))
    assert_ok(delete(tree, "dir"))
    assert tree.get("copy/sub/b.txt").content == b"dir/sub/b.txt"
