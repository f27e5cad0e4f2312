"""What several services share: the handlers' context and the upload headers."""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, NamedTuple

from ..accounts import Accounts, Action
from ..envelope import ApiError
from ..request import Request, header_decode, uri_decode
from ..store import Node, NodeConflict, NodeExists, Received, Repo, Store

if TYPE_CHECKING:
    from ..origin import RedirectOrigin

META_PREFIX = "x-bkrepo-meta-"


@dataclass
class Context:
    """What handlers work with: the store, the accounts and the server's options."""

    store: Store
    accounts: Accounts
    #: Where temporary URLs point unless the create request names a host.
    generic_domain: str | None = None
    #: Redirect mode: file downloads answer 302 to this second origin, like a COS-backed bk-repo.
    redirect: RedirectOrigin | None = None

    def permit(self, request: Request, action: Action, project: str, repo: str) -> Repo:
        """The repository, if the request's principal may do ``action`` on it."""
        return self.accounts.permit(request.principal, action, project, repo)


def generic_base(context: Context, request: Request, host: str | None = None) -> str:
    """``http://{host}/generic``: ``host`` when given, else the configured generic domain,
    else the request's own ``Host`` (bk-repo's generic domain setting)."""
    if host is None or not host.strip():
        if context.generic_domain:
            host = context.generic_domain
        else:
            server = request.environ.get("HTTP_HOST") or (
                f"{request.environ.get('SERVER_NAME', '127.0.0.1')}:{request.environ.get('SERVER_PORT', '80')}"
            )
            host = f"{server}/generic"
    host = host.strip().rstrip("/")
    if "://" not in host:
        host = "http://" + host
    return host


class UploadOptions(NamedTuple):
    overwrite: bool
    expire_ms: int | None
    metadata: dict[str, str]


def overwrite(request: Request) -> bool:
    """Kotlin's ``toBoolean()``: only a case-insensitive "true" is true."""
    return (request.header("X-BKREPO-OVERWRITE") or "").strip().lower() == "true"


def upload_options(request: Request) -> UploadOptions:
    """Overwrite, expiry (``X-BKREPO-EXPIRES`` days) and metadata headers of an upload."""
    expire_ms: int | None = None
    expires = request.header("X-BKREPO-EXPIRES")
    if expires is not None:
        try:
            days = int(expires.strip())
        except ValueError:
            # bk-repo's toLong() throws here; the result is its generic 500 envelope.
            raise ApiError(250102) from None
        if days > 0:
            expire_ms = int(time.time() * 1000) + min(days, 10**8) * 86_400_000
    return UploadOptions(overwrite(request), expire_ms, metadata(request))


def metadata(request: Request) -> dict[str, str]:
    """``X-BKREPO-META-{key}`` headers, then the packed ``X-BKREPO-META``, as bk-repo's
    ``ArtifactMetadataHeaderResolver`` reads them: keys of the former trimmed and
    lower-cased, the latter (base64 of ``k=v&...``) keeping the keys' case and winning."""
    found: dict[str, str] = {}
    for name, value in request.raw_headers():
        if name.lower().startswith(META_PREFIX):
            key = name[len(META_PREFIX) :].strip().lower()
            if key:
                found[key] = header_decode(value)
    packed = request.header("X-BKREPO-META")
    if packed is not None:
        found.update(packed_metadata(packed))
    return found


def packed_metadata(packed: str) -> dict[str, str]:
    """``decodeMetadata``: pairs with a blank key or value are skipped; invalid base64 gives
    nothing, and a broken escape ends the reading (the pairs before it are kept)."""
    found: dict[str, str] = {}
    try:
        text = base64.b64decode(packed.strip() + "=" * (-len(packed.strip()) % 4), validate=True)
    except (binascii.Error, ValueError):
        return found
    for part in text.decode("utf-8", errors="replace").split("&"):
        key, equals, value = part.strip().partition("=")
        if not equals or not key.strip() or not value.strip():
            continue
        try:
            found[uri_decode(key)] = uri_decode(value)
        except ValueError:
            break
    return found


def check_digests(request: Request, received: Received) -> None:
    """``X-BKREPO-SHA256`` / ``X-BKREPO-MD5``, when sent, must match the body."""
    for header, actual, label in (
        ("X-BKREPO-SHA256", received.sha256, "sha256"),
        ("X-BKREPO-MD5", received.md5, "md5"),
    ):
        expected = request.header(header)
        if expected is not None and expected.strip() and expected.strip().lower() != actual:
            raise ApiError(251003, label)


@contextlib.contextmanager
def target_errors(full_path: str) -> Iterator[None]:
    """The store's refusals of an upload target as bk-repo's errors."""
    try:
        yield
    except NodeExists:
        raise ApiError(251012, full_path.rsplit("/", 1)[-1]) from None
    except NodeConflict as conflict:
        raise ApiError(251013, conflict.subject) from None


def check_target(context: Context, project: str, repo: str, full_path: str, overwrite: bool) -> None:
    """The checks made before a body is received (the store repeats them at commit)."""
    if full_path == "/":
        raise ApiError(250105, "fullPath")
    with target_errors(full_path):
        context.store.check_upload_target(project, repo, full_path, overwrite)


def commit(
    context: Context, project: str, repo: str, full_path: str, received: Received, user: str, options: UploadOptions
) -> Node:
    """Store ``received`` as the file at ``full_path``; the caller discards ``received`` afterwards."""
    with target_errors(full_path):
        return context.store.commit_file(
            project,
            repo,
            full_path,
            received,
            overwrite=options.overwrite,
            user=user,
            metadata=options.metadata,
            expire_ms=options.expire_ms,
        )
