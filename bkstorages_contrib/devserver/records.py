"""What the dev server's store hands out, and the refusals it raises."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path


class StoreError(Exception):
    """Base class of the store's refusals; the app maps each to a bk-repo error."""

    def __init__(self, subject: str = "") -> None:
        super().__init__(subject)
        self.subject = subject


class NodeExists(StoreError):
    """The target exists and overwrite is off."""


class NodeConflict(StoreError):
    """A folder is in the way, or an ancestor is a file; ``subject`` names it."""


class NodeNotFound(StoreError):
    """No node at that path."""


class FolderNotEmpty(StoreError):
    """A folder that still holds files cannot be deleted."""


class RepoExists(StoreError):
    """A repository with that name already exists."""


class ProjectExists(StoreError):
    """A project with that name already exists."""


class RepoNotEmpty(StoreError):
    """A repository that still holds files is deleted only when forced."""


class UploadNotFound(StoreError):
    """Unknown block upload id."""


class BlocksBroken(StoreError):
    """Block parts are missing or not numbered 1..N."""


class BodyIncomplete(StoreError):
    """The request body ended before its declared length."""


@dataclass
class Repo:
    project: str
    name: str
    type: str
    category: str
    public: bool
    description: str | None
    created_by: str
    created_ms: int
    #: bk-repo's ``autoIndex.enabled``: may a folder be listed (GET/HEAD on it)?
    list_folders: bool = True


@dataclass(frozen=True)
class Rights:
    """What a user may do: ``everywhere`` reads (and with ``admin`` anything), plus their grants.

    A grant is ``(project, repo)``; ``repo`` "" covers the whole project (project admin).
    """

    everywhere: bool
    admin: bool
    grants: frozenset[tuple[str, str]] = frozenset()

    def covers(self, project: str, repo: str | None) -> bool:
        """Does a grant give full rights on the project (``repo`` None) or on that repository?"""
        if (project, "") in self.grants:
            return True
        return repo is not None and (project, repo) in self.grants


@dataclass
class Node:
    id: int
    project: str
    repo: str
    full_path: str
    parent: str
    name: str
    folder: bool
    size: int
    sha256: str | None
    md5: str | None
    metadata: dict[str, str]
    created_by: str
    created_ms: int
    modified_by: str
    modified_ms: int


@dataclass
class Token:
    token: str
    project: str
    repo: str
    full_path: str
    type: str
    users: list[str]
    ips: list[str]
    expire_ms: int | None
    permits: int | None
    created_by: str


@dataclass
class Part:
    sequence: int
    size: int
    sha256: str


@dataclass
class Received:
    """A fully received, hashed and fsynced upload waiting in ``tmp/``."""

    path: Path
    size: int
    sha256: str
    md5: str
    committed: bool = field(default=False)
