"""Bad input, broken connections, races and HTTP details of the runner."""

from __future__ import annotations

import hashlib
import http.client
import os
import socket
import threading
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

from tests.devserver.conftest import Api, assert_error, assert_ok


def connect(api: Api) -> http.client.HTTPConnection:
    return http.client.HTTPConnection("127.0.0.1", api.server.port, timeout=30)


def raw_request(api: Api, data: bytes, read: bool = True) -> bytes:
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(data)
        if not read:
            return b""
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def auth_header(api: Api) -> str:
    return api.server.auth_header()


@pytest.mark.parametrize(
    "path",
    ["/", "/nothing", "/generic", "/generic/only-project", "/repository/api/unknown", "/repository/api/node/page/p"],
)
def test_unknown_routes(api: Api, path: str) -> None:
    body = assert_error(api.request("GET", path), 404, 250130)
    assert body["message"] == f"Request url[{path}] not found"


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/generic/{p}/{r}/x.txt"),
        ("PATCH", "/generic/{p}/{r}/x.txt"),
        ("GET", "/generic/temporary/url/create"),
        ("DELETE", "/repository/api/repo/info/{p}/{r}"),
        ("PUT", "/repository/api/node/page/{p}/{r}/"),
        ("GET", "/repository/api/repo/create"),
        ("OPTIONS", "/generic/{p}/{r}/x.txt"),
    ],
)
def test_wrong_methods(api: Api, method: str, path: str) -> None:
    url = path.format(p=api.project, r=api.repos.private)
    body = assert_error(api.request(method, url), 405, 250112)
    assert body["message"] == f"Method not allowed, reason: Request method '{method}' is not supported"


def test_bad_content_length_is_an_envelope_not_a_traceback(api: Api) -> None:
    path = f"/generic/{api.project}/{api.repos.private}/x.txt"
    reply = raw_request(api, f"PUT {path} HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 400")
    assert b"Traceback" not in reply
    assert b'"code"' in reply


def test_garbage_request_line(api: Api) -> None:
    reply = raw_request(api, b"\x00\x01 nonsense\r\n\r\n")
    assert reply.startswith(b"HTTP/1.")
    assert b" 400 " in reply.split(b"\r\n", 1)[0]
    assert b"Traceback" not in reply


def test_keep_alive_survives_errors(api: Api) -> None:
    conn = connect(api)
    headers = {"Authorization": auth_header(api)}
    path = f"/generic/{api.project}/{api.repos.private}/ka.txt"
    conn.request("PUT", path, body=b"one", headers=headers)
    assert conn.getresponse().read()
    sock = conn.sock
    conn.request("PUT", path, body=b"x" * 100_000, headers=headers)  # refused before the body is read
    response = conn.getresponse()
    assert response.status == 400
    response.read()
    conn.request("GET", path, headers=headers)
    response = conn.getresponse()
    assert response.read() == b"one"
    conn.request("GET", "/nowhere")
    assert conn.getresponse().read()
    assert conn.sock is sock  # still the same connection
    conn.close()


def test_chunked_body_with_extensions_and_trailers(api: Api) -> None:
    path = f"/generic/{api.project}/{api.repos.private}/chunked-raw.txt"
    request = (
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth_header(api)}\r\n"
        "Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        "5;name=value\r\nhello\r\n6\r\n world\r\n0\r\nX-Trailer: yes\r\n\r\n"
    ).encode()
    reply = raw_request(api, request)
    assert reply.startswith(b"HTTP/1.1 200")
    assert api.get("chunked-raw.txt").content == b"hello world"


def test_broken_chunked_body_stores_nothing(api: Api) -> None:
    assert_ok(api.put("chunk-broken.txt", b"old"))
    path = f"/generic/{api.project}/{api.repos.private}/chunk-broken.txt"
    request = (
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth_header(api)}\r\nX-BKREPO-OVERWRITE: true\r\n"
        "Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n"
    ).encode()
    raw_request(api, request)
    assert api.get("chunk-broken.txt").content == b"old"


def temp_files(api: Api) -> list[Path]:
    return [p for p in (api.server.data_dir / "tmp").iterdir() if p.suffix == ".part"]


