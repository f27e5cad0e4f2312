"""Generic upload, download, HEAD and DELETE, as bk-repo answers them."""

from __future__ import annotations

import base64
import email.utils
import hashlib
import re
import time

import pytest

from tests.devserver.conftest import Api, assert_error, assert_ok

NODE_DETAIL_KEYS = {
    "nodeInfo",
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
    "clusterNames",
    "archived",
    "compressed",
    "federatedSource",
}
ISO_LOCAL = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,3})?")


# -- upload ----------------------------------------------------------------------------


def test_upload_answers_node_detail_and_checksums(api: Api) -> None:
    body = b"hello world\n"
    response = api.put("docs/readme.txt", body)
    data = assert_ok(response)
    assert set(data) == NODE_DETAIL_KEYS
    assert data["fullPath"] == "/docs/readme.txt"
    assert data["path"] == "/docs/"
    assert data["name"] == "readme.txt"
    assert data["folder"] is False
    assert data["size"] == len(body)
    assert data["sha256"] == hashlib.sha256(body).hexdigest()
    assert data["md5"] == hashlib.md5(body, usedforsecurity=False).hexdigest()
    assert data["projectId"] == api.project
    assert data["repoName"] == api.repos.private
    assert data["createdBy"] == "admin"
    assert data["metadata"] == {}
    assert data["nodeMetadata"] == []
    assert ISO_LOCAL.fullmatch(data["createdDate"])
    assert ISO_LOCAL.fullmatch(data["lastModifiedDate"])
    assert data["nodeInfo"]["fullPath"] == "/docs/readme.txt"
    assert re.fullmatch(r"[0-9a-f]{24}", data["nodeInfo"]["id"])
    assert response.headers["X-Checksum-Sha256"] == data["sha256"]
    assert response.headers["X-Checksum-Md5"] == data["md5"]
    assert response.headers["Content-Type"].startswith("application/json")
    assert re.fullmatch(r"[+-]\d{4}", response.headers["X-BKREPO-Time-Zone"])


def test_empty_body_is_a_file(api: Api) -> None:
    data = assert_ok(api.put("empty.bin", b""))
    assert data["size"] == 0
    assert data["sha256"] == hashlib.sha256(b"").hexdigest()
    response = api.get("empty.bin")
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["Content-Range"] == "bytes 0--1/0"


def test_upload_without_overwrite_refuses_existing(api: Api) -> None:
    assert_ok(api.put("a.txt", b"one"))
    body = assert_error(api.put("a.txt", b"two"), 400, 251012)
    assert body["message"] == "Node [a.txt] existed"
    for value in ("false", "yes", "1", ""):
        assert_error(api.put("a.txt", b"two", headers={"X-BKREPO-OVERWRITE": value}), 400, 251012)
    assert api.get("a.txt").content == b"one"


@pytest.mark.parametrize("value", ["true", "TRUE", "True"])
def test_overwrite_is_case_insensitive_true(api: Api, value: str) -> None:
    assert_ok(api.put("a.txt", b"one"))
    data = assert_ok(api.put("a.txt", b"two", headers={"X-BKREPO-OVERWRITE": value}))
    assert data["size"] == 3
    assert api.get("a.txt").content == b"two"


def test_digest_headers_are_verified(api: Api) -> None:
    body = b"checked"
    good = {
        "X-BKREPO-SHA256": hashlib.sha256(body).hexdigest().upper(),
        "X-BKREPO-MD5": hashlib.md5(body, usedforsecurity=False).hexdigest(),
    }
    assert_ok(api.put("good.txt", body, headers=good))
    bad_sha = assert_error(api.put("bad1.txt", body, headers={"X-BKREPO-SHA256": "0" * 64}), 400, 251003)
    assert "sha256" in bad_sha["message"]
    bad_md5 = assert_error(api.put("bad2.txt", body, headers={"X-BKREPO-MD5": "0" * 32}), 400, 251003)
    assert "md5" in bad_md5["message"]
    assert_error(api.get("bad1.txt"), 404, 251010)
    assert_error(api.get("bad2.txt"), 404, 251010)


def test_digest_mismatch_keeps_old_content(api: Api) -> None:
    assert_ok(api.put("keep.txt", b"old"))
    headers = {"X-BKREPO-OVERWRITE": "true", "X-BKREPO-SHA256": "1" * 64}
    assert_error(api.put("keep.txt", b"new", headers=headers), 400, 251003)
    assert api.get("keep.txt").content == b"old"


