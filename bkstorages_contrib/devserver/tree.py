"""Node copy, move, rename and recursive delete: what bk-repo's node service does to whole trees.

The rules follow bk-repo's ``NodeMoveCopySupport``/``NodeMoveCopyHelper``,
``NodeRenameSupport`` and ``NodeDeleteSupport``:

- copy/move is Linux ``cp``/``mv``: a file onto a missing name takes that
  name, onto an existing folder goes inside it under its own name; a folder
  onto a missing name takes that name, onto an existing folder goes inside
  it, onto a file is a conflict (251013). Folders that meet folders merge.
  An existing file is replaced only with ``overwrite``, else 251013.
  Copying a node onto itself, or into the folder that already holds it, does
  nothing. Contents are shared (blobs are content-addressed), so no bytes move.
- rename refuses an existing new name with 251012 (it has no overwrite).
- a recursive delete of a missing node deletes nothing and succeeds.

Where bk-repo is unsafe the dev server refuses instead (documented on the
functions): a folder copied, moved or renamed into its own subtree (bk-repo
recurses into what it is creating), and a file landing on a nested folder of
the same name (bk-repo drops the copy silently and, on a move, deletes the
source). Each operation is one SQLite transaction: all or nothing, where
bk-repo stops at the first error and keeps what it did so far.
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .database import now_ms
from .records import NodeConflict, NodeExists, NodeNotFound

if TYPE_CHECKING:
    from .store import Store


@dataclass(frozen=True)
class Place:
    """A node's address: project, repository and normalised full path."""

    project: str
    repo: str
    path: str

    def at(self, path: str) -> Place:
        return Place(self.project, self.repo, path)

    def same_repo(self, other: Place) -> bool:
        return (self.project, self.repo) == (other.project, other.repo)


def _join(folder: str, name: str) -> str:
    return folder.rstrip("/") + "/" + name


def _inside(path: str, folder: str) -> bool:
    """``path`` is ``folder`` or below it."""
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _row(db: sqlite3.Connection, place: Place) -> sqlite3.Row | None:
    """The node's row; the root, which has none, reads as a folder."""
    row: sqlite3.Row | None = db.execute(
        "SELECT * FROM nodes WHERE project = ? AND repo = ? AND full_path = ?", (place.project, place.repo, place.path)
    ).fetchone()
    return row


def _is_folder(db: sqlite3.Connection, place: Place) -> bool | None:
    """True/False for an existing folder/file, None when nothing is there."""
    if place.path == "/":
        return True
    row = _row(db, place)
    return None if row is None else bool(row["folder"])


def _subtree(db: sqlite3.Connection, place: Place) -> list[sqlite3.Row]:
    """The node and everything below it, parents before children."""
    prefix = place.path.rstrip("/") + "/"
    escaped = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    rows: list[sqlite3.Row] = db.execute(
        "SELECT * FROM nodes WHERE project = ? AND repo = ? AND (full_path = ? OR full_path LIKE ? ESCAPE '\\') "
        "ORDER BY full_path",
        (place.project, place.repo, place.path, escaped + "%"),
    ).fetchall()
    return rows