def test_dropped_upload_keeps_old_object(api: Api) -> None:
    assert_ok(api.put("dropped.bin", b"old content"))
    path = f"/generic/{api.project}/{api.repos.private}/dropped.bin"
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth_header(api)}\r\n"
        "X-BKREPO-OVERWRITE: true\r\nContent-Length: 10000000\r\n\r\n"
    ).encode()
    raw_request(api, head + b"n" * 300_000, read=False)
    time.sleep(0.3)  # let the server notice the hang-up
    deadline = time.monotonic() + 10
    while temp_files(api) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert temp_files(api) == []
    response = api.get("dropped.bin")
    assert response.content == b"old content"
    missing_new = raw_request(api, head.replace(b"dropped.bin", b"never.bin") + b"n" * 1000, read=False)
    assert missing_new == b""
    time.sleep(0.2)
    assert_error(api.get("never.bin"), 404, 251010)


def test_concurrent_puts_one_winner(api: Api) -> None:
    barrier = threading.Barrier(8)
    results: list[requests.Response] = []
    lock = threading.Lock()

    def upload(index: int) -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.put(api.generic("race.txt"), data=f"writer {index}".encode(), auth=api.auth, timeout=30)
        with lock:
            results.append(response)

    threads = [threading.Thread(target=upload, args=(i,)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    winners = [r for r in results if r.status_code == 200]
    losers = [r for r in results if r.status_code != 200]
    assert len(winners) == 1
    assert len(losers) == 7
    for response in losers:
        assert_error(response, 400, 251012)
    stored = api.get("race.txt").content
    assert hashlib.sha256(stored).hexdigest() == winners[0].json()["data"]["sha256"]


def blob_file(api: Api, sha256: str) -> Path:
    return api.server.data_dir / "blobs" / sha256[:2] / sha256[2:4] / sha256


def wait_gone(path: Path) -> bool:
    deadline = time.monotonic() + 5
    while path.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return not path.exists()


def test_unreferenced_blobs_are_removed(api: Api) -> None:
    first = assert_ok(api.put("gc.txt", b"gc version one"))["sha256"]
    assert blob_file(api, first).exists()
    second = assert_ok(api.put("gc.txt", b"gc version two", headers={"X-BKREPO-OVERWRITE": "true"}))["sha256"]
    assert wait_gone(blob_file(api, first))
    assert blob_file(api, second).exists()
    assert_ok(api.put("gc-copy.txt", b"gc version two"))  # same content: one blob, two nodes
    assert_ok(api.request("DELETE", api.generic("gc.txt")))
    assert blob_file(api, second).exists()
    assert api.get("gc-copy.txt").content == b"gc version two"
    assert_ok(api.request("DELETE", api.generic("gc-copy.txt")))
    assert wait_gone(blob_file(api, second))


def test_same_content_reuploaded_after_delete(api: Api) -> None:
    for _ in range(3):
        assert_ok(api.put("again.txt", b"same bytes"))
        assert api.get("again.txt").content == b"same bytes"
        assert_ok(api.request("DELETE", api.generic("again.txt")))


def test_large_streamed_transfer(api: Api) -> None:
    size = 12 * 1024 * 1024 + 7
    block = bytes(range(256)) * 4096

    def body() -> object:
        sent = 0
        while sent < size:
            piece = block[: size - sent]
            sent += len(piece)
            yield piece

    digest = hashlib.sha256()
    sent = 0
    while sent < size:
        piece = block[: size - sent]
        digest.update(piece)
        sent += len(piece)
    data = assert_ok(api.put("large.bin", body()))  # type: ignore[arg-type]
    assert data["size"] == size
    assert data["sha256"] == digest.hexdigest()
    received = hashlib.sha256()
    with api.get("large.bin", stream=True) as response:
        assert response.headers["Content-Length"] == str(size)
        for chunk in response.iter_content(1024 * 1024):
            received.update(chunk)
    assert received.hexdigest() == digest.hexdigest()
    middle = api.get("large.bin", headers={"Range": f"bytes={size // 2}-{size // 2 + 9}"})
    assert middle.content == (block * 13)[size // 2 : size // 2 + 10]


def test_oversized_json_body(api: Api) -> None:
    payload = b'{"projectId": "' + b"x" * (5 * 1024 * 1024) + b'"}'
    response = api.request(
        "POST", "/repository/api/repo/create", data=payload, headers={"Content-Type": "application/json"}
    )
    assert_error(response, 400, 250106)


def read_head(sock: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            break
        data += chunk
    return data


def test_expect_continue_is_sent_only_when_the_body_is_wanted(api: Api) -> None:
    path = f"/generic/{api.project}/{api.repos.private}/expect.txt"
    head = (
        f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth_header(api)}\r\n"
        "Content-Length: 5\r\nExpect: 100-continue\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(head)
        assert read_head(sock).startswith(b"HTTP/1.1 100 Continue\r\n\r\n")
        sock.sendall(b"hello")
        reply = b""
        while b'"traceId"' not in reply:
            reply += sock.recv(65536)
        assert b"HTTP/1.1 200 OK" in reply
    # Now it exists: refused before the body, with no 100, and the connection is closed.
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(head)
        reply = read_head(sock)
        assert reply.startswith(b"HTTP/1.1 400 ")
        assert b"Connection: close" in reply
        rest = b""
        while chunk := sock.recv(65536):
            rest += chunk
        assert b"251012" in reply + rest
    assert api.get("expect.txt").content == b"hello"


def test_access_log_has_no_secrets(api: Api) -> None:
    secret_query = "token=0123456789abcdef0123456789abcdef"
    path = f"/generic/temporary/download/{api.project}/{api.repos.private}/x.txt?{secret_query}"
    raw_request(api, f"GET {path} HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n".encode())
    api.get("x.txt", params={"token": "another-secret-value"})
    time.sleep(0.1)
    log = api.server.log_path.read_text()
    assert "/generic/temporary/download/" in log
    assert "0123456789abcdef0123456789abcdef" not in log
    assert "another-secret-value" not in log
    assert api.server.password not in log


def test_concurrent_overwrites_leave_one_object_and_one_blob(api: Api) -> None:
    bodies = [f"overwrite body {i}".encode() * 1000 for i in range(6)]
    barrier = threading.Barrier(len(bodies))
    statuses: list[int] = []

    def upload(body: bytes) -> None:
        with requests.Session() as session:
            barrier.wait()
            response = session.put(
                api.generic("contended.bin"), data=body, auth=api.auth, headers={"X-BKREPO-OVERWRITE": "true"}
            )
            statuses.append(response.status_code)

    threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [200] * len(bodies)
    final = api.get("contended.bin").content
    assert final in bodies
    digests = [hashlib.sha256(body).hexdigest() for body in bodies]
    for digest, body in zip(digests, bodies, strict=True):
        if body != final:
            assert wait_gone(blob_file(api, digest))
    assert blob_file(api, hashlib.sha256(final).hexdigest()).exists()


def test_each_overwrite_is_answered_with_its_own_node(api: Api) -> None:
    # Many writers replace one name at once; every answer must describe the
    # node that request created, not a later writer's.
    bodies = [os.urandom(20 * 1024 + i) for i in range(12)]
    barrier = threading.Barrier(len(bodies))
    mismatches: list[str] = []

    def upload(body: bytes) -> None:
        sent = hashlib.sha256(body).hexdigest()
        with requests.Session() as session:
            barrier.wait()
            for _round in range(8):
                response = session.put(
                    api.generic("answered.bin"), data=body, auth=api.auth, headers={"X-BKREPO-OVERWRITE": "true"}
                )
                described = {response.json()["data"]["sha256"], response.headers["X-Checksum-Sha256"]}
                if described != {sent}:
                    mismatches.append(f"sent {sent[:12]}, answer described {sorted(described)}")

    threads = [threading.Thread(target=upload, args=(body,)) for body in bodies]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert mismatches == []


@pytest.mark.parametrize(
    ("line", "status"),
    [
        (b"No colon here", 400),
        (b"Space-Before-Colon : x", 400),
        (b": no name", 400),
        (b"Bad\x00Name: x", 400),
        (b"X-Long: " + b"a" * 70_000, 431),
    ],
)
def test_malformed_header_lines_are_refused(api: Api, line: bytes, status: int) -> None:
    path = f"/generic/{api.project}/{api.repos.public}/head.txt"
    reply = raw_request(api, f"GET {path} HTTP/1.1\r\nHost: x\r\n".encode() + line + b"\r\n\r\n")
    assert reply.startswith(f"HTTP/1.1 {status} ".encode()), reply[:100]
    assert b'"code"' in reply
    assert b"Traceback" not in reply


@pytest.mark.parametrize(
    ("name", "fields"),
    [
        ("folded.txt", "X-BKREPO-META-NOTE: one\r\n two\r\nContent-Length: 3\r\n\r\nabc"),
        ("smuggled.txt", "Content-Length: 3\r\nContent-Length: 5\r\n\r\nabcde"),
    ],
    ids=["folded-line", "conflicting-content-lengths"],
)
def test_ambiguous_uploads_are_refused_and_store_nothing(api: Api, name: str, fields: str) -> None:
    path = f"/generic/{api.project}/{api.repos.private}/{name}"
    reply = raw_request(
        api, f"PUT {path} HTTP/1.1\r\nHost: x\r\nAuthorization: {auth_header(api)}\r\n{fields}".encode()
    )
    assert reply.startswith(b"HTTP/1.1 400 ")
    assert api.get(name).status_code == 404


def test_too_many_header_fields_are_refused(api: Api) -> None:
    fields = "".join(f"X-Field-{n}: {n}\r\n" for n in range(101))
    reply = raw_request(api, f"GET / HTTP/1.1\r\nHost: x\r\n{fields}\r\n".encode())
    assert reply.startswith(b"HTTP/1.1 431 ")


def test_header_names_in_any_case_on_a_kept_connection(api: Api) -> None:
    path = f"/generic/{api.project}/{api.repos.private}/cases.txt"
    head = f"PUT {path} HTTP/1.1\r\nhost: x\r\nauthorization: {auth_header(api)}\r\n"
    with socket.create_connection(("127.0.0.1", api.server.port), timeout=30) as sock:
        sock.sendall(f"{head}content-LENGTH: 3\r\n\r\nabc".encode())
        first = read_head(sock)
        assert first.startswith(b"HTTP/1.1 200 ")
        assert b"Connection: close" not in first
        second = "CONTENT-LENGTH: 3\r\nx-bkrepo-overwrite: true\r\nx-bkrepo-meta-Colour:  blue \r\n"
        sock.sendall(f"{head}{second}cOnNeCtIoN: Close\r\n\r\nxyz".encode())
        rest = b""
        while chunk := sock.recv(65536):  # the server hangs up after the second answer
            rest += chunk
        assert b"HTTP/1.1 200 " in rest
        assert b"Connection: close" in rest
    assert api.get("cases.txt").content == b"xyz"
    info = api.request("GET", f"/repository/api/node/detail/{api.project}/{api.repos.private}/cases.txt").json()
    assert info["data"]["metadata"] == {"colour": "blue"}


@pytest.mark.parametrize(
    "header",
    ["bytes=" + "9" * 5000 + "-", "bytes=0-" + "9" * 5000, "bytes=-" + "9" * 5000, "bytes=" + "0" * 5000 + "1-"],
)
def test_range_with_thousands_of_digits_is_416(api: Api, header: str) -> None:
    assert_ok(api.put("digits-range.txt", b"0123456789"))
    if header.endswith("1-"):  # leading zeros do not count: bytes=1-
        response = api.get("digits-range.txt", headers={"Range": header})
        assert response.status_code == 206
        assert response.content == b"123456789"
        return
    assert_error(api.get("digits-range.txt", headers={"Range": header}), 416, 250120)


@pytest.mark.parametrize("sequence", ["1e23", "1.5", "99999999999999999999", "2147483648", "9" * 5000])
def test_block_sequence_beyond_an_int_is_400(api: Api, sequence: str) -> None:
    from tests.devserver.test_block import part, start

    upload_id = start(api, "sequence.bin")
    body = assert_error(part(api, "sequence.bin", upload_id, sequence, b"x"), 400, 250105)
    assert body["message"] == "Parameter [X-BKREPO-SEQUENCE] is invalid"


@pytest.mark.parametrize("name", ["bad%ff.txt", "bad%fe.txt", "dir%c3/x.txt", "%ed%a0%80.txt"])
def test_paths_that_are_not_utf8_are_refused(api: Api, name: str) -> None:
    body = assert_error(api.put(name, b"not stored"), 400, 250105)
    assert "UTF-8" in body["message"]
    assert_error(api.get(name), 400, 250105)
    # Nothing landed under the replacement character either.
    assert_error(api.get(urllib.parse.unquote(name, errors="replace")), 404, 251010)
    listing = assert_ok(
        api.request("GET", f"/repository/api/node/page/{api.project}/{api.repos.private}/?deep=true&pageSize=100")
    )
    assert listing["records"] == []