def test_metadata_headers(api: Api) -> None:
    packed = base64.b64encode(b"Team=core&empty=&note=a%20b&=x").decode()
    headers = {
        "X-BKREPO-META-Owner": "Alice",
        "X-BKREPO-META-Greeting": "%E4%BD%A0%E5%A5%BD",
        "X-BKREPO-META-Bad": "%ZZ",
        "X-BKREPO-META": packed,
    }
    data = assert_ok(api.put("meta.txt", b"m", headers=headers))
    assert data["metadata"] == {"owner": "Alice", "greeting": "你好", "bad": "%ZZ", "Team": "core", "note": "a b"}
    assert {"key": "owner", "value": "Alice"}.items() <= data["nodeMetadata"][0].items()
    detail = assert_ok(api.request("GET", f"/repository/api/node/detail/{api.project}/{api.repos.private}/meta.txt"))
    assert detail["metadata"]["owner"] == "Alice"


def test_invalid_packed_metadata_is_ignored(api: Api) -> None:
    data = assert_ok(api.put("meta2.txt", b"m", headers={"X-BKREPO-META": "!!!not base64"}))
    assert data["metadata"] == {}


def test_expires_header(api: Api) -> None:
    assert_ok(api.put("exp.txt", b"e", headers={"X-BKREPO-EXPIRES": "3"}))
    assert_ok(api.put("exp0.txt", b"e", headers={"X-BKREPO-EXPIRES": "0"}))
    assert api.get("exp.txt").status_code == 200
    # bk-repo parses the header with toLong(): junk is its generic 500 envelope, not a traceback.
    assert_error(api.put("exp-bad.txt", b"e", headers={"X-BKREPO-EXPIRES": "soon"}), 500, 250102)
    assert_error(api.get("exp-bad.txt"), 404, 251010)


def test_upload_to_repository_root_is_invalid(api: Api) -> None:
    body = assert_error(api.put("", b"x"), 400, 250105)
    assert "fullPath" in body["message"]


def test_chunked_upload_body(api: Api) -> None:
    def parts() -> object:
        yield b"abc"
        yield b""
        yield b"def" * 1000

    data = assert_ok(api.put("chunked.bin", parts()))  # type: ignore[arg-type]
    assert data["size"] == 3 + 3000
    assert api.get("chunked.bin").content == b"abc" + b"def" * 1000


def test_multipart_content_type_is_stored_verbatim(api: Api) -> None:
    body = b"--x\r\nContent-Disposition: form-data\r\n\r\nhi\r\n--x--\r\n"
    assert_ok(api.put("form.txt", body, headers={"Content-Type": "multipart/form-data; boundary=x"}))
    assert api.get("form.txt").content == body


# -- folders -----------------------------------------------------------------------------


def test_parents_are_created_implicitly(api: Api) -> None:
    assert_ok(api.put("x/y/z.txt", b"z"))
    base = f"/repository/api/node/detail/{api.project}/{api.repos.private}"
    for folder, parent in (("/x", "/"), ("/x/y", "/x/")):
        detail = assert_ok(api.request("GET", f"{base}{folder}"))
        assert detail["folder"] is True
        assert detail["path"] == parent
        assert detail["size"] == 0
        assert detail["sha256"] is None
        assert detail["md5"] is None


def test_ancestor_file_conflicts(api: Api) -> None:
    assert_ok(api.put("file.txt", b"f"))
    body = assert_error(api.put("file.txt/child.txt", b"c"), 400, 251013)
    assert "/file.txt" in body["message"]
    assert api.get("file.txt").content == b"f"


def test_overwriting_a_folder_conflicts(api: Api) -> None:
    assert_ok(api.put("dir/inner.txt", b"i"))
    assert_error(api.put("dir", b"x"), 400, 251012)
    assert_error(api.put("dir", b"x", headers={"X-BKREPO-OVERWRITE": "true"}), 400, 251013)


def test_get_folder_redirects_then_lists(api: Api) -> None:
    assert_ok(api.put("dir/inner.txt", b"i"))
    response = api.get("dir", allow_redirects=False)
    assert response.status_code == 302
    assert response.headers["Location"].endswith("/dir/")
    listing = api.get("dir/", allow_redirects=False)
    assert listing.status_code == 200
    assert listing.headers["Content-Type"].startswith("text/html")
    assert "inner.txt" in listing.text
    assert "ETag" not in listing.headers
    head = api.request("HEAD", api.generic("dir"), allow_redirects=False)
    assert head.status_code == 302