@dataclass
class Transfer:
    """One copy or move, as bk-repo's ``MoveCopyContext``."""

    store: Store
    db: sqlite3.Connection
    move: bool
    overwrite: bool
    user: str
    #: Blobs whose last reference a replaced file may have been.
    orphans: set[str]

    def run(self, source: Place, target: Place) -> None:
        src = _row(self.db, source)
        if src is None:
            raise NodeNotFound(source.path)
        target_folder = _is_folder(self.db, target)
        if source.same_repo(target) and (
            source.path == target.path or (target_folder and src["parent"] == _join(target.path, ""))
        ):
            return  # onto itself, or into the folder that holds it already: nothing to do
        if target_folder:
            destination = target.at(_join(target.path, src["name"]))
        elif src["folder"] and target_folder is False:
            raise NodeConflict(target.path)
        else:
            destination = target
        if src["folder"] and source.same_repo(destination) and _inside(destination.path, source.path):
            raise NodeConflict(destination.path)  # bk-repo would copy what it is creating, without end
        self.store._check_ancestors(self.db, destination.project, destination.repo, destination.path)
        self.store._mkdirs(self.db, destination.project, destination.repo, destination.path, self.user, now_ms())
        rows = _subtree(self.db, source) if src["folder"] else [src]
        for row in rows:
            self.one(row, destination.at(destination.path + row["full_path"][len(source.path) :]))

    def one(self, node: sqlite3.Row, target: Place) -> None:
        """bk-repo's ``doMoveCopy`` for one node."""
        existing = _row(self.db, target)
        if existing is not None:
            if node["folder"] and existing["folder"]:
                return  # folders merge; on a move the source folder stays, as in bk-repo
            if node["folder"] or not self.overwrite or existing["folder"]:
                raise NodeConflict(target.path)
            self.db.execute("DELETE FROM nodes WHERE id = ?", (existing["id"],))
            if existing["sha256"]:
                self.orphans.add(existing["sha256"])
        stamp = now_ms()
        values: dict[str, Any] = {key: node[key] for key in node.keys() if key != "id"}  # noqa: SIM118 - a Row
        values.update(project=target.project, repo=target.repo, full_path=target.path)
        parent, name = target.path[: target.path.rfind("/") + 1], target.path.rsplit("/", 1)[-1]
        values.update(parent=parent, name=name, modified_by=self.user, modified_ms=stamp)
        if self.move:
            values.update(created_by=self.user, created_ms=stamp)
        columns = ", ".join(values)
        self.db.execute(
            f"INSERT INTO nodes ({columns}) VALUES ({', '.join('?' * len(values))})",  # noqa: S608 - our own columns
            list(values.values()),
        )
        if self.move:
            self.db.execute("DELETE FROM nodes WHERE id = ?", (node["id"],))


def move_copy(store: Store, source: Place, target: Place, *, move: bool, overwrite: bool, user: str) -> None:
    """Copy or move ``source`` (a file or folder) to ``target``; raises the store's refusals."""
    with store.database.lock:
        with store.database.write() as db:
            transfer = Transfer(store, db, move, overwrite, user, set())
            transfer.run(source, target)
        store._collect(store._db(), transfer.orphans)


def rename(store: Store, source: Place, new_path: str, user: str) -> None:
    """Rename a node within its repository; an existing ``new_path`` is ``NodeExists``.

    Unlike bk-repo, a renamed file's new parent folders are created (bk-repo
    leaves them missing), and renaming a folder into its own subtree is a
    conflict (bk-repo recurses into it without end).
    """
    with store.database.write() as db:
        src = _row(db, source)
        if src is None:
            raise NodeNotFound(source.path)
        if _is_folder(db, source.at(new_path)) is not None:
            raise NodeExists(new_path)
        if src["folder"] and _inside(new_path, source.path):
            raise NodeConflict(new_path)
        store._check_ancestors(db, source.project, source.repo, new_path)
        stamp = now_ms()
        store._mkdirs(db, source.project, source.repo, new_path, user, stamp)
        for row in _subtree(db, source):
            path = new_path + row["full_path"][len(source.path) :]
            db.execute(
                "UPDATE nodes SET full_path = ?, parent = ?, name = ?, modified_by = ?, modified_ms = ? WHERE id = ?",
                (path, path[: path.rfind("/") + 1], path.rsplit("/", 1)[-1], user, stamp, row["id"]),
            )


def delete_tree(store: Store, place: Place) -> tuple[int, int]:
    """Delete a file, or a folder with everything below it; (files deleted, their bytes).

    A missing node deletes nothing. The root is the caller's to refuse.
    """
    with store.database.lock:
        with store.database.write() as db:
            rows = _subtree(db, place) if _row(db, place) is not None else []
            files = [row for row in rows if not row["folder"]]
            db.executemany("DELETE FROM nodes WHERE id = ?", [(row["id"],) for row in rows])
        store._collect(store._db(), {row["sha256"] for row in files if row["sha256"]})
    return len(files), sum(row["size"] for row in files)
