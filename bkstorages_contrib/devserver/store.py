"""Storage for the dev server: SQLite metadata plus content-addressed blobs.

Layout of the data directory::

    meta.sqlite3        projects, users, repositories, nodes, tokens, uploads (WAL mode)
    blobs/ab/cd/<sha256> file contents, one file per distinct content
    blocks/<upload id>/  parts of block (multipart) uploads in progress
    tmp/                 uploads being received; cleaned on start

An upload is written to ``tmp/`` while it is hashed, checked, fsynced and
renamed into ``blobs/``; only then is the node row committed, in one SQLite
transaction. A crash at any point therefore leaves either the old object or
the new one. Blobs that no node references any more are removed.

:class:`Store` keeps the metadata and ties the parts together:
``database.py`` (SQLite), ``blobs.py`` (bodies and blobs), ``blocks.py``
(block uploads). Everything here uses the standard library only.
"""

from __future__ import annotations

import contextlib
import dataclasses
import hmac
import json
import os
import sqlite3
import uuid
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

from .blobs import Blobs
from .blocks import DEFAULT_EXPIRE_SECONDS, BlockUploads
from .database import Database, now_ms
from .records import (
    BlocksBroken,
    BodyIncomplete,
    FolderNotEmpty,
    Node,
    NodeConflict,
    NodeExists,
    NodeNotFound,
    Part,
    ProjectExists,
    Received,
    Repo,
    RepoExists,
    RepoNotEmpty,
    Rights,
    StoreError,
    Token,
    UploadNotFound,
)

__all__ = [
    "BlocksBroken",
    "BodyIncomplete",
    "FolderNotEmpty",
    "Node",
    "NodeConflict",
    "NodeExists",
    "NodeNotFound",
    "Part",
    "ProjectExists",
    "Received",
    "Repo",
    "RepoExists",
    "RepoNotEmpty",
    "Rights",
    "Store",
    "StoreError",
    "Token",
    "UploadNotFound",
]

Record = TypeVar("Record")

#: Columns of ``nodes`` a page may be ordered by.
SORTABLE = {"id", "name", "full_path", "parent", "size", "folder", "sha256", "md5", "created_by"}
SORTABLE |= {"created_ms", "modified_by", "modified_ms"}
#: The fields of each record read from a row.
_COLUMNS: dict[type, tuple[str, ...]] = {
    Repo: tuple(field.name for field in dataclasses.fields(Repo)),
    Node: tuple(field.name for field in dataclasses.fields(Node)),
    Token: tuple(field.name for field in dataclasses.fields(Token)),
}


def parent_of(full_path: str) -> str:
    """``/a/b/c`` -> ``/a/b/``; ``/a`` -> ``/``."""
    return full_path[: full_path.rstrip("/").rfind("/") + 1] or "/"


def name_of(full_path: str) -> str:
    return full_path.rsplit("/", 1)[-1]


def ancestors_of(full_path: str) -> list[str]:
    """Folder full paths above ``full_path``, outermost first, root excluded."""
    parts = full_path.strip("/").split("/")[:-1]
    return ["/" + "/".join(parts[: i + 1]) for i in range(len(parts))]


def _like_escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _from_row(cls: type[Record], row: sqlite3.Row, **converted: Any) -> Record:
    """A record from the row's columns of the same names; ``converted`` ones given already decoded."""
    values = {name: row[name] for name in _COLUMNS[cls] if name not in converted}
    return cls(**values, **converted)