# -- download ------------------------------------------------------------------------


def test_download_headers(api: Api) -> None:
    body = b"0123456789"
    uploaded = assert_ok(api.put("files/report final.txt", body))
    response = api.get("files/report final.txt")
    assert response.status_code == 200
    assert response.content == body
    headers = response.headers
    assert headers["Content-Length"] == "10"
    assert headers["Content-Range"] == "bytes 0-9/10"
    assert headers["Accept-Ranges"] == "bytes"
    assert headers["ETag"] == uploaded["sha256"]
    assert headers["X-Checksum-Sha256"] == uploaded["sha256"]
    assert headers["X-Checksum-Md5"] == uploaded["md5"]
    assert headers["Content-Type"].split(";")[0] == "text/plain"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["Content-Disposition"] == (
        "attachment;filename=\"report%20final.txt\";filename*=UTF-8''report%20final.txt"
    )
    modified = email.utils.parsedate_to_datetime(headers["Last-Modified"])
    assert abs(modified.timestamp() - time.time()) < 120


def test_preview_suppresses_disposition(api: Api) -> None:
    assert_ok(api.put("pic.png", b"\x89PNG"))
    response = api.get("pic.png", params={"preview": "true"})
    assert response.status_code == 200
    assert "Content-Disposition" not in response.headers
    assert response.headers["Content-Type"].split(";")[0] == "image/png"
    assert "Content-Disposition" in api.get("pic.png", params={"download": "true"}).headers
    assert "Content-Disposition" in api.get("pic.png", params={"preview": "false"}).headers


def test_unknown_extension_is_octet_stream(api: Api) -> None:
    assert_ok(api.put("blob.unknownext", b"?"))
    assert api.get("blob.unknownext").headers["Content-Type"].split(";")[0] == "application/octet-stream"


def test_non_ascii_and_special_names_round_trip(api: Api) -> None:
    name = "目录/a #b ?c %d.txt"
    quoted = "%E7%9B%AE%E5%BD%95/a%20%23b%20%3Fc%20%25d.txt"
    data = assert_ok(api.put(quoted, b"special"))
    assert data["fullPath"] == "/" + name
    response = api.get(quoted)
    assert response.content == b"special"
    assert "filename*=UTF-8''a%20%23b%20%3Fc%20%25d.txt" in response.headers["Content-Disposition"]


def test_cache_control_from_metadata(api: Api) -> None:
    assert_ok(api.put("cached.css", b"x", headers={"X-BKREPO-META-Cache-Control": "max-age=60"}))
    assert api.get("cached.css").headers["Cache-Control"] == "max-age=60"


def test_no_conditional_requests(api: Api) -> None:
    uploaded = assert_ok(api.put("etag.txt", b"e"))
    response = api.get("etag.txt", headers={"If-None-Match": uploaded["sha256"]})
    assert response.status_code == 200
    assert response.content == b"e"


@pytest.mark.parametrize(
    ("header", "status", "content_range", "content"),
    [
        ("bytes=2-4", 206, "bytes 2-4/10", b"234"),
        ("bytes=0-", 206, "bytes 0-9/10", b"0123456789"),
        ("bytes=7-", 206, "bytes 7-9/10", b"789"),
        ("bytes=-3", 206, "bytes 7-9/10", b"789"),
        ("bytes=-30", 206, "bytes 0-9/10", b"0123456789"),
        ("bytes=5-100", 206, "bytes 5-9/10", b"56789"),
        ("bytes=10-", 206, "bytes 10-9/10", b""),
        ("bytes=5-4", 206, "bytes 5-4/10", b""),
        ("bytes=1-1", 206, "bytes 1-1/10", b"1"),
    ],
)
def test_ranges(api: Api, header: str, status: int, content_range: str, content: bytes) -> None:
    assert_ok(api.put("digits.txt", b"0123456789"))
    response = api.get("digits.txt", headers={"Range": header})
    assert response.status_code == status
    assert response.headers["Content-Range"] == content_range
    assert response.headers["Content-Length"] == str(len(content))
    assert response.content == content


@pytest.mark.parametrize(
    "header", ["bytes=11-", "bytes=20-30", "bytes=0-1,3-4", "items=0-1", "bytes=-", "bytes=a-b", "0-1"]
)
def test_unsatisfiable_ranges(api: Api, header: str) -> None:
    assert_ok(api.put("digits.txt", b"0123456789"))
    assert_error(api.get("digits.txt", headers={"Range": header}), 416, 250120)


