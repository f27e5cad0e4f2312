"""What several services share: the handlers' context and the upload headers."""

from __future__ import annotations

import base64
import binascii
import contextlib
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import NamedTuple

from ..accounts import Accounts, Action
from ..envelope import ApiError
from ..request import Request, url_decode
from ..store import Node, NodeConflict, NodeExists, Received, Repo, Store

META_PREFIX = "x-bkrepo-meta-"


@dataclass
class Context:
    """What handlers work with: the store, the accounts and the server's options."""

    store: Store
    accounts: Accounts
    #: Where temporary URLs point unless the create request names a host.
    generic_domain: str | None = None

    def permit(self, request: Request, action: Action, project: str, repo: str) -> Repo:
        """The repository, if the request's principal may do ``action`` on it."""
        return self.accounts.permit(request.principal, action, project, repo)


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
    """``X-BKREPO-META-{key}`` headers, then the packed ``X-BKREPO-META`` (base64 of ``k=v&...``)."""
    found: dict[str, str] = {}
    for name, value in request.raw_headers():
        if name.lower().startswith(META_PREFIX):
            key = name[len(META_PREFIX) :].strip().lower()
            if key:
                found[key] = url_decode(value)
    packed = request.header("X-BKREPO-META")
    if packed:
        try:
            text = base64.b64decode(packed.strip(), validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            text = ""
        for pair in text.split("&"):
            key, _, value = pair.partition("=")
            key, value = url_decode(key), url_decode(value)
            if key and value:
                found[key] = value
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
