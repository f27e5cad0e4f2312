"""Temporary URLs and tokens: creation, validation order, expiry and permits."""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

import pytest
import requests

from tests.devserver.conftest import Api, assert_error, assert_ok


def create(api: Api, anonymous: bool = False, kind: str = "url", **fields: Any) -> requests.Response:
    body = {"projectId": api.project, "repoName": api.repos.private, "type": "DOWNLOAD", **fields}
    return api.request("POST", f"/generic/temporary/{kind}/create", json=body, anonymous=anonymous)


def url_for(api: Api, path: str, **fields: Any) -> str:
    data = assert_ok(create(api, fullPathSet=[path], **fields))
    return str(data[0]["url"])


def with_token(url: str, token: str) -> str:
    return re.sub(r"token=[^&]*", f"token={token}", url)


def test_create_url_shape(api: Api) -> None:
    data = assert_ok(create(api, fullPathSet=["a//b.txt", "/c.txt"], expireSeconds=600, permits=3))
    assert [item["fullPath"] for item in data] == ["/a/b.txt", "/c.txt"]
    item = data[0]
    assert set(item) == {
        "projectId",
        "repoName",
        "fullPath",
        "url",
        "authorizedUserList",
        "authorizedIpList",
        "expireDate",
        "permits",
        "type",
    }
    assert item["projectId"] == api.project
    assert item["repoName"] == api.repos.private
    assert item["permits"] == 3
    assert item["type"] == "DOWNLOAD"
    assert item["authorizedUserList"] == []
    assert item["authorizedIpList"] == []
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?", item["expireDate"])
    prefix = f"{api.base}/generic/temporary/download/{api.project}/{api.repos.private}/a/b.txt?token="
    assert item["url"].startswith(prefix)
    assert re.fullmatch(r"[0-9a-f]{32}", item["url"][len(prefix) :])


def test_create_url_host_and_never_expiring(api: Api) -> None:
    data = assert_ok(create(api, fullPathSet=["/x.txt"], host=" cdn.example.test/generic/ ", expireSeconds=0))
    assert data[0]["url"].startswith("http://cdn.example.test/generic/temporary/download/")
    assert data[0]["expireDate"] is None
    upload = assert_ok(create(api, fullPathSet=["/x.txt"], type="UPLOAD", host="https://h.test/generic"))
    assert upload[0]["url"].startswith("https://h.test/generic/temporary/upload/")


def test_url_paths_are_not_encoded_by_the_server(api: Api) -> None:
    data = assert_ok(create(api, fullPathSet=["/dir/a b#c.txt"]))
    assert "/dir/a b#c.txt?token=" in data[0]["url"]


def test_create_url_validation(api: Api) -> None:
    assert_error(create(api, fullPathSet=["/x"], type="ALL"), 400, 250105)
    assert_error(create(api, fullPathSet=["/x"], permits=0), 400, 250105)
    assert_error(create(api, fullPathSet=["/x"], permits=-2), 400, 250105)
    assert_error(create(api, fullPathSet=["/x"], type="SOMETHING"), 400, 250106)
    assert_error(create(api, fullPathSet="/x"), 400, 250106)
    assert_error(create(api, fullPathSet=["/x"], anonymous=True), 401, 250114)
    assert_error(create(api, fullPathSet=["/x"], repoName="no-such-repo"), 404, 251006)
    response = api.request(
        "POST", "/generic/temporary/url/create", data=b"{oops", headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, 250106)


def test_download_by_url(api: Api) -> None:
    assert_ok(api.put("dl/file.txt", b"temporary"))
    url = url_for(api, "/dl/file.txt")
    response = requests.get(url, timeout=30)
    assert response.status_code == 200
    assert response.content == b"temporary"
    assert "Content-Disposition" in response.headers
    assert response.headers["ETag"]
    ranged = requests.get(url, headers={"Range": "bytes=0-3"}, timeout=30)
    assert ranged.status_code == 206
    assert ranged.content == b"temp"
    preview = requests.get(url + "&preview=true", timeout=30)
    assert "Content-Disposition" not in preview.headers
    assert_error(requests.get(url, headers={"Range": "bytes=99-"}, timeout=30), 416, 250120)


