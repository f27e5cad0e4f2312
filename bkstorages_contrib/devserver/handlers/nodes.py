"""The repository service's node operations: copy, move, rename and recursive delete (``UserNodeController``).

The rules themselves are in ``tree.py``; here are the request bodies, the
permission checks and bk-repo's errors.
"""

from __future__ import annotations

from typing import Any

from .. import tree
from ..accounts import DELETE, WRITE
from ..database import now_ms
from ..dates import iso_local
from ..envelope import ApiError, envelope
from ..request import Request, normalize_path
from ..responses import Response
from ..store import NodeConflict, NodeExists, NodeNotFound
from .common import Context

#: Repository categories whose nodes may be copied or moved (``NodeMoveCopyHelper.preCheck``).
MOVABLE_CATEGORIES = ("LOCAL", "COMPOSITE")


def _string(body: dict[str, Any], key: str) -> str:
    """A required string field of a JSON body; missing or of another type, the body is unreadable (250106)."""
    value = body.get(key)
    if not isinstance(value, str):
        raise ApiError(250106)
    return value


def _optional_string(body: dict[str, Any], key: str) -> str | None:
    return None if body.get(key) is None else _string(body, key)


def _node_errors(error: Exception) -> ApiError:
    """The tree operations' refusals as bk-repo's errors (all status 400 on these routes)."""
    if isinstance(error, NodeNotFound):
        return ApiError(251010, error.subject, status=400)
    if isinstance(error, NodeExists):
        return ApiError(251012, error.subject)
    assert isinstance(error, NodeConflict)
    return ApiError(251013, error.subject)


def node_copy(context: Context, request: Request) -> Response:
    """``POST /repository/api/node/copy``: bk-repo's ``UserNodeMoveCopyRequest``; see ``tree.py``."""
    return _move_copy(context, request, move=False)


def node_move(context: Context, request: Request) -> Response:
    """``POST /repository/api/node/move``."""
    return _move_copy(context, request, move=True)


def _move_copy(context: Context, request: Request, *, move: bool) -> Response:
    body = request.read_json_object()
    src_project, src_repo = _string(body, "srcProjectId"), _string(body, "srcRepoName")
    src_path, dest_path = _string(body, "srcFullPath"), _string(body, "destFullPath")
    dest_project = _optional_string(body, "destProjectId") or src_project
    dest_repo = _optional_string(body, "destRepoName") or src_repo
    overwrite = body.get("overwrite", False)
    if not isinstance(overwrite, bool):
        raise ApiError(250106)
    source = tree.Place(src_project, src_repo, normalize_path(src_path))
    target = tree.Place(dest_project, dest_repo, normalize_path(dest_path))
    # WRITE on both ends (``checkCrossRepoPermission``), then both repositories' categories.
    repos = [context.permit(request, WRITE, place.project, place.repo) for place in (source, target)]
    if any(repo.category not in MOVABLE_CATEGORIES for repo in repos):
        raise ApiError(250112, "Only local repository is supported", status=400)
    try:
        tree.move_copy(context.store, source, target, move=move, overwrite=overwrite, user=request.user)
    except (NodeNotFound, NodeExists, NodeConflict) as error:
        raise _node_errors(error) from None
    return envelope(request, None)


def node_rename(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """``POST /repository/api/node/rename/{project}/{repo}/{path}?newFullPath=``."""
    new_path = request.param("newFullPath")
    if new_path is None:
        raise ApiError(250103, "newFullPath")
    return _rename(context, request, project, repo, full_path, new_path)


def node_rename_body(context: Context, request: Request) -> Response:
    """The older ``POST /repository/api/node/rename`` with ``UserNodeRenameRequest`` as its body."""
    body = request.read_json_object()
    project, repo = _string(body, "projectId"), _string(body, "repoName")
    full_path, new_path = _string(body, "fullPath"), _string(body, "newFullPath")
    return _rename(context, request, project, repo, normalize_path(full_path), new_path)


def _rename(context: Context, request: Request, project: str, repo: str, full_path: str, new_path: str) -> Response:
    context.permit(request, WRITE, project, repo)  # bk-repo: NODE UPDATE, which writers have
    try:
        tree.rename(context.store, tree.Place(project, repo, full_path), normalize_path(new_path), request.user)
    except (NodeNotFound, NodeExists, NodeConflict) as error:
        raise _node_errors(error) from None
    return envelope(request, None)


def node_delete(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """``DELETE /repository/api/node/delete/...``: a file, or a folder with everything in it.

    A missing node deletes nothing and succeeds; the root is refused. ``data``
    is bk-repo's ``NodeDeleteResult``, counting files only.
    """
    context.permit(request, DELETE, project, repo)
    if full_path == "/":
        raise ApiError(250112, "Can't delete root node.", status=400)
    files, size = tree.delete_tree(context.store, tree.Place(project, repo, full_path))
    result = {"deletedNumber": files, "deletedSize": size, "deletedTime": iso_local(now_ms(), request.zone)}
    return envelope(request, result)
