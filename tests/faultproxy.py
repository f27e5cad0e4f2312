"""A fault-injecting HTTP/1.1 proxy for the resilience tests.

``FaultProxy`` listens on a free port on 127.0.0.1 and forwards every
request to an upstream server (the bk-repo dev server), byte for byte:
keep-alive connections, ``Content-Length`` and chunked bodies, streamed in
both directions. Tests point a storage's ``endpoint_url`` at ``proxy.url``
and program faults for matching requests::

    with FaultProxy("127.0.0.1", server_port) as proxy:
        proxy.add_fault("error", method="GET", status=503, times=2)
        ...
        assert proxy.count("GET", r"/generic/") == 3

It is written with threads and plain sockets only (no third-party code), so
the faults are real: a reset is a TCP RST, a stall is a silent socket, a
truncated body really ends early.

Fault kinds and their parameters (``times`` is how many matching requests
the fault applies to, ``None`` for every one):

``error``
    Answer ``status`` (default 503) without asking upstream. The body is a
    bk-repo JSON envelope (``code``, ``message``) unless ``plain=True``.
    ``retry_after`` adds a ``Retry-After`` header (seconds).
``throttle``
    429 with ``Retry-After: retry_after`` (default 1) and bk-repo's rate
    limit envelope.
``unauthorized``
    401 with bk-repo's 250114 envelope and ``WWW-Authenticate``.
``html``
    An HTML error page, as a gateway sends it (default status 502).
``invalid_json``
    ``Content-Type: application/json`` with a body that is not JSON
    (default status 200).
``reset_response``
    Forward the request, send the response headers and ``after_bytes`` bytes
    of the response body, then reset the connection (TCP RST). Without
    ``after_bytes`` the reset comes before any byte of the answer: the
    server did the work, the client only sees a reset.
``reset_request``
    Read ``after_bytes`` bytes of the request body (forwarding them
    upstream), then reset the client connection and drop the upstream one,
    so the server sees an upload that ends early.
``truncate``
    Forward the response headers unchanged (including ``Content-Length``)
    but only ``keep_bytes`` bytes of the body (default: half), then close
    the connection cleanly.
``stall``
    Send nothing for ``seconds``: before the response headers, or after
    ``after_bytes`` bytes of the response body when that is given. Then go on
    forwarding (the client has normally given up by then).
``trickle``
    Forward the response body ``chunk`` bytes (default 1) every
    ``interval`` seconds (default 0.05): each read succeeds, so only a total
    deadline stops the client.
``intercept``
    Forward request and answer unchanged, but call ``action`` first, before
    the request reaches the server (another writer acting in between).
``corrupt``
    Forward the response whole, headers unchanged, but with the body byte at
    ``at_byte`` (default: the middle of a ``Content-Length`` body) inverted:
    a bit flip the transport did not notice. With ``request=True`` the byte
    is flipped in the request body on its way to the server instead.

The canned answers (``error``, ``throttle``, ``unauthorized``, ``html``,
``invalid_json``) accept ``forward=True``: the request is then first sent
upstream and served, and only its answer is replaced - the server did the
work but the client never hears about it. They also accept ``close=True`` to
close the connection after answering, and ``body`` / ``headers`` to change
the answer.

Every fault accepts ``action``: a function called (in the proxy's thread)
at the moment the fault fires, before the cut, the stall or the made-up
answer - for example to let another writer in at exactly that point.

Body byte counts (``after_bytes``, ``keep_bytes``) count bytes on the wire
after the headers, so for a chunked body they include the chunk framing.
"""

from __future__ import annotations

import contextlib
import json
import re
import select
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BufferedReader
from typing import Any

from bkstorages.client import endpoint_guard

__all__ = ["FAULT_KINDS", "Fault", "FaultProxy", "SeenRequest"]

CANNED_KINDS = frozenset({"error", "throttle", "unauthorized", "html", "invalid_json"})
FAULT_KINDS = CANNED_KINDS | {"reset_response", "reset_request", "truncate", "stall", "trickle", "corrupt", "intercept"}

IO_CHUNK = 64 * 1024
MAX_LINE = 64 * 1024

REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    429: "Too Many Requests",
    500: "Internal Server Error",
    502: "Bad Gateway",
    503: "Service Unavailable",
    504: "Gateway Timeout",
}

