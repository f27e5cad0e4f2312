"""bk-repo's JSON envelope, its error codes and the HTTP status each is sent with.

Every answer with a JSON body is ``{"code", "message", "data", "traceId"}``;
an error carries one of the codes below, its message template filled in with
the error's parameters, and ``data: null``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from .dates import zone_offset
from .responses import Response

if TYPE_CHECKING:
    from .request import Request

JSON_TYPE = "application/json; charset=utf-8"

#: code -> (HTTP status, message template), as bk-repo's message codes and exceptions pair them.
ERRORS: dict[int, tuple[int, str]] = {
    250102: (500, "System service is busy, please try again later"),
    250103: (400, "Parameter [{0}] is missing"),
    250104: (400, "Parameter [{0}] should not be empty"),
    250105: (400, "Parameter [{0}] is invalid"),
    250106: (400, "Invalid request content"),
    250112: (405, "Method not allowed, reason: {0}"),
    250113: (403, "Access denied: {0}"),
    250114: (401, "Failed to authenticate: {0}"),
    250118: (400, "Header [{0}] is missing"),
    250120: (416, "Requested range not satisfiable"),
    250130: (404, "Request url[{0}] not found"),
    # The auth service's codes (module 2).
    250217: (400, "project not exist"),
    250221: (400, "repo not exist"),
    250236: (400, "user for auth not have permission"),
    251003: (400, "Failed to check artifact {0} digest"),
    251004: (400, "Project [{0}] not found"),
    251005: (400, "Project [{0}] existed"),
    251006: (404, "Repository [{0}] not found"),
    251007: (400, "Repository [{0}] existed"),
    251008: (400, "Repository is not empty"),
    251009: (400, "Folder is not empty"),
    # 404 from the generic download and delete; node detail answers it with 400.
    251010: (404, "Node [{0}] not found"),
    251011: (400, "Invalid node path [{0}]"),
    251012: (400, "Node [{0}] existed"),
    251013: (400, "Node [{0}] conflict"),
    251014: (400, "Node list count too large"),
    251021: (400, "Temporary token invalid: [{0}]"),
    251022: (400, "Temporary token expired"),
    251024: (404, "Artifact file data not found"),
    251037: (400, "Share feature is disabled for project [{0}]"),
    251201: (400, "Upload id[{0}] not found"),
    251202: (403, "Repository[{0}] does not allow listing directories[{1}]"),
    251212: (400, "Chunked artifact broken"),
}


class ApiError(Exception):
    """A bk-repo error: the numeric code, its message parameters, and the HTTP status
    (the code's usual one unless ``status`` is given)."""

    def __init__(
        self, code: int, *params: object, status: int | None = None, headers: list[tuple[str, str]] | None = None
    ) -> None:
        usual_status, message = ERRORS[code]
        for index, param in enumerate(params):
            message = message.replace("{%d}" % index, str(param))  # noqa: UP031 - bk-repo's placeholders
        super().__init__(message)
        self.status = status or usual_status
        self.code = code
        self.message = message
        self.headers = headers or []


def unauthenticated(reason: str = "Unauthorized") -> ApiError:
    return ApiError(250114, reason, headers=[("WWW-Authenticate", 'Basic realm="Authentication Required"')])


def envelope(request: Request, data: Any, status: int = 200, code: int = 0, message: str | None = None) -> Response:
    """The JSON answer, with the request's extra response headers."""
    payload = {"code": code, "message": message, "data": data, "traceId": None}
    body = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
    headers = [
        ("Content-Type", JSON_TYPE),
        ("Content-Length", str(len(body))),
        ("X-BKREPO-Time-Zone", zone_offset(request.zone)),
        *request.response_headers,
    ]
    return Response(status, headers, [body])


def error_envelope(request: Request, error: ApiError) -> Response:
    request.response_headers = [*error.headers]
    return envelope(request, None, status=error.status, code=error.code, message=error.message)
