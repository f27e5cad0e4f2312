"""The auth service's user routes that BlueKing's platform calls when it provisions a site.

``POST /auth/api/user/create/repo`` and ``/create/project`` (bk-repo's
``UserController``): the caller must be an admin of the project
(``preCheckProjectAdmin``: 400/250236 otherwise); the user is created (or an
existing user's password reset when ``pwd`` is given) and gets full rights on
that repository, or becomes the project's admin. ``PUT``/``DELETE
/auth/api/user/{uid}`` are gone from bk-repo and stay 404/250130 here.
"""

from __future__ import annotations

from ..envelope import ApiError, envelope
from ..request import Request
from ..responses import Response
from .common import Context


def create_user(context: Context, request: Request, scope: str) -> Response:
    """``scope`` "repo" (``CreateUserToRepoRequest``) or "project" (``CreateUserToProjectRequest``)."""
    body = request.read_json_object()
    required = ("userId", "name", "projectId", *(("repoName",) if scope == "repo" else ()))
    password = body.get("pwd")
    if not all(isinstance(body.get(key), str) for key in required) or not isinstance(password, str | None):
        raise ApiError(250106)
    user, project = body["userId"], body["projectId"]
    context.accounts.require_project_admin(request.principal, project)
    repo = ""
    if scope == "repo":
        repo = body["repoName"]
        if context.store.get_repo(project, repo) is None:
            raise ApiError(250221)
    elif not context.store.project_exists(project):
        raise ApiError(250217)
    if not user.strip():
        raise ApiError(250105, "userId")
    context.store.grant_user(user, password, project, repo)
    return envelope(request, True)
