"""The dev server's HTTP/1.1 server: cheroot, configured for hostile clients.

cheroot (the CherryPy project's WSGI server, pure Python, runs on Linux,
macOS and Windows) does the request line, the connection pool, keep-alive
and the response framing. This module adds what the dev server needs on
top, all through cheroot's extension points (request and gateway classes):

* strict framing, so no request can be read two ways: a request head is
  refused (400, or 501 for an unknown transfer coding, connection closed)
  when it has a malformed field line, obsolete line folding, a
  ``Content-Length`` that is not plain digits, conflicting lengths, more
  than one ``Transfer-Encoding`` field, a transfer coding other than
  ``chunked``, or both ``Content-Length`` and ``Transfer-Encoding``; chunk
  sizes must be plain hex digits;
* a streamed ``wsgi.input`` (cheroot's chunked reader keeps a whole chunk in
  memory) that sends ``100 Continue`` only when the application first reads
  the body, so a request refused early never asks for it;
* deadlines that a slow client cannot stretch (:class:`Watchdog`): the request
  head must arrive within ``header_timeout`` seconds, and a body must keep
  an average of ``min_upload_rate`` bytes a second once ``header_timeout``
  has passed; the time the application spends between reads does not count;
* a cap on connections: ``threads`` requests are served at once,
  ``max_connections`` more wait in the queue (further ones get a 503), and as
  many idle keep-alive connections are kept;
* ``socket.sendfile`` for :class:`~.app.FileRange` downloads, and bk-repo style
  JSON envelopes for the errors of the HTTP layer itself.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import socket
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from cheroot import errors as cheroot_errors
from cheroot import server as cheroot_server
from cheroot import wsgi as cheroot_wsgi

from .app import FileRange

logger = logging.getLogger("bkstorages_contrib.devserver.access")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Unread request bodies up to this size are drained to keep the connection; larger ones close it.
DRAIN_LIMIT = 64 * 1024 * 1024
BUFFER_SIZE = 1024 * 1024
#: More header fields than this get a 431, as in ``http.client``.
MAX_HEADERS = 100
#: Characters allowed in a field name (RFC 9110 "token").
TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")
DIGITS = re.compile(rb"[0-9]{1,18}")
CHUNK_SIZE = re.compile(rb"[0-9A-Fa-f]{1,15}")
ERROR_BODY = json.dumps(
    {"code": 250106, "message": "Invalid request content", "data": None, "traceId": None}, indent=2
).encode()


@dataclass(frozen=True)
class Limits:
    """What the server allows a client (the dev server's CLI options of the same names)."""

    threads: int = 16
    max_connections: int = 256
    idle_timeout: float = 60.0
    header_timeout: float = 30.0
    min_upload_rate: int = 1024
    max_header_size: int = 64 * 1024


class HeaderError(Exception):
    """A request head the server refuses: ``status`` is 400, 431 or 501."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


REASONS = {400: "Bad Request", 408: "Request Timeout", 431: "Request Header Fields Too Large", 501: "Not Implemented"}


def read_fields(rfile: Any) -> list[tuple[bytes, bytes]]:
    """Read header field lines up to the empty line; raise ``HeaderError`` for anything malformed.

    Strict on purpose: a line without a colon, a field name that is not a
    token (so no space before the colon) and obsolete line folding are
    refused rather than guessed at. ``rfile`` is cheroot's size-checking
    reader: a head longer than the server's limit is a 431.
    """
    fields: list[tuple[bytes, bytes]] = []
    while True:
        try:
            line = rfile.readline()
        except cheroot_errors.MaxSizeExceeded:
            raise HeaderError(431, "Request head too large") from None
        if not line.endswith(b"\n"):
            raise HeaderError(400, "Request head ended early")
        if line in (b"\r\n", b"\n"):
            return fields
        if len(fields) >= MAX_HEADERS:
            raise HeaderError(431, "Too many header fields")
        name, colon, value = line.partition(b":")
        if not colon or not name or not TOKEN_CHARS.issuperset(name):
            raise HeaderError(400, "Bad header line")
        fields.append((name, value.strip(b" \t\r\n")))


def check_framing(fields: list[tuple[bytes, bytes]], http11: bool) -> bool:
    """Whether the body is chunked; ``HeaderError`` when the framing could be read two ways."""
    lengths = [value for name, value in fields if name.lower() == b"content-length"]
    codings = [value for name, value in fields if name.lower() == b"transfer-encoding"]
    if any(not DIGITS.fullmatch(value) for value in lengths):
        raise HeaderError(400, "Bad Content-Length")
    if len({int(value) for value in lengths}) > 1:
        raise HeaderError(400, "Conflicting Content-Length")
    if not codings:
        return False
    if len(codings) > 1:
        raise HeaderError(400, "More than one Transfer-Encoding")
    if lengths:
        raise HeaderError(400, "Both Content-Length and Transfer-Encoding")
    if not http11:
        raise HeaderError(400, "Transfer-Encoding in an HTTP/1.0 request")
    if codings[0].lower() != b"chunked":
        raise HeaderError(501, "Unsupported Transfer-Encoding")
    return True


class Watchdog:
    """Shuts down the sockets of requests past their deadline.

    A blocked read then returns at once, so a worker thread is freed however
    slowly the client sends: socket timeouts restart with every byte, these
    deadlines do not. ``interval`` is how often deadlines are checked.
    """

    def __init__(self, interval: float = 0.2) -> None:
        self.interval = interval
        self._deadlines: dict[int, tuple[float, socket.socket]] = {}
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bkrepo-devserver-watchdog", daemon=True)
        self._thread.start()

    def arm(self, key: int, sock: socket.socket, deadline: float) -> None:
        with self._lock:
            self._deadlines[key] = (deadline, sock)

    def disarm(self, key: int) -> None:
        with self._lock:
            self._deadlines.pop(key, None)

    def stop(self) -> None:
        self._stop.set()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            now = time.monotonic()
            with self._lock:
                late = [(key, sock) for key, (deadline, sock) in self._deadlines.items() if deadline <= now]
                for key, _sock in late:
                    del self._deadlines[key]
            for _key, sock in late:
                logger.warning("Closing a connection from a client too slow to send its request")
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


class RequestBody:
    """``wsgi.input``: a request body of known length, or a chunked one, read as a stream.

    Sends ``100 Continue`` on the first read when the client asked for it,
    and keeps the client to the server's minimum upload rate.
    """

    def __init__(self, request: DevRequest, length: int | None) -> None:
        self.request = request
        self.rfile = request.conn.rfile
        self.left = length or 0
        self.chunked = length is None
        self.chunk_left = 0
        self.done = not self.chunked and not self.left
        self.broken = False
        self.received = 0
        self.waited = 0.0

    def _io(self, call: Callable[..., Any], *args: Any) -> Any:
        """Run a blocking read under the watchdog's deadline for this body."""
        server: DevHTTPServer = self.request.server
        limits = server.limits
        allowed = limits.header_timeout + self.received / max(limits.min_upload_rate, 1) - self.waited
        key = id(self)
        start = time.monotonic()
        server.watchdog.arm(key, self.request.conn.socket, start + max(allowed, 0.0))
        try:
            return call(*args)
        finally:
            server.watchdog.disarm(key)
            self.waited += time.monotonic() - start

    def _fail(self, reason: str) -> ConnectionError:
        self.broken = True
        return ConnectionError(reason)

    def _line(self) -> bytes:
        line: bytes = self._io(self.rfile.readline, 4097)
        if not line.endswith(b"\n"):
            raise self._fail("request body ended early")
        return line

    def _next_chunk(self) -> None:
        size_text = self._line().split(b";", 1)[0].strip(b" \t\r\n")
        if not CHUNK_SIZE.fullmatch(size_text):
            raise self._fail("bad chunk size")
        size = int(size_text, 16)
        if size == 0:
            while self._line() not in (b"\r\n", b"\n"):  # trailers, up to the empty line
                pass
            self.done = True
        self.chunk_left = size

    def _recv_into(self, view: memoryview) -> int:
        # cheroot's reader is pure Python (_pyio): take what it has buffered, then
        # read the socket straight into the caller's buffer.
        if self.rfile.has_data():
            data = self.rfile.read1(len(view))
            view[: len(data)] = data
            return len(data)
        return int(self.request.conn.socket.recv_into(view))

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.done or not len(view):
            return 0
        self.request.send_continue()
        if self.chunked:
            if self.chunk_left == 0:
                self._next_chunk()
                if self.done:
                    return 0
            want = min(len(view), self.chunk_left)
        else:
            want = min(len(view), self.left)
        got = self._io(self._recv_into, view[:want])
        if not got:
            raise self._fail("request body ended early")
        self.received += got
        if self.chunked:
            self.chunk_left -= got
            if self.chunk_left == 0 and self._io(self.rfile.readline, 3) not in (b"\r\n", b"\n"):
                raise self._fail("bad chunk terminator")
        else:
            self.left -= got
            self.done = not self.left
        return int(got)

    def read(self, size: int | None = -1) -> bytes:
        if size is None or size < 0:
            parts = []
            while chunk := self.read(BUFFER_SIZE):
                parts.append(chunk)
            return b"".join(parts)
        buffer = bytearray(size)
        filled = 0
        while filled < size:
            got = self.readinto(memoryview(buffer)[filled:])
            if not got:
                break
            filled += got
        return bytes(buffer[:filled])

    def readline(self, size: int = -1) -> bytes:
        # Only used by unusual applications; fine to be simple.
        out = bytearray()
        while size < 0 or len(out) < size:
            byte = self.read(1)
            if not byte:
                break
            out += byte
            if byte == b"\n":
                break
        return bytes(out)

    def __iter__(self) -> Any:
        return iter(self.readline, b"")

    def drain(self, limit: int) -> bool:
        """Read and drop what is left; False if the body was too big or broken."""
        buffer = bytearray(BUFFER_SIZE)
        seen = 0
        try:
            while not self.done:
                seen += self.readinto(buffer)
                if seen > limit:
                    return False
        except (OSError, ValueError):
            return False
        return not self.broken


class DevRequest(cheroot_server.HTTPRequest):
    """One request, parsed strictly; see the module docstring."""

    server: DevHTTPServer

    def __init__(self, server: Any, conn: Any, proxy_mode: bool = True, strict_mode: bool = True) -> None:
        # proxy_mode: accept absolute-form targets (http://host/path) as HTTP/1.1 servers must.
        super().__init__(server, conn, proxy_mode=proxy_mode, strict_mode=strict_mode)
        self.fields: list[tuple[bytes, bytes]] = []
        self.expect_continue = False
        self.body: RequestBody | None = None
        self.environ: dict[str, Any] = {}

    def parse_request(self) -> None:
        key = id(self)
        self.server.watchdog.arm(key, self.conn.socket, time.monotonic() + self.server.limits.header_timeout)
        try:
            super().parse_request()
        finally:
            self.server.watchdog.disarm(key)

    def read_request_headers(self) -> bool:
        try:
            fields = read_fields(self.rfile)
            chunked = check_framing(fields, self.response_protocol == "HTTP/1.1")
        except HeaderError as error:
            self.simple_response(f"{error.status} {REASONS[error.status]}", error.reason)
            return False
        headers: dict[bytes, bytes] = {}
        for name, value in fields:
            key = name.decode("ascii").title().encode("ascii")
            if key == b"Expect":
                # Answered by RequestBody on the first read, not by cheroot at once.
                self.expect_continue = value.lower() == b"100-continue" and self.response_protocol == "HTTP/1.1"
                continue
            headers[key] = headers[key] + b"," + value if key in headers else value
        self.fields = fields
        self.header_reader = lambda rfile, hdict: hdict.update(headers)
        if not super().read_request_headers():
            return False
        self.chunked_read = chunked
        options = {option.strip().lower() for option in headers.get(b"Connection", b"").split(b",")}
        if b"close" in options:  # cheroot compares the value case-sensitively
            self.close_connection = True
        elif b"keep-alive" in options:
            self.close_connection = False
        return True

    def send_continue(self) -> None:
        if self.expect_continue:
            self.expect_continue = False
            self.conn.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def respond(self) -> None:
        length = None if self.chunked_read else int(self.inheaders.get(b"Content-Length", 0))
        self.body = RequestBody(self, length)
        self.rfile = self.body
        try:
            self.server.gateway(self).respond()
            if self.ready:
                self.ensure_headers_sent()
            if self.chunked_write:
                self.conn.wfile.write(b"0\r\n\r\n")
        finally:
            status_line = self.status or b"-"
            if isinstance(status_line, bytes):
                status_line = status_line.decode("ascii", "replace")
            status = status_line.split(" ", 1)[0]
            logger.info("%s %s %s", (self.method or b"-").decode("latin-1"), self.environ.get("PATH_INFO"), status)

    def send_headers(self) -> None:
        body = self.body
        if self.environ.get("bkrepo.close_connection"):
            self.close_connection = True
        elif (
            body is not None and not body.done and (body.broken or self.expect_continue or not body.drain(DRAIN_LIMIT))
        ):
            # An unread body the client was never asked for (it may or may not
            # send it now), a broken one, or a too big one: hang up after the answer.
            self.close_connection = True
        super().send_headers()

    def simple_response(self, status: Any, msg: Any = "") -> None:
        """Errors of the HTTP layer itself (bad request line, bad framing), as a bk-repo envelope."""
        self.close_connection = True
        head = (
            f"{self.server.protocol} {status}\r\n"
            "Content-Type: application/json; charset=utf-8\r\n"
            f"Content-Length: {len(ERROR_BODY)}\r\n"
            "Connection: close\r\n\r\n"
        ).encode("latin-1")
        method = getattr(self, "method", None) or b"-"
        target = (getattr(self, "uri", None) or b"-").split(b"?", 1)[0]  # never the query (tokens)
        logger.info("%s %s %s", method.decode("latin-1"), target.decode("latin-1"), str(status).split(" ", 1)[0])
        with contextlib.suppress(OSError):
            self.conn.wfile.write(head if method == b"HEAD" else head + ERROR_BODY)


class DevConnection(cheroot_server.HTTPConnection):
    RequestHandlerClass = DevRequest


class DevGateway(cheroot_wsgi.Gateway_10):
    """cheroot's WSGI 1.0 gateway, plus the dev server's environ keys and ``sendfile``."""

    req: DevRequest

    def get_environ(self) -> dict[str, Any]:  # type: ignore[override]  # cheroot's stub says None
        env: dict[str, Any] = super().get_environ()
        request = self.req
        # The path as the client sent it, %2F included, like the old runner and bk-repo.
        target = (request.uri or b"/").split(b"?", 1)[0].decode("latin-1")
        if "://" in target:  # absolute-form request target
            target = urllib.parse.urlsplit(target).path or "/"
        if target.startswith("//"):  # never let "//host/..." look like another site
            target = "/" + target.lstrip("/")
        env["PATH_INFO"] = urllib.parse.unquote_to_bytes(target).decode("latin-1")
        env["RAW_URI"] = (request.uri or b"").decode("latin-1")
        env["bkrepo.raw_headers"] = [(name.decode("ascii"), value.decode("latin-1")) for name, value in request.fields]
        env["wsgi.input_terminated"] = True
        if not request.chunked_read and "CONTENT_LENGTH" not in env:
            env["CONTENT_LENGTH"] = "0"
        request.environ = env
        return env

    def respond(self) -> None:
        response = self.req.server.wsgi_app(self.env, self.start_response)
        try:
            if self.req.method == b"HEAD":
                pass
            elif isinstance(response, FileRange):
                self.send_file(response)
            else:
                sock = self.req.conn.socket
                for chunk in response:
                    if not chunk:
                        continue
                    if self.req.sent_headers and not self.req.chunked_write:
                        sock.sendall(chunk)  # past cheroot's pure-Python writer
                    else:
                        self.write(chunk)
        finally:
            self.req.ensure_headers_sent()
            close = getattr(response, "close", None)
            if close is not None:
                close()

    def send_file(self, body: FileRange) -> None:
        request = self.req
        request.ensure_headers_sent()
        if request.chunked_write:  # no Content-Length: let cheroot frame it
            for chunk in body:
                request.write(chunk)
            return
        request.conn.wfile.flush()
        if body.length:
            sent = request.conn.socket.sendfile(body.file, body.offset, body.length)
            if sent < body.length:
                request.close_connection = True


class DevHTTPServer(cheroot_wsgi.Server):
    ConnectionClass = DevConnection
    wsgi_version = (1, 0)

    def __init__(self, address: tuple[str, int], app: WSGIApp, limits: Limits | None = None) -> None:
        limits = limits or Limits()
        super().__init__(
            address,
            app,
            numthreads=limits.threads,
            server_name="bkrepo-devserver",
            request_queue_size=128,
            timeout=limits.idle_timeout,  # type: ignore[arg-type]  # seconds; any number works
            accepted_queue_size=limits.max_connections,
            accepted_queue_timeout=0,
        )
        self.gateway = DevGateway
        self.limits = limits
        self.keep_alive_conn_limit = limits.max_connections
        self.max_request_header_size = limits.max_header_size
        self.watchdog = Watchdog(min(0.2, limits.header_timeout / 4))

    @property
    def port(self) -> int:
        return int(self.bind_addr[1])

    def stop(self) -> None:
        super().stop()
        self.watchdog.stop()


def make_server(host: str, port: int, app: WSGIApp, limits: Limits | None = None) -> DevHTTPServer:
    """A server bound to ``host:port`` (port 0: a free one, see ``.port``); ``serve()`` runs it."""
    server = DevHTTPServer((host, port), app, limits)
    server.prepare()
    return server


def serve_in_thread(server: DevHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve, name="bkrepo-devserver", daemon=True)
    thread.start()
    return thread
