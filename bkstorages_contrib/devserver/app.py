"""The dev server's WSGI application: bk-repo's routes, auth, envelopes and error codes.

It follows ``bkrepo-protocol.md`` (what real bk-repo does) closely enough
that a client which works here also works against bk-repo. It is a plain
WSGI callable, so any WSGI server can run it; ``server.py`` has a fast
threaded runner that also turns :class:`FileRange` responses into
``sendfile`` calls.

Routes (``{p}``/``{r}`` are project and repository, ``{path}`` the artifact path):

==============================================  ==========================================
``PUT|GET|HEAD|DELETE /generic/{p}/{r}/{path}``  upload (or a block part), download, delete
``POST|PUT|DELETE|GET /generic/block/...``       block upload start, complete, abort, list
``GET /generic/detail/{p}/{r}/{path}``           node detail
``POST /generic/temporary/url/create``           temporary URLs (``token/create``: tokens)
``GET /generic/temporary/download/...?token=``   download with a token (``PUT .../upload/``)
``GET /repository/api/node/page/...``            a page of a folder's nodes
``GET /repository/api/node/detail/...``          node detail
``GET /repository/api/repo/info/{p}/{r}[/{t}]``  repository info (``public``)
``POST /repository/api/repo/create``             create a repository
==============================================  ==========================================

Standard library only, and nothing from ``bkstorages``: the dev server is an
independent implementation of the protocol, so each checks the other.
"""

from __future__ import annotations

import base64
import binascii
import contextlib
import datetime as dt
import email.utils
import hmac
import html
import json
import logging
import mimetypes
import re
import shutil
import time
import urllib.parse
import zipfile
import zoneinfo
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any, BinaryIO

from .store import (
    BlocksBroken,
    BodyIncomplete,
    FolderNotEmpty,
    Node,
    NodeConflict,
    NodeExists,
    NodeNotFound,
    Repo,
    RepoExists,
    Store,
    Token,
    UploadNotFound,
)

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Environ = dict[str, Any]

ANONYMOUS = "anonymous"
READ, DOWNLOAD, WRITE, DELETE, MANAGE = "READ", "DOWNLOAD", "WRITE", "DELETE", "MANAGE"

MESSAGES = {
    250102: "System service is busy, please try again later",
    250103: "Parameter [{0}] is missing",
    250104: "Parameter [{0}] should not be empty",
    250105: "Parameter [{0}] is invalid",
    250106: "Invalid request content",
    250112: "Method not allowed, reason: {0}",
    250113: "Access denied: {0}",
    250114: "Failed to authenticate: {0}",
    250118: "Header [{0}] is missing",
    250120: "Requested range not satisfiable",
    250130: "Request url[{0}] not found",
    251003: "Failed to check artifact {0} digest",
    251004: "Project [{0}] not found",
    251006: "Repository [{0}] not found",
    251007: "Repository [{0}] existed",
    251009: "Folder is not empty",
    251010: "Node [{0}] not found",
    251011: "Invalid node path [{0}]",
    251012: "Node [{0}] existed",
    251013: "Node [{0}] conflict",
    251014: "Node list count too large",
    251021: "Temporary token invalid: [{0}]",
    251022: "Temporary token expired",
    251024: "Artifact file data not found",
    251201: "Upload id[{0}] not found",
    251212: "Chunked artifact broken",
}

#: Repository names bk-repo accepts (``RepositoryServiceHelper.REPO_NAME_PATTERN``).
REPO_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9.\-_]{1,63}")
RANGE = re.compile(r"bytes=(\d+)?-(\d+)?")
MAX_DEPTH = 64
MAX_NAME = 1024
MAX_PAGE_SIZE = 100_000
#: bk-repo's limits for downloading a folder as a zip (251014 beyond them).
ZIP_MAX_FILES = 1024
ZIP_MAX_BYTES = 10 * 1024**3
LONG_MAX = 2**63 - 1
TRUE_WORDS = {"true", "on", "yes", "1"}
FALSE_WORDS = {"false", "off", "no", "0"}
#: Node fields that ``sortProperty`` may name, and the store columns behind them.
SORT_FIELDS = {
    "id": "id",
    "name": "name",
    "fullPath": "full_path",
    "path": "parent",
    "size": "size",
    "folder": "folder",
    "sha256": "sha256",
    "md5": "md5",
    "createdBy": "created_by",
    "createdDate": "created_ms",
    "lastModifiedBy": "modified_by",
    "lastModifiedDate": "modified_ms",
}
JSON_TYPE = "application/json; charset=utf-8"
TOKEN_TYPES = {"UPLOAD", "DOWNLOAD", "ALL"}


class ApiError(Exception):
    """A bk-repo error: HTTP status, numeric code and the message parameters."""

    def __init__(self, status: int, code: int, *params: object, headers: list[tuple[str, str]] | None = None) -> None:
        template = MESSAGES.get(code, "")
        message = template
        for index, param in enumerate(params):
            message = message.replace("{%d}" % index, str(param))  # noqa: UP031 - bk-repo's placeholders
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or []


def unauthenticated(reason: str = "Unauthorized") -> ApiError:
    return ApiError(401, 250114, reason, headers=[("WWW-Authenticate", 'Basic realm="Authentication Required"')])


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


# -- small helpers ------------------------------------------------------------


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
            raise ApiError(400, 251011, name)
        names.append(name)
    if len(names) > MAX_DEPTH:
        raise ApiError(400, 251011, raw)
    return "/" + "/".join(names)


def is_sub_path(path: str, parent: str) -> bool:
    parent = parent.rstrip("/") + "/"
    return path == parent.rstrip("/") or path.startswith(parent) or parent == "/"


