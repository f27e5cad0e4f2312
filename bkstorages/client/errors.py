"""bk-repo's answers turned into exceptions: the envelope decoder and the one mapping.

Every error the client raises for an answer is built by :func:`error_for`
(HTTP status + bk-repo code + message), whether the answer was an HTTP error
or a successful status carrying an error envelope.
"""

from __future__ import annotations

import json
from typing import Any

import requests

from bkstorages.exceptions import (
    SHOWN_LENGTH,
    AuthenticationError,
    BKStorageError,
    IntegrityError,
    InvalidResponseError,
    ObjectAlreadyExists,
    ObjectNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestError,
    ServerError,
    shorten,
)

# bk-repo error codes this client acts on (see the protocol notes in the docs).
CODE_NODE_NOT_FOUND = 251010
CODE_NODE_EXISTED = 251012
#: A folder is in the way, or an ancestor is a file; a copy or move without overwrite onto a file.
CODE_NODE_CONFLICT = 251013
CODE_DIGEST_CHECK_FAILED = 251003
CODE_REPOSITORY_NOT_FOUND = 251006
CODE_ARTIFACT_DATA_NOT_FOUND = 251024
CODE_UPLOAD_ID_NOT_FOUND = 251201

EXCERPT_LENGTH = 200
_NOT_FOUND_CODES = frozenset({CODE_NODE_NOT_FOUND, CODE_ARTIFACT_DATA_NOT_FOUND, CODE_REPOSITORY_NOT_FOUND})
_CREDENTIALS_HINT = "check BKREPO_USERNAME and BKREPO_PASSWORD"
_DEFAULT_MESSAGES = {
    401: f"authentication failed: {_CREDENTIALS_HINT}",
    403: "permission denied",
    404: "not found",
}


def decode_envelope(content: bytes) -> dict[str, Any] | None:
    """bk-repo's JSON envelope (a dict with a ``code``), or None when the body is not one."""
    try:
        payload = json.loads(content)
    except ValueError:
        return None
    return payload if isinstance(payload, dict) and "code" in payload else None


def envelope_code(payload: dict[str, Any]) -> int | None:
    try:
        return int(payload["code"])
    except (TypeError, ValueError):
        return None


def _error_class(status: int, code: int | None) -> type[RequestError]:
    if code in (CODE_NODE_EXISTED, CODE_NODE_CONFLICT):
        return ObjectAlreadyExists
    if code in _NOT_FOUND_CODES or status == 404:
        return ObjectNotFoundError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return RequestError


def error_for(
    status: int,
    code: int | None,
    message: str,
    *,
    method: str,
    path: str,
    response: requests.Response | None = None,
) -> BKStorageError:
    """The exception for an answer with this HTTP status, bk-repo code and message.

    bk-repo's messages often repeat the path (``Node [...] not found``): a long
    one is shortened here, so no error carries a whole huge name.
    """
    message = shorten(message, 2 * SHOWN_LENGTH)
    if not message:
        reason = response.reason if response is not None and status >= 400 else None
        message = _DEFAULT_MESSAGES.get(status) or reason or "request failed"
    elif status == 401:
        message = f"{message} ({_CREDENTIALS_HINT})"
    if code == CODE_DIGEST_CHECK_FAILED:
        return IntegrityError(message, status=status, code=code, method=method, path=path)
    return _error_class(status, code)(message, code, response, status=status, method=method, path=path)


def not_bkrepo_json(
    status: int, content: bytes, *, method: str, path: str, response: requests.Response
) -> RequestError:
    """The error for an answer whose body is not bk-repo's JSON (a proxy's HTML page, broken JSON ...)."""
    cls = _error_class(status, None)
    if cls is RequestError:
        cls = InvalidResponseError
    text = " ".join(content[:2000].decode("utf-8", errors="replace").split())
    excerpt = text[:EXCERPT_LENGTH] + ("..." if len(text) > EXCERPT_LENGTH else "")
    return cls(
        f"bk-repo answered HTTP {status} with a body that is not bk-repo JSON: {excerpt!r}",
        status=status,
        method=method,
        path=path,
        response=response,
    )


def error_from_response(response: requests.Response, method: str, path: str) -> BKStorageError:
    """Turn an error answer (its body already read) into the matching :class:`BKStorageError` subclass."""
    status = response.status_code
    body = b"" if method == "HEAD" else response.content
    if not body:
        return error_for(status, None, "", method=method, path=path, response=response)
    payload = decode_envelope(body)
    if payload is None:
        return not_bkrepo_json(status, body, method=method, path=path, response=response)
    message = str(payload.get("message") or "")
    return error_for(status, envelope_code(payload), message, method=method, path=path, response=response)
