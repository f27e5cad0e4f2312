"""The temporary access service: tokens and URLs, and the download/upload routes that take them."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, TypeGuard

from ..accounts import READ, WRITE, Principal
from ..dates import iso_local
from ..envelope import ApiError, envelope, unauthenticated
from ..request import INT_MAX, LONG_MAX, Request, is_sub_path, normalize_path
from ..responses import Response
from ..store import Token
from . import generic
from .common import Context, generic_base

TOKEN_TYPES = {"UPLOAD", "DOWNLOAD", "ALL"}
DEFAULT_EXPIRE_SECONDS = 86400


@dataclass
class TokenRequest:
    """The body of ``/generic/temporary/{url,token}/create``, checked for types."""

    project: str
    repo: str
    paths: list[str]
    type: str
    users: list[str]
    ips: list[str]
    expire_seconds: int | None
    permits: int | None
    host: str | None


def _strings(value: object) -> TypeGuard[list[str]]:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _optional_int(value: object, limit: int) -> TypeGuard[int | None]:
    """None, or an integer that fits bk-repo's field (Kotlin ``Int``/``Long``: ``-limit - 1..limit``)."""
    if value is None:
        return True
    return not isinstance(value, bool) and isinstance(value, int) and -limit - 1 <= value <= limit


def parse_token_request(request: Request) -> TokenRequest:
    body = request.read_json_object()
    project, repo, paths, kind = body.get("projectId"), body.get("repoName"), body.get("fullPathSet"), body.get("type")
    users = body.get("authorizedUserSet") or []
    ips = body.get("authorizedIpSet") or []
    expire_seconds = body.get("expireSeconds", DEFAULT_EXPIRE_SECONDS)
    permits, host = body.get("permits"), body.get("host")
    if not (
        isinstance(project, str)
        and isinstance(repo, str)
        and _strings(paths)
        and kind in TOKEN_TYPES  # an unhashable type is a TypeError: bk-repo's generic 500
        and _strings(users)
        and _strings(ips)
        and _optional_int(expire_seconds, LONG_MAX)
        and _optional_int(permits, INT_MAX)
        and isinstance(host, str | None)
    ):
        raise ApiError(250106)
    return TokenRequest(project, repo, paths, str(kind), users, ips, expire_seconds, permits, host)


def create(context: Context, request: Request, kind: str) -> Response:
    """Temporary URLs (``kind`` "url") or bare tokens ("token"), one per distinct path."""
    urls = kind == "url"
    wanted = parse_token_request(request)
    if not urls and request.principal.anonymous:
        raise unauthenticated()
    if urls:
        for _path in wanted.paths:
            context.permit(request, WRITE, wanted.project, wanted.repo)
    check_share_enabled(context, wanted.project)
    if urls and wanted.type not in ("UPLOAD", "DOWNLOAD"):
        raise ApiError(250105, "type")
    if wanted.permits is not None and wanted.permits <= 0:
        raise ApiError(250105, "permits")
    full_paths = [normalize_path(path) for path in dict.fromkeys(wanted.paths)]
    seconds = DEFAULT_EXPIRE_SECONDS if wanted.expire_seconds is None else wanted.expire_seconds
    expire_ms = None if seconds <= 0 else int(time.time() * 1000) + min(seconds, 10**12) * 1000
    base = generic_base(context, request, wanted.host)
    data = []
    for full_path in full_paths:
        token = context.store.create_token(
            project=wanted.project,
            repo=wanted.repo,
            full_path=full_path,
            type=wanted.type,
            users=wanted.users,
            ips=wanted.ips,
            expire_ms=expire_ms,
            permits=wanted.permits,
            created_by=request.user,
        )
        item: dict[str, Any] = {"projectId": wanted.project, "repoName": wanted.repo, "fullPath": full_path}
        if urls:
            action = "download" if wanted.type == "DOWNLOAD" else "upload"
            item["url"] = f"{base}/temporary/{action}/{wanted.project}/{wanted.repo}{full_path}?token={token.token}"
        else:
            item["token"] = token.token
        item["authorizedUserList"] = wanted.users
        item["authorizedIpList"] = wanted.ips
        item["expireDate"] = iso_local(expire_ms, request.zone)
        item["permits"] = wanted.permits
        item["type"] = wanted.type
        data.append(item)
    return envelope(request, data)


def check_share_enabled(context: Context, project: str) -> None:
    """bk-repo's ``checkProjectShareEnabled``: 251037 when the project's share switch is off
    (platform accounts cannot bypass it here); a missing project is 251004."""
    enabled = context.store.share_enabled(project)
    if enabled is None:
        raise ApiError(251004, project)
    if not enabled:
        raise ApiError(251037, project)


def download(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    token = usable_token(context, request, "DOWNLOAD", project, repo, full_path)
    with permit_of(context, token):
        return generic.download(context, request, project, repo, full_path, token_route=True)


def upload(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    token = usable_token(context, request, "UPLOAD", project, repo, full_path)
    user = request.user if not request.principal.anonymous else token.created_by
    with permit_of(context, token):
        return generic.upload(context, request, project, repo, full_path, user)


@contextmanager
def permit_of(context: Context, token: Token) -> Iterator[None]:
    """One use of ``token``: taken before the work (251022 when none is left), given back if it fails."""
    if not context.store.take_permit(token.token):
        raise ApiError(251022)
    try:
        yield
    except BaseException:
        context.store.give_back_permit(token.token)
        raise
    context.store.drop_spent_token(token.token)


def usable_token(context: Context, request: Request, access: str, project: str, repo: str, full_path: str) -> Token:
    """The ``token`` parameter's token, if it grants ``access`` to this file for this caller now."""
    value = request.param("token")
    if value is None:
        raise ApiError(250103, "token")
    token = context.store.get_token(value.strip()) if value.strip() else None
    if token is None:
        raise ApiError(251021, value)
    if token.expire_ms is not None and token.expire_ms < time.time() * 1000:
        raise ApiError(251022)
    if token.type not in (access, "ALL"):
        raise ApiError(251021, token.token)
    if token.project != project or token.repo != repo or not is_sub_path(full_path, token.full_path):
        raise ApiError(251021, token.token)
    context.accounts.permit(Principal(token.created_by), READ if token.type == "DOWNLOAD" else WRITE, project, repo)
    if token.users and request.user not in token.users:
        raise ApiError(251021, request.user)
    client_ip = str(request.environ.get("REMOTE_ADDR", ""))
    if token.ips and client_ip not in token.ips:
        raise ApiError(251021, client_ip)
    if token.permits is not None and token.permits <= 0:
        raise ApiError(251022)
    return token