def parse_zone(text: str | None) -> dt.tzinfo | None:
    """A zone from ``X-BKREPO-Time-Zone``: an id, ``+08:00``/``+0800``/``Z``, or hours like ``8.5``."""
    if not text or not text.strip():
        return None
    text = text.strip()
    with contextlib.suppress(Exception):
        if text.upper() in {"UTC", "GMT", "Z"}:
            return dt.timezone.utc
        return zoneinfo.ZoneInfo(text)
    match = re.fullmatch(r"([+-])(\d{1,2})(?::?(\d{2}))?(?::?(\d{2}))?", text)
    if match:
        sign = -1 if match.group(1) == "-" else 1
        hours, minutes, seconds = (int(match.group(i) or 0) for i in (2, 3, 4))
        if hours <= 18 and minutes < 60 and seconds < 60:
            return dt.timezone(sign * dt.timedelta(hours=hours, minutes=minutes, seconds=seconds))
    match = re.fullmatch(r"([+-]?)(\d+(?:\.\d+)?)", text)
    if match:
        hours_f = float(match.group(2)) * (-1 if match.group(1) == "-" else 1)
        if abs(hours_f) <= 18:
            return dt.timezone(dt.timedelta(seconds=int(hours_f * 3600)))
    return None


def zone_offset(zone: dt.tzinfo) -> str:
    """``+HHMM`` for the zone's current offset."""
    offset = dt.datetime.now(zone).utcoffset() or dt.timedelta(0)
    total = int(offset.total_seconds())
    sign = "-" if total < 0 else "+"
    total = abs(total)
    return f"{sign}{total // 3600:02d}{total % 3600 // 60:02d}"


