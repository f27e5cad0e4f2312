"""Routes of the dev server itself, under ``/_devserver/`` (no bk-repo has them).

``GET /_devserver/switches?project=P[&repo=R]`` shows and ``POST
/_devserver/switches`` with ``{"project": P, "share": false}`` or ``{"project":
P, "repo": R, "listFolders": false}`` turns the switches real bk-repo keeps in
its project metadata (``enableShareArtifact``) and repository settings
(``autoIndex.enabled``). ``POST /_devserver/redirect/expire`` makes every
signed redirect target issued so far answer 403, as an expired one does.
Only the dev server's admin users (the CLI's ``--username``) and platform
accounts may call them.
"""

from __future__ import annotations

from typing import Any

from ..envelope import ApiError, envelope
from ..request import Request
from ..responses import Response
from .common import Context


def _switches(context: Context, project: str, repo: str | None) -> dict[str, Any]:
    share = context.store.share_enabled(project)
    if share is None:
        raise ApiError(251004, project)
    data: dict[str, Any] = {"project": project, "share": share}
    if repo is not None:
        record = context.store.get_repo(project, repo)
        if record is None:
            raise ApiError(251006, repo)
        data.update(repo=repo, listFolders=record.list_folders)
    return data


def switches(context: Context, request: Request) -> Response:
    """Show (GET) or turn (POST) a project's share switch and a repository's folder listing."""
    context.accounts.require_admin(request.principal)
    if request.method != "POST":
        project = request.param("project")
        if not project:
            raise ApiError(250103, "project")
        return envelope(request, _switches(context, project, request.param("repo")))
    body = request.read_json_object()
    project, repo = body.get("project"), body.get("repo")
    share, list_folders = body.get("share"), body.get("listFolders")
    if (
        not isinstance(project, str)
        or not isinstance(repo, str | None)
        or not isinstance(share, bool | None)
        or not isinstance(list_folders, bool | None)
        or (list_folders is not None and repo is None)
    ):
        raise ApiError(250106)
    _switches(context, project, repo)  # 404s for a missing project or repository
    if share is not None:
        context.store.set_share(project, share)
    if list_folders is not None and repo is not None:
        context.store.set_list_folders(project, repo, list_folders)
    return envelope(request, _switches(context, project, repo))


def expire_redirects(context: Context, request: Request) -> Response:
    """Redirect mode: every redirect target handed out so far answers 403 from now on."""
    context.accounts.require_admin(request.principal)
    if context.redirect is None:
        raise ApiError(250105, "redirect")
    context.redirect.rotate_key()
    return envelope(request, None)