def test_download_missing_node_is_251024(api: Api) -> None:
    url = url_for(api, "/not/there.txt", permits=1)
    body = assert_error(requests.get(url, timeout=30), 404, 251024)
    assert body["message"] == "Artifact file data not found"
    assert_ok(api.put("not/there.txt", b"now here"))
    assert requests.get(url, timeout=30).content == b"now here"  # the failure did not use the permit


def test_permits_are_counted_then_token_deleted(api: Api) -> None:
    assert_ok(api.put("p.txt", b"p"))
    url = url_for(api, "/p.txt", permits=2)
    assert requests.get(url, timeout=30).status_code == 200
    assert requests.get(url, timeout=30).status_code == 200
    assert_error(requests.get(url, timeout=30), 400, 251021)


def test_expired_token(api: Api) -> None:
    assert_ok(api.put("e.txt", b"e"))
    url = url_for(api, "/e.txt", expireSeconds=2)
    assert requests.get(url, timeout=30).status_code == 200
    time.sleep(2.1)
    body = assert_error(requests.get(url, timeout=30), 400, 251022)
    assert body["message"] == "Temporary token expired"


def test_token_checks(api: Api) -> None:
    assert_ok(api.put("t/file.txt", b"t"))
    assert_ok(api.put("t/other.txt", b"o"))
    assert_ok(api.put("elsewhere.txt", b"e"))
    url = url_for(api, "/t/file.txt")
    base = url.split("?")[0]
    missing = assert_error(requests.get(base, timeout=30), 400, 250103)
    assert missing["message"] == "Parameter [token] is missing"
    assert_error(requests.get(base + "?token=", timeout=30), 400, 251021)
    assert_error(requests.get(with_token(url, "f" * 32), timeout=30), 400, 251021)
    token = url.rsplit("token=", 1)[1]
    other_path = f"{api.base}/generic/temporary/download/{api.project}/{api.repos.private}/t/other.txt?token={token}"
    assert_error(requests.get(other_path, timeout=30), 400, 251021)
    other_repo = f"{api.base}/generic/temporary/download/{api.project}/{api.repos.public}/t/file.txt?token={token}"
    assert_error(requests.get(other_repo, timeout=30), 400, 251021)
    upload_with_download_token = url.replace("/temporary/download/", "/temporary/upload/")
    assert_error(requests.put(upload_with_download_token, data=b"x", timeout=30), 400, 251021)
    assert requests.get(url, auth=("admin", "wrong"), timeout=30).status_code == 401


def test_token_for_a_folder_covers_its_files(api: Api) -> None:
    assert_ok(api.put("folder/inside/deep.txt", b"deep"))
    url = url_for(api, "/folder")
    token = url.rsplit("token=", 1)[1]
    deep = f"{api.base}/generic/temporary/download/{api.project}/{api.repos.private}/folder/inside/deep.txt"
    assert requests.get(f"{deep}?token={token}", timeout=30).content == b"deep"


def test_authorized_users_and_ips(api: Api) -> None:
    assert_ok(api.put("u.txt", b"u"))
    users_url = url_for(api, "/u.txt", authorizedUserSet=["admin"])
    body = assert_error(requests.get(users_url, timeout=30), 400, 251021)
    assert body["message"] == "Temporary token invalid: [anonymous]"
    assert requests.get(users_url, auth=api.auth, timeout=30).status_code == 200
    ip_url = url_for(api, "/u.txt", authorizedIpSet=["10.9.8.7"])
    assert_error(requests.get(ip_url, timeout=30), 400, 251021)
    local_url = url_for(api, "/u.txt", authorizedIpSet=["127.0.0.1"])
    assert requests.get(local_url, timeout=30).status_code == 200


def test_upload_by_url(api: Api) -> None:
    url = url_for(api, "/up/new.txt", type="UPLOAD", permits=1)
    data = assert_ok(requests.put(url, data=b"uploaded", timeout=30))
    assert data["fullPath"] == "/up/new.txt"
    assert data["createdBy"] == "admin"  # anonymous uploads are attributed to the token's creator
    assert api.get("up/new.txt").content == b"uploaded"
    assert_error(requests.put(url, data=b"again", timeout=30), 400, 251021)
    assert_error(requests.get(url.replace("/temporary/upload/", "/temporary/download/"), timeout=30), 400, 251021)


