"""Block (multipart) uploads: parts kept in ``blocks/<upload id>/`` until merged or aborted."""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import shutil
import uuid
from pathlib import Path

from .blobs import CHUNK_SIZE, Blobs
from .database import Database, now_ms
from .records import BlocksBroken, Part, Received, UploadNotFound

UPLOAD_ID = re.compile(r"[0-9a-f]{32}")


class BlockUploads:
    """Uploads in progress (``uploads`` and ``parts`` rows) and their part files."""

    def __init__(self, database: Database, blobs: Blobs, root: Path) -> None:
        self.database = database
        self.blobs = blobs
        self.block_dir = root / "blocks"
        self.block_dir.mkdir(parents=True, exist_ok=True)

    def start(self, project: str, repo: str, full_path: str, user: str) -> str:
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
