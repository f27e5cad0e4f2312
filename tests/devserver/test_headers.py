"""Metadata as bk-repo stores it, Cache-Control served from it, and no request byte
breaking a response header (checked on the raw bytes of the answer)."""

from __future__ import annotations

import base64

import pytest
import requests

from tests.devserver.conftest import Api, assert_ok
from tests.devserver.test_robustness import raw_request


def response_head(reply: bytes) -> tuple[bytes, list[bytes]]:
    """The status line and the header lines of a raw answer."""
    head = reply.split(b"\r\n\r\n", 1)[0]
    status, *lines = head.split(b"\r\n")
    return status, lines


def header_lines(reply: bytes, name: bytes) -> list[bytes]:
    _status, lines = response_head(reply)
    return [line.split(b":", 1)[1].strip() for line in lines if line.lower().startswith(name.lower() + b":")]


def assert_no_broken_lines(reply: bytes) -> None:
    """No CR or LF apart from the line ends, and no header the client smuggled in."""
    head = reply.split(b"\r\n\r\n", 1)[0]
    assert b"\r" not in head.replace(b"\r\n", b"")
    assert b"\n" not in head.replace(b"\r\n", b"")
    assert header_lines(reply, b"Set-Cookie") == []


def anonymous_get(api: Api, name: str) -> bytes:
    path = f"/generic/{api.project}/{api.repos.public}/{name}"
    return raw_request(api, f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())


def packed(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


@pytest.mark.parametrize(
    "headers",
    [
        {"X-BKREPO-META-Cache-Control": "no-cache%0d%0aSet-Cookie: stolen=1"},
        {"X-BKREPO-META": packed("Cache-Control=no-cache%0D%0ASet-Cookie:%20stolen=1")},
    ],
    ids=["per-key", "base64"],
)
def test_cache_control_with_line_breaks_stays_one_header(api: Api, headers: dict[str, str]) -> None:
    data = assert_ok(api.put("injected.txt", b"x", repo=api.repos.public, headers=headers))
    assert "\r\n" in "".join(data["metadata"].values())  # stored as sent, as bk-repo stores it
    reply = anonymous_get(api, "injected.txt")
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert_no_broken_lines(reply)
    # Tomcat writes each control character as a space.
    assert header_lines(reply, b"Cache-Control") == [b"no-cache  Set-Cookie: stolen=1"]


def test_cache_control_beyond_latin1_is_written_as_question_marks(api: Api) -> None:
    headers = {"X-BKREPO-META-Cache-Control": "max-age=60, %E4%B8%AD%00x"}
    assert_ok(api.put("wide.txt", b"x", repo=api.repos.public, headers=headers))
    reply = anonymous_get(api, "wide.txt")
    assert_no_broken_lines(reply)
    assert header_lines(reply, b"Cache-Control") == [b"max-age=60, ? x"]


def test_cache_control_from_packed_metadata_keeps_its_case(api: Api) -> None:
    headers = {"X-BKREPO-META": packed("Cache-Control=public%2C%20max-age%3D600")}
    data = assert_ok(api.put("packed.css", b"x", repo=api.repos.public, headers=headers))
    assert data["metadata"] == {"Cache-Control": "public, max-age=600"}
    response = requests.get(api.generic("packed.css", api.repos.public), timeout=30)
    assert response.headers["Cache-Control"] == "public, max-age=600"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"X-BKREPO-META-Zone": "UTC+08:00"}, {"zone": "UTC+08:00"}),  # a plus stays a plus
        ({"X-BKREPO-META-Half": "100%"}, {"half": "100%"}),  # a broken escape keeps the value as sent
        ({"X-BKREPO-META-Mixed": "%41%ZZ"}, {"mixed": "%41%ZZ"}),
        ({"X-BKREPO-META-Bytes": "%FF"}, {"bytes": "\ufffd"}),  # not UTF-8: U+FFFD, as Java decodes it
        ({"X-BKREPO-META-Empty": ""}, {"empty": ""}),
        ({"X-BKREPO-META": packed("a=1&=x&b=&c= &d=%4&e=5")}, {"a": "1"}),  # d's escape ends the reading
        ({"X-BKREPO-META": packed("kk=v").rstrip("=")}, {"kk": "v"}),  # Java's decoder needs no padding
        ({"X-BKREPO-META": packed("Key=%E4%B8%AD")}, {"Key": "中"}),
    ],
    ids=["plus", "percent", "mixed", "not-utf8", "empty", "packed-pairs", "unpadded", "packed-utf8"],
)
def test_metadata_is_decoded_as_bk_repo_decodes_it(api: Api, headers: dict[str, str], expected: dict[str, str]) -> None:
    assert assert_ok(api.put("decoded.txt", b"x", headers=headers))["metadata"] == expected


