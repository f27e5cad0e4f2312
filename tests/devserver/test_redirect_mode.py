"""Redirect mode: downloads answer 302 to a second origin with signed, expiring targets (like COS)."""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Iterator

import pytest
import requests

from bkstorages_contrib.testing import DevServer
from tests.devserver.conftest import assert_error, assert_ok


@pytest.fixture(scope="module")
def redirect_server() -> Iterator[DevServer]:
    with DevServer(redirect=True) as server:
        yield server


def generic(server: DevServer, path: str, repo: str | None = None) -> str:
    return f"{server.endpoint_url}/generic/{server.project}/{repo or server.private_bucket}/{path}"


def auth(server: DevServer) -> tuple[str, str]:
    return (server.username, server.password)


def test_download_redirects_to_a_signed_target(redirect_server: DevServer) -> None:
    body = bytes(range(256)) * 40
    url = generic(redirect_server, "dir/data.bin")
    assert_ok(requests.put(url, data=body, auth=auth(redirect_server), timeout=30))
    answer = requests.get(url, auth=auth(redirect_server), allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    assert answer.content == b""
    location = answer.headers["Location"]
    target = urllib.parse.urlsplit(location)
    assert target.scheme == "http"
    assert target.port != redirect_server.port
    assert target.path == "/" + hashlib.sha256(body).hexdigest()
    # No credentials needed; Range honoured.
    full = requests.get(location, timeout=30)
    assert full.status_code == 200
    assert full.content == body
    assert full.headers["Content-Disposition"].startswith('attachment;filename="data.bin"')
    assert "X-Checksum-Sha256" not in full.headers
    part = requests.get(location, headers={"Range": "bytes=100-199"}, timeout=30)
    assert part.status_code == 206
    assert part.content == body[100:200]
    assert part.headers["Content-Range"] == f"bytes 100-199/{len(body)}"
    assert requests.get(location, headers={"Range": f"bytes={len(body)}-"}, timeout=30).status_code == 416
    assert requests.head(location, timeout=30).headers["Content-Length"] == str(len(body))


def test_head_is_answered_without_checksums(redirect_server: DevServer) -> None:
    url = generic(redirect_server, "head.txt")
    assert_ok(requests.put(url, data=b"hello", auth=auth(redirect_server), timeout=30))
    head = requests.head(url, auth=auth(redirect_server), allow_redirects=False, timeout=30)
    assert head.status_code == 200
    assert head.headers["Content-Length"] == "5"
    for name in ("ETag", "X-Checksum-Sha256", "X-Checksum-Md5"):
        assert name not in head.headers
    detail = f"{redirect_server.endpoint_url}/repository/api/node/detail/{redirect_server.project}/"
    data = assert_ok(requests.get(detail + f"{redirect_server.private_bucket}/head.txt", auth=auth(redirect_server)))
    assert data["sha256"] == hashlib.sha256(b"hello").hexdigest()


def test_tampered_or_expired_targets_are_refused(redirect_server: DevServer) -> None:
    url = generic(redirect_server, "t.txt")
    assert_ok(requests.put(url, data=b"tamper", auth=auth(redirect_server), timeout=30))
    location = requests.get(url, auth=auth(redirect_server), allow_redirects=False, timeout=30).headers["Location"]
    tampered = location.replace("no-cache", "max-age%3D9")
    assert tampered != location
    assert requests.get(tampered, timeout=30).status_code == 403
    other = "0" * 64
    assert (
        requests.get(location.replace(urllib.parse.urlsplit(location).path, "/" + other), timeout=30).status_code == 403
    )
    assert requests.get(location, timeout=30).content == b"tamper"
    redirect_server.expire_redirects()
    expired = requests.get(location, timeout=30)
    assert expired.status_code == 403
    assert b"<Error>" in expired.content
    fresh = requests.get(url, auth=auth(redirect_server), timeout=30)
    assert fresh.content == b"tamper"
    assert len(fresh.history) == 1


def test_folders_and_errors_are_not_redirected(redirect_server: DevServer) -> None:
    assert_ok(requests.put(generic(redirect_server, "f/x.txt"), data=b"x", auth=auth(redirect_server), timeout=30))
    folder = requests.get(generic(redirect_server, "f"), auth=auth(redirect_server), allow_redirects=False, timeout=30)
    assert folder.status_code == 302
    assert folder.headers["Location"] == generic(redirect_server, "f/")
    missing = requests.get(generic(redirect_server, "nope"), auth=auth(redirect_server), allow_redirects=False)
    assert_error(missing, 404, 251010)
    assert_error(requests.get(generic(redirect_server, "f/x.txt")), 401, 250114)


def test_temporary_download_redirects_too(redirect_server: DevServer) -> None:
    assert_ok(requests.put(generic(redirect_server, "share.txt"), data=b"s", auth=auth(redirect_server), timeout=30))
    body = {
        "projectId": redirect_server.project,
        "repoName": redirect_server.private_bucket,
        "fullPathSet": ["/share.txt"],
        "type": "DOWNLOAD",
    }
    created = requests.post(
        f"{redirect_server.endpoint_url}/generic/temporary/url/create", json=body, auth=auth(redirect_server)
    )
    url = assert_ok(created)[0]["url"]
    answer = requests.get(url, allow_redirects=False, timeout=30)
    assert answer.status_code == 302
    assert requests.get(answer.headers["Location"], timeout=30).content == b"s"


def test_no_redirect_without_the_mode(bkrepo_server: DevServer) -> None:
    assert_ok(requests.put(generic(bkrepo_server, "plain.txt"), data=b"p", auth=auth(bkrepo_server), timeout=30))
    answer = requests.get(generic(bkrepo_server, "plain.txt"), auth=auth(bkrepo_server), allow_redirects=False)
    assert answer.status_code == 200
    assert answer.content == b"p"
    assert_error(
        requests.post(f"{bkrepo_server.endpoint_url}/_devserver/redirect/expire", auth=auth(bkrepo_server)), 400, 250105
    )
