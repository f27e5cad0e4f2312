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

Everything here uses the standard library only.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

#: Size of the buffers used to move upload bodies to disk.
CHUNK_SIZE = 4 * 1024 * 1024
#: While an upload streams in, ask the kernel to write it to disk every so often.
FLUSH_EVERY = 32 * 1024 * 1024

SCHEMA = """
CREATE TABLE IF NOT EXISTS projects (
    name TEXT PRIMARY KEY,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS users (
    name TEXT PRIMARY KEY,
    password TEXT NOT NULL,
    can_write INTEGER NOT NULL DEFAULT 1
);
CREATE TABLE IF NOT EXISTS repos (
    project TEXT NOT NULL,
    name TEXT NOT NULL,
    type TEXT NOT NULL,
    category TEXT NOT NULL,
    public INTEGER NOT NULL,
    description TEXT,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    PRIMARY KEY (project, name)
);
CREATE TABLE IF NOT EXISTS nodes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    project TEXT NOT NULL,
    repo TEXT NOT NULL,
    full_path TEXT NOT NULL,
    parent TEXT NOT NULL,
    name TEXT NOT NULL,
    folder INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT,
    md5 TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    expire_ms INTEGER,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL,
    modified_by TEXT NOT NULL,
    modified_ms INTEGER NOT NULL,
    UNIQUE (project, repo, full_path)
);
-- Children of a folder in listing order (folders first, then by path), so a
-- sorted node page reads the index in order instead of sorting every child.
-- It also serves plain lookups by parent, so the older index on
-- (project, repo, parent) is dropped from data dirs made before it.
CREATE INDEX IF NOT EXISTS nodes_parent_sorted ON nodes (project, repo, parent, folder DESC, full_path);
DROP INDEX IF EXISTS nodes_parent;
CREATE INDEX IF NOT EXISTS nodes_sha256 ON nodes (sha256);
CREATE TABLE IF NOT EXISTS tokens (
    token TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    repo TEXT NOT NULL,
    full_path TEXT NOT NULL,
    type TEXT NOT NULL,
    users TEXT NOT NULL,
    ips TEXT NOT NULL,
    expire_ms INTEGER,
    permits INTEGER,
    created_by TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,
    project TEXT NOT NULL,
    repo TEXT NOT NULL,
    full_path TEXT NOT NULL,
    created_by TEXT NOT NULL,
    created_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (upload_id, sequence)
);
"""


UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


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


