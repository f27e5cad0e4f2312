"""Redirect mode's second origin: file bodies behind signed, expiring URLs, like COS.

A bk-repo whose storage is COS with ``storage.redirect.enabled`` answers a
download with 302 to a presigned COS URL (``CosRedirectService``). In redirect
mode the dev server does the same: :meth:`RedirectOrigin.sign_url` makes the
``Location`` and :class:`RedirectOrigin` is the WSGI app that serves it, on a
second listening port of the same kind of server. A target needs no
credentials (any sent are ignored), honours ``Range`` and answers ``403`` once
expired or when its signature does not match, as COS does.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import mimetypes
import secrets
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterable
from typing import Any

from .envelope import ApiError
from .handlers.generic import attachment, resolve_range
from .request import Request
from .responses import STATUS_TEXT, FileRange, Response, empty
from .store import Node, Store

#: How long a signed target stays valid unless told otherwise (bk-repo's redirectUrlExpireTime default).
DEFAULT_EXPIRE_SECONDS = 600
#: The response-* parameters a target carries, all signed.
SIGNED_PARAMS = ("response-cache-control", "response-content-type", "response-content-disposition")


class RedirectOrigin:
    """The signer and the WSGI app of the second origin; ``base_url`` is set once it listens."""

    def __init__(self, store: Store, *, expire_seconds: int = DEFAULT_EXPIRE_SECONDS) -> None:
        self.store = store
        self.expire_seconds = expire_seconds
        self.base_url = ""
        self._key = secrets.token_bytes(32)
        self._lock = threading.Lock()

    def rotate_key(self) -> None:
        """Every target signed so far now answers 403, like an expired one."""
        with self._lock:
            self._key = secrets.token_bytes(32)

    def _signature(self, sha256: str, expires: str, params: dict[str, str]) -> str:
        message = "\n".join([sha256, expires, *(params.get(name, "") for name in SIGNED_PARAMS)])
        with self._lock:
            key = self._key
        return hmac.new(key, message.encode(), hashlib.sha256).hexdigest()

    def sign_url(self, node: Node, request: Request) -> str:
        """The presigned target of ``node``'s content, with the headers a download would carry."""
        assert node.sha256 is not None
        mime = mimetypes.guess_type(node.name, strict=False)[0] or "application/octet-stream"
        params = {
            "response-cache-control": node.metadata.get("Cache-Control")
            or node.metadata.get("cache-control")
            or "no-cache",
            "response-content-type": f"{mime};charset=utf-8",
        }
        if (request.param("preview") or "").strip().lower() != "true" and node.repo != "report":
            params["response-content-disposition"] = attachment(node.name)[1]
        expires = str(int(time.time()) + self.expire_seconds)
        query = urllib.parse.urlencode({**params, "expires": expires})
        return f"{self.base_url}/{node.sha256}?{query}&sign={self._signature(node.sha256, expires, params)}"

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method = str(environ.get("REQUEST_METHOD", "GET")).upper()
        query = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        request = Request(environ, method, str(environ.get("PATH_INFO", "")), query, dt.timezone.utc)
        response = self.serve(request)
        start_response(f"{response.status} {STATUS_TEXT.get(response.status, 'Unknown')}", response.headers)
        return response.body if method != "HEAD" or isinstance(response.body, FileRange) else [b""]

    def serve(self, request: Request) -> Response:
        if request.method not in ("GET", "HEAD"):
            return refusal(405, "MethodNotAllowed", [("Allow", "GET, HEAD")])
        sha256 = request.path.strip("/")
        expires = request.param("expires") or ""
        params = {name: request.param(name) or "" for name in SIGNED_PARAMS if request.param(name) is not None}
        expected = self._signature(sha256, expires, params)
        if not hmac.compare_digest(expected, request.param("sign") or ""):
            return refusal(403, "SignatureDoesNotMatch")
        if not expires.isdigit() or int(expires) < time.time():
            return refusal(403, "AccessDenied")
        return self.send(request, sha256, params)

    def send(self, request: Request, sha256: str, params: dict[str, str]) -> Response:
        try:
            file = open(self.store.blobs.path(sha256), "rb")  # noqa: SIM115 - closed by the server
        except (FileNotFoundError, ValueError):
            return refusal(404, "NoSuchKey")
        size = file.seek(0, 2)
        try:
            start, length, partial = resolve_range(request, size)
            if partial and start >= size:  # an object store refuses a range past the end
                raise ApiError(250120)
        except ApiError:
            file.close()
            return refusal(416, "InvalidRange", [("Content-Range", f"bytes */{size}")])
        headers = [
            ("Content-Type", params.get("response-content-type", "application/octet-stream")),
            ("Content-Length", str(length)),
            ("Accept-Ranges", "bytes"),
            ("Cache-Control", params.get("response-cache-control", "no-cache")),
        ]
        if partial:
            headers.append(("Content-Range", f"bytes {start}-{start + length - 1 if size else -1}/{size}"))
        if "response-content-disposition" in params:
            headers.append(("Content-Disposition", params["response-content-disposition"]))
        if request.method == "HEAD":
            file.close()
            return empty(206 if partial else 200, headers)
        return Response(206 if partial else 200, headers, FileRange(file, start, length))


def refusal(status: int, code: str, headers: list[tuple[str, str]] | None = None) -> Response:
    """An object store's XML error."""
    body = f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code></Error>'.encode()
    base = [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    return Response(status, base + (headers or []), [body])