class Store:
    """Metadata and blobs of one data directory. Thread-safe."""

    def __init__(
        self, data_dir: str | os.PathLike[str], *, block_upload_expiry: float = DEFAULT_EXPIRE_SECONDS
    ) -> None:
        self.root = Path(data_dir).resolve()
        self.root.mkdir(parents=True, exist_ok=True)
        self.blobs = Blobs(self.root)
        self.database = Database(self.root / "meta.sqlite3")
        self.blocks = BlockUploads(self.database, self.blobs, self.root, block_upload_expiry)
        with self.database.lock:
            self._sweep_blobs()

    def _sweep_blobs(self) -> None:
        """Remove blobs no node references: left by a crash between placing a blob and its commit."""
        db = self._db()
        for blob in self.blobs.all():
            referenced = db.execute("SELECT 1 FROM nodes WHERE sha256 = ? LIMIT 1", (blob.name,)).fetchone()
            if referenced is None:
                with contextlib.suppress(OSError):
                    blob.unlink()

    def _db(self) -> sqlite3.Connection:
        """This thread's connection."""
        return self.database.connection()

    # -- users, projects, repositories --------------------------------------

    def ensure_user(self, name: str, password: str, can_write: bool = True) -> None:
        with self.database.write() as db:
            db.execute(
                "INSERT INTO users (name, password, can_write, global) VALUES (?, ?, ?, 1) ON CONFLICT (name) "
                "DO UPDATE SET password = excluded.password, can_write = excluded.can_write, global = 1",
                (name, password, int(can_write)),
            )

    def ensure_platform_user(self, name: str) -> None:
        """A user named by a platform account: created on first sight, with no usable password."""
        with self.database.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO users (name, password, can_write) VALUES (?, ?, 1)",
                (name, "!" + uuid.uuid4().hex),
            )

    def check_user(self, name: str, password: str) -> bool:
        row = self._db().execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
        return row is not None and hmac.compare_digest(row["password"].encode(), password.encode())

    def user_rights(self, name: str) -> Rights:
        """The user's rights; an unknown user has none."""
        db = self._db()
        row = db.execute("SELECT can_write, global FROM users WHERE name = ?", (name,)).fetchone()
        if row is None:
            return Rights(everywhere=False, admin=False)
        grants = db.execute("SELECT project, repo FROM grants WHERE user = ?", (name,)).fetchall()
        everywhere = bool(row["global"])
        return Rights(everywhere, everywhere and bool(row["can_write"]), frozenset((g[0], g[1]) for g in grants))

    def grant_user(self, name: str, password: str | None, project: str, repo: str = "") -> None:
        """Give ``name`` full rights on ``project`` (``repo`` "") or one repository of it.

        A new user gets ``password`` (a random, unusable one when None) and no
        other rights; an existing user keeps theirs, and a ``password`` resets theirs.
        """
        with self.database.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO users (name, password, can_write, global) VALUES (?, ?, 0, 0)",
                (name, password if password is not None else "!" + uuid.uuid4().hex),
            )
            if password is not None:
                db.execute("UPDATE users SET password = ? WHERE name = ?", (password, name))
            db.execute("INSERT OR IGNORE INTO grants (user, project, repo) VALUES (?, ?, ?)", (name, project, repo))

    def ensure_project(self, name: str, created_by: str) -> None:
        with self.database.write() as db:
            db.execute(
                "INSERT OR IGNORE INTO projects (name, created_by, created_ms) VALUES (?, ?, ?)",
                (name, created_by, now_ms()),
            )

    def create_project(self, name: str, created_by: str) -> None:
        """A new project; ``ProjectExists`` when the name is taken."""
        with self.database.write() as db:
            if db.execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is not None:
                raise ProjectExists(name)
            db.execute(
                "INSERT INTO projects (name, created_by, created_ms) VALUES (?, ?, ?)", (name, created_by, now_ms())
            )

    def project_exists(self, name: str) -> bool:
        return self._db().execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is not None

    def share_enabled(self, project: str) -> bool | None:
        """The project's share switch; None for a missing project."""
        row = self._db().execute("SELECT share_enabled FROM projects WHERE name = ?", (project,)).fetchone()
        return None if row is None else bool(row["share_enabled"])

    def set_share(self, project: str, enabled: bool) -> bool:
        """Turn the project's share switch; False when there is no such project."""
        with self.database.write() as db:
            cursor = db.execute("UPDATE projects SET share_enabled = ? WHERE name = ?", (int(enabled), project))
            return cursor.rowcount > 0

    def set_list_folders(self, project: str, repo: str, enabled: bool) -> bool:
        """Turn the repository's folder listing switch; False when there is no such repository."""
        with self.database.write() as db:
            cursor = db.execute(
                "UPDATE repos SET list_folders = ? WHERE project = ? AND name = ?", (int(enabled), project, repo)
            )
            return cursor.rowcount > 0

    def get_repo(self, project: str, name: str) -> Repo | None:
        row = self._db().execute("SELECT * FROM repos WHERE project = ? AND name = ?", (project, name)).fetchone()
        if row is None:
            return None
        return _from_row(Repo, row, public=bool(row["public"]), list_folders=bool(row["list_folders"]))

    def delete_repo(self, project: str, name: str, *, forced: bool) -> None:
        """Delete a repository and everything in it; ``RepoNotEmpty`` unless ``forced`` or it holds no files."""
        with self.database.lock:
            with self.database.write() as db:
                if not forced and self.count_files_under(project, name, "/"):
                    raise RepoNotEmpty(name)
                rows = db.execute("SELECT DISTINCT sha256 FROM nodes WHERE project = ? AND repo = ?", (project, name))
                blobs = {row["sha256"] for row in rows if row["sha256"]}
                db.execute("DELETE FROM nodes WHERE project = ? AND repo = ?", (project, name))
                db.execute("DELETE FROM tokens WHERE project = ? AND repo = ?", (project, name))
                db.execute("DELETE FROM grants WHERE project = ? AND repo = ?", (project, name))
                db.execute("DELETE FROM repos WHERE project = ? AND name = ?", (project, name))
            self._collect(self._db(), blobs)

    def create_repo(
        self,
        project: str,
        name: str,
        *,
        public: bool,
        created_by: str,
        type: str = "GENERIC",
        category: str = "LOCAL",
        description: str | None = None,
        exist_ok: bool = False,
    ) -> Repo:
        with self.database.write() as db:
            existing = db.execute("SELECT 1 FROM repos WHERE project = ? AND name = ?", (project, name)).fetchone()
            if existing is not None:
                if not exist_ok:
                    raise RepoExists(name)
            else:
                db.execute(
                    "INSERT INTO repos (project, name, type, category, public, description, created_by, created_ms) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (project, name, type, category, int(public), description, created_by, now_ms()),
                )
        repo = self.get_repo(project, name)
        assert repo is not None
        return repo

    # -- nodes --------------------------------------------------------------

    @staticmethod
    def _node(row: sqlite3.Row) -> Node:
        return _from_row(Node, row, folder=bool(row["folder"]), metadata=json.loads(row["metadata"]))

    def get_node(self, project: str, repo: str, full_path: str) -> Node | None:
        """The node at ``full_path``; the root ``/`` is always an (implicit) folder."""
        row = (
            self._db()
            .execute("SELECT * FROM nodes WHERE project = ? AND repo = ? AND full_path = ?", (project, repo, full_path))
            .fetchone()
        )
        if row is not None:
            return self._node(row)
        if full_path == "/":
            owner = self.get_repo(project, repo)
            by, stamp = (owner.created_by, owner.created_ms) if owner else ("system", 0)
            return Node(0, project, repo, "/", "", "", True, 0, None, None, {}, by, stamp, by, stamp)
        return None

    def list_nodes(
        self,
        project: str,
        repo: str,
        path: str,
        *,
        deep: bool,
        include_folder: bool,
        offset: int,
        limit: int,
        order: list[tuple[str, bool]] | None,
    ) -> tuple[int, list[Node]]:
        """Children (or all descendants) of the folder ``path``, and their total count.

        ``order`` is a list of (column, ascending) pairs; columns come from a fixed
        list in the app, never from the request.
        """
        prefix = path.rstrip("/") + "/"
        if deep:
            where = "project = ? AND repo = ? AND full_path LIKE ? ESCAPE '\\'"
            args: list[Any] = [project, repo, _like_escape(prefix) + "%"]
        else:
            where = "project = ? AND repo = ? AND parent = ?"
            args = [project, repo, prefix]
        if not include_folder:
            where += " AND folder = 0"
        db = self._db()
        total = db.execute(f"SELECT COUNT(*) FROM nodes WHERE {where}", args).fetchone()[0]  # noqa: S608
        terms = [
            f"{column} {'ASC' if ascending else 'DESC'}" for column, ascending in order or [] if column in SORTABLE
        ]
        order_by = ", ".join([*terms, "id ASC"])
        rows = db.execute(
            f"SELECT * FROM nodes WHERE {where} ORDER BY {order_by} LIMIT ? OFFSET ?",  # noqa: S608
            [*args, limit, offset],
        ).fetchall()
        return total, [self._node(row) for row in rows]

    def count_files_under(self, project: str, repo: str, folder: str) -> int:
        prefix = folder.rstrip("/") + "/"
        return (
            self._db()
            .execute(
                "SELECT COUNT(*) FROM nodes WHERE project = ? AND repo = ? AND folder = 0 "
                "AND full_path LIKE ? ESCAPE '\\'",
                (project, repo, _like_escape(prefix) + "%"),
            )
            .fetchone()[0]
        )

    def open_node(self, project: str, repo: str, full_path: str) -> tuple[Node, BinaryIO] | None:
        """The file node at ``full_path`` with its content opened, or None if it vanished."""
        for _attempt in range(3):
            node = self.get_node(project, repo, full_path)
            if node is None or node.folder or node.sha256 is None:
                return None
            try:
                return node, open(self.blobs.path(node.sha256), "rb")
            except FileNotFoundError:
                continue  # replaced between the lookup and the open; look again
        return None

    def _collect(self, db: sqlite3.Connection, sha256s: set[str]) -> None:
        """Remove blobs that no node references any more (under the write lock)."""
        for sha256 in sha256s:
            if db.execute("SELECT 1 FROM nodes WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is None:
                self.blobs.drop(sha256)

    def commit_file(
        self,
        project: str,
        repo: str,
        full_path: str,
        received: Received,
        *,
        overwrite: bool,
        user: str,
        metadata: dict[str, str],
        expire_ms: int | None,
    ) -> Node:
        """Create or replace the file node at ``full_path`` with ``received`` content.

        Raises ``NodeExists`` or ``NodeConflict``; on any failure the received
        file is discarded and stored data is unchanged.
        """
        stamp = now_ms()
        try:
            with self.database.lock:
                with self.database.write() as db:
                    self._check_ancestors(db, project, repo, full_path)
                    orphans = self._clear_target(db, project, repo, full_path, overwrite)
                    self._mkdirs(db, project, repo, full_path, user, stamp)
                    self.blobs.place(received)
                    db.execute(
                        "INSERT INTO nodes (project, repo, full_path, parent, name, folder, size, sha256, md5, "
                        "metadata, expire_ms, created_by, created_ms, modified_by, modified_ms) "
                        "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            *(project, repo, full_path, parent_of(full_path), name_of(full_path)),
                            *(received.size, received.sha256, received.md5),
                            json.dumps(metadata, ensure_ascii=False),
                            *(expire_ms, user, stamp, user, stamp),
                        ),
                    )
                    orphans.discard(received.sha256)
                # Only once the new node is committed may the old content go.
                self._collect(self._db(), orphans)
                # Read the node back before another writer may replace it, so the
                # answer describes the node this upload created.
                node = self.get_node(project, repo, full_path)
        except BaseException:
            self.blobs.discard(received)
            if received.committed:
                with self.database.write() as db:
                    self._collect(db, {received.sha256})
            raise
        assert node is not None
        return node

    def _clear_target(
        self, db: sqlite3.Connection, project: str, repo: str, full_path: str, overwrite: bool
    ) -> set[str]:
        """Delete the file at ``full_path`` if overwrite allows; returns the blobs that may become orphans."""
        old = self._node_row(db, project, repo, full_path)
        self._refuse_target(old, full_path, overwrite)
        if old is None:
            return set()
        db.execute("DELETE FROM nodes WHERE id = ?", (old["id"],))
        return {old["sha256"]} if old["sha256"] else set()

    def _check_ancestors(self, db: sqlite3.Connection, project: str, repo: str, full_path: str) -> None:
        for ancestor in ancestors_of(full_path):
            row = db.execute(
                "SELECT folder FROM nodes WHERE project = ? AND repo = ? AND full_path = ?",
                (project, repo, ancestor),
            ).fetchone()
            if row is not None and not row["folder"]:
                raise NodeConflict(ancestor)

    def _mkdirs(self, db: sqlite3.Connection, project: str, repo: str, full_path: str, user: str, stamp: int) -> None:
        for ancestor in ancestors_of(full_path):
            db.execute(
                "INSERT OR IGNORE INTO nodes (project, repo, full_path, parent, name, folder, size, metadata, "
                "created_by, created_ms, modified_by, modified_ms) VALUES (?, ?, ?, ?, ?, 1, 0, '{}', ?, ?, ?, ?)",
                (project, repo, ancestor, parent_of(ancestor), name_of(ancestor), user, stamp, user, stamp),
            )

    def check_upload_target(self, project: str, repo: str, full_path: str, overwrite: bool) -> None:
        """Cheap checks made before a body is received (repeated at commit)."""
        self._refuse_target(self._node_row(self._db(), project, repo, full_path), full_path, overwrite)

    @staticmethod
    def _node_row(db: sqlite3.Connection, project: str, repo: str, full_path: str) -> sqlite3.Row | None:
        row: sqlite3.Row | None = db.execute(
            "SELECT id, folder, sha256 FROM nodes WHERE project = ? AND repo = ? AND full_path = ?",
            (project, repo, full_path),
        ).fetchone()
        return row

    @staticmethod
    def _refuse_target(old: sqlite3.Row | None, full_path: str, overwrite: bool) -> None:
        """An existing node may be replaced only with overwrite, and only when it is a file."""
        if old is not None:
            if not overwrite:
                raise NodeExists(full_path)
            if old["folder"]:
                raise NodeConflict(full_path)

    def delete_node(self, project: str, repo: str, full_path: str) -> None:
        """Delete a file, or a folder holding no files (with its empty sub-folders)."""
        with self.database.lock:
            sha256 = self._delete_node(project, repo, full_path)
            if sha256:
                # After the commit: a crash in between leaves an orphan blob, never a node without one.
                self._collect(self._db(), {sha256})

    def _delete_node(self, project: str, repo: str, full_path: str) -> str | None:
        """Delete the node row(s) in one transaction; returns the deleted file's sha256."""
        with self.database.write() as db:
            row = self._node_row(db, project, repo, full_path)
            if row is None and full_path != "/":
                raise NodeNotFound(full_path)
            if row is None or row["folder"]:
                if self.count_files_under(project, repo, full_path):
                    raise FolderNotEmpty(full_path)
                prefix = full_path.rstrip("/") + "/"
                db.execute(
                    "DELETE FROM nodes WHERE project = ? AND repo = ? AND full_path LIKE ? ESCAPE '\\'",
                    (project, repo, _like_escape(prefix) + "%"),
                )
                if row is not None:
                    db.execute("DELETE FROM nodes WHERE id = ?", (row["id"],))
                return None
            db.execute("DELETE FROM nodes WHERE id = ?", (row["id"],))
            return str(row["sha256"]) if row["sha256"] else None

    # -- temporary tokens ---------------------------------------------------

    def create_token(
        self,
        *,
        project: str,
        repo: str,
        full_path: str,
        type: str,
        users: list[str],
        ips: list[str],
        expire_ms: int | None,
        permits: int | None,
        created_by: str,
    ) -> Token:
        token = Token(uuid.uuid4().hex, project, repo, full_path, type, users, ips, expire_ms, permits, created_by)
        with self.database.write() as db:
            db.execute(
                "INSERT INTO tokens (token, project, repo, full_path, type, users, ips, expire_ms, permits, "
                "created_by) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    token.token,
                    project,
                    repo,
                    full_path,
                    type,
                    json.dumps(users),
                    json.dumps(ips),
                    expire_ms,
                    permits,
                    created_by,
                ),
            )
        return token

    def get_token(self, token: str) -> Token | None:
        row = self._db().execute("SELECT * FROM tokens WHERE token = ?", (token,)).fetchone()
        if row is None:
            return None
        return _from_row(Token, row, users=json.loads(row["users"]), ips=json.loads(row["ips"]))

    def take_permit(self, token: str) -> bool:
        """Use one permit of ``token`` at once, in one transaction; False when none is left.

        Tokens without a limit always pass. A permit is taken before the
        download or upload it allows, so concurrent requests cannot all pass
        the check; :meth:`give_back_permit` returns it when the request fails.
        """
        with self.database.write() as db:
            taken = db.execute(
                "UPDATE tokens SET permits = permits - 1 WHERE token = ? AND permits > 0", (token,)
            ).rowcount
            if taken:
                return True
            row = db.execute("SELECT permits FROM tokens WHERE token = ?", (token,)).fetchone()
            return row is not None and row["permits"] is None

    def give_back_permit(self, token: str) -> None:
        """Undo :meth:`take_permit` for a request that failed (bk-repo counts only successful uses)."""
        with self.database.write() as db:
            db.execute("UPDATE tokens SET permits = permits + 1 WHERE token = ? AND permits IS NOT NULL", (token,))

    def drop_spent_token(self, token: str) -> None:
        """Delete ``token`` once its last permit was used by a request that succeeded."""
        with self.database.write() as db:
            db.execute("DELETE FROM tokens WHERE token = ? AND permits <= 0", (token,))
