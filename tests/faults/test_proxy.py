"""Self-tests for the fault-injecting proxy, against a tiny upstream of our own.

These check that the proxy forwards HTTP/1.1 faithfully (keep-alive,
Content-Length and chunked bodies both ways) and that each fault does exactly
what it says, so the resilience tests can trust it.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from tests.faultproxy import FaultProxy, wait_for

BIG = bytes(range(256)) * 4096 * 3  # 3 MiB


class _Upstream(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.objects: dict[str, bytes] = {"/small": b"hello, proxy", "/big": BIG}
        self.connections = 0
        self.incomplete_uploads: list[str] = []
        self.lock = threading.Lock()

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # the proxy cuts connections on purpose

    def process_request(self, request: socket.socket, client_address: object) -> None:  # type: ignore[override]
        with self.lock:
            self.connections += 1
        super().process_request(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Upstream

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _read_body(self) -> bytes | None:
        try:
            return self._read_body_or_fail()
        except OSError:
            return None

    def _read_body_or_fail(self) -> bytes | None:
        if "chunked" in self.headers.get("Transfer-Encoding", ""):
            parts: list[bytes] = []
            while True:
                line = self.rfile.readline()
                if not line:
                    return None
                size = int(line.split(b";")[0].strip(), 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return b"".join(parts)
                data = self.rfile.read(size + 2)
                if len(data) < size + 2:
                    return None
                parts.append(data[:size])
        length = int(self.headers.get("Content-Length", "0"))
        data = self.rfile.read(length)
        return data if len(data) == length else None

    def _send(self, status: int, body: bytes, content_type: str = "application/octet-stream") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self) -> None:
        if self.path.startswith("/chunked/"):
            body = self.server.objects.get(self.path[len("/chunked") :], b"")
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for start in range(0, len(body), 100_000):
                piece = body[start : start + 100_000]
                self.wfile.write(f"{len(piece):x}\r\n".encode() + piece + b"\r\n")
            self.wfile.write(b"0\r\n\r\n")
            return
        found = self.server.objects.get(self.path)
        if found is None:
            self._send(404, b'{"code": 251010}', "application/json")
        else:
            self._send(200, found)

    do_HEAD = do_GET

    def do_PUT(self) -> None:
        body = self._read_body()
        if body is None:
            self.server.incomplete_uploads.append(self.path)
            self.close_connection = True
            return
        self.server.objects[self.path] = body
        answer = {"size": len(body), "sha256": hashlib.sha256(body).hexdigest()}
        self._send(200, json.dumps(answer).encode(), "application/json")

    def do_DELETE(self) -> None:
        self.server.objects.pop(self.path, None)
        self._send(200, b"{}", "application/json")


@pytest.fixture(scope="module")
def upstream() -> Iterator[_Upstream]:
    server = _Upstream()
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


@pytest.fixture
def proxy(upstream: _Upstream) -> Iterator[FaultProxy]:
    with FaultProxy("127.0.0.1", upstream.server_address[1]) as fault_proxy:
        yield fault_proxy


def _raw_get(proxy: FaultProxy, path: str, timeout: float = 5) -> tuple[int, bytes, BaseException | None]:
    """GET through a bare socket; return (declared length, bytes received, error)."""
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=timeout)
    conn.request("GET", path)
    response = conn.getresponse()
    declared = int(response.getheader("Content-Length") or -1)
    received = b""
    error: BaseException | None = None
    try:
        while True:
            data = response.read1(65536)
            if not data:
                break
            received += data
    except (OSError, http.client.HTTPException) as exc:
        error = exc
    conn.close()
    return declared, received, error


# Plain forwarding ---------------------------------------------------------


def test_forwards_content_length_bodies_on_one_kept_alive_connection(proxy: FaultProxy, upstream: _Upstream) -> None:
    before = upstream.connections
    with requests.Session() as session:
        for _ in range(3):
            response = session.get(f"{proxy.url}/small", timeout=5)
            assert response.status_code == 200
            assert response.content == b"hello, proxy"
        assert session.get(f"{proxy.url}/missing", timeout=5).status_code == 404
        assert session.head(f"{proxy.url}/big", timeout=5).headers["Content-Length"] == str(len(BIG))
    assert upstream.connections - before == 1
    assert proxy.count("GET") == 4
    assert proxy.count("HEAD", r"^/big$") == 1
    assert proxy.counts()[("GET", "/small")] == 3


def test_streams_big_and_chunked_bodies_both_ways(proxy: FaultProxy, upstream: _Upstream) -> None:
    with requests.Session() as session:
        assert session.get(f"{proxy.url}/big", timeout=5).content == BIG
        response = session.get(f"{proxy.url}/chunked/big", timeout=5)
        assert response.headers["Transfer-Encoding"] == "chunked"
        assert response.content == BIG

        answer = session.put(f"{proxy.url}/upload/plain", data=BIG, timeout=5).json()
        assert answer == {"size": len(BIG), "sha256": hashlib.sha256(BIG).hexdigest()}

        pieces = (BIG[i : i + 70_000] for i in range(0, len(BIG), 70_000))
        answer = session.put(f"{proxy.url}/upload/chunked", data=pieces, timeout=5).json()
        assert answer["sha256"] == hashlib.sha256(BIG).hexdigest()
    assert upstream.objects["/upload/chunked"] == BIG


# Canned answers ------------------------------------------------------------


def test_error_fault_applies_the_given_number_of_times(proxy: FaultProxy) -> None:
    proxy.add_fault("error", method="GET", path_regex=r"^/small$", times=2, status=502)
    with requests.Session() as session:
        first = session.get(f"{proxy.url}/small", timeout=5)
        assert first.status_code == 502
        assert first.json()["code"] == 250102
        assert session.get(f"{proxy.url}/big", timeout=5).status_code == 200  # path does not match
        assert session.put(f"{proxy.url}/small-put", data=b"x", timeout=5).status_code == 200  # method does not match
        assert session.get(f"{proxy.url}/small", timeout=5).status_code == 502
        assert session.get(f"{proxy.url}/small", timeout=5).content == b"hello, proxy"
    assert [seen.fault for seen in proxy.seen if seen.path == "/small"] == ["error", "error", None]


def test_plain_error_with_retry_after_and_unlimited_times(proxy: FaultProxy) -> None:
    proxy.add_fault("error", times=None, status=503, plain=True, retry_after=7)
    with requests.Session() as session:
        for _ in range(3):
            response = session.put(f"{proxy.url}/x", data=b"body is swallowed", timeout=5)
            assert response.status_code == 503
            assert response.headers["Content-Type"].startswith("text/plain")
            assert response.headers["Retry-After"] == "7"
            assert response.text == "503 Service Unavailable\n"
    proxy.clear()
    assert proxy.count() == 0
    assert requests.get(f"{proxy.url}/small", timeout=5).status_code == 200


def test_throttle_unauthorized_html_and_invalid_json(proxy: FaultProxy) -> None:
    proxy.add_fault("throttle", retry_after=3)
    proxy.add_fault("unauthorized")
    proxy.add_fault("html")
    proxy.add_fault("invalid_json", status=500)
    with requests.Session() as session:
        throttled = session.get(f"{proxy.url}/small", timeout=5)
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "3")
        assert throttled.json()["code"] == 250129

        denied = session.get(f"{proxy.url}/small", timeout=5)
        assert denied.status_code == 401
        assert denied.json()["code"] == 250114
        assert denied.headers["WWW-Authenticate"].startswith("Basic")

        page = session.get(f"{proxy.url}/small", timeout=5)
        assert page.status_code == 502
        assert page.headers["Content-Type"] == "text/html"
        assert "<h1>502 Bad Gateway</h1>" in page.text

        broken = session.get(f"{proxy.url}/small", timeout=5)
        assert broken.status_code == 500
        with pytest.raises(ValueError, match=r"Expecting|Unterminated"):
            broken.json()

        assert session.get(f"{proxy.url}/small", timeout=5).content == b"hello, proxy"


def test_canned_answer_to_head_has_no_body_and_keeps_the_connection(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.add_fault("error", method="HEAD", status=500)
    before = upstream.connections
    with requests.Session() as session:
        response = session.head(f"{proxy.url}/small", timeout=5)
        assert response.status_code == 500
        assert response.content == b""
        assert session.get(f"{proxy.url}/small", timeout=5).content == b"hello, proxy"
    assert upstream.connections - before == 1


def test_forward_lets_the_server_do_the_work_but_hides_the_answer(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.add_fault("error", method="PUT", status=502, forward=True)
    response = requests.put(f"{proxy.url}/forwarded", data=b"stored anyway", timeout=5)
    assert response.status_code == 502
    assert upstream.objects["/forwarded"] == b"stored anyway"


def test_close_option_closes_the_connection(proxy: FaultProxy) -> None:
    proxy.add_fault("error", status=503, close=True)
    conn = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=5)
    conn.request("GET", "/small")
    response = conn.getresponse()
    assert response.status == 503
    assert response.getheader("Connection") == "close"
    response.read()
    assert conn.sock is None or conn.sock.recv(1) == b""
    conn.close()


# Connection-level faults -----------------------------------------------------


@pytest.mark.parametrize("path", ["/big", "/chunked/big"])
def test_reset_response_cuts_the_body_after_n_bytes(proxy: FaultProxy, path: str) -> None:
    proxy.add_fault("reset_response", path_regex="big", after_bytes=100_000)
    _declared, received, error = _raw_get(proxy, path)
    assert isinstance(error, ConnectionResetError)
    assert 0 < len(received) <= 100_000
    assert requests.get(f"{proxy.url}{path}", timeout=5).content == BIG


def test_reset_response_is_a_broken_body_for_requests(proxy: FaultProxy) -> None:
    proxy.add_fault("reset_response", after_bytes=1000)
    with pytest.raises(requests.exceptions.ChunkedEncodingError, match="reset"):
        requests.get(f"{proxy.url}/big", timeout=5).content  # noqa: B018


def test_reset_response_without_a_byte_count_resets_before_the_answer(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.add_fault("reset_response", method="PUT")
    with pytest.raises(requests.exceptions.ConnectionError, match="reset"):
        requests.put(f"{proxy.url}/answer-lost", data=b"stored, answer lost", timeout=5)
    assert upstream.objects["/answer-lost"] == b"stored, answer lost"


def test_reset_request_cuts_the_upload_in_both_directions(proxy: FaultProxy, upstream: _Upstream) -> None:
    proxy.add_fault("reset_request", method="PUT", after_bytes=200_000)
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(f"{proxy.url}/cut-upload", data=BIG, timeout=5)
    assert "/cut-upload" not in upstream.objects
    assert wait_for(lambda: "/cut-upload" in upstream.incomplete_uploads)
    assert proxy.count("PUT", "/cut-upload") == 1


def test_truncate_sends_fewer_bytes_than_declared_then_closes(proxy: FaultProxy) -> None:
    proxy.add_fault("truncate", keep_bytes=5000)
    declared, received, error = _raw_get(proxy, "/big")
    assert declared == len(BIG)
    assert len(received) == 5000
    assert error is None  # a clean close (FIN), not a reset: only the length tells

    proxy.add_fault("truncate")  # default: half the body
    with pytest.raises(requests.exceptions.ChunkedEncodingError):
        requests.get(f"{proxy.url}/big", timeout=5).content  # noqa: B018


def test_stall_before_headers_trips_the_read_timeout(proxy: FaultProxy) -> None:
    proxy.add_fault("stall", seconds=3)
    with pytest.raises(requests.exceptions.ReadTimeout):
        requests.get(f"{proxy.url}/small", timeout=(2, 0.2))
    assert requests.get(f"{proxy.url}/small", timeout=5).content == b"hello, proxy"


def test_stall_mid_body_trips_the_read_timeout(proxy: FaultProxy) -> None:
    proxy.add_fault("stall", seconds=3, after_bytes=10_000)
    response = requests.get(f"{proxy.url}/big", timeout=(2, 0.2), stream=True)
    assert response.status_code == 200
    with pytest.raises(requests.exceptions.ConnectionError, match="timed out"):
        response.content  # noqa: B018


def test_trickle_delivers_the_whole_body_in_small_pieces(proxy: FaultProxy) -> None:
    proxy.add_fault("trickle", chunk=3, interval=0.01)
    sock = socket.create_connection(("127.0.0.1", proxy.port), timeout=5)
    sock.sendall(b"GET /small HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    pieces = []
    while True:
        data = sock.recv(65536)
        if not data:
            break
        pieces.append(data)
    sock.close()
    raw = b"".join(pieces)
    assert raw.endswith(b"\r\n\r\nhello, proxy")
    assert len(pieces) >= 4  # the 12-byte body came in 3-byte pieces


def test_action_runs_when_the_fault_fires(proxy: FaultProxy, upstream: _Upstream) -> None:
    seen_at_cut: list[bool] = []

    def look() -> None:
        seen_at_cut.append("/acted" in upstream.incomplete_uploads)

    proxy.add_fault("error", method="GET", status=503, action=lambda: seen_at_cut.append(True))
    proxy.add_fault("reset_request", method="PUT", after_bytes=1000, action=look)
    assert requests.get(f"{proxy.url}/small", timeout=5).status_code == 503
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.put(f"{proxy.url}/acted", data=BIG, timeout=5)
    assert seen_at_cut == [True, False]  # the action ran before the upload was cut


def test_unknown_fault_kind_is_refused(proxy: FaultProxy) -> None:
    with pytest.raises(ValueError, match="unknown fault kind"):
        proxy.add_fault("explode")


def test_stop_ends_a_stalled_exchange_quickly(upstream: _Upstream) -> None:
    fault_proxy = FaultProxy("127.0.0.1", upstream.server_address[1]).start()
    fault_proxy.add_fault("stall", seconds=60)
    errors: list[BaseException] = []

    def fetch() -> None:
        try:
            requests.get(f"{fault_proxy.url}/small", timeout=(2, 30))
        except requests.RequestException as exc:
            errors.append(exc)

    thread = threading.Thread(target=fetch)
    thread.start()
    assert wait_for(lambda: fault_proxy.count() == 1)
    fault_proxy.stop()
    thread.join(10)
    assert not thread.is_alive()
    assert len(errors) == 1
