"""Hostile clients against a started dev server, over raw sockets.

Request smuggling (a body whose framing could be read two ways) is refused
and the connection closed, so nothing after it is answered; slow clients are
cut off at the server's deadlines however they trickle bytes in; the
connection cap holds and is released; oversized heads are refused. The
servers here run with small limits (CLI options) so the suite stays fast.
"""

from __future__ import annotations

import select
import socket
import time
from collections.abc import Iterator

import pytest
import requests

from bkstorages_contrib.testing import DevServer

HEADER_TIMEOUT = 2


@pytest.fixture(scope="module")
def strict_server() -> Iterator[DevServer]:
    args = ["--header-timeout", str(HEADER_TIMEOUT), "--min-upload-rate", "4096", "--max-header-size", "8192"]
    with DevServer(extra_args=args) as server:
        yield server


def exchange(server: DevServer, data: bytes) -> bytes:
    """Send ``data`` at once and read until the server closes the connection."""
    with socket.create_connection(("127.0.0.1", server.port), timeout=20) as sock:
        sock.sendall(data)
        reply = b""
        while chunk := sock.recv(65536):  # a connection left open ends in a timeout error
            reply += chunk
        return reply


def status_of(server: DevServer, path: str) -> int:
    url = f"{server.endpoint_url}/generic/{server.project}/{server.private_bucket}/{path}"
    return requests.get(url, auth=(server.username, server.password), timeout=30).status_code


SECOND_REQUEST = b"GET /second-request HTTP/1.1\r\nHost: x\r\n\r\n"

SMUGGLING = {
    "content-length-and-chunked": b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two-transfer-encodings": b"Transfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n0\r\n\r\n",
    "content-length-with-underscore": b"Content-Length: 1_0\r\n\r\nhelloworld",
    "content-length-with-plus": b"Content-Length: +10\r\n\r\nhelloworld",
    "chunk-size-0x": b"Transfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
    "chunk-size-plus": b"Transfer-Encoding: chunked\r\n\r\n+5\r\nhello\r\n0\r\n\r\n",
    "xchunked": b"Transfer-Encoding: xchunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
    "gzip-then-chunked": b"Transfer-Encoding: gzip, chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
}


@pytest.mark.parametrize("framing", list(SMUGGLING.values()), ids=list(SMUGGLING))
def test_ambiguous_framing_is_refused_and_nothing_after_it_is_answered(
    strict_server: DevServer, framing: bytes
) -> None:
    name = f"smuggle-{abs(hash(framing))}.txt"
    head = (
        f"PUT /generic/{strict_server.project}/{strict_server.private_bucket}/{name} HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: {strict_server.auth_header()}\r\n"
    ).encode()
    reply = exchange(strict_server, head + framing + SECOND_REQUEST)
    status_line = reply.split(b"\r\n", 1)[0]
    assert status_line.split(b" ")[1] in (b"400", b"501"), reply[:200]
    assert reply.count(b"HTTP/1.1 ") == 1, reply  # the second request was never read as one
    assert b"second-request" not in reply
    assert status_of(strict_server, name) == 404


def test_a_plain_chunked_upload_still_works(strict_server: DevServer) -> None:
    head = (
        f"PUT /generic/{strict_server.project}/{strict_server.private_bucket}/plain-chunked.txt HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: {strict_server.auth_header()}\r\nTransfer-Encoding: chunked\r\n\r\n"
    ).encode()
    last = SECOND_REQUEST.replace(b"\r\n\r\n", b"\r\nConnection: close\r\n\r\n")
    reply = exchange(strict_server, head + b"5\r\nhello\r\n0\r\n\r\n" + last)
    assert reply.startswith(b"HTTP/1.1 200 ")
    assert reply.count(b"HTTP/1.1 ") == 2  # kept alive: the next request is answered (404)
    assert status_of(strict_server, "plain-chunked.txt") == 200


def trickle(sock: socket.socket, data: bytes, interval: float = 1.0) -> int:
    """Send ``data`` one byte per ``interval``; returns how many bytes went out before the server hung up."""
    for sent, byte in enumerate(data):
        try:
            sock.sendall(bytes([byte]))
        except OSError:
            return sent
        readable, _, _ = select.select([sock], [], [], interval)
        if readable:
            try:
                while sock.recv(65536):  # an error answer, then the close
                    pass
            except OSError:
                pass
            return sent + 1
    return len(data)


def test_a_head_sent_one_byte_a_second_is_cut_off(strict_server: DevServer) -> None:
    head = (
        f"GET /generic/{strict_server.project}/{strict_server.public_bucket}/slow.txt HTTP/1.1\r\n"
        "Host: x\r\nX-Padding: " + "p" * 40 + "\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=30) as sock:
        sent = trickle(sock, head)
    # At one byte a second the head would take len(head) seconds; the deadline is HEADER_TIMEOUT.
    assert sent < len(head) // 4


def test_a_body_sent_one_byte_a_second_is_cut_off_and_nothing_is_stored(strict_server: DevServer) -> None:
    body = b"b" * 200
    head = (
        f"PUT /generic/{strict_server.project}/{strict_server.private_bucket}/slow-body.txt HTTP/1.1\r\n"
        f"Host: x\r\nAuthorization: {strict_server.auth_header()}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    with socket.create_connection(("127.0.0.1", strict_server.port), timeout=30) as sock:
        sock.sendall(head)
        sent = trickle(sock, body)
    assert sent < len(body) // 4
    assert status_of(strict_server, "slow-body.txt") == 404


def test_oversized_request_heads_are_refused(strict_server: DevServer) -> None:
    reply = exchange(strict_server, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 9000 + b"\r\n\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")
    many = b"".join(b"X-F%d: v\r\n" % n for n in range(700))  # small fields, over 8 KiB in all
    reply = exchange(strict_server, b"GET / HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert reply.startswith(b"HTTP/1.1 431 ")


def refused(sock: socket.socket, wait: float = 1.0) -> bool:
    """Whether the server answered this connection with a 503 (it is then closed)."""
    readable, _, _ = select.select([sock], [], [], wait)
    if not readable:
        return False
    try:
        return sock.recv(65536).startswith(b"HTTP/1.1 503 ")
    except OSError:
        return False


def test_the_connection_cap_is_reached_and_released() -> None:
    threads, waiting = 2, 2
    args = ["--threads", str(threads), "--max-connections", str(waiting), "--header-timeout", "60"]
    with DevServer(extra_args=args) as server:
        url = f"{server.endpoint_url}/repository/api/repo/info/{server.project}/{server.public_bucket}/GENERIC"
        held: list[socket.socket] = []
        try:
            # Clients that open a connection and send half a head hold a thread or a queue slot.
            for _ in range(threads + waiting + 20):
                sock = socket.create_connection(("127.0.0.1", server.port), timeout=30)
                sock.sendall(b"GET / HTTP/1.1\r\n")
                if refused(sock):
                    sock.close()
                    break
                held.append(sock)
            else:
                pytest.fail("no connection was ever refused")
            assert threads <= len(held) <= threads + waiting
            with socket.create_connection(("127.0.0.1", server.port), timeout=30) as sock:
                sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
                assert refused(sock, wait=30)
        finally:
            for sock in held:
                sock.close()
        # Once those clients are gone their places are free again.
        deadline = time.monotonic() + 30
        while True:
            try:
                response = requests.get(url, timeout=30)
                if response.status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "the server never took requests again"
            time.sleep(0.1)
        assert response.json()["data"]["public"] is True
