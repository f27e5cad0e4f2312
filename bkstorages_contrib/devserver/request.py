"""The request as handlers see it, and the parsing of values taken from it."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .accounts import ANONYMOUS, Principal
from .envelope import ApiError

Environ = dict[str, Any]

MAX_DEPTH = 64
MAX_NAME = 1024
LONG_MAX = 2**63 - 1
INT_MAX = 2**31 - 1
TRUE_WORDS = {"true", "on", "yes", "1"}
FALSE_WORDS = {"false", "off", "no", "0"}
HEX_DIGITS = frozenset("0123456789abcdefABCDEF")


@dataclass
class Request:
    environ: Environ
    method: str
    path: str
    query: dict[str, list[str]]
    zone: dt.tzinfo
    #: False when the percent-decoded path is not UTF-8.
    valid_path: bool = True
    principal: Principal = ANONYMOUS
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    #: Headers added to whatever the response turns out to be (CORS on the token routes).
    always_headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def user(self) -> str:
        return self.principal.name

    def header(self, name: str) -> str | None:
        key = name.upper().replace("-", "_")
        if key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            return self.environ.get(key)
        value = self.environ.get("HTTP_" + key)
        return None if value is None else str(value)

    def raw_headers(self) -> list[tuple[str, str]]:
        """Headers with their original names (WSGI folds ``-`` and ``_`` together)."""
        raw = self.environ.get("bkrepo.raw_headers")
        if raw is not None:
            return list(raw)
        return [
            (key[5:].replace("_", "-"), str(value)) for key, value in self.environ.items() if key.startswith("HTTP_")
        ]

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def body(self) -> BinaryIO:
        body: BinaryIO = self.environ["wsgi.input"]
        return body

    def body_length(self) -> int | None:
        """Declared length; None when the server says the body is terminated (chunked)."""
        raw = self.environ.get("CONTENT_LENGTH") or ""
        if raw.strip():
            try:
                length = int(raw)
            except ValueError:
                raise ApiError(250106) from None
            if length < 0:
                raise ApiError(250106)
            return length
        if self.environ.get("wsgi.input_terminated"):
            return None
        return 0

    def read_json(self, limit: int = 4 * 1024 * 1024) -> Any:
        length = self.body_length()
        data = self.body().read(limit + 1) if length is None else self.body().read(min(length, limit + 1))
        if len(data) > limit:
            raise ApiError(250106)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(250106) from None

    def read_json_object(self) -> dict[str, Any]:
        """The body as a JSON object; 250106 for anything else."""
        body = self.read_json()
        if not isinstance(body, dict):
            raise ApiError(250106)
        return body


def normalize_path(raw: str) -> str:
    """bk-repo's ``PathUtils.normalizeFullPath``: ``/a/b`` form, 251011 for bad input."""
    names: list[str] = []
    for segment in raw.replace("\\", "/").split("/"):
        name = segment.strip()
        if not name or name == ".":
            continue
        if name == "..":
            if names:
                names.pop()
            continue
        if len(name) > MAX_NAME or "\x00" in name:
            raise ApiError(251011, name)
        names.append(name)
    if len(names) > MAX_DEPTH:
        raise ApiError(251011, raw)
    return "/" + "/".join(names)


def is_sub_path(path: str, parent: str) -> bool:
    parent = parent.rstrip("/") + "/"
    return path == parent.rstrip("/") or path.startswith(parent) or parent == "/"


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ApiError(250105, name)


def parse_int(value: str, name: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ApiError(250105, name) from None
    if abs(number) > LONG_MAX:
        raise ApiError(250105, name)
    return number


def uri_decode(text: str) -> str:
    """Spring's ``UriUtils.decode(text, UTF_8)``, which bk-repo applies to metadata.

    ``%XX`` escapes become bytes read as UTF-8 (invalid sequences become U+FFFD),
    ``+`` stays a plus, other characters stand for their low byte; a broken
    escape (``%ZZ``, a trailing ``%4``) raises ``ValueError``.
    """
    if "%" not in text:
        return text
    decoded = bytearray()
    index = 0
    while index < len(text):
        char = text[index]
        if char == "%":
            pair = text[index + 1 : index + 3]
            if len(pair) < 2 or not all(digit in HEX_DIGITS for digit in pair):
                raise ValueError(f"Invalid encoded sequence {text[index:]!r}")
            decoded.append(int(pair, 16))
            index += 3
        else:
            decoded.append(ord(char) & 0xFF)
            index += 1
    return decoded.decode("utf-8", errors="replace")


def header_decode(value: str) -> str:
    """A ``X-BKREPO-META-{key}`` value: decoded, or kept as sent when it does not decode."""
    try:
        return uri_decode(value)
    except ValueError:
        return value
