"""The store's SQLite database: its schema, one connection per thread, serialised writers.

A thread's connection is closed as soon as the thread ends (see
:class:`_Held`), not whenever the garbage collector gets to it: a server
that runs each connection in a thread of its own would otherwise keep a
descriptor and a page cache per finished thread.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
from collections.abc import Iterator
from pathlib import Path

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
-- Rights of users made by the auth service's create/repo and create/project:
-- repo '' is the whole project (project admin), else that one repository.
CREATE TABLE IF NOT EXISTS grants (
    user TEXT NOT NULL,
    project TEXT NOT NULL,
    repo TEXT NOT NULL,
    PRIMARY KEY (user, project, repo)
);
CREATE TABLE IF NOT EXISTS parts (
    upload_id TEXT NOT NULL,
    sequence INTEGER NOT NULL,
    size INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    PRIMARY KEY (upload_id, sequence)
);
"""


#: Columns added after the first release: (table, column, definition). Old data dirs gain them on open.
ADDED_COLUMNS = (
    # 1: users who may read every repository (the CLI's users); 0: only what their grants cover.
    ("users", "global", "INTEGER NOT NULL DEFAULT 1"),
    # bk-repo's project metadata "enableShareArtifact".
    ("projects", "share_enabled", "INTEGER NOT NULL DEFAULT 1"),
    # bk-repo's repository setting autoIndex.enabled: may a folder be listed by GET/HEAD.
    ("repos", "list_folders", "INTEGER NOT NULL DEFAULT 1"),
)


def now_ms() -> int:
    """The current time in milliseconds since the epoch."""
    return time.time_ns() // 1_000_000


class _Held:
    """A thread's connection; closed when the thread's locals are dropped, i.e. when it ends.

    ``sqlite3.Connection`` objects sit in reference cycles (their statement
    cache), so without this they live until a garbage collection; this
    holder is in no cycle, so it goes, and closes the connection, at once.
    """

    __slots__ = ("db",)

    def __init__(self, db: sqlite3.Connection) -> None:
        self.db = db

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            self.db.close()


class Database:
    """``meta.sqlite3`` in WAL mode. Thread-safe: each thread has its own connection.

    Writers are serialised by ``lock`` (re-entrant), so committing a node and
    collecting an unreferenced blob never race each other.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self.lock = threading.RLock()
        with self.lock:
            db = self.connection()
            db.executescript(SCHEMA)
            for table, column, definition in ADDED_COLUMNS:
                present = {row["name"] for row in db.execute(f"PRAGMA table_info({table})")}
                if column not in present:
                    db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {definition}")

    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use and closed when the thread ends."""
        held: _Held | None = getattr(self._local, "held", None)
        if held is None:
            # check_same_thread=False only so that the holder may close it from
            # whichever thread drops the locals; it is never shared otherwise.
            db = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
            db.row_factory = sqlite3.Row
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA busy_timeout=30000")
            held = self._local.held = _Held(db)
        return held.db

    @contextlib.contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, serialised with every other writer."""
        with self.lock:
            db = self.connection()
            db.execute("BEGIN IMMEDIATE")
            try:
                yield db
            except BaseException:
                db.execute("ROLLBACK")
                raise
            db.execute("COMMIT")