def iso_local(ms: int | None, zone: dt.tzinfo) -> str | None:
    """Java's ``ISO_DATE_TIME`` of a ``LocalDateTime``: no zone, fraction trimmed."""
    if ms is None:
        return None
    moment = dt.datetime.fromtimestamp(ms // 1000, zone).replace(tzinfo=None)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S")
    millis = ms % 1000
    if millis:
        text += "." + f"{millis:03d}".rstrip("0")
    return text


def parse_bool(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE_WORDS:
        return True
    if lowered in FALSE_WORDS:
        return False
    raise ApiError(400, 250105, name)


def parse_int(value: str, name: str) -> int:
    try:
        number = int(value.strip())
    except ValueError:
        raise ApiError(400, 250105, name) from None
    if abs(number) > LONG_MAX:
        raise ApiError(400, 250105, name)
    return number


# -- the request ------------------------------------------------------------------


@dataclass
class Request:
    environ: Environ
    method: str
    path: str
    query: dict[str, list[str]]
    zone: dt.tzinfo
    user: str = ANONYMOUS
    platform: bool = False
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    #: Headers added to whatever the response turns out to be (CORS on the token routes).
    always_headers: list[tuple[str, str]] = field(default_factory=list)

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

    def body_length(self) -> int | None:
        """Declared length; None when the server says the body is terminated (chunked)."""
        raw = self.environ.get("CONTENT_LENGTH") or ""
        if raw.strip():
            try:
                length = int(raw)
            except ValueError:
                raise ApiError(400, 250106) from None
            if length < 0:
                raise ApiError(400, 250106)
            return length
        if self.environ.get("wsgi.input_terminated"):
            return None
        return 0

    def read_json(self, limit: int = 4 * 1024 * 1024) -> Any:
        length = self.body_length()
        body: BinaryIO = self.environ["wsgi.input"]
        data = body.read(limit + 1) if length is None else body.read(min(length, limit + 1))
        if len(data) > limit:
            raise ApiError(400, 250106)
        try:
            return json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise ApiError(400, 250106) from None


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: Iterable[bytes]


STATUS_TEXT = {
    200: "OK",
    206: "Partial Content",
    302: "Found",
    400: "Bad Request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not Found",
    405: "Method Not Allowed",
    416: "Requested Range Not Satisfiable",
    500: "Internal Server Error",
}


class DevServerApp:
    """The WSGI application. ``generic_domain`` (e.g. ``127.0.0.1:8765/generic``)
    is where temporary URLs point unless the create request names a ``host``;
    by default it is the request's own ``Host`` plus ``/generic``."""

    def __init__(
        self,
        store: Store,
        *,
        generic_domain: str | None = None,
        time_zone: dt.tzinfo | None = None,
        platform_accounts: dict[str, str] | None = None,
    ) -> None:
        self.store = store
        self.platform_accounts = dict(platform_accounts or {})
        self.generic_domain = generic_domain
        self.zone: dt.tzinfo = time_zone or dt.datetime.now().astimezone().tzinfo or dt.timezone.utc

    # -- WSGI entry -----------------------------------------------------------

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        zone = parse_zone(environ.get("HTTP_X_BKREPO_TIME_ZONE")) or self.zone
        raw_path = environ.get("PATH_INFO", "") or "/"
        try:
            path = raw_path.encode("latin-1").decode("utf-8", errors="replace")
        except UnicodeEncodeError:
            path = raw_path
        request = Request(
            environ=environ,
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path,
            query=urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            zone=zone,
        )
        try:
            response = self.dispatch(request)
        except ApiError as error:
            response = self.error_response(request, error)
        except (BodyIncomplete, ConnectionError):
            # The client went away mid-body: nothing was stored; tell the runner to hang up.
            environ["bkrepo.close_connection"] = True
            response = self.error_response(request, ApiError(400, 250106))
        except Exception:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
            response = self.error_response(request, ApiError(500, 250102))
        headers = response.headers + request.always_headers
        if request.method == "HEAD" and not isinstance(response.body, FileRange):
            response.body = [b""]
        start_response(f"{response.status} {STATUS_TEXT.get(response.status, 'Unknown')}", headers)
        return response.body

    def envelope(
        self, request: Request, data: Any, status: int = 200, code: int = 0, message: str | None = None
    ) -> Response:
        payload = {"code": code, "message": message, "data": data, "traceId": None}
        body = json.dumps(payload, ensure_ascii=False, indent=2).encode("utf-8")
        headers = [
            ("Content-Type", JSON_TYPE),
            ("Content-Length", str(len(body))),
            ("X-BKREPO-Time-Zone", zone_offset(request.zone)),
            *request.response_headers,
        ]
        return Response(status, headers, [body])

    def error_response(self, request: Request, error: ApiError) -> Response:
        request.response_headers = [*error.headers]
        return self.envelope(request, None, status=error.status, code=error.code, message=error.message)

    # -- routing --------------------------------------------------------------

    def dispatch(self, request: Request) -> Response:
        segments = request.path.split("/")
        head = segments[1] if len(segments) > 1 else ""
        if head == "generic":
            return self.route_generic(request, segments[2:])
        if head == "repository" and segments[2:3] == ["api"]:
            return self.route_repository(request, segments[3:])
        raise self.not_found(request)

    @staticmethod
    def not_found(request: Request) -> ApiError:
        return ApiError(404, 250130, request.path)

    @staticmethod
    def allow(request: Request, *methods: str) -> None:
        if "GET" in methods and "HEAD" not in methods:
            methods = (*methods, "HEAD")  # Spring answers HEAD wherever it answers GET
        if request.method not in methods:
            reason = f"Request method '{request.method}' is not supported"
            raise ApiError(405, 250112, reason, headers=[("Allow", ", ".join(methods))])

    @staticmethod
    def split_artifact(request: Request, rest: list[str]) -> tuple[str, str, str]:
        """``{project}/{repo}/{path...}`` -> project, repo, normalised full path."""
        if len(rest) < 2 or not rest[0] or not rest[1]:
            raise ApiError(404, 250130, request.path)
        return rest[0], rest[1], normalize_path("/".join(rest[2:]))

    def route_generic(self, request: Request, rest: list[str]) -> Response:
        first = rest[0] if rest else ""
        if first == "temporary" and len(rest) >= 2:
            kind = rest[1]
            if kind in ("url", "token") and rest[2:] == ["create"]:
                self.allow(request, "POST")
                return self.create_temporary(request, urls=kind == "url")
            if kind in ("download", "upload") and len(rest) >= 4:
                # Both routes are @CrossOrigin in bk-repo: any origin may use a temporary URL.
                methods = ("GET", "HEAD") if kind == "download" else ("PUT",)
                origin = request.header("Origin")
                if origin:
                    request.always_headers = [("Access-Control-Allow-Origin", "*"), ("Vary", "Origin")]
                if request.method == "OPTIONS" and origin and request.header("Access-Control-Request-Method"):
                    return self.preflight(request, methods)
                self.allow(request, *methods)
                return self.token_access(request, rest[2:], kind.upper())
        if first == "block" and len(rest) >= 3:
            self.allow(request, "POST", "PUT", "DELETE", "GET")
            return self.block(request, rest[1:])
        if first == "detail" and len(rest) >= 3:
            self.allow(request, "GET")
            project, repo, full_path = self.split_artifact(request, rest[1:])
            self.authenticate(request)
            self.permit(request, project, repo, READ)
            return self.envelope(request, self.node_detail(request, project, repo, full_path))
        if len(rest) >= 2 and rest[0] and rest[1]:
            self.allow(request, "PUT", "GET", "HEAD", "DELETE")
            project, repo, full_path = self.split_artifact(request, rest)
            self.authenticate(request)
            if request.method == "PUT":
                return self.generic_put(request, project, repo, full_path)
            if request.method == "DELETE":
                self.permit(request, project, repo, DELETE)
                return self.generic_delete(request, project, repo, full_path)
            self.permit(request, project, repo, DOWNLOAD)
            return self.download(request, project, repo, full_path, token_route=False)
        raise self.not_found(request)

    def route_repository(self, request: Request, rest: list[str]) -> Response:
        first = rest[0] if rest else ""
        if first == "node" and len(rest) >= 2:
            if rest[1] == "page" and len(rest) >= 4:
                self.allow(request, "GET")
                project, repo, full_path = self.split_artifact(request, rest[2:])
                self.authenticate(request)
                self.permit(request, project, repo, READ)
                return self.node_page(request, project, repo, full_path)
            if rest[1] == "detail" and len(rest) >= 4:
                self.allow(request, "GET")
                project, repo, full_path = self.split_artifact(request, rest[2:])
                self.authenticate(request)
                self.permit(request, project, repo, READ)
                return self.envelope(request, self.node_detail(request, project, repo, full_path))
        if first == "repo" and len(rest) >= 2:
            if rest[1] == "info" and 4 <= len(rest) <= 5 and rest[2] and rest[3]:
                self.allow(request, "GET")
                self.authenticate(request)
                return self.repo_info(request, rest[2], rest[3], rest[4] if len(rest) == 5 else None)
            if rest[1:] == ["create"]:
                self.allow(request, "POST")
                self.authenticate(request)
                return self.repo_create(request)
        raise self.not_found(request)

    # -- auth -----------------------------------------------------------------

    def authenticate(self, request: Request) -> None:
        """Sets ``request.user`` from Basic credentials; anonymous without any."""
        value = (request.header("Authorization") or "").strip()
        if not value:
            request.user = ANONYMOUS
            return
        scheme, _, credentials = value.partition(" ")
        if scheme == "Platform":
            self.authenticate_platform(request, credentials)
            return
        if scheme.lower() != "basic":
            # Other schemes (Bearer, Temporary, ...) are not emulated: treated as no credentials.
            request.user = ANONYMOUS
            return
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthenticated("Invalid authorization value.") from None
        username, colon, password = decoded.partition(":")
        if not colon:
            raise unauthenticated("Invalid authorization value.")
        if not self.store.check_user(username, password):
            raise unauthenticated("Authorization value check failed")
        request.user = username

    def authenticate_platform(self, request: Request, credentials: str) -> None:
        """``Platform base64(accessKey:secretKey)`` plus ``X-BKREPO-UID`` naming the acting user."""
        try:
            decoded = base64.b64decode(credentials.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            raise unauthenticated("Invalid authorization value") from None
        access_key, colon, secret_key = decoded.partition(":")
        if not colon:
            raise unauthenticated("Invalid authorization value")
        expected = self.platform_accounts.get(access_key)
        if expected is None or not hmac.compare_digest(expected.encode(), secret_key.encode()):
            raise unauthenticated("AccessKey/SecretKey check failed.")
        user = (request.header("X-BKREPO-UID") or "").strip() or ANONYMOUS
        if user != ANONYMOUS:
            self.store.ensure_platform_user(user)
        request.user = user
        request.platform = True

    def permit(self, request: Request, project: str, repo_name: str, action: str) -> Repo:
        return self.check_permission(request.user, project, repo_name, action, platform=request.platform)

    def check_permission(self, user: str, project: str, repo_name: str, action: str, *, platform: bool = False) -> Repo:
        """bk-repo's order: missing repo (404) first, then public read, then 401/403.

        Platform accounts are trusted: their requests pass whoever the acting user is.
        """
        repo = self.store.get_repo(project, repo_name)
        if repo is None:
            raise ApiError(404, 251006, repo_name)
        if action in (READ, DOWNLOAD) and repo.public:
            return repo
        if platform:
            return repo
        if user == ANONYMOUS:
            raise unauthenticated()
        if action in (READ, DOWNLOAD) or self.store.user_can_write(user):
            return repo
        raise ApiError(
            403, 250113, f"user[{user}] does not have [{action}] permission in project[{project}] repo[{repo_name}]"
        )

    # -- JSON shapes ----------------------------------------------------------

    def node_info(self, request: Request, node: Node, include_metadata: bool = True) -> dict[str, Any]:
        zone = request.zone
        return {
            "id": f"{node.id:024x}",
            "createdBy": node.created_by,
            "createdDate": iso_local(node.created_ms, zone),
            "lastModifiedBy": node.modified_by,
            "lastModifiedDate": iso_local(node.modified_ms, zone),
            "lastAccessDate": None,
            "folder": node.folder,
            "path": node.parent,
            "name": node.name,
            "fullPath": node.full_path,
            "size": node.size,
            "nodeNum": None,
            "sha256": node.sha256,
            "md5": node.md5,
            "crc64ecma": None,
            "metadata": dict(node.metadata) if include_metadata else None,
            "nodeMetadata": (
                [
                    {"key": k, "value": v, "system": False, "description": None, "link": None, "color": None}
                    for k, v in node.metadata.items()
                ]
                if include_metadata
                else None
            ),
            "projectId": node.project,
            "repoName": node.repo,
            "copyFromCredentialsKey": None,
            "copyIntoCredentialsKey": None,
            "clusterNames": None,
            "archived": None,
            "compressed": None,
            "federatedSource": None,
        }

    def node_detail_json(self, request: Request, node: Node) -> dict[str, Any]:
        info = self.node_info(request, node)
        detail: dict[str, Any] = {"nodeInfo": info}
        for key in (
            "createdBy",
            "createdDate",
            "lastModifiedBy",
            "lastModifiedDate",
            "lastAccessDate",
            "folder",
            "path",
            "name",
            "fullPath",
            "size",
            "nodeNum",
            "sha256",
            "md5",
            "crc64ecma",
            "metadata",
            "nodeMetadata",
            "projectId",
            "repoName",
            "clusterNames",
            "archived",
            "compressed",
            "federatedSource",
        ):
            detail[key] = info[key]
        return detail

    def node_detail(self, request: Request, project: str, repo: str, full_path: str) -> dict[str, Any]:
        node = self.store.get_node(project, repo, full_path)
        if node is None:
            raise ApiError(400, 251010, full_path)
        return self.node_detail_json(request, node)

    def repo_json(self, request: Request, repo: Repo, *, detail: bool = False) -> dict[str, Any]:
        created = iso_local(repo.created_ms, request.zone)
        data: dict[str, Any] = {
            "id": f"{abs(hash((repo.project, repo.name))) % 16**24:024x}",
            "projectId": repo.project,
            "name": repo.name,
            "type": repo.type,
            "category": repo.category,
            "public": repo.public,
            "description": repo.description,
            "configuration": {"type": repo.category.lower(), "settings": {}},
            "storageCredentialsKey": None,
            "createdBy": repo.created_by,
            "createdDate": created,
            "lastModifiedBy": repo.created_by,
            "lastModifiedDate": created,
            "quota": None,
            "used": None,
            "display": True,
            "displayName": None,
            "visibility": "PROJECT",
            "owner": None,
        }
        if detail:
            del data["id"], data["storageCredentialsKey"], data["display"]
            data["storageCredentials"] = None
        return data

    # -- generic upload / download / delete ------------------------------------------

    @staticmethod
    def overwrite(request: Request) -> bool:
        """Kotlin's ``toBoolean()``: only a case-insensitive "true" is true."""
        return (request.header("X-BKREPO-OVERWRITE") or "").strip().lower() == "true"

    def upload_options(self, request: Request) -> tuple[bool, int | None, dict[str, str]]:
        overwrite = self.overwrite(request)
        expire_ms: int | None = None
        expires = request.header("X-BKREPO-EXPIRES")
        if expires is not None:
            try:
                days = int(expires.strip())
            except ValueError:
                # bk-repo's toLong() throws here; the result is its generic 500 envelope.
                raise ApiError(500, 250102) from None
            if days > 0:
                expire_ms = int(time.time() * 1000) + min(days, 10**8) * 86_400_000
        metadata: dict[str, str] = {}
        prefix = "x-bkrepo-meta-"
        for name, value in request.raw_headers():
            if name.lower().startswith(prefix):
                key = name[len(prefix) :].strip().lower()
                if key:
                    metadata[key] = _url_decode(value)
        packed = request.header("X-BKREPO-META")
        if packed:
            try:
                text = base64.b64decode(packed.strip(), validate=True).decode("utf-8")
            except (binascii.Error, UnicodeDecodeError):
                text = ""
            for pair in text.split("&"):
                key, _, value = pair.partition("=")
                key, value = _url_decode(key), _url_decode(value)
                if key and value:
                    metadata[key] = value
        return overwrite, expire_ms, metadata

    def generic_put(self, request: Request, project: str, repo: str, full_path: str) -> Response:
        upload_id = (request.header("X-BKREPO-UPLOAD-ID") or "").strip()
        sequence = request.header("X-BKREPO-SEQUENCE")
        self.permit(request, project, repo, WRITE)
        if upload_id and sequence is not None:
            return self.block_part(request, upload_id, sequence)
        return self.upload(request, project, repo, full_path, request.user)

    def upload(self, request: Request, project: str, repo: str, full_path: str, user: str) -> Response:
        if full_path == "/":
            raise ApiError(400, 250105, "fullPath")
        # bk-repo's order: the exists check, then the body and its digests, then the node's options.
        overwrite = self.overwrite(request)
        try:
            self.store.check_upload_target(project, repo, full_path, overwrite)
        except NodeExists:
            raise ApiError(400, 251012, full_path.rsplit("/", 1)[-1]) from None
        except NodeConflict as conflict:
            raise ApiError(400, 251013, conflict.subject) from None
        received = self.store.receive(request.environ["wsgi.input"], request.body_length())
        try:
            self.check_digests(request, received.sha256, received.md5)
            overwrite, expire_ms, metadata = self.upload_options(request)
            node = self.store.commit_file(
                project,
                repo,
                full_path,
                received,
                overwrite=overwrite,
                user=user,
                metadata=metadata,
                expire_ms=expire_ms,
            )
        except NodeExists:
            raise ApiError(400, 251012, full_path.rsplit("/", 1)[-1]) from None
        except NodeConflict as conflict:
            raise ApiError(400, 251013, conflict.subject) from None
        finally:
            self.store.discard(received)
        request.response_headers = [("X-Checksum-Md5", node.md5 or ""), ("X-Checksum-Sha256", node.sha256 or "")]
        return self.envelope(request, self.node_detail_json(request, node))

    @staticmethod
    def check_digests(request: Request, sha256: str, md5: str) -> None:
        for header, actual, label in (("X-BKREPO-SHA256", sha256, "sha256"), ("X-BKREPO-MD5", md5, "md5")):
            expected = request.header(header)
            if expected is not None and expected.strip() and expected.strip().lower() != actual:
                raise ApiError(400, 251003, label)

    def generic_delete(self, request: Request, project: str, repo: str, full_path: str) -> Response:
        try:
            self.store.delete_node(project, repo, full_path)
        except NodeNotFound:
            raise ApiError(404, 251010, full_path) from None
        except FolderNotEmpty:
            raise ApiError(400, 251009) from None
        return self.envelope(request, None)

    def download(self, request: Request, project: str, repo: str, full_path: str, *, token_route: bool) -> Response:
        opened = self.store.open_node(project, repo, full_path)
        if opened is None:
            node = self.store.get_node(project, repo, full_path)
            if node is not None and node.folder:
                if token_route or (request.param("download") or "").strip().lower() == "true":
                    return self.folder_zip(request, project, repo, node)
                return self.folder_view(request, project, repo, node)
            if token_route:
                raise ApiError(404, 251024)
            raise ApiError(404, 251010, full_path)
        node, file = opened
        try:
            start, length, partial = self.resolve_range(request, node.size)
        except ApiError:
            file.close()
            raise
        end = start + length - 1 if node.size else -1
        mime = mimetypes.guess_type(node.name, strict=False)[0] or "application/octet-stream"
        headers = [
            ("Content-Type", f"{mime};charset=utf-8"),
            ("Content-Length", str(length)),
            ("Accept-Ranges", "bytes"),
            ("Content-Range", f"bytes {start}-{end}/{node.size}"),
            ("Cache-Control", node.metadata.get("Cache-Control") or node.metadata.get("cache-control") or "no-cache"),
            ("ETag", node.sha256 or ""),
            ("Last-Modified", email.utils.formatdate(node.modified_ms / 1000, usegmt=True)),
            ("X-Checksum-Md5", node.md5 or ""),
            ("X-Checksum-Sha256", node.sha256 or ""),
        ]
        preview = (request.param("preview") or "").strip().lower() == "true"
        if not preview and repo != "report":  # bk-repo never sends it for a repo named "report"
            encoded = urllib.parse.quote(node.name, safe="-._~")
            headers.append(("Content-Disposition", f"attachment;filename=\"{encoded}\";filename*=UTF-8''{encoded}"))
        status = 206 if partial else 200
        if request.method == "HEAD":
            file.close()
            return Response(status, headers, [b""])
        return Response(status, headers, FileRange(file, start, length))

    @staticmethod
    def resolve_range(request: Request, total: int) -> tuple[int, int, bool]:
        """bk-repo's single-range rules: (start, length, partial)."""
        header = (request.header("Range") or "").strip()
        if not header:
            return 0, total, False
        match = RANGE.fullmatch(header)
        if match is None:
            raise ApiError(416, 250120)
        first, last = match.group(1), match.group(2)
        if first is None and last is None:
            raise ApiError(416, 250120)
        if first is None:
            assert last is not None
            suffix = int(last)
            if suffix > LONG_MAX:
                raise ApiError(416, 250120)
            start, end = max(total - suffix, 0), total - 1
        else:
            start = int(first)
            end = total - 1 if last is None else int(last)
            if start > LONG_MAX or end > LONG_MAX:
                raise ApiError(416, 250120)
            end = total - 1 if end < 0 else min(end, total - 1)
        length = end - start + 1
        if length < 0:
            raise ApiError(416, 250120)
        return start, length, True

    def folder_zip(self, request: Request, project: str, repo: str, node: Node) -> Response:
        """A folder as a zip of its files (paths relative to it), like bk-repo's folder download."""
        total, files = self.store.list_nodes(
            project,
            repo,
            node.full_path,
            deep=True,
            include_folder=False,
            offset=0,
            limit=ZIP_MAX_FILES + 1,
            order=[("full_path", True)],
        )
        if total > ZIP_MAX_FILES or sum(f.size for f in files) > ZIP_MAX_BYTES:
            raise ApiError(400, 251014)
        archive = self.store.temp_file()
        try:
            prefix = node.full_path.rstrip("/") + "/"
            with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED, allowZip64=True) as zipped:
                for child in files:
                    opened = self.store.open_node(project, repo, child.full_path)
                    if opened is None:
                        continue
                    with (
                        opened[1] as source,
                        zipped.open(child.full_path[len(prefix) :], "w", force_zip64=True) as target,
                    ):
                        shutil.copyfileobj(source, target, 1024 * 1024)
            size = archive.tell()
        except BaseException:
            archive.close()
            raise
        name = (node.name or repo) + ".zip"
        encoded = urllib.parse.quote(name, safe="-._~")
        headers = [
            ("Content-Type", "application/zip"),
            ("Content-Length", str(size)),
            ("Content-Disposition", f"attachment;filename=\"{encoded}\";filename*=UTF-8''{encoded}"),
            ("Cache-Control", "no-cache"),
        ]
        if request.method == "HEAD":
            archive.close()
            return Response(200, headers, [b""])
        return Response(200, headers, FileRange(archive, 0, size))

    def folder_view(self, request: Request, project: str, repo: str, node: Node) -> Response:
        """A folder answers like bk-repo: 302 to the ``/`` URL, then a small HTML listing."""
        raw_path = str(request.environ.get("PATH_INFO", ""))
        if not raw_path.endswith("/"):
            location = urllib.parse.quote(raw_path.encode("latin-1") + b"/", safe="/")
            query = request.environ.get("QUERY_STRING")
            if query:
                location += "?" + query
            return Response(302, [("Location", location), ("Content-Length", "0")], [b""])
        _total, children = self.store.list_nodes(
            project, repo, node.full_path, deep=False, include_folder=True, offset=0, limit=10_000, order=None
        )
        rows = "".join(
            f'<tr><td><a href="{urllib.parse.quote(child.name)}{"/" if child.folder else ""}">'
            f"{html.escape(child.name)}{'/' if child.folder else ''}</a></td>"
            f"<td>{html.escape(child.created_by)}</td><td>{iso_local(child.modified_ms, request.zone)}</td>"
            f"<td>{'-' if child.folder else child.size}</td><td>{child.sha256 or '-'}</td></tr>"
            for child in children
        )
        title = html.escape(f"/{project}/{repo}{node.full_path}")
        page = (
            f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body>"
            f"<h1>{title}</h1><table><tr><th>Name</th><th>Created by</th><th>Last modified</th><th>Size</th>"
            f"<th>Sha256</th></tr>{rows}</table></body></html>"
        ).encode()
        return Response(200, [("Content-Type", "text/html;charset=utf-8"), ("Content-Length", str(len(page)))], [page])

    # -- listing, detail, repositories ---------------------------------------------

    def node_page(self, request: Request, project: str, repo: str, full_path: str) -> Response:
        def flag(name: str, default: bool) -> bool:
            value = request.param(name)
            return default if value is None or value == "" else parse_bool(value, name)

        page_number = parse_int(request.param("pageNumber") or "1", "pageNumber")
        page_size = parse_int(request.param("pageSize") or "20", "pageSize")
        if page_number < 0:
            raise ApiError(400, 250105, "pageNumber")
        if page_size < 1 or page_size > MAX_PAGE_SIZE:
            raise ApiError(400, 250105, "pageSize")
        page_number = max(page_number, 1)
        include_folder = flag("includeFolder", True)
        include_metadata = flag("includeMetadata", False)
        deep = flag("deep", False)
        sort = flag("sort", False)
        include_total = flag("includeTotalRecords", True)
        order: list[tuple[str, bool]] = []
        properties = request.query.get("sortProperty", [])
        directions = request.query.get("direction", [])
        for prop in properties:
            if prop not in SORT_FIELDS:
                raise ApiError(400, 250105, "sortProperty")
        for direction in directions:
            if direction not in ("ASC", "DESC"):
                raise ApiError(400, 250105, "direction")
        for direction, prop in zip(directions, properties, strict=False):
            order.append((SORT_FIELDS[prop], direction == "ASC"))
        if sort:
            if include_folder:
                order.append(("folder", False))
            order.append(("full_path", True))
        offset = (page_number - 1) * page_size
        total, nodes = self.store.list_nodes(
            project,
            repo,
            full_path,
            deep=deep,
            include_folder=include_folder,
            offset=min(offset, LONG_MAX),
            limit=page_size,
            order=order or None,
        )
        total = total if include_total else 0
        data = {
            "pageNumber": page_number,
            "pageSize": page_size,
            "totalRecords": total,
            "totalPages": -(-total // page_size),
            "records": [self.node_info(request, node, include_metadata) for node in nodes],
        }
        return self.envelope(request, data)

    def repo_info(self, request: Request, project: str, name: str, repo_type: str | None) -> Response:
        repo = self.permit(request, project, name, READ)
        wanted = (repo_type or "NONE").upper()
        if wanted not in ("NONE", repo.type):
            return self.envelope(request, None)
        return self.envelope(request, self.repo_json(request, repo))

    def repo_create(self, request: Request) -> Response:
        body = request.read_json()
        if not isinstance(body, dict):
            raise ApiError(400, 250106)
        for key in ("projectId", "name", "type"):
            if not isinstance(body.get(key), str):
                raise ApiError(400, 250106)
        public = body.get("public", False)
        description = body.get("description")
        category = body.get("category", "COMPOSITE")
        if (
            not isinstance(public, bool)
            or not isinstance(category, str)
            or (description is not None and not isinstance(description, str))
        ):
            raise ApiError(400, 250106)
        project, name = body["projectId"], body["name"]
        if request.user == ANONYMOUS and not request.platform:
            raise unauthenticated()
        if not request.platform and not self.store.user_can_write(request.user):
            raise ApiError(403, 250113, f"user[{request.user}] does not have [MANAGE] permission in project[{project}]")
        if not self.store.project_exists(project):
            raise ApiError(404, 251004, project)
        if not REPO_NAME.fullmatch(name):
            raise ApiError(400, 250105, "name")
        try:
            repo = self.store.create_repo(
                project,
                name,
                public=public,
                created_by=request.user,
                type=body["type"].upper(),
                category=category.upper(),
                description=description,
            )
        except RepoExists:
            raise ApiError(400, 251007, name) from None
        return self.envelope(request, self.repo_json(request, repo, detail=True))

    # -- temporary URLs and tokens -------------------------------------------------

    def create_temporary(self, request: Request, *, urls: bool) -> Response:
        self.authenticate(request)
        body = request.read_json()
        if not isinstance(body, dict):
            raise ApiError(400, 250106)
        project, repo_name, paths = body.get("projectId"), body.get("repoName"), body.get("fullPathSet")
        token_type = body.get("type")
        users = body.get("authorizedUserSet") or []
        ips = body.get("authorizedIpSet") or []
        expire_seconds = body.get("expireSeconds", 86400)
        permits = body.get("permits")
        host = body.get("host")
        if (
            not isinstance(project, str)
            or not isinstance(repo_name, str)
            or not isinstance(paths, list)
            or not all(isinstance(p, str) for p in paths)
            or token_type not in TOKEN_TYPES
            or not isinstance(users, list)
            or not all(isinstance(u, str) for u in users)
            or not isinstance(ips, list)
            or not all(isinstance(i, str) for i in ips)
            or isinstance(expire_seconds, bool)
            or not isinstance(expire_seconds, int | None)
            or isinstance(permits, bool)
            or not isinstance(permits, int | None)
            or not isinstance(host, str | None)
        ):
            raise ApiError(400, 250106)
        if not urls and request.user == ANONYMOUS:
            raise unauthenticated()
        if urls:
            for _path in paths:
                self.permit(request, project, repo_name, WRITE)
        if urls and token_type not in ("UPLOAD", "DOWNLOAD"):
            raise ApiError(400, 250105, "type")
        if permits is not None and permits <= 0:
            raise ApiError(400, 250105, "permits")
        full_paths = [normalize_path(path) for path in dict.fromkeys(paths)]
        expire_seconds = 86400 if expire_seconds is None else expire_seconds
        expire_ms = None if expire_seconds <= 0 else int(time.time() * 1000) + min(expire_seconds, 10**12) * 1000
        base = self.format_host(request, host)
        data = []
        for full_path in full_paths:
            token = self.store.create_token(
                project=project,
                repo=repo_name,
                full_path=full_path,
                type=token_type,
                users=users,
                ips=ips,
                expire_ms=expire_ms,
                permits=permits,
                created_by=request.user,
            )
            item: dict[str, Any] = {"projectId": project, "repoName": repo_name, "fullPath": full_path}
            if urls:
                action = "download" if token_type == "DOWNLOAD" else "upload"  # noqa: S105
                item["url"] = f"{base}/temporary/{action}/{project}/{repo_name}{full_path}?token={token.token}"
            else:
                item["token"] = token.token
            item.update(
                {
                    "authorizedUserList": users,
                    "authorizedIpList": ips,
                    "expireDate": iso_local(expire_ms, request.zone),
                    "permits": permits,
                    "type": token_type,
                }
            )
            data.append(item)
        return self.envelope(request, data)

    def format_host(self, request: Request, host: str | None) -> str:
        if host is None or not host.strip():
            if self.generic_domain:
                host = self.generic_domain
            else:
                server = request.environ.get("HTTP_HOST") or (
                    f"{request.environ.get('SERVER_NAME', '127.0.0.1')}:{request.environ.get('SERVER_PORT', '80')}"
                )
                host = f"{server}/generic"
        host = host.strip().rstrip("/")
        if "://" not in host:
            host = "http://" + host
        return host

    @staticmethod
    def preflight(request: Request, methods: tuple[str, ...]) -> Response:
        wanted = (request.header("Access-Control-Request-Method") or "").strip().upper()
        if wanted not in methods:
            return Response(403, [("Content-Length", "0")], [b""])
        headers = [
            ("Access-Control-Allow-Methods", ",".join(methods)),
            ("Access-Control-Max-Age", "1800"),
            ("Content-Length", "0"),
        ]
        asked = request.header("Access-Control-Request-Headers")
        if asked:
            headers.append(("Access-Control-Allow-Headers", asked))
        return Response(200, headers, [b""])

    def token_access(self, request: Request, rest: list[str], access: str) -> Response:
        project, repo_name, full_path = self.split_artifact(request, rest)
        self.authenticate(request)
        value = request.param("token")
        if value is None:
            raise ApiError(400, 250103, "token")
        token = self.store.get_token(value.strip()) if value.strip() else None
        if token is None:
            raise ApiError(400, 251021, value)
        self.validate_token(request, token, access, project, repo_name, full_path)
        if access == "DOWNLOAD":
            response = self.download(request, project, repo_name, full_path, token_route=True)
        else:
            user = request.user if request.user != ANONYMOUS else token.created_by
            response = self.upload(request, project, repo_name, full_path, user)
        self.store.use_token(token.token)
        return response

    def validate_token(
        self, request: Request, token: Token, access: str, project: str, repo_name: str, full_path: str
    ) -> None:
        if token.expire_ms is not None and token.expire_ms < time.time() * 1000:
            raise ApiError(400, 251022)
        if token.type not in (access, "ALL"):
            raise ApiError(400, 251021, token.token)
        if token.project != project or token.repo != repo_name or not is_sub_path(full_path, token.full_path):
            raise ApiError(400, 251021, token.token)
        self.check_permission(token.created_by, project, repo_name, READ if token.type == "DOWNLOAD" else WRITE)
        if token.users and request.user not in token.users:
            raise ApiError(400, 251021, request.user)
        client_ip = str(request.environ.get("REMOTE_ADDR", ""))
        if token.ips and client_ip not in token.ips:
            raise ApiError(400, 251021, client_ip)
        if token.permits is not None and token.permits <= 0:
            raise ApiError(400, 251022)

    # -- block uploads -------------------------------------------------------------

    def block(self, request: Request, rest: list[str]) -> Response:
        project, repo_name, full_path = self.split_artifact(request, rest)
        self.authenticate(request)
        method = request.method
        self.permit(request, project, repo_name, READ if method == "GET" else WRITE)
        if method == "POST":
            overwrite = self.overwrite(request)
            if full_path == "/":
                raise ApiError(400, 250105, "fullPath")
            try:
                self.store.check_upload_target(project, repo_name, full_path, overwrite)
            except NodeExists:
                raise ApiError(400, 251012, full_path.rsplit("/", 1)[-1]) from None
            except NodeConflict as conflict:
                raise ApiError(400, 251013, conflict.subject) from None
            upload_id = self.store.start_block_upload(project, repo_name, full_path, request.user)
            return self.envelope(request, {"uploadId": upload_id, "expireSeconds": 43200})
        upload_id = (request.header("X-BKREPO-UPLOAD-ID") or "").strip()
        if not upload_id:
            raise ApiError(400, 250118, "X-BKREPO-UPLOAD-ID")
        try:
            if method == "GET":
                parts = self.store.list_parts(upload_id)
                data = [{"size": p.size, "sha256": p.sha256, "sequence": p.sequence} for p in parts]
                return self.envelope(request, data)
            if method == "DELETE":
                self.store.abort_block_upload(upload_id)
                return self.envelope(request, None)
            return self.block_complete(request, project, repo_name, full_path, upload_id)
        except UploadNotFound:
            raise ApiError(400, 251201, upload_id) from None

    def block_part(self, request: Request, upload_id: str, sequence_text: str) -> Response:
        try:
            sequence = int(sequence_text.strip())
        except ValueError:
            raise ApiError(500, 250102) from None  # bk-repo's toInt() failure
        if not self.store.upload_exists(upload_id):
            raise ApiError(400, 251201, upload_id)
        overwrite = self.overwrite(request)
        received = self.store.receive(request.environ["wsgi.input"], request.body_length())
        try:
            self.check_digests(request, received.sha256, received.md5)
            self.store.store_part(upload_id, sequence, received, overwrite)
        except UploadNotFound:
            raise ApiError(400, 251201, upload_id) from None
        finally:
            self.store.discard(received)
        return self.envelope(request, None)

    def block_complete(self, request: Request, project: str, repo: str, full_path: str, upload_id: str) -> Response:
        overwrite, expire_ms, metadata = self.upload_options(request)
        if full_path == "/":
            raise ApiError(400, 250105, "fullPath")
        try:
            received = self.store.merge_parts(upload_id)
        except BlocksBroken:
            raise ApiError(400, 251212) from None
        try:
            self.store.commit_file(
                project,
                repo,
                full_path,
                received,
                overwrite=overwrite,
                user=request.user,
                metadata=metadata,
                expire_ms=expire_ms,
            )
        except NodeExists:
            raise ApiError(400, 251012, full_path.rsplit("/", 1)[-1]) from None
        except NodeConflict as conflict:
            raise ApiError(400, 251013, conflict.subject) from None
        finally:
            self.store.discard(received)
        return self.envelope(request, None)


def _url_decode(value: str) -> str:
    try:
        return urllib.parse.unquote(value, errors="strict")
    except UnicodeDecodeError:
        return value
