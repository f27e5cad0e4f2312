"""What a handler answers with: a status, headers and a WSGI body."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import BinaryIO

STATUS_TEXT = {
    200: "OK",
    206: "Partial Content",
    301: "Moved Permanently",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
}


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: Iterable[bytes]


#: What Tomcat's output buffer never writes into a header value: controls other than TAB, DEL,
#: and characters beyond Latin-1 (``Http11OutputBuffer.write(MessageBytes)``).
UNSAFE_IN_HEADER = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]|[^\x00-\xff]")


def header_value(value: str) -> str:
    """``value`` as Tomcat writes it: each control a space, each non-Latin-1 character ``?``.

    Every response header goes through here, so no byte a client sent (metadata
    stored as ``Cache-Control``, a preflight's header list, a query string) can
    end a header line or start a new one.
    """
    if UNSAFE_IN_HEADER.search(value) is None:
        return value
    return UNSAFE_IN_HEADER.sub(lambda found: " " if found.group() <= "\x7f" else "?", value)


def empty(status: int, headers: list[tuple[str, str]]) -> Response:
    """A response without a body (the headers still describe the body a GET would get)."""
    return Response(status, headers, [b""])


class FileRange:
    """A WSGI body that sends ``length`` bytes of ``file`` from ``offset``.

    Any WSGI server can iterate it; the dev server's own runner recognises it
    and uses ``socket.sendfile`` instead.
    """

    block_size = 1024 * 1024

    def __init__(self, file: BinaryIO, offset: int, length: int) -> None:
        self.file = file
        self.offset = offset
        self.length = length

    def __iter__(self) -> Iterator[bytes]:
        self.file.seek(self.offset)
        remaining = self.length
        while remaining > 0:
            chunk = self.file.read(min(self.block_size, remaining))
            if not chunk:
                break
            remaining -= len(chunk)
            yield chunk

    def close(self) -> None:
        self.file.close()