class Store:
    """Metadata and blobs of one data directory. Thread-safe."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.root = Path(data_dir).resolve()
        self.blob_dir = self.root / "blobs"
        self.tmp_dir = self.root / "tmp"
        self.block_dir = self.root / "blocks"
        for folder in (self.root, self.blob_dir, self.tmp_dir, self.block_dir):
            folder.mkdir(parents=True, exist_ok=True)
        for leftover in self.tmp_dir.iterdir():
            with contextlib.suppress(OSError):
                leftover.unlink()
        self._local = threading.local()
        # Writers are serialised by this lock, so committing a node and
        # collecting an unreferenced blob never race each other.
        self._write_lock = threading.RLock()
        with self._write_lock:
            self._db().executescript(SCHEMA)
            self._sweep_blobs()

    def _sweep_blobs(self) -> None:
        """Remove blobs no node references: left by a crash between placing a blob and its commit."""
        db = self._db()
        for blob in self.blob_dir.glob("*/*/*"):
            referenced = db.execute("SELECT 1 FROM nodes WHERE sha256 = ? LIMIT 1", (blob.name,)).fetchone()
            if referenced is None:
                with contextlib.suppress(OSError):
                    blob.unlink()

    # -- connections ------------------------------------------------------

    def _db(self) -> sqlite3.Connection:
        db: sqlite3.Connection | None = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self.root / "meta.sqlite3", timeout=30, isolation_level=None)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            self._local.db = db
        return db

    @contextlib.contextmanager
    def _write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other writer."""
        with self._write_lock:
            db = self._db()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")

    # -- users, projects, repositories --------------------------------------

    def ensure_user(self, name: str, password: str, can_write: bool = True) -> None:
        with self._write() as db:
            db.execute(
                "INSERT INTO users (name, password, can_write) VALUES (?, ?, ?) "
                "ON CONFLICT (name) DO UPDATE SET password = excluded.password, can_write = excluded.can_write",
                (name, password, int(can_write)),
            )

    def ensure_platform_user(self, name: str) -> None:
        """A user named by a platform account: created on first sight, with no usable password."""
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO users (name, password, can_write) VALUES (?, ?, 1)",
                (name, "!" + uuid.uuid4().hex),
            )

    def check_user(self, name: str, password: str) -> bool:
        row = self._db().execute("SELECT password FROM users WHERE name = ?", (name,)).fetchone()
        return row is not None and _same(row["password"], password)

    def user_can_write(self, name: str) -> bool:
        row = self._db().execute("SELECT can_write FROM users WHERE name = ?", (name,)).fetchone()
        return bool(row and row["can_write"])

    def ensure_project(self, name: str, created_by: str) -> None:
        with self._write() as db:
            db.execute(
                "INSERT OR IGNORE INTO projects (name, created_by, created_ms) VALUES (?, ?, ?)",
                (name, created_by, now_ms()),
            )

    def project_exists(self, name: str) -> bool:
        return self._db().execute("SELECT 1 FROM projects WHERE name = ?", (name,)).fetchone() is not None

    def get_repo(self, project: str, name: str) -> Repo | None:
        row = self._db().execute("SELECT * FROM repos WHERE project = ? AND name = ?", (project, name)).fetchone()
        if row is None:
            return None
        return Repo(
            project=row["project"],
            name=row["name"],
            type=row["type"],
            category=row["category"],
            public=bool(row["public"]),
            description=row["description"],
            created_by=row["created_by"],
            created_ms=row["created_ms"],
        )

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
        with self._write() as db:
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
        return Node(
            id=row["id"],
            project=row["project"],
            repo=row["repo"],
            full_path=row["full_path"],
            parent=row["parent"],
            name=row["name"],
            folder=bool(row["folder"]),
            size=row["size"],
            sha256=row["sha256"],
            md5=row["md5"],
            metadata=json.loads(row["metadata"]),
            created_by=row["created_by"],
            created_ms=row["created_ms"],
            modified_by=row["modified_by"],
            modified_ms=row["modified_ms"],
        )

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
        allowed = {"id", "name", "full_path", "parent", "size", "folder", "sha256", "md5", "created_by"}
        allowed |= {"created_ms", "modified_by", "modified_ms"}
        terms = [f"{column} {'ASC' if ascending else 'DESC'}" for column, ascending in order or [] if column in allowed]
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

    def blob_path(self, sha256: str) -> Path:
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise ValueError("not a sha256 hex digest")
        return self.blob_dir / sha256[:2] / sha256[2:4] / sha256

    def open_node(self, project: str, repo: str, full_path: str) -> tuple[Node, BinaryIO] | None:
        """The file node at ``full_path`` with its content opened, or None if it vanished."""
        for _attempt in range(3):
            node = self.get_node(project, repo, full_path)
            if node is None or node.folder or node.sha256 is None:
                return None
            try:
                return node, open(self.blob_path(node.sha256), "rb")
            except FileNotFoundError:
                continue  # replaced between the lookup and the open; look again
        return None

    # -- receiving bodies ---------------------------------------------------

    def receive(self, body: BinaryIO, length: int | None) -> Received:
        """Stream ``body`` into a temp file while hashing it; fsync it.

        ``length`` is the declared Content-Length (None for chunked bodies).
        Raises ``BodyIncomplete`` if fewer bytes arrive; the temp file is removed.

        Reading the next chunk from the socket overlaps with hashing (sha256
        and md5) and writing the previous one, each in a worker thread
        (hashlib and ``os.write`` release the GIL), with two buffers in turn.
        """
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        sha256 = hashlib.sha256()
        md5 = hashlib.md5()  # noqa: S324 - bk-repo's checksum, not security
        size = 0
        # Sized by the declared length: a 4 KiB body needs no 4 MiB buffers, and
        # the second buffer is made only once a body needs more than one.
        first = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length)
        buffers = [memoryview(bytearray(first))]
        turn = 0
        pending: list[Future[None]] = []
        flushing: Future[None] | None = None
        flushed = 0
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            while length is None or size < length:
                want = CHUNK_SIZE if length is None else min(CHUNK_SIZE, length - size)
                if turn == len(buffers):
                    buffers.append(memoryview(bytearray(CHUNK_SIZE)))
                got = _fill(body, buffers[turn][:want])
                for future in pending:  # the previous chunk is done before the next one starts
                    future.result()
                pending = []
                if not got:
                    break
                chunk = buffers[turn][:got]
                size += got
                if size == got and (got < want or (length is not None and size >= length)):
                    # A small body: not worth a trip to the worker threads.
                    sha256.update(chunk)
                    md5.update(chunk)
                    _write_all(fd, chunk)
                else:
                    workers = _workers()
                    pending = [
                        workers.submit(sha256.update, chunk),
                        workers.submit(md5.update, chunk),
                        workers.submit(_write_all, fd, chunk),
                    ]
                    if size - flushed >= FLUSH_EVERY and (flushing is None or flushing.done()):
                        # Start writing to disk early, so the final fsync has little left to do.
                        flushing = workers.submit(os.fdatasync, fd)
                        flushed = size
                turn ^= 1
                if got < want:
                    break
            for future in pending:
                future.result()
            if length is not None and size < length:
                raise BodyIncomplete(f"{size} of {length} bytes")
            if flushing is not None:
                flushing.result()
            os.fsync(fd)
        except BaseException:
            if flushing is not None:
                with contextlib.suppress(BaseException):
                    flushing.result()
            for future in pending:
                with contextlib.suppress(BaseException):
                    future.result()
            os.close(fd)
            with contextlib.suppress(OSError):
                path.unlink()
            raise
        os.close(fd)
        return Received(path=path, size=size, sha256=sha256.hexdigest(), md5=md5.hexdigest())

    def temp_file(self) -> BinaryIO:
        """An anonymous scratch file in the data dir, gone once closed."""
        path = self.tmp_dir / f"{uuid.uuid4().hex}.scratch"
        handle = open(path, "w+b")  # noqa: SIM115 - the caller closes it
        with contextlib.suppress(OSError):
            path.unlink()
        return handle

    @staticmethod
    def _remove_later(path: Path) -> None:
        def remove() -> None:
            with contextlib.suppress(OSError):
                path.unlink()

        _workers().submit(remove)

    def discard(self, received: Received) -> None:
        if not received.committed:
            with contextlib.suppress(OSError):
                received.path.unlink()

    def _place_blob(self, received: Received) -> None:
        """Move a received file into its content-addressed place (under the write lock)."""
        target = self.blob_path(received.sha256)
        if target.exists():
            self._remove_later(received.path)
        else:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(received.path, target)
            _fsync_dir(target.parent)
        received.committed = True

    def _collect(self, db: sqlite3.Connection, sha256s: set[str]) -> None:
        """Remove blobs that no node references any more (under the write lock)."""
        for sha256 in sha256s:
            if db.execute("SELECT 1 FROM nodes WHERE sha256 = ? LIMIT 1", (sha256,)).fetchone() is None:
                # Renamed away at once (so a new upload of the same content cannot
                # lose its blob), deleted later (unlinking a big file takes a while).
                trash = self.tmp_dir / f"{uuid.uuid4().hex}.trash"
                with contextlib.suppress(OSError):
                    os.replace(self.blob_path(sha256), trash)
                    self._remove_later(trash)

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
        orphans: set[str] = set()
        try:
            with self._write_lock:
                with self._write() as db:
                    self._check_ancestors(db, project, repo, full_path)
                    old = db.execute(
                        "SELECT id, folder, sha256 FROM nodes WHERE project = ? AND repo = ? AND full_path = ?",
                        (project, repo, full_path),
                    ).fetchone()
                    if old is not None:
                        if not overwrite:
                            raise NodeExists(full_path)
                        if old["folder"]:
                            raise NodeConflict(full_path)
                        db.execute("DELETE FROM nodes WHERE id = ?", (old["id"],))
                        if old["sha256"]:
                            orphans.add(old["sha256"])
                    self._mkdirs(db, project, repo, full_path, user, stamp)
                    self._place_blob(received)
                    db.execute(
                        "INSERT INTO nodes (project, repo, full_path, parent, name, folder, size, sha256, md5, "
                        "metadata, expire_ms, created_by, created_ms, modified_by, modified_ms) "
                        "VALUES (?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                        (
                            project,
                            repo,
                            full_path,
                            parent_of(full_path),
                            name_of(full_path),
                            received.size,
                            received.sha256,
                            received.md5,
                            json.dumps(metadata, ensure_ascii=False),
                            expire_ms,
                            user,
                            stamp,
                            user,
                            stamp,
                        ),
                    )
                    orphans.discard(received.sha256)
                # Only once the new node is committed may the old content go.
                self._collect(self._db(), orphans)
                # Read the node back before another writer may replace it, so the
                # answer describes the node this upload created.
                node = self.get_node(project, repo, full_path)
        except BaseException:
            self.discard(received)
            if received.committed:
                with self._write() as db:
                    self._collect(db, {received.sha256})
            raise
        assert node is not None
        return node

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
        db = self._db()
        old = db.execute(
            "SELECT folder FROM nodes WHERE project = ? AND repo = ? AND full_path = ?", (project, repo, full_path)
        ).fetchone()
        if old is not None:
            if not overwrite:
                raise NodeExists(full_path)
            if old["folder"]:
                raise NodeConflict(full_path)

    def delete_node(self, project: str, repo: str, full_path: str) -> None:
        """Delete a file, or a folder holding no files (with its empty sub-folders)."""
        with self._write_lock:
            sha256 = self._delete_node(project, repo, full_path)
            if sha256:
                # After the commit: a crash in between leaves an orphan blob, never a node without one.
                self._collect(self._db(), {sha256})

    def _delete_node(self, project: str, repo: str, full_path: str) -> str | None:
        """Delete the node row(s) in one transaction; returns the deleted file's sha256."""
        with self._write() as db:
            row = db.execute(
                "SELECT id, folder, sha256 FROM nodes WHERE project = ? AND repo = ? AND full_path = ?",
                (project, repo, full_path),
            ).fetchone()
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
        with self._write() as db:
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
        return Token(
            token=row["token"],
            project=row["project"],
            repo=row["repo"],
            full_path=row["full_path"],
            type=row["type"],
            users=json.loads(row["users"]),
            ips=json.loads(row["ips"]),
            expire_ms=row["expire_ms"],
            permits=row["permits"],
            created_by=row["created_by"],
        )

    def use_token(self, token: str) -> None:
        """Count one use: unlimited tokens stay, the last permit deletes the token."""
        with self._write() as db:
            row = db.execute("SELECT permits FROM tokens WHERE token = ?", (token,)).fetchone()
            if row is None or row["permits"] is None:
                return
            if row["permits"] <= 1:
                db.execute("DELETE FROM tokens WHERE token = ?", (token,))
            else:
                db.execute("UPDATE tokens SET permits = permits - 1 WHERE token = ?", (token,))

    # -- block uploads ------------------------------------------------------

    def start_block_upload(self, project: str, repo: str, full_path: str, user: str) -> str:
        upload_id = uuid.uuid4().hex
        (self.block_dir / upload_id).mkdir()
        with self._write() as db:
            db.execute(
                "INSERT INTO uploads (upload_id, project, repo, full_path, created_by, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, project, repo, full_path, user, now_ms()),
            )
        return upload_id

    def upload_exists(self, upload_id: str) -> bool:
        if not UPLOAD_ID.fullmatch(upload_id):
            return False
        return self._db().execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is not None

    def _part_path(self, upload_id: str, sequence: int) -> Path:
        return self.block_dir / upload_id / f"{sequence}.part"

    def store_part(self, upload_id: str, sequence: int, received: Received, overwrite: bool) -> None:
        """Keep a part; a re-sent sequence replaces the old part only with overwrite."""
        try:
            with self._write() as db:
                if not self.upload_exists(upload_id):
                    raise UploadNotFound(upload_id)
                old = db.execute(
                    "SELECT 1 FROM parts WHERE upload_id = ? AND sequence = ?", (upload_id, sequence)
                ).fetchone()
                if old is not None and not overwrite:
                    return
                os.replace(received.path, self._part_path(upload_id, sequence))
                received.committed = True
                db.execute(
                    "INSERT OR REPLACE INTO parts (upload_id, sequence, size, sha256) VALUES (?, ?, ?, ?)",
                    (upload_id, sequence, received.size, received.sha256),
                )
        finally:
            self.discard(received)

    def list_parts(self, upload_id: str) -> list[Part]:
        if not self.upload_exists(upload_id):
            raise UploadNotFound(upload_id)
        rows = (
            self._db()
            .execute("SELECT sequence, size, sha256 FROM parts WHERE upload_id = ? ORDER BY sequence", (upload_id,))
            .fetchall()
        )
        return [Part(row["sequence"], row["size"], row["sha256"]) for row in rows]

    def merge_parts(self, upload_id: str) -> Received:
        """Concatenate parts 1..N into a received file and consume the upload."""
        parts = self.list_parts(upload_id)
        if not parts or [part.sequence for part in parts] != list(range(1, len(parts) + 1)):
            raise BlocksBroken(upload_id)
        path = self.tmp_dir / f"{uuid.uuid4().hex}.part"
        sha256 = hashlib.sha256()
        md5 = hashlib.md5()  # noqa: S324 - bk-repo's checksum, not security
        size = 0
        try:
            with open(path, "xb") as out:
                for part in parts:
                    with open(self._part_path(upload_id, part.sequence), "rb") as source:
                        while chunk := source.read(CHUNK_SIZE):
                            sha256.update(chunk)
                            md5.update(chunk)
                            out.write(chunk)
                            size += len(chunk)
                out.flush()
                os.fsync(out.fileno())
        except OSError as error:
            with contextlib.suppress(OSError):
                path.unlink()
            raise BlocksBroken(upload_id) from error
        self.abort_block_upload(upload_id)
        return Received(path=path, size=size, sha256=sha256.hexdigest(), md5=md5.hexdigest())

    def abort_block_upload(self, upload_id: str) -> None:
        with self._write() as db:
            if not self.upload_exists(upload_id):
                raise UploadNotFound(upload_id)
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        shutil.rmtree(self.block_dir / upload_id, ignore_errors=True)


_worker_pool: ThreadPoolExecutor | None = None
_worker_lock = threading.Lock()


def _workers() -> ThreadPoolExecutor:
    """A shared pool for hashing and writing upload chunks."""
    global _worker_pool
    with _worker_lock:
        if _worker_pool is None:
            _worker_pool = ThreadPoolExecutor(max_workers=12, thread_name_prefix="bkrepo-upload")
        return _worker_pool


def _fill(body: BinaryIO, view: memoryview) -> int:
    """Read until ``view`` is full or the body ends; returns the byte count."""
    filled = 0
    readinto = getattr(body, "readinto", None)
    while filled < len(view):
        if readinto is not None:
            got = readinto(view[filled:])
        else:
            data = body.read(len(view) - filled)
            got = len(data)
            view[filled : filled + got] = data
        if not got:
            break
        filled += got
    return filled


def _write_all(fd: int, data: memoryview) -> None:
    while data:
        written = os.write(fd, data)
        data = data[written:]


def _same(a: str, b: str) -> bool:
    import hmac

    return hmac.compare_digest(a.encode(), b.encode())


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