HTML_PAGE = (
    "<html>\r\n<head><title>{status} {reason}</title></head>\r\n<body>\r\n"
    "<center><h1>{status} {reason}</h1></center>\r\n<hr><center>nginx</center>\r\n"
    "</body>\r\n</html>\r\n"
)


@dataclass
class Fault:
    """One programmed fault: what to do, to which requests, how many times."""

    kind: str
    method: str | None = None
    path_regex: str | None = None
    times: int | None = 1
    params: dict[str, Any] = field(default_factory=dict)
    hits: int = 0

    def matches(self, method: str, target: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method is not None and self.method.upper() != method.upper():
            return False
        return self.path_regex is None or re.search(self.path_regex, target) is not None


@dataclass(frozen=True)
class SeenRequest:
    """A request the proxy received, and the fault applied to it, if any."""

    method: str
    target: str
    fault: str | None
    headers: dict[str, str] = field(default_factory=dict)  # lower-case names
    connection: int = 0  # which client connection carried it, counted from 1

    @property
    def path(self) -> str:
        return self.target.split("?", 1)[0]


class _Closed(Exception):
    """The connection we were reading from or writing to is gone."""


class _Abort(Exception):
    """A fault ended the exchange; close everything."""


@dataclass
class _Message:
    start_line: str
    raw_head: bytes
    headers: dict[str, str]

    def header(self, name: str) -> str | None:
        return self.headers.get(name.lower())


def _reader(sock: socket.socket) -> BufferedReader:
    """A buffered binary reader over a socket (``read1`` streams what has arrived)."""
    return BufferedReader(socket.SocketIO(sock, "rb"), IO_CHUNK)


def _read_head(reader: BufferedReader) -> _Message | None:
    """Read a start line and headers; None on a clean end of stream."""
    lines: list[bytes] = []
    while True:
        line = reader.readline(MAX_LINE)
        if not line:
            if lines:
                raise _Closed("stream ended inside the headers")
            return None
        if not lines and line in (b"\r\n", b"\n"):
            continue  # tolerate stray blank lines between messages
        lines.append(line)
        if line in (b"\r\n", b"\n"):
            break
    headers: dict[str, str] = {}
    for raw in lines[1:-1]:
        name, _, value = raw.decode("latin-1").partition(":")
        key = name.strip().lower()
        value = value.strip()
        headers[key] = f"{headers[key]}, {value}" if key in headers else value
    return _Message(lines[0].decode("latin-1").rstrip("\r\n"), b"".join(lines), headers)


def _reset(sock: socket.socket | None) -> None:
    """Close a socket with a TCP RST instead of a FIN."""
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    _close(sock)


def _close(sock: socket.socket | None) -> None:
    if sock is None:
        return
    with contextlib.suppress(OSError):
        sock.close()


def _finish(sock: socket.socket) -> None:
    """Close cleanly: send FIN, then close."""
    with contextlib.suppress(OSError):
        sock.shutdown(socket.SHUT_WR)
    _close(sock)


class _Sink:
    """Writes a body to a socket, counting bytes and applying a byte-count fault."""

    def __init__(
        self,
        sock: socket.socket | _NullSocket,
        *,
        limit: int | None = None,
        on_limit: Callable[[], None] | None = None,
        trickle: tuple[int, float] | None = None,
        flip_at: int | None = None,
        stop: threading.Event,
    ) -> None:
        self.sock = sock
        self.flip_at = flip_at
        self.sent = 0
        self.limit = limit
        self.on_limit = on_limit
        self.trickle = trickle
        self.stop = stop

    def write(self, data: bytes) -> None:
        while data:
            if self.limit is not None and self.sent + len(data) >= self.limit:
                head, data = data[: self.limit - self.sent], data[self.limit - self.sent :]
                self._send(head)
                self.limit = None
                if self.on_limit is not None:
                    self.on_limit()  # raises _Abort, or returns to go on
                continue
            self._send(data)
            return

    def _send(self, data: bytes) -> None:
        if not data:
            return
        if self.flip_at is not None and self.sent <= self.flip_at < self.sent + len(data):
            changed = bytearray(data)
            changed[self.flip_at - self.sent] ^= 0xFF
            data = bytes(changed)
        if self.trickle is None:
            self._sendall(data)
        else:
            size, interval = self.trickle
            for start in range(0, len(data), size):
                if self.stop.wait(interval):
                    raise _Abort("proxy stopping")
                self._sendall(data[start : start + size])
        self.sent += len(data)

    def _sendall(self, data: bytes) -> None:
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise _Closed(str(exc)) from exc


def _copy_body(reader: BufferedReader, sink: _Sink, framing: tuple[str, int]) -> bool:
    """Stream one body; return False when the source ended before the body did."""
    kind, length = framing
    try:
        if kind == "length":
            remaining = length
            while remaining > 0:
                data = reader.read1(min(IO_CHUNK, remaining))
                if not data:
                    return False
                remaining -= len(data)
                sink.write(data)
            return True
        if kind == "close":
            while True:
                data = reader.read1(IO_CHUNK)
                if not data:
                    return True
                sink.write(data)
        if kind == "chunked":
            while True:
                size_line = reader.readline(MAX_LINE)
                if not size_line:
                    return False
                sink.write(size_line)
                size = int(size_line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while True:  # trailers, up to the blank line
                        line = reader.readline(MAX_LINE)
                        if not line:
                            return False
                        sink.write(line)
                        if line in (b"\r\n", b"\n"):
                            return True
                remaining = size + 2  # chunk data and its CRLF
                while remaining > 0:
                    data = reader.read1(min(IO_CHUNK, remaining))
                    if not data:
                        return False
                    remaining -= len(data)
                    sink.write(data)
    except (OSError, ValueError) as exc:
        raise _Closed(str(exc)) from exc
    return True


def _request_framing(message: _Message) -> tuple[str, int]:
    if "chunked" in (message.header("transfer-encoding") or "").lower():
        return ("chunked", 0)
    length = message.header("content-length")
    return ("length", int(length)) if length else ("length", 0)


def _response_framing(method: str, status: int, message: _Message) -> tuple[str, int]:
    if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
        return ("length", 0)
    if "chunked" in (message.header("transfer-encoding") or "").lower():
        return ("chunked", 0)
    length = message.header("content-length")
    if length is not None:
        return ("length", int(length))
    return ("close", 0)


def _body_offset(params: dict[str, Any], name: str, framing: tuple[str, int]) -> int:
    """A fault's byte offset ``params[name]``; by default the middle of a ``Content-Length`` body."""
    offset = params.get(name)
    if offset is None:
        return framing[1] // 2 if framing[0] == "length" else 0
    return int(offset)


def _wants_close(message: _Message, default_close: bool) -> bool:
    tokens = {token.strip().lower() for token in (message.header("connection") or "").split(",")}
    if "close" in tokens:
        return True
    if "keep-alive" in tokens:
        return False
    return default_close


class FaultProxy:
    """A threaded TCP proxy in front of one upstream HTTP/1.1 server.

    While it runs, the test isolation (``bkstorages.client.endpoint_guard``)
    allows requests to it, unless ``allowed=False`` (a stand-in for production).
    """

    def __init__(
        self, upstream_host: str, upstream_port: int, *, host: str = "127.0.0.1", allowed: bool = True
    ) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.host = host
        self.allowed = allowed
        self.port = 0
        self._listener: socket.socket | None = None
        self._accept_thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._faults: list[Fault] = []
        self._seen: list[SeenRequest] = []
        self._connections = 0
        self._sockets: set[socket.socket] = set()
        self._threads: set[threading.Thread] = set()

    # Lifecycle -----------------------------------------------------------

    @property
    def url(self) -> str:
        """The proxy's base URL, to use as a storage's ``endpoint_url``."""
        return f"http://{self.host}:{self.port}"

    def start(self) -> FaultProxy:
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((self.host, 0))
        listener.listen(64)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._accept_thread = threading.Thread(target=self._accept_loop, name="faultproxy-accept", daemon=True)
        self._accept_thread.start()
        if self.allowed:
            endpoint_guard.allow(self.url)
        return self

    def stop(self) -> None:
        """Stop accepting, cut every open connection and wait for the threads."""
        if self.allowed and self._listener is not None and not self._stop.is_set():
            endpoint_guard.disallow(self.url)
        self._stop.set()
        if self._listener is not None:
            with contextlib.suppress(OSError):
                self._listener.shutdown(socket.SHUT_RDWR)
            _close(self._listener)
        with self._lock:
            sockets = list(self._sockets)
            threads = list(self._threads)
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
        if self._accept_thread is not None:
            self._accept_thread.join(5)
        for thread in threads:
            thread.join(5)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # Rules and counters ---------------------------------------------------

    def add_fault(
        self,
        kind: str,
        method: str | None = None,
        path_regex: str | None = None,
        times: int | None = 1,
        **params: Any,
    ) -> Fault:
        """Apply fault ``kind`` to the next ``times`` matching requests.

        ``path_regex`` is searched in the request target (path and query).
        Faults are checked in the order they were added; the first one that
        matches and still has uses left applies.
        """
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault kind {kind!r}; expected one of {sorted(FAULT_KINDS)}")
        if path_regex is not None:
            re.compile(path_regex)
        fault = Fault(kind, method, path_regex, times, dict(params))
        with self._lock:
            self._faults.append(fault)
        return fault

    def clear(self) -> None:
        """Remove every fault and forget the requests seen so far."""
        with self._lock:
            self._faults.clear()
            self._seen.clear()

    def reset_counts(self) -> None:
        """Forget the requests seen so far, keeping the faults."""
        with self._lock:
            self._seen.clear()

    @property
    def seen(self) -> list[SeenRequest]:
        """Every request received so far, in order."""
        with self._lock:
            return list(self._seen)

    def count(self, method: str | None = None, path_regex: str | None = None) -> int:
        """How many requests matched ``method`` and ``path_regex`` (searched in the target)."""
        return sum(
            1
            for seen in self.seen
            if (method is None or seen.method == method.upper())
            and (path_regex is None or re.search(path_regex, seen.target))
        )

    @property
    def connections(self) -> int:
        """How many client connections the proxy has accepted."""
        with self._lock:
            return self._connections

    def counts(self) -> dict[tuple[str, str], int]:
        """Requests seen per (method, path without query)."""
        result: dict[tuple[str, str], int] = {}
        for seen in self.seen:
            key = (seen.method, seen.path)
            result[key] = result.get(key, 0) + 1
        return result

    def _pick_fault(self, method: str, target: str, headers: dict[str, str], connection: int) -> Fault | None:
        with self._lock:
            fault = next((f for f in self._faults if f.matches(method, target)), None)
            if fault is not None:
                fault.hits += 1
            self._seen.append(SeenRequest(method, target, fault.kind if fault else None, dict(headers), connection))
            return fault

    # Connection handling --------------------------------------------------

    def _accept_loop(self) -> None:
        assert self._listener is not None
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            client.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            with self._lock:
                if self._stop.is_set():
                    _close(client)
                    return
                self._connections += 1
                thread = threading.Thread(
                    target=self._serve_client, args=(client, self._connections), name="faultproxy-conn", daemon=True
                )
                self._sockets.add(client)
                self._threads.add(thread)
            thread.start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _untrack(self, sock: socket.socket | None) -> None:
        if sock is None:
            return
        with self._lock:
            self._sockets.discard(sock)

    def _serve_client(self, client: socket.socket, number: int) -> None:
        state = _Connection(self, client, number)
        try:
            while not self._stop.is_set():
                if not state.exchange():
                    break
        except (_Closed, _Abort, OSError):
            pass
        finally:
            state.close()
            with self._lock:
                self._sockets.discard(client)
                self._threads.discard(threading.current_thread())


class _Connection:
    """One client connection and the upstream connection that serves it."""

    def __init__(self, proxy: FaultProxy, client: socket.socket, number: int) -> None:
        self.proxy = proxy
        self.client = client
        self.number = number
        self.client_reader = _reader(client)
        self.upstream: socket.socket | None = None
        self.upstream_reader: BufferedReader | None = None
        self.client_closed = False

    def close(self) -> None:
        self._drop_upstream()
        if not self.client_closed:
            _close(self.client)
            self.client_closed = True
        with contextlib.suppress(OSError):
            self.client_reader.close()

    def _drop_upstream(self, reset: bool = False) -> None:
        if self.upstream is not None:
            self.proxy._untrack(self.upstream)
            (_reset if reset else _close)(self.upstream)
            if self.upstream_reader is not None:
                with contextlib.suppress(OSError):
                    self.upstream_reader.close()
        self.upstream = None
        self.upstream_reader = None

    def _upstream_alive(self) -> bool:
        assert self.upstream is not None
        readable, _, _ = select.select([self.upstream], [], [], 0)
        if not readable:
            return True
        try:
            return bool(self.upstream.recv(1, socket.MSG_PEEK))
        except OSError:
            return False

    def _connect_upstream(self) -> None:
        if self.upstream is not None and self._upstream_alive():
            return
        self._drop_upstream()
        try:
            sock = socket.create_connection(self.proxy.upstream, timeout=10)
        except OSError as exc:
            raise _Closed(f"cannot reach upstream: {exc}") from exc
        sock.settimeout(None)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.proxy._track(sock)
        self.upstream = sock
        self.upstream_reader = _reader(sock)

    def _stall(self, seconds: float, params: dict[str, Any]) -> None:
        _run_action(params)
        if self.proxy._stop.wait(seconds):
            raise _Abort("proxy stopping")

    def _reset_client(self) -> None:
        _reset(self.client)
        self.client_closed = True

    # One request/response exchange ---------------------------------------

    def exchange(self) -> bool:
        """Serve one request; return True to keep the connection open."""
        request = _read_head(self.client_reader)
        if request is None:
            return False
        parts = request.start_line.split(" ")
        if len(parts) != 3:
            raise _Closed(f"bad request line {request.start_line!r}")
        method, target, version = parts[0].upper(), parts[1], parts[2]
        client_close = _wants_close(request, default_close=version == "HTTP/1.0")
        fault = self.proxy._pick_fault(method, target, request.headers, self.number)
        params = fault.params if fault else {}
        kind = fault.kind if fault else None
        framing = _request_framing(request)

        if kind in CANNED_KINDS and not params.get("forward", False):
            # Answer without upstream: swallow the request body first.
            if not _copy_body(self.client_reader, _Sink(_NullSocket(), stop=self.proxy._stop), framing):
                return False
            return self._send_canned(method, kind or "", params) and not client_close

        if kind == "intercept":
            _run_action(params)
        self._connect_upstream()
        assert self.upstream is not None
        assert self.upstream_reader is not None
        try:
            self.upstream.sendall(request.raw_head)
        except OSError as exc:
            raise _Closed(str(exc)) from exc

        if kind == "reset_request":

            def cut_upload() -> None:
                _run_action(params)
                self._reset_client()
                self._drop_upstream(reset=True)
                raise _Abort("request body cut")

            sink = _Sink(
                self.upstream, limit=int(params.get("after_bytes", 0)), on_limit=cut_upload, stop=self.proxy._stop
            )
            if int(params.get("after_bytes", 0)) == 0:
                cut_upload()
        elif kind == "corrupt" and params.get("request"):
            sink = _Sink(self.upstream, flip_at=_body_offset(params, "at_byte", framing), stop=self.proxy._stop)
        else:
            sink = _Sink(self.upstream, stop=self.proxy._stop)
        if not _copy_body(self.client_reader, sink, framing):
            return False  # the client went away mid-upload; so do we

        # Read the upstream answer (skipping interim 1xx answers).
        while True:
            response = _read_head(self.upstream_reader)
            if response is None:
                raise _Closed("upstream closed without answering")
            status_parts = response.start_line.split(" ", 2)
            status = int(status_parts[1])
            if status >= 200 or status == 101:
                break
            self._send_client(response.raw_head)

        resp_framing = _response_framing(method, status, response)
        upstream_close = resp_framing[0] == "close" or _wants_close(
            response, default_close=status_parts[0] == "HTTP/1.0"
        )

        if kind in CANNED_KINDS:
            # forward=True: the server did the work; throw its answer away.
            if not _copy_body(self.upstream_reader, _Sink(_NullSocket(), stop=self.proxy._stop), resp_framing):
                upstream_close = True
            if upstream_close:
                self._drop_upstream()
            return self._send_canned(method, kind or "", params) and not client_close

        if kind == "reset_response" and params.get("after_bytes") is None:
            _run_action(params)
            self._reset_client()
            self._drop_upstream(reset=True)
            raise _Abort("answer cut before its first byte")
        if kind == "stall" and params.get("after_bytes") is None:
            self._stall(float(params.get("seconds", 5)), params)
        self._send_client(response.raw_head)

        sink = self._response_sink(kind, params, resp_framing)
        complete = _copy_body(self.upstream_reader, sink, resp_framing)
        if not complete or upstream_close:
            self._drop_upstream()
            return False
        return not client_close

    def _response_sink(self, kind: str | None, params: dict[str, Any], framing: tuple[str, int]) -> _Sink:
        stop = self.proxy._stop
        if kind == "reset_response":

            def cut_download() -> None:
                _run_action(params)
                self._reset_client()
                self._drop_upstream(reset=True)
                raise _Abort("response body cut")

            return _Sink(self.client, limit=int(params.get("after_bytes", 0)), on_limit=cut_download, stop=stop)
        if kind == "truncate":
            keep = _body_offset(params, "keep_bytes", framing)

            def end_early() -> None:
                _run_action(params)
                _finish(self.client)
                self.client_closed = True
                self._drop_upstream(reset=True)
                raise _Abort("response body truncated")

            return _Sink(self.client, limit=keep, on_limit=end_early, stop=stop)
        if kind == "stall":
            seconds = float(params.get("seconds", 5))
            after = params.get("after_bytes")
            if after is not None:
                return _Sink(self.client, limit=int(after), on_limit=lambda: self._stall(seconds, params), stop=stop)
        if kind == "corrupt" and not params.get("request"):
            return _Sink(self.client, flip_at=_body_offset(params, "at_byte", framing), stop=stop)
        if kind == "trickle":
            trickle = (int(params.get("chunk", 1)), float(params.get("interval", 0.05)))
            return _Sink(self.client, trickle=trickle, stop=stop)
        return _Sink(self.client, stop=stop)

    def _send_client(self, data: bytes) -> None:
        try:
            self.client.sendall(data)
        except OSError as exc:
            raise _Closed(str(exc)) from exc

    def _send_canned(self, method: str, kind: str, params: dict[str, Any]) -> bool:
        """Send a made-up answer; return False if the connection must close."""
        _run_action(params)
        status, content_type, body, headers = _canned_response(kind, params)
        close = bool(params.get("close", False))
        lines = [f"HTTP/1.1 {status} {REASONS.get(status, 'Error')}"]
        lines.append(f"Content-Type: {content_type}")
        lines.append(f"Content-Length: {len(body)}")
        lines.extend(f"{name}: {value}" for name, value in headers.items())
        lines.append("Connection: close" if close else "Connection: keep-alive")
        head = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
        self._send_client(head if method == "HEAD" else head + body)
        return not close


def _run_action(params: dict[str, Any]) -> None:
    """Call the fault's ``action`` hook, if it has one, as the fault fires."""
    action = params.get("action")
    if action is not None:
        action()


class _NullSocket:
    """Stands in for a socket when a body must be read and thrown away."""

    def sendall(self, data: bytes) -> None:
        pass


def _envelope(code: int, message: str) -> bytes:
    return json.dumps({"code": code, "message": message, "data": None, "traceId": None}).encode()


def _canned_response(kind: str, params: dict[str, Any]) -> tuple[int, str, bytes, dict[str, str]]:
    headers = {str(k): str(v) for k, v in dict(params.get("headers", {})).items()}
    json_type = "application/json; charset=utf-8"
    if kind == "error":
        status = int(params.get("status", 503))
        if params.get("retry_after") is not None:
            headers["Retry-After"] = str(params["retry_after"])
        if params.get("plain", False):
            body = f"{status} {REASONS.get(status, 'Error')}\n".encode()
            return status, "text/plain; charset=utf-8", params.get("body", body), headers
        body = _envelope(
            int(params.get("code", 250102)),
            str(params.get("message", "System service is busy, please try again later")),
        )
        return status, json_type, params.get("body", body), headers
    if kind == "throttle":
        headers["Retry-After"] = str(params.get("retry_after", 1))
        body = _envelope(250129, "resource requests reached rate limit:[faultproxy]")
        return 429, json_type, params.get("body", body), headers
    if kind == "unauthorized":
        headers.setdefault("WWW-Authenticate", 'Basic realm="Authentication Required"')
        body = _envelope(250114, "Failed to authenticate: Authorization value check failed")
        return 401, json_type, params.get("body", body), headers
    if kind == "html":
        status = int(params.get("status", 502))
        page = HTML_PAGE.format(status=status, reason=REASONS.get(status, "Error")).encode()
        return status, "text/html", params.get("body", page), headers
    if kind == "invalid_json":
        status = int(params.get("status", 200))
        body = params.get("body", b'{"code": 0, "message": null, "data": {"fullPath": "/trunc')
        return status, json_type, body, headers
    raise ValueError(f"not a canned fault: {kind}")


def wait_for(predicate: Callable[[], bool], timeout: float = 5.0, interval: float = 0.01) -> bool:
    """Poll ``predicate`` until it is true or ``timeout`` passes; return its last value."""
    deadline = time.monotonic() + timeout
    while True:
        if predicate():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)