def preflight(api: Api, asked: bytes) -> bytes:
    path = f"/generic/temporary/upload/{api.project}/{api.repos.private}/x.txt?token=t"
    return raw_request(
        api,
        f"OPTIONS {path} HTTP/1.1\r\nHost: x\r\nOrigin: http://elsewhere.test\r\n"
        "Access-Control-Request-Method: PUT\r\nConnection: close\r\n".encode()
        + b"Access-Control-Request-Headers: "
        + asked
        + b"\r\n\r\n",
    )


def test_preflight_echoes_the_header_names_asked_for(api: Api) -> None:
    reply = preflight(api, b"content-type, X-BKREPO-OVERWRITE")
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert header_lines(reply, b"Access-Control-Allow-Headers") == [b"content-type, X-BKREPO-OVERWRITE"]
    assert header_lines(reply, b"Access-Control-Allow-Methods") == [b"PUT"]
    assert header_lines(reply, b"Access-Control-Max-Age") == [b"1800"]
    assert header_lines(reply, b"Vary") == [b"Origin, Access-Control-Request-Method, Access-Control-Request-Headers"]


@pytest.mark.parametrize("asked", [b"x-a\rSet-Cookie: stolen=1", b"x-a, bad name", b"x-a\x00"])
def test_preflight_refuses_what_is_not_a_header_name(api: Api, asked: bytes) -> None:
    reply = preflight(api, asked)
    assert_no_broken_lines(reply)
    assert reply.split(b" ", 2)[1] in (b"400", b"403")
    assert header_lines(reply, b"Access-Control-Allow-Headers") == []


def test_browser_upload_by_url_from_another_origin(api: Api) -> None:
    body = {
        "projectId": api.project,
        "repoName": api.repos.private,
        "fullPathSet": ["/browser/new.txt"],
        "type": "UPLOAD",
        "permits": 1,
        "expireSeconds": 600,
    }
    url = assert_ok(api.request("POST", "/generic/temporary/url/create", json=body))[0]["url"]
    origin = {"Origin": "http://site.test"}
    asked = {"Access-Control-Request-Method": "PUT", "Access-Control-Request-Headers": "content-type"}
    allowed = requests.options(url, headers={**origin, **asked}, timeout=30)
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "*"
    assert allowed.headers["Access-Control-Allow-Headers"] == "content-type"
    wrong_method = requests.options(url, headers={**origin, **asked, "Access-Control-Request-Method": "DELETE"})
    assert wrong_method.status_code == 403
    put = requests.put(url, data=b"from a browser", headers={**origin, "Content-Type": "text/plain"}, timeout=30)
    assert assert_ok(put)["fullPath"] == "/browser/new.txt"
    assert put.headers["Access-Control-Allow-Origin"] == "*"
    assert api.get("browser/new.txt").content == b"from a browser"
    again = requests.put(url, data=b"twice", headers=origin, timeout=30)
    assert again.status_code == 400
    assert again.json()["code"] == 251021  # the only permit is used up: the token is gone
    assert again.headers["Access-Control-Allow-Origin"] == "*"
