"""The repository service: node pages, node detail, repository info and creation."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.devserver.conftest import Api, assert_error, assert_ok

NODE_INFO_KEYS = {
    "id",
    "createdBy",
    "createdDate",
    "lastModifiedBy",
    "lastModifiedDate",
    "lastAccessDate",
    "folder",
    "path",
    "name",
    "fullPath",
    "size",
    "nodeNum",
    "sha256",
    "md5",
    "crc64ecma",
    "metadata",
    "nodeMetadata",
    "projectId",
    "repoName",
    "copyFromCredentialsKey",
    "copyIntoCredentialsKey",
    "clusterNames",
    "archived",
    "compressed",
    "federatedSource",
}


def page(api: Api, path: str = "", **params: Any) -> Any:
    return api.request("GET", f"/repository/api/node/page/{api.project}/{api.repos.private}/{path}", params=params)


@pytest.fixture
def tree(api: Api) -> Api:
    for name in ("top/a.txt", "top/b.txt", "top/sub/c.txt", "top/sub/deeper/d.txt", "other.txt"):
        assert_ok(api.put(name, name.encode(), headers={"X-BKREPO-META-Kind": "test"}))
    return api


def names(data: dict[str, Any]) -> list[str]:
    return sorted(record["fullPath"] for record in data["records"])


def test_page_shape_and_defaults(tree: Api) -> None:
    data = assert_ok(page(tree, "top"))
    assert list(data) == ["pageNumber", "pageSize", "totalRecords", "totalPages", "records"]
    assert data["pageNumber"] == 1
    assert data["pageSize"] == 20
    assert data["totalRecords"] == 3
    assert data["totalPages"] == 1
    assert names(data) == ["/top/a.txt", "/top/b.txt", "/top/sub"]
    record = next(r for r in data["records"] if r["name"] == "a.txt")
    assert set(record) == NODE_INFO_KEYS
    assert record["metadata"] is None
    assert record["folder"] is False
    assert record["path"] == "/top/"
    folder = next(r for r in data["records"] if r["name"] == "sub")
    assert folder["folder"] is True
    assert folder["size"] == 0


def test_page_options(tree: Api) -> None:
    files_only = assert_ok(page(tree, "top", includeFolder="false"))
    assert names(files_only) == ["/top/a.txt", "/top/b.txt"]
    deep = assert_ok(page(tree, "top", deep="true", includeFolder="false"))
    assert names(deep) == ["/top/a.txt", "/top/b.txt", "/top/sub/c.txt", "/top/sub/deeper/d.txt"]
    deep_all = assert_ok(page(tree, "top", deep="true"))
    assert deep_all["totalRecords"] == 6
    with_meta = assert_ok(page(tree, "top", includeFolder="false", includeMetadata="true"))
    assert with_meta["records"][0]["metadata"] == {"kind": "test"}
    sorted_page = assert_ok(page(tree, "top", sort="true"))
    assert [r["fullPath"] for r in sorted_page["records"]] == ["/top/sub", "/top/a.txt", "/top/b.txt"]
    no_total = assert_ok(page(tree, "top", includeTotalRecords="false"))
    assert no_total["totalRecords"] == 0
    assert len(no_total["records"]) == 3


def test_page_sort_property(tree: Api) -> None:
    data = assert_ok(page(tree, "top", includeFolder="false", sortProperty="name", direction="DESC"))
    assert [r["name"] for r in data["records"]] == ["b.txt", "a.txt"]
    assert_error(page(tree, "top", sortProperty="nope", direction="ASC"), 400, 250105)
    assert_error(page(tree, "top", sortProperty="name", direction="UP"), 400, 250105)


def test_paging(tree: Api) -> None:
    first = assert_ok(page(tree, "", deep="true", includeFolder="false", pageSize=2, pageNumber=1, sort="true"))
    second = assert_ok(page(tree, "", deep="true", includeFolder="false", pageSize=2, pageNumber=2, sort="true"))
    third = assert_ok(page(tree, "", deep="true", includeFolder="false", pageSize=2, pageNumber=3, sort="true"))
    beyond = assert_ok(page(tree, "", deep="true", includeFolder="false", pageSize=2, pageNumber=9))
    assert first["totalRecords"] == 5
    assert first["totalPages"] == 3
    assert [len(p["records"]) for p in (first, second, third)] == [2, 2, 1]
    everything = [r["fullPath"] for p in (first, second, third) for r in p["records"]]
    assert everything == sorted(everything)
    assert len(set(everything)) == 5
    assert beyond["records"] == []
    assert beyond["pageNumber"] == 9
    zero = assert_ok(page(tree, "top", pageNumber=0))
    assert zero["pageNumber"] == 1


def test_missing_or_file_path_gives_empty_page(tree: Api) -> None:
    for path in ("no/such/dir", "other.txt"):
        data = assert_ok(page(tree, path))
        assert data["records"] == []
        assert data["totalRecords"] == 0


@pytest.mark.parametrize(
    ("params", "name"),
    [
        ({"pageSize": -1}, "pageSize"),
        ({"pageSize": 0}, "pageSize"),
        ({"pageSize": 100001}, "pageSize"),
        ({"pageSize": 10**30}, "pageSize"),
        ({"pageSize": "ten"}, "pageSize"),
        ({"pageNumber": -1}, "pageNumber"),
        ({"pageNumber": "first"}, "pageNumber"),
        ({"deep": "maybe"}, "deep"),
    ],
)
def test_bad_page_parameters(api: Api, params: dict[str, Any], name: str) -> None:
    body = assert_error(page(api, "", **params), 400, 250105)
    assert body["message"] == f"Parameter [{name}] is invalid"


def test_largest_page_size_is_accepted(api: Api) -> None:
    assert assert_ok(page(api, "", pageSize=100000))["pageSize"] == 100000


def test_node_detail(tree: Api) -> None:
    base = f"/repository/api/node/detail/{tree.project}/{tree.repos.private}"
    detail = assert_ok(tree.request("GET", f"{base}/top/a.txt"))
    assert detail["fullPath"] == "/top/a.txt"
    assert detail["size"] == len(b"top/a.txt")
    assert detail["metadata"] == {"kind": "test"}
    assert detail["nodeInfo"]["name"] == "a.txt"
    body = assert_error(tree.request("GET", f"{base}/top/none.txt"), 400, 251010)
    assert body["message"] == "Node [/top/none.txt] not found"
    generic = assert_ok(tree.request("GET", f"/generic/detail/{tree.project}/{tree.repos.private}/top/a.txt"))
    assert generic["sha256"] == detail["sha256"]
    assert_error(tree.request("GET", f"/generic/detail/{tree.project}/{tree.repos.private}/none"), 400, 251010)


def test_repo_info(api: Api) -> None:
    base = f"/repository/api/repo/info/{api.project}"
    info = assert_ok(api.request("GET", f"{base}/{api.repos.private}/GENERIC"))
    assert info["name"] == api.repos.private
    assert info["projectId"] == api.project
    assert info["type"] == "GENERIC"
    assert info["category"] == "LOCAL"
    assert info["public"] is False
    assert {"id", "description", "configuration", "createdBy", "createdDate", "quota", "used"} <= set(info)
    assert assert_ok(api.request("GET", f"{base}/{api.repos.public}"))["public"] is True
    assert assert_ok(api.request("GET", f"{base}/{api.repos.public}/generic"))["public"] is True
    assert assert_ok(api.request("GET", f"{base}/{api.repos.public}/MAVEN")) is None
    assert_error(api.request("GET", f"{base}/no-such-repo/GENERIC"), 404, 251006)


def test_repo_create(api: Api) -> None:
    name = f"made-{uuid.uuid4().hex[:8]}"
    body = {"projectId": api.project, "name": name, "type": "GENERIC", "category": "LOCAL", "public": True}
    detail = assert_ok(api.request("POST", "/repository/api/repo/create", json=body))
    assert detail["name"] == name
    assert detail["public"] is True
    assert detail["type"] == "GENERIC"
    assert detail["createdBy"] == "admin"
    existed = assert_error(api.request("POST", "/repository/api/repo/create", json=body), 400, 251007)
    assert existed["message"] == f"Repository [{name}] existed"
    assert api.get("x", repo=name, anonymous=True).status_code == 404
    bad_name = {**body, "name": "-bad name"}
    assert_error(api.request("POST", "/repository/api/repo/create", json=bad_name), 400, 250105)
    no_project = {**body, "projectId": "no-such-project"}
    assert_error(api.request("POST", "/repository/api/repo/create", json=no_project), 400, 251004)
    response = api.request("POST", "/repository/api/repo/create", json={**body, "name": "anon-repo"}, anonymous=True)
    assert_error(response, 401, 250114)


@pytest.mark.parametrize(
    "payload", [b"{not json", b"[1, 2]", b'{"projectId": "p"}', b'{"projectId": 1, "name": "n", "type": "GENERIC"}']
)
def test_repo_create_bad_body(api: Api, payload: bytes) -> None:
    response = api.request(
        "POST", "/repository/api/repo/create", data=payload, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, 250106)