def test_upload_by_url_honours_overwrite_and_digests(api: Api) -> None:
    assert_ok(api.put("up/existing.txt", b"old"))
    url = url_for(api, "/up/existing.txt", type="UPLOAD")
    assert_error(requests.put(url, data=b"new", timeout=30), 400, 251012)
    assert_error(requests.put(url, data=b"new", headers={"X-BKREPO-SHA256": "0" * 64}, timeout=30), 400, 251012)
    headers = {"X-BKREPO-OVERWRITE": "true", "X-BKREPO-SHA256": "0" * 64}
    assert_error(requests.put(url, data=b"new", headers=headers, timeout=30), 400, 251003)
    assert_ok(requests.put(url, data=b"new", headers={"X-BKREPO-OVERWRITE": "true"}, timeout=30))
    assert api.get("up/existing.txt").content == b"new"


def test_create_token_api(api: Api) -> None:
    assert_ok(api.put("tok.txt", b"tok"))
    data = assert_ok(create(api, kind="token", fullPathSet=["/tok.txt"], type="ALL", permits=5))
    token = data[0]["token"]
    assert re.fullmatch(r"[0-9a-f]{32}", token)
    assert "url" not in data[0]
    assert data[0]["type"] == "ALL"
    path = f"{api.project}/{api.repos.private}/tok.txt?token={token}"
    assert requests.get(f"{api.base}/generic/temporary/download/{path}", timeout=30).content == b"tok"
    headers = {"X-BKREPO-OVERWRITE": "true"}
    assert_ok(requests.put(f"{api.base}/generic/temporary/upload/{path}", data=b"v2", headers=headers, timeout=30))
    assert_error(create(api, kind="token", fullPathSet=["/tok.txt"], anonymous=True), 401, 250114)


@pytest.mark.parametrize("name", ["space name.txt", "hash#name.txt", "percent%name.txt", "中文.txt"])
def test_urls_for_awkward_names_work_once_the_client_encodes_the_path(api: Api, name: str) -> None:
    assert_ok(api.put(urllib.parse.quote(name), name.encode()))
    url = url_for(api, "/" + name)
    base, _, token = url.rpartition("?token=")
    prefix, _, path = base.partition("/generic/temporary/download/")
    encoded = f"{prefix}/generic/temporary/download/{urllib.parse.quote(path)}?token={token}"
    assert requests.get(encoded, timeout=30).content == name.encode()


def test_token_routes_allow_any_origin(api: Api) -> None:
    assert_ok(api.put("cors.txt", b"cors"))
    url = url_for(api, "/cors.txt")
    response = requests.get(url, headers={"Origin": "http://elsewhere.test"}, timeout=30)
    assert response.status_code == 200
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    failed = requests.get(with_token(url, "0" * 32), headers={"Origin": "http://elsewhere.test"}, timeout=30)
    assert_error(failed, 400, 251021)
    assert failed.headers["Access-Control-Allow-Origin"] == "*"
    preflight = requests.options(
        url.replace("/temporary/download/", "/temporary/upload/"),
        headers={
            "Origin": "http://elsewhere.test",
            "Access-Control-Request-Method": "PUT",
            "Access-Control-Request-Headers": "x-bkrepo-overwrite",
        },
        timeout=30,
    )
    assert preflight.status_code == 200
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    assert preflight.headers["Access-Control-Allow-Methods"] == "PUT"
    assert preflight.headers["Access-Control-Allow-Headers"] == "x-bkrepo-overwrite"
    plain = requests.get(url, timeout=30)
    assert "Access-Control-Allow-Origin" not in plain.headers


def test_folder_by_token_is_a_zip(api: Api) -> None:
    import io
    import zipfile

    assert_ok(api.put("shared/one.txt", b"1"))
    assert_ok(api.put("shared/two/three.txt", b"3"))
    response = requests.get(url_for(api, "/shared"), timeout=30)
    assert response.status_code == 200
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["one.txt", "two/three.txt"]
