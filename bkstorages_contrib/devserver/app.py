"""The dev server's WSGI application: bk-repo's routes, and what every request goes through.

It follows ``bkrepo-protocol.md`` (what real bk-repo does) closely enough
that a client which works here also works against bk-repo. It is a plain
WSGI callable, so any WSGI server can run it; ``server.py`` runs it with
cheroot and turns :class:`FileRange` responses into ``sendfile`` calls.

A request goes: route table (404 ``250130`` when nothing matches) -> CORS for
the routes bk-repo marks ``@CrossOrigin`` -> method (405 ``250112``) -> the
artifact path checked and normalised -> authentication -> the handler, which
checks the principal's rights through ``accounts.py``. ``GET`` routes answer
``HEAD`` too, as Spring does.

Standard library only, and nothing from ``bkstorages``: the dev server is an
independent implementation of the protocol, so each checks the other.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import urllib.parse
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from .accounts import Accounts
from .dates import parse_zone
from .envelope import ApiError, error_envelope
from .handlers import auth, block, devserver, generic, nodes, repository, temporary
from .handlers.common import Context
from .origin import RedirectOrigin
from .request import Environ, Request, normalize_path
from .responses import STATUS_TEXT, FileRange, Response, empty, header_value
from .store import BodyIncomplete, Store

__all__ = ["DevServerApp", "FileRange", "parse_zone"]

logger = logging.getLogger(__name__)

StartResponse = Callable[..., Any]
Handler = Callable[..., Response]


@dataclass(frozen=True)
class Route:
    """``pattern`` (matched against the whole path) -> a handler per method, in ``Allow`` order."""

    pattern: re.Pattern[str]
    methods: dict[str, Handler]
    #: bk-repo's ``@CrossOrigin``: any origin may call it, preflight included.
    cross_origin: bool = False

    @property
    def allow(self) -> str:
        return ", ".join(self.methods)


def route(pattern: str, methods: dict[str, Handler], *, cross_origin: bool = False) -> Route:
    return Route(re.compile(pattern), methods, cross_origin)


def reads(handler: Handler) -> dict[str, Handler]:
    """``GET``, and ``HEAD`` as Spring answers it wherever it answers ``GET``."""
    return {"GET": handler, "HEAD": handler}


#: An RFC 9110 token: what a header name may be.
HEADER_NAME = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
#: What Spring's CORS processor adds to ``Vary`` on every cross-origin answer.
CORS_VARY = "Origin, Access-Control-Request-Method, Access-Control-Request-Headers"

#: ``{project}/{repo}[/{path}]``; an empty project or repository is a 404 once the method is allowed.
ARTIFACT = r"(?P<project>[^/]*)/(?P<repo>[^/]*)(?:/(?P<path>.*))?"
FILE = r"(?P<project>[^/]+)/(?P<repo>[^/]+)(?:/(?P<path>.*))?"
FILE_METHODS = {"PUT": generic.put, "GET": generic.get, "HEAD": generic.get, "DELETE": generic.delete}
# HEAD completes the upload here, as it always has (it is not the GET listing's twin on this route).
BLOCK_METHODS = {"POST": block.start, "PUT": block.complete, "DELETE": block.abort, "GET": block.list_parts}
BLOCK_METHODS["HEAD"] = block.complete

#: Tried in order; files first, the most frequent by far. A project named like
#: one of the services below is served by the second /generic/{FILE} route.
ROUTES = (
    route(rf"/generic/(?!(?:temporary|block|detail)/){FILE}", FILE_METHODS),
    route(rf"/generic/block/{ARTIFACT}", BLOCK_METHODS),
    route(rf"/generic/detail/{ARTIFACT}", reads(repository.node_detail)),
    route(r"/generic/temporary/(?P<kind>url|token)/create", {"POST": temporary.create}),
    route(rf"/generic/temporary/download/{ARTIFACT}", reads(temporary.download), cross_origin=True),
    route(rf"/generic/temporary/upload/{ARTIFACT}", {"PUT": temporary.upload}, cross_origin=True),
    route(rf"/generic/{FILE}", FILE_METHODS),
    route(rf"/repository/api/node/page/{ARTIFACT}", reads(repository.node_page)),
    route(rf"/repository/api/node/detail/{ARTIFACT}", reads(repository.node_detail)),
    route(r"/repository/api/node/copy", {"POST": nodes.node_copy}),
    route(r"/repository/api/node/move", {"POST": nodes.node_move}),
    route(rf"/repository/api/node/rename/{ARTIFACT}", {"POST": nodes.node_rename}),
    route(r"/repository/api/node/rename", {"POST": nodes.node_rename_body}),
    route(rf"/repository/api/node/delete/{ARTIFACT}", {"DELETE": nodes.node_delete}),
    route(
        r"/repository/api/repo/info/(?P<project>[^/]+)/(?P<name>[^/]+)(?:/(?P<type>[^/]*))?",
        reads(repository.repo_info),
    ),
    route(r"/repository/api/repo/create", {"POST": repository.repo_create}),
    route(r"/repository/api/repo/delete/(?P<project>[^/]+)/(?P<name>[^/]+)", {"DELETE": repository.repo_delete}),
    route(r"/repository/api/project/create", {"POST": repository.project_create}),
    route(r"/auth/api/user/create/(?P<scope>repo|project)", {"POST": auth.create_user}),
    # The dev server's own routes; no bk-repo has them.
    route(r"/_devserver/switches", {"GET": devserver.switches, "POST": devserver.switches}),
    route(r"/_devserver/redirect/expire", {"POST": devserver.expire_redirects}),
)


class DevServerApp:
    """The WSGI application. ``generic_domain`` (e.g. ``127.0.0.1:8765/generic``)
    is where temporary URLs point unless the create request names a ``host``;
    by default it is the request's own ``Host`` plus ``/generic``. With
    ``redirect`` (redirect mode) file downloads answer 302 to that origin,
    another WSGI app the caller serves on its own port."""

    def __init__(
        self,
        store: Store,
        *,
        generic_domain: str | None = None,
        time_zone: dt.tzinfo | None = None,
        platform_accounts: dict[str, str] | None = None,
        redirect: RedirectOrigin | None = None,
    ) -> None:
        self.store = store
        self.context = Context(store, Accounts(store, platform_accounts), generic_domain, redirect)
        self.zone: dt.tzinfo = time_zone or dt.datetime.now().astimezone().tzinfo or dt.timezone.utc

    def __call__(self, environ: Environ, start_response: StartResponse) -> Iterable[bytes]:
        request = self.request(environ)
        try:
            response = self.dispatch(request)
        except ApiError as error:
            response = error_envelope(request, error)
        except (BodyIncomplete, ConnectionError):
            # The client went away mid-body: nothing was stored; tell the runner to hang up.
            environ["bkrepo.close_connection"] = True
            response = error_envelope(request, ApiError(250106))
        except Exception:
            logger.exception("Unhandled error on %s %s", request.method, request.path)
            response = error_envelope(request, ApiError(250102))
        headers = [(name, header_value(value)) for name, value in response.headers + request.always_headers]
        if request.method == "HEAD" and not isinstance(response.body, FileRange):
            response.body = [b""]
        start_response(f"{response.status} {STATUS_TEXT.get(response.status, 'Unknown')}", headers)
        return response.body

    def request(self, environ: Environ) -> Request:
        raw_path = environ.get("PATH_INFO", "") or "/"
        valid = True
        try:
            path = raw_path.encode("latin-1").decode("utf-8")
        except UnicodeEncodeError:
            path = raw_path
        except UnicodeDecodeError:
            # Bytes that are not UTF-8 (``%ff``) would all become U+FFFD and so
            # name one file; the request is refused in dispatch.
            path, valid = raw_path.encode("latin-1").decode("utf-8", errors="replace"), False
        return Request(
            valid_path=valid,
            environ=environ,
            method=str(environ.get("REQUEST_METHOD", "GET")).upper(),
            path=path,
            query=urllib.parse.parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True),
            zone=parse_zone(environ.get("HTTP_X_BKREPO_TIME_ZONE")) or self.zone,
        )

    def dispatch(self, request: Request) -> Response:
        if not request.valid_path:
            raise ApiError(250105, "path (not UTF-8)")
        path = request.path
        start = path.find("/")
        if start > 0:  # what precedes the first "/" has never been looked at
            path = path[start:]
        for candidate in ROUTES:
            match = candidate.pattern.fullmatch(path)
            if match is not None:
                return self.serve(request, candidate, match.groupdict())
        raise ApiError(250130, request.path)

    def serve(self, request: Request, route: Route, groups: dict[str, str | None]) -> Response:
        if route.cross_origin and request.header("Origin"):
            request.always_headers = [("Access-Control-Allow-Origin", "*"), ("Vary", CORS_VARY)]
            if request.method == "OPTIONS" and request.header("Access-Control-Request-Method"):
                return preflight(request, tuple(route.methods))
        handler = route.methods.get(request.method)
        if handler is None:
            reason = f"Request method '{request.method}' is not supported"
            raise ApiError(250112, reason, headers=[("Allow", route.allow)])
        if "path" in groups:
            project, repo, path = groups.pop("project"), groups.pop("repo"), groups.pop("path")
            if not project or not repo:
                raise ApiError(250130, request.path)
            groups.update(project=project, repo=repo, full_path=normalize_path(path or ""))
        request.principal = self.context.accounts.authenticate(
            request.header("Authorization"), request.header("X-BKREPO-UID")
        )
        return handler(self.context, request, **groups)


def preflight(request: Request, methods: tuple[str, ...]) -> Response:
    """A CORS preflight as Spring answers it for ``@CrossOrigin`` (any origin, any header, the
    route's methods, max age 1800): 200, or 403 when the method is not among the route's.

    The asked-for headers are echoed only when each is a header name (an RFC 9110
    token); anything else (a bare CR, a space inside a name) is refused with 403.
    """
    wanted = (request.header("Access-Control-Request-Method") or "").strip().upper()
    asked = [name.strip() for name in (request.header("Access-Control-Request-Headers") or "").split(",")]
    asked = [name for name in asked if name]
    if wanted not in methods or not all(HEADER_NAME.fullmatch(name) for name in asked):
        return empty(403, [("Content-Length", "0")])
    headers = [
        ("Access-Control-Allow-Methods", ",".join(methods)),
        ("Access-Control-Max-Age", "1800"),
        ("Content-Length", "0"),
    ]
    if asked:
        headers.append(("Access-Control-Allow-Headers", ", ".join(asked)))
    return empty(200, headers)
