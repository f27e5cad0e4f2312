"""Block (multipart) uploads: parts kept in ``blocks/<upload id>/`` until merged, aborted or expired.

Like bk-repo, which keeps a block upload's directory in its temporary
storage and lets the cleanup of that storage remove what nobody touched for
``expireDuration`` (12 hours by default, ``CacheProperties.kt``;
``UploadService.TRANSACTION_EXPIRES`` tells clients the same), an upload
whose last part (or start) is older than ``expire_seconds`` is removed with
its parts: at start-up, and when a new block upload starts (at most once
per ``sweep_interval``), so the cost stays bounded.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import threading
import time
import uuid
from pathlib import Path

from .blobs import CHUNK_SIZE, Blobs
from .database import Database, now_ms
from .records import BlocksBroken, Part, Received, UploadNotFound

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")
#: bk-repo's default: an unfinished block upload is kept for 12 hours.
DEFAULT_EXPIRE_SECONDS = 12 * 3600


class BlockUploads:
    """Uploads in progress (``uploads`` and ``parts`` rows) and their part files."""

    def __init__(
        self, database: Database, blobs: Blobs, root: Path, expire_seconds: float = DEFAULT_EXPIRE_SECONDS
    ) -> None:
        self.database = database
        self.blobs = blobs
        self.block_dir = root / "blocks"
        self.block_dir.mkdir(parents=True, exist_ok=True)
        self.expire_seconds = expire_seconds
        self.sweep_interval = min(max(expire_seconds, 0.0), 600.0)
        self._last_sweep = 0.0
        self._sweep_lock = threading.Lock()
        self.sweep()

    def start(self, project: str, repo: str, full_path: str, user: str) -> str:
        self.sweep_now_and_then()
        upload_id = uuid.uuid4().hex
        (self.block_dir / upload_id).mkdir()
        with self.database.write() as db:
            db.execute(
                "INSERT INTO uploads (upload_id, project, repo, full_path, created_by, created_ms) "
                "VALUES (?, ?, ?, ?, ?, ?)",
                (upload_id, project, repo, full_path, user, now_ms()),
            )
        return upload_id

    def exists(self, upload_id: str) -> bool:
        if not UPLOAD_ID.fullmatch(upload_id):
            return False
        db = self.database.connection()
        return db.execute("SELECT 1 FROM uploads WHERE upload_id = ?", (upload_id,)).fetchone() is not None

    def _part_path(self, upload_id: str, sequence: int) -> Path:
        return self.block_dir / upload_id / f"{sequence}.part"

    def store_part(self, upload_id: str, sequence: int, received: Received, overwrite: bool) -> None:
        """Keep a part; a re-sent sequence replaces the old part only with overwrite."""
        try:
            with self.database.write() as db:
                if not self.exists(upload_id):
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
            self.blobs.discard(received)

    def list_parts(self, upload_id: str) -> list[Part]:
        if not self.exists(upload_id):
            raise UploadNotFound(upload_id)
        rows = (
            self.database.connection()
            .execute("SELECT sequence, size, sha256 FROM parts WHERE upload_id = ? ORDER BY sequence", (upload_id,))
            .fetchall()
        )
        return [Part(row["sequence"], row["size"], row["sha256"]) for row in rows]

    def merge(self, upload_id: str) -> Received:
        """Concatenate parts 1..N into a received file and consume the upload."""
        parts = self.list_parts(upload_id)
        if not parts or [part.sequence for part in parts] != list(range(1, len(parts) + 1)):
            raise BlocksBroken(upload_id)
        path = self.blobs.new_tmp_path(".part")
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
        self.abort(upload_id)
        return Received(path=path, size=size, sha256=sha256.hexdigest(), md5=md5.hexdigest())

    def abort(self, upload_id: str) -> None:
        with self.database.write() as db:
            if not self.exists(upload_id):
                raise UploadNotFound(upload_id)
            db.execute("DELETE FROM parts WHERE upload_id = ?", (upload_id,))
            db.execute("DELETE FROM uploads WHERE upload_id = ?", (upload_id,))
        shutil.rmtree(self.block_dir / upload_id, ignore_errors=True)

    def sweep_now_and_then(self) -> None:
        """:meth:`sweep` unless one ran less than ``sweep_interval`` ago (or is running)."""
        if time.monotonic() - self._last_sweep < self.sweep_interval:
            return
        if self._sweep_lock.acquire(blocking=False):
            try:
                self.sweep()
            finally:
                self._sweep_lock.release()

    def sweep(self) -> list[str]:
        """Remove uploads idle longer than ``expire_seconds``, and part directories without an upload.

        An upload's last activity is its start or its newest part (the
        directory's modification time, which each stored part updates).
        Returns the ids removed.
        """
        self._last_sweep = time.monotonic()
        cutoff_ms = now_ms() - int(self.expire_seconds * 1000)
        rows = self.database.connection().execute("SELECT upload_id, created_ms FROM uploads").fetchall()
        known = {row["upload_id"] for row in rows}
        removed = []
        for row in rows:
            upload_id = row["upload_id"]
            try:
                touched_ms = int((self.block_dir / upload_id).stat().st_mtime * 1000)
            except OSError:
                touched_ms = 0
            if max(row["created_ms"], touched_ms) < cutoff_ms:
                with contextlib.suppress(UploadNotFound):
                    self.abort(upload_id)
                    removed.append(upload_id)
        for directory in self.block_dir.iterdir():
            # Left by a crash between creating the directory and recording the upload.
            if directory.name not in known and self._stale(directory, cutoff_ms) and not self.exists(directory.name):
                shutil.rmtree(directory, ignore_errors=True)
        return removed

    @staticmethod
    def _stale(path: Path, cutoff_ms: int) -> bool:
        try:
            return path.stat().st_mtime * 1000 < cutoff_ms
        except OSError:
            return False
