"""A small, fast, threaded HTTP/1.1 runner for WSGI applications.

Built on ``http.server`` from the standard library, with what the dev
server needs beyond ``wsgiref``: keep-alive connections, chunked request
bodies, large buffers, and ``socket.sendfile`` for file responses
(:class:`~.app.FileRange`). One thread per connection.
"""

from __future__ import annotations

import contextlib
import json
import logging
import socket
import socketserver
import sys
import threading
import urllib.parse
from collections.abc import Callable, Iterable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from .app import FileRange

logger = logging.getLogger("bkstorages_contrib.devserver.access")

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]

#: Unread request bodies up to this size are drained to keep the connection; larger ones close it.
DRAIN_LIMIT = 64 * 1024 * 1024
BUFFER_SIZE = 1024 * 1024
#: Limits of a request head, as in ``http.client``: longer lines or more fields get a 431.
MAX_LINE = 65536
MAX_HEADERS = 100
#: Characters allowed in a field name (RFC 9110 "token").
TOKEN_CHARS = frozenset(b"!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz")


class HeaderError(Exception):
    """A request head the server refuses: ``status`` is 400 or 431."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = reason


class RequestHeaders:
    """The header fields of one request: in order, with case-insensitive lookups."""

    __slots__ = ("_fields", "_first")

    def __init__(self, fields: list[tuple[str, str]]) -> None:
        self._fields = fields
        self._first: dict[str, str] = {}
        for name, value in fields:
            self._first.setdefault(name.lower(), value)

    def get(self, name: str, default: str | None = None) -> str | None:
        """The first value of the field ``name`` (any case), or ``default``."""
        return self._first.get(name.lower(), default)

    def get_all(self, name: str) -> list[str]:
        key = name.lower()
        return [value for field, value in self._fields if field.lower() == key]

    def items(self) -> list[tuple[str, str]]:
        return list(self._fields)


def read_headers(rfile: Any) -> RequestHeaders:
    """Read header lines up to the empty line; raise ``HeaderError`` for anything malformed.

    Strict on purpose: a line without a colon, a field name that is not a
    token (so no space before the colon), obsolete line folding and
    conflicting Content-Length fields are refused rather than guessed at.
    """
    fields: list[tuple[str, str]] = []
    while True:
        line = rfile.readline(MAX_LINE + 1)
        if len(line) > MAX_LINE:
            raise HeaderError(431, "Line too long")
        if not line.endswith(b"\n"):
            raise HeaderError(400, "Request head ended early")
        if line in (b"\r\n", b"\n"):
            break
        if len(fields) >= MAX_HEADERS:
            raise HeaderError(431, "Too many headers")
        name, colon, value = line.partition(b":")
        if not colon or not name or not TOKEN_CHARS.issuperset(name):
            raise HeaderError(400, "Bad header line")
        fields.append((name.decode("ascii"), value.strip(b" \t\r\n").decode("latin-1")))
    headers = RequestHeaders(fields)
    lengths = {value.strip() for value in headers.get_all("Content-Length")}
    if len(lengths) > 1:
        raise HeaderError(400, "Conflicting Content-Length")
    return headers


class BodyReader:
    """``wsgi.input``: a request body of known length, or a chunked one, read as a stream."""

    def __init__(
        self, rfile: Any, length: int | None, chunked: bool, on_first_read: Callable[[], None] | None = None
    ) -> None:
        self.rfile = rfile
        self.on_first_read = on_first_read
        self.started = False
        self.remaining = length or 0
        self.chunked = chunked
        self.chunk_left = 0
        self.done = not chunked and not self.remaining
        self.broken = False

    def _next_chunk(self) -> None:
        line = self.rfile.readline(65537)
        if not line.endswith(b"\n"):
            self.broken = True
            raise ConnectionError("request body ended early")
        try:
            size = int(line.split(b";", 1)[0].strip(), 16)
        except ValueError:
            self.broken = True
            raise ConnectionError("bad chunk size") from None
        if size < 0:
            self.broken = True
            raise ConnectionError("bad chunk size")
        if size == 0:
            while True:  # trailers, up to the empty line
                trailer = self.rfile.readline(65537)
                if not trailer.endswith(b"\n"):
                    self.broken = True
                    raise ConnectionError("request body ended early")
                if trailer in (b"\r\n", b"\n"):
                    break
            self.done = True
        self.chunk_left = size

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        if self.done or not len(view):
            return 0
        if not self.started:
            self.started = True
            if self.on_first_read is not None:
                self.on_first_read()
        if self.chunked:
            if self.chunk_left == 0:
                self._next_chunk()
                if self.done:
                    return 0
            want = min(len(view), self.chunk_left)
        else:
            want = min(len(view), self.remaining)
        got = self.rfile.readinto(view[:want])
        if not got:
            self.broken = True
            raise ConnectionError("request body ended early")
        if self.chunked:
            self.chunk_left -= got
            if self.chunk_left == 0:
                crlf = self.rfile.readline(3)
                if crlf not in (b"\r\n", b"\n"):
                    self.broken = True
                    raise ConnectionError("bad chunk terminator")
        else:
            self.remaining -= got
            if not self.remaining:
                self.done = True
        return got

    def read(self, size: int = -1) -> bytes:
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

    def drain(self, limit: int) -> bool:
        """Read and drop what is left; False if the body was too big or broken."""
        buffer = bytearray(BUFFER_SIZE)
        seen = 0
        try:
            while not self.done:
                got = self.readinto(buffer)
                if not got:
                    break
                seen += got
                if seen > limit:
                    return False
        except (OSError, ValueError):
            return False
        return not self.broken


class WSGIRequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "bkrepo-devserver"
    sys_version = ""
    rbufsize = 256 * 1024
    wbufsize = 0
    timeout = 300
    default_request_version = "HTTP/1.0"  # so even garbage gets a status line
    server: DevHTTPServer
    request_headers: RequestHeaders

    def setup(self) -> None:
        super().setup()
        with contextlib.suppress(OSError):
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4 * 1024 * 1024)
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 * 1024 * 1024)

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """Errors of the HTTP layer itself (bad request line, bad framing), as a bk-repo envelope."""
        body = json.dumps(
            {"code": 250106, "message": "Invalid request content", "data": None, "traceId": None}, indent=2
        ).encode()
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.send_response(code, message)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        # Used by http.server for its own errors (bad request lines); never includes queries.
        logger.info("%s %s", self.address_string(), format % args)

    def handle_one_request(self) -> None:
        try:
            self.raw_requestline = self.rfile.readline(65537)
        except (TimeoutError, OSError):
            self.close_connection = True
            return
        if len(self.raw_requestline) > 65536:
            self.requestline = ""
            self.request_version = ""
            self.command = ""
            self.send_error(414)
            return
        if not self.raw_requestline:
            self.close_connection = True
            return
        self.expect_continue = False
        if not self.parse_request():
            return
        try:
            self.run_app()
        except (ConnectionError, TimeoutError, BrokenPipeError):
            self.close_connection = True

    def parse_request(self) -> bool:
        """Parse the request line and the header fields (``self.request_headers``).

        The request line is handled as in ``http.server``; the header fields
        go through :func:`read_headers` instead of the ``email`` package,
        which is slow and lenient. Returns False once an error is sent.
        """
        self.command = None  # type: ignore[assignment]  # as in http.server, until the line is parsed
        self.request_version = self.default_request_version
        self.close_connection = True
        requestline = str(self.raw_requestline, "iso-8859-1").rstrip("\r\n")
        self.requestline = requestline
        words = requestline.split()
        if not words:
            return False
        if len(words) >= 3:
            version = words[-1]
            numbers = version[5:].split(".") if version.startswith("HTTP/") else []
            if len(numbers) != 2 or not all(n.isdigit() and len(n) <= 10 for n in numbers):
                self.send_error(400, f"Bad request version ({version!r})")
                return False
            version_number = (int(numbers[0]), int(numbers[1]))
            if version_number >= (2, 0):
                self.send_error(505, f"Invalid HTTP version ({version[5:]})")
                return False
            if version_number >= (1, 1):
                self.close_connection = False
            self.request_version = version
        if not 2 <= len(words) <= 3:
            self.send_error(400, f"Bad request syntax ({requestline!r})")
            return False
        command, path = words[:2]
        if len(words) == 2:
            self.close_connection = True
            if command != "GET":
                self.send_error(400, f"Bad HTTP/0.9 request type ({command!r})")
                return False
        self.command, self.path = command, path
        if self.path.startswith("//"):  # never let "//host/..." look like another site
            self.path = "/" + self.path.lstrip("/")
        try:
            self.request_headers = read_headers(self.rfile)
        except HeaderError as error:
            self.send_error(error.status, error.reason)
            return False
        connection = (self.request_headers.get("Connection") or "").lower()
        if connection == "close":
            self.close_connection = True
        elif connection == "keep-alive":
            self.close_connection = False
        expect = (self.request_headers.get("Expect") or "").lower()
        if expect == "100-continue" and self.request_version >= "HTTP/1.1":
            return self.handle_expect_100()
        return True

    def handle_expect_100(self) -> bool:
        # Like Tomcat: "100 Continue" goes out only when the application reads the
        # body, so a request refused early (node exists, 401, ...) never sends it.
        self.expect_continue = True
        return True

    def send_continue(self) -> None:
        if self.expect_continue:
            self.expect_continue = False
            self.wfile.write(b"HTTP/1.1 100 Continue\r\n\r\n")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        # The default logs the request line, query string (and so any token) included.
        path = str(getattr(self, "path", "") or "").partition("?")[0]
        logger.info("%s %s %s", getattr(self, "command", None) or "-", path or "-", code)

    def run_app(self) -> None:
        target, _, query = self.path.partition("?")
        if "://" in target:  # absolute-form request target
            target = urllib.parse.urlsplit(target).path or "/"
        headers = self.request_headers
        transfer = (headers.get("Transfer-Encoding") or "").lower()
        chunked = "chunked" in transfer
        length: int | None = None
        declared = headers.get("Content-Length")
        if not chunked and declared is not None:
            try:
                length = int(declared)
            except ValueError:
                length = -1
            if length < 0:
                self.send_error(400, "Bad Content-Length")
                self.close_connection = True
                return
        body = BodyReader(self.rfile, length, chunked, on_first_read=self.send_continue)
        host, port = self.server.server_address[:2]
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": urllib.parse.unquote_to_bytes(target).decode("latin-1"),
            "QUERY_STRING": query,
            "RAW_URI": self.path,
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "REMOTE_PORT": str(self.client_address[1]),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": body,
            "wsgi.input_terminated": True,
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "bkrepo.raw_headers": headers.items(),
        }
        if length is not None:
            environ["CONTENT_LENGTH"] = str(length)
        elif not chunked:
            environ["CONTENT_LENGTH"] = "0"
        content_type = headers.get("Content-Type")
        if content_type:
            environ["CONTENT_TYPE"] = content_type
        for name, value in headers.items():
            key = "HTTP_" + name.upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = f"{environ[key]},{value}" if key in environ else value

        state: dict[str, Any] = {}

        def start_response(status: str, response_headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            if exc_info and state.get("sent"):
                raise exc_info[1].with_traceback(exc_info[2])
            state["status"] = status
            state["headers"] = response_headers
            return self._write_unsupported

        result = self.server.app(environ, start_response)
        try:
            self.send_result(environ, state, result)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if environ.get("bkrepo.close_connection") or body.broken:
            self.close_connection = True
        elif self.expect_continue and not body.done:
            # The client was never told to go on; it may or may not send the body now: hang up.
            self.close_connection = True
        elif not body.done and not body.drain(DRAIN_LIMIT):
            self.close_connection = True
        logger.info("%s %s %s", self.command, target, state.get("status", "").split(" ", 1)[0])

    @staticmethod
    def _write_unsupported(data: bytes) -> None:
        raise NotImplementedError("the dev server runner does not support write()")

    def send_result(self, environ: dict[str, Any], state: dict[str, Any], result: Iterable[bytes]) -> None:
        iterator = iter(result) if not isinstance(result, FileRange) else None
        first = b""
        if iterator is not None:
            for chunk in iterator:  # start_response may be called lazily, on the first chunk
                if chunk:
                    first = chunk
                    break
        status: str = state["status"]
        response_headers: list[tuple[str, str]] = state["headers"]
        names = {name.lower() for name, _ in response_headers}
        lines = [f"{self.protocol_version} {status}\r\n"]
        lines += [f"{name}: {value}\r\n" for name, value in response_headers]
        if "date" not in names:
            lines.append(f"Date: {self.date_time_string()}\r\n")
        lines.append(f"Server: {self.server_version}\r\n")
        if "content-length" not in names and self.command != "HEAD":
            self.close_connection = True
        body = environ["wsgi.input"]
        if self.expect_continue and not body.done:
            self.close_connection = True
        if self.close_connection or environ.get("bkrepo.close_connection"):
            self.close_connection = True
            lines.append("Connection: close\r\n")
        lines.append("\r\n")
        head = "".join(lines).encode("latin-1")
        state["sent"] = True
        if self.command == "HEAD":
            self.wfile.write(head)
            return
        if isinstance(result, FileRange):
            self.wfile.write(head)
            if result.length:
                sent = self.connection.sendfile(result.file, result.offset, result.length)
                if sent < result.length:
                    self.close_connection = True
            return
        assert iterator is not None
        if len(first) < 64 * 1024:
            self.wfile.write(head + first)
        else:
            self.wfile.write(head)
            self.wfile.write(first)
        for chunk in iterator:
            if chunk:
                self.wfile.write(chunk)


class DevHTTPServer(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], app: WSGIApp) -> None:
        self.app = app
        super().__init__(address, WSGIRequestHandler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind() looks the host name up (getfqdn), which can stall on bad DNS.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name = str(host)
        self.server_port = int(port)

    def handle_error(self, request: Any, client_address: Any) -> None:
        logger.error("Error on a connection from %s", client_address[0], exc_info=True)  # noqa: LOG014

    @property
    def port(self) -> int:
        return int(self.server_address[1])


def make_server(host: str, port: int, app: WSGIApp) -> DevHTTPServer:
    return DevHTTPServer((host, port), app)


def serve_in_thread(server: DevHTTPServer) -> threading.Thread:
    thread = threading.Thread(target=server.serve_forever, name="bkrepo-devserver", daemon=True)
    thread.start()
    return thread