def test_range_on_head(api: Api) -> None:
    assert_ok(api.put("digits.txt", b"0123456789"))
    response = api.request("HEAD", api.generic("digits.txt"), headers={"Range": "bytes=1-3"})
    assert response.status_code == 206
    assert response.headers["Content-Length"] == "3"
    assert response.headers["Content-Range"] == "bytes 1-3/10"
    assert response.content == b""


def test_head_has_get_headers_and_no_body(api: Api) -> None:
    uploaded = assert_ok(api.put("head.txt", b"abcdef"))
    response = api.request("HEAD", api.generic("head.txt"))
    assert response.status_code == 200
    assert response.headers["Content-Length"] == "6"
    assert response.headers["ETag"] == uploaded["sha256"]
    assert response.headers["Content-Range"] == "bytes 0-5/6"
    assert "Content-Disposition" in response.headers
    assert response.content == b""
    missing = api.request("HEAD", api.generic("nothing.txt"))
    assert missing.status_code == 404
    assert missing.content == b""


def test_missing_file(api: Api) -> None:
    body = assert_error(api.get("no/such/file.txt"), 404, 251010)
    assert body["message"] == "Node [/no/such/file.txt] not found"


# -- delete ----------------------------------------------------------------------------


def test_delete_file_and_missing(api: Api) -> None:
    assert_ok(api.put("gone.txt", b"g"))
    assert assert_ok(api.request("DELETE", api.generic("gone.txt"))) is None
    assert_error(api.request("DELETE", api.generic("gone.txt")), 404, 251010)
    assert_error(api.get("gone.txt"), 404, 251010)


def test_delete_folder_rules(api: Api) -> None:
    assert_ok(api.put("full/deep/file.txt", b"f"))
    assert_error(api.request("DELETE", api.generic("full")), 400, 251009)
    assert_ok(api.request("DELETE", api.generic("full/deep/file.txt")))
    # Only empty folders are left: the delete takes them all.
    assert_ok(api.request("DELETE", api.generic("full")))
    detail_base = f"/repository/api/node/detail/{api.project}/{api.repos.private}"
    assert_error(api.request("GET", f"{detail_base}/full/deep"), 400, 251010)
    assert_error(api.request("GET", f"{detail_base}/full"), 400, 251010)


# -- paths ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "full_path"),
    [
        ("a//b/%2E/c.txt", "/a/b/c.txt"),
        ("a/x/%2E%2E/c.txt", "/a/c.txt"),
        ("%2E%2E/%2E%2E/c.txt", "/c.txt"),
        ("a%5Cb%5Cc.txt", "/a/b/c.txt"),
        ("a/%20b%20/c.txt", "/a/b/c.txt"),
    ],
)
def test_path_normalisation(api: Api, raw: str, full_path: str) -> None:
    data = assert_ok(api.put(raw, b"n"))
    assert data["fullPath"] == full_path


@pytest.mark.parametrize("raw", ["a" * 1025 + ".txt", "bad%00name.txt", "/".join(["d"] * 65)])
def test_invalid_paths(api: Api, raw: str) -> None:
    assert_error(api.put(raw, b"n"), 400, 251011)
    assert_error(api.get(raw), 400, 251011)


def test_path_traversal_stays_in_repository(api: Api) -> None:
    assert_ok(api.put("%2E%2E/%2E%2E/%2E%2E/etc/passwd", b"not really"))
    detail = assert_ok(api.request("GET", f"/repository/api/node/detail/{api.project}/{api.repos.private}/etc/passwd"))
    assert detail["fullPath"] == "/etc/passwd"
    assert (api.server.data_dir / "etc").exists() is False


def test_folder_download_as_zip(api: Api) -> None:
    import io
    import zipfile

    assert_ok(api.put("album/a.txt", b"first"))
    assert_ok(api.put("album/inner/b.txt", b"second"))
    assert_ok(api.put("elsewhere.txt", b"not included"))
    response = api.get("album", params={"download": "true"})
    assert response.status_code == 200
    assert response.headers["Content-Type"] == "application/zip"
    assert "filename*=UTF-8''album.zip" in response.headers["Content-Disposition"]
    with zipfile.ZipFile(io.BytesIO(response.content)) as archive:
        assert sorted(archive.namelist()) == ["a.txt", "inner/b.txt"]
        assert archive.read("inner/b.txt") == b"second"
