"""The repository service: node pages and details, repository info and creation."""

from __future__ import annotations

import re
from typing import Any

from .. import shapes
from ..accounts import DELETE, MANAGE, READ
from ..envelope import ApiError, envelope, unauthenticated
from ..request import LONG_MAX, Request, parse_bool, parse_int
from ..responses import Response
from ..store import ProjectExists, RepoExists, RepoNotEmpty
from .common import Context

#: Repository names bk-repo accepts (``RepositoryServiceHelper.REPO_NAME_PATTERN``).
REPO_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9.\-_]{1,63}")
#: Project names bk-repo accepts (``ProjectServiceHelper.PROJECT_NAME_PATTERN``), and display name lengths.
PROJECT_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9\-_]{1,99}")
DISPLAY_NAME_LENGTHS = range(2, 101)
#: The project metadata key of the share switch (``ProjectMetadata.KEY_SHARE_ENABLED``).
SHARE_KEY = "enableShareArtifact"
MAX_PAGE_SIZE = 100_000
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


def node_detail(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """One node (also ``/generic/detail/...``); a missing node is 251010 with status 400 here."""
    context.permit(request, READ, project, repo)
    node = context.store.get_node(project, repo, full_path)
    if node is None:
        raise ApiError(251010, full_path, status=400)
    return envelope(request, shapes.node_detail(node, request.zone))


def _flag(request: Request, name: str, default: bool) -> bool:
    value = request.param(name)
    return default if value is None or value == "" else parse_bool(value, name)


def _page_order(request: Request, sort: bool, include_folder: bool) -> list[tuple[str, bool]] | None:
    """``sortProperty``/``direction`` pairs, then with ``sort`` folders first and by path."""
    properties = request.query.get("sortProperty", [])
    directions = request.query.get("direction", [])
    for prop in properties:
        if prop not in SORT_FIELDS:
            raise ApiError(250105, "sortProperty")
    for direction in directions:
        if direction not in ("ASC", "DESC"):
            raise ApiError(250105, "direction")
    order = [(SORT_FIELDS[prop], direction == "ASC") for direction, prop in zip(directions, properties, strict=False)]
    if sort:
        if include_folder:
            order.append(("folder", False))
        order.append(("full_path", True))
    return order or None


def node_page(context: Context, request: Request, project: str, repo: str, full_path: str) -> Response:
    """A page of a folder's children (``deep``: all descendants)."""
    context.permit(request, READ, project, repo)
    page_number = parse_int(request.param("pageNumber") or "1", "pageNumber")
    page_size = parse_int(request.param("pageSize") or "20", "pageSize")
    if page_number < 0:
        raise ApiError(250105, "pageNumber")
    if page_size < 1 or page_size > MAX_PAGE_SIZE:
        raise ApiError(250105, "pageSize")
    page_number = max(page_number, 1)
    include_folder = _flag(request, "includeFolder", True)
    include_metadata = _flag(request, "includeMetadata", False)
    deep = _flag(request, "deep", False)
    sort = _flag(request, "sort", False)
    include_total = _flag(request, "includeTotalRecords", True)
    order = _page_order(request, sort, include_folder)
    offset = (page_number - 1) * page_size
    total, nodes = context.store.list_nodes(
        project,
        repo,
        full_path,
        deep=deep,
        include_folder=include_folder,
        offset=min(offset, LONG_MAX),
        limit=page_size,
        order=order,
    )
    total = total if include_total else 0
    data = {
        "pageNumber": page_number,
        "pageSize": page_size,
        "totalRecords": total,
        "totalPages": -(-total // page_size),
        "records": [shapes.node_info(node, request.zone, include_metadata) for node in nodes],
    }
    return envelope(request, data)


def repo_info(context: Context, request: Request, project: str, name: str, type: str | None) -> Response:
    """A repository (``null`` when ``type`` is given and differs)."""
    repo = context.permit(request, READ, project, name)
    wanted = (type or "NONE").upper()
    if wanted not in ("NONE", repo.type):
        return envelope(request, None)
    return envelope(request, shapes.repo_info(repo, request.zone))


def repo_create(context: Context, request: Request) -> Response:
    body = request.read_json_object()
    for key in ("projectId", "name", "type"):
        if not isinstance(body.get(key), str):
            raise ApiError(250106)
    public = body.get("public", False)
    description = body.get("description")
    category = body.get("category", "COMPOSITE")
    if (
        not isinstance(public, bool)
        or not isinstance(category, str)
        or (description is not None and not isinstance(description, str))
    ):
        raise ApiError(250106)
    project, name = body["projectId"], body["name"]
    context.accounts.permit_project(request.principal, MANAGE, project)
    if not context.store.project_exists(project):
        raise ApiError(251004, project)
    if not REPO_NAME.fullmatch(name):
        raise ApiError(250105, "name")
    try:
        repo = context.store.create_repo(
            project,
            name,
            public=public,
            created_by=request.user,
            type=body["type"].upper(),
            category=category.upper(),
            description=description,
        )
    except RepoExists:
        raise ApiError(251007, name) from None
    return envelope(request, shapes.repo_info(repo, request.zone, detail=True))


def _share_setting(metadata: Any) -> bool | None:
    """``enableShareArtifact`` from a project's ``metadata`` list of ``{key, value}``, if there."""
    if not isinstance(metadata, list) or not all(isinstance(item, dict) for item in metadata):
        raise ApiError(250106)
    for item in metadata:
        if item.get("key") == SHARE_KEY and isinstance(item.get("value"), bool):
            return bool(item["value"])
    return None


def project_create(context: Context, request: Request) -> Response:
    """``UserProjectController.createProject``: any logged-in user; the creator becomes its admin."""
    body = request.read_json_object()
    name, display_name, description = body.get("name"), body.get("displayName"), body.get("description")
    if not isinstance(name, str) or not isinstance(display_name, str) or not isinstance(description, str):
        raise ApiError(250106)
    share = _share_setting(body.get("metadata", []))
    if request.principal.anonymous:
        raise unauthenticated()
    if not PROJECT_NAME.fullmatch(name):
        raise ApiError(250105, "name")
    if not display_name.strip() or len(display_name) not in DISPLAY_NAME_LENGTHS:
        raise ApiError(250105, "displayName")
    try:
        context.store.create_project(name, request.user)
    except ProjectExists:
        raise ApiError(251005, name) from None
    if share is not None:
        context.store.set_share(name, share)
    if not context.store.user_rights(request.user).admin:
        context.store.grant_user(request.user, None, name)
    return envelope(request, name)


def repo_delete(context: Context, request: Request, project: str, name: str) -> Response:
    """Delete a repository; one holding files only when ``forced`` (else 400/251008, kept)."""
    context.permit(request, DELETE, project, name)
    forced = request.param("forced")
    try:
        context.store.delete_repo(project, name, forced=bool(forced and parse_bool(forced, "forced")))
    except RepoNotEmpty:
        raise ApiError(251008) from None
    return envelope(request, None)
