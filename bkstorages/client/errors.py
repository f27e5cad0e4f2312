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
    EndpointConfigurationError,
    IntegrityError,
    InvalidResponseError,
    ObjectAlreadyExists,
    ObjectIsFolderError,
    ObjectNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestError,
    ServerError,
    ShareDisabledError,
    SigningNotPermittedError,
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
CODE_SHARE_DISABLED = 251037
CODE_LIST_DIR_NOT_ALLOWED = 251202
#: bk-repo's route that signs temporary links.
TEMPORARY_URL_ROUTE = "/generic/temporary/url/create"

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


def _error_class(status: int, code: int | None, path: str = "") -> type[RequestError]:
    if code == CODE_SHARE_DISABLED:
        return ShareDisabledError
    if status == 403 and path == TEMPORARY_URL_ROUTE:
        return SigningNotPermittedError
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
    if code == CODE_LIST_DIR_NOT_ALLOWED:
        message = f"this is a folder, not a file (its repository does not list folders: {message})"
        return ObjectIsFolderError(message, status=status, code=code, method=method, path=path)
    if code == CODE_SHARE_DISABLED:
        message = (
            f"the project has sharing switched off, so bk-repo signs no links: {message}; switch sharing on "
            "for the project in bk-repo, or serve the files from a public repository"
        )
    elif status == 403 and path == TEMPORARY_URL_ROUTE:
        message = f"signing a link needs WRITE permission on the file, which this user lacks: {message}"
    return _error_class(status, code, path)(message, code, response, status=status, method=method, path=path)


def not_bkrepo_json(
    status: int, content: bytes, *, method: str, path: str, response: requests.Response
) -> RequestError:
    """The error for an answer whose body is not bk-repo's JSON (a proxy's HTML page, broken JSON ...).

    A 404 of that kind is not a missing file: something other than bk-repo
    answered, so :class:`EndpointConfigurationError` names the endpoint.
    """
    text = " ".join(content[:2000].decode("utf-8", errors="replace").split())
    excerpt = text[:EXCERPT_LENGTH] + ("..." if len(text) > EXCERPT_LENGTH else "")
    if status == 404:
        return wrong_endpoint(response, method=method, path=path, excerpt=excerpt)
    cls = _error_class(status, None)
    if cls is RequestError:
        cls = InvalidResponseError
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
        if status == 404 and method != "HEAD":  # bk-repo's own 404 always has its envelope
            return wrong_endpoint(response, method=method, path=path)
        return error_for(status, None, "", method=method, path=path, response=response)
    payload = decode_envelope(body)
    if payload is None:
        return not_bkrepo_json(status, body, method=method, path=path, response=response)
    message = str(payload.get("message") or "")
    return error_for(status, envelope_code(payload), message, method=method, path=path, response=response)


def wrong_endpoint(response: requests.Response, *, method: str, path: str, excerpt: str = "") -> RequestError:
    """A 404 that bk-repo did not send: the endpoint (never a password or a token) is named."""
    url = response.url or ""
    endpoint = url.split(path, 1)[0] if path and path in url else url.split("?", 1)[0]
    what = f"a page that is not bk-repo's: {excerpt!r}" if excerpt else "an answer that is not bk-repo's"
    return EndpointConfigurationError(
        f"{endpoint} answered HTTP 404 with {what}; check BKREPO_ENDPOINT_URL, which must be the address "
        "of bk-repo's gateway (the part before /generic)",
        status=404,
        method=method,
        path=path,
        response=response,
    )


def is_bkrepo_head_404(response: requests.Response | None) -> bool:
    """A HEAD answer has no body; bk-repo's 404 still says it is JSON (its error envelope's type)."""
    content_type = "" if response is None else response.headers.get("Content-Type", "")
    return content_type.split(";", 1)[0].strip().lower() == "application/json"
