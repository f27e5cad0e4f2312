"""The basic round trip: upload, download, list, delete."""

from __future__ import annotations

import hashlib

from tests.devserver.conftest import Api, assert_error, assert_ok


def test_upload_download_delete(api: Api) -> None:
    data = assert_ok(api.put("dir/hello.txt", b"hello"))
    assert data["fullPath"] == "/dir/hello.txt"
    assert data["sha256"] == hashlib.sha256(b"hello").hexdigest()

    response = api.get("dir/hello.txt")
    assert response.status_code == 200
    assert response.content == b"hello"

    page = assert_ok(api.request("GET", f"/repository/api/node/page/{api.project}/{api.repos.private}/dir"))
    assert [record["name"] for record in page["records"]] == ["hello.txt"]

    assert assert_ok(api.request("DELETE", api.generic("dir/hello.txt"))) is None
    assert_error(api.get("dir/hello.txt"), 404, 251010)


def test_fixture_repositories_are_fresh(api: Api) -> None:
    public = assert_ok(api.request("GET", f"/repository/api/repo/info/{api.project}/{api.repos.public}/GENERIC"))
    private = assert_ok(api.request("GET", f"/repository/api/repo/info/{api.project}/{api.repos.private}/GENERIC"))
    assert public["public"] is True
    assert private["public"] is False
    page = assert_ok(api.request("GET", f"/repository/api/node/page/{api.project}/{api.repos.private}/"))
    assert page["totalRecords"] == 0
