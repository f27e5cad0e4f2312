"""The JSON shapes bk-repo gives nodes and repositories."""

from __future__ import annotations

import datetime as dt
from typing import Any

from .dates import iso_local
from .store import Node, Repo

#: The ``nodeInfo`` fields a node detail repeats at its top level, in bk-repo's order.
DETAIL_FIELDS = (
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
)


def node_info(node: Node, zone: dt.tzinfo, include_metadata: bool = True) -> dict[str, Any]:
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


def node_detail(node: Node, zone: dt.tzinfo) -> dict[str, Any]:
    info = node_info(node, zone)
    detail: dict[str, Any] = {"nodeInfo": info}
    for key in DETAIL_FIELDS:
        detail[key] = info[key]
    return detail


def repo_info(repo: Repo, zone: dt.tzinfo, *, detail: bool = False) -> dict[str, Any]:
    created = iso_local(repo.created_ms, zone)
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
