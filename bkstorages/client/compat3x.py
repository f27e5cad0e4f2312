"""The bkstorages 3.x method names of BKGenericRepoClient: a thin layer over the client's own."""

from __future__ import annotations

import os
import shutil
import tempfile
from os import PathLike
from typing import IO, Any

from bkstorages.client.downloads import Downloads
from bkstorages.client.uploads import Uploads
from bkstorages.exceptions import BKStorageError, DownloadFailedError, ObjectAlreadyExists, UploadFailedError
from bkstorages.sources import UploadSource


class Compat3x(Uploads, Downloads):
    """bkstorages 3.x names: keys may start with ``/``; failures raise the 3.x error types."""

    spool_dir: str | None

    def upload_file(self, filepath: str | PathLike[str], key: str, allow_overwrite: bool = True, **kwargs: Any) -> None:
        """Upload a local file (3.x name)."""
        with open(filepath, "rb") as fh:
            self.upload_fileobj(fh, key=key, allow_overwrite=allow_overwrite, **kwargs)

    def upload_fileobj(self, fh: IO[Any], key: str, allow_overwrite: bool = True, **kwargs: Any) -> None:
        """Upload a file object (3.x name). Raises ObjectAlreadyExists or UploadFailedError."""
        key = key.lstrip("/")
        src = str(getattr(fh, "name", "<memory>"))
        try:
            source = UploadSource.from_fileobj(fh, spool_dir=self.spool_dir)
            try:
                self.upload(key, source, overwrite=allow_overwrite)
            finally:
                source.close()
        except ObjectAlreadyExists:
            raise
        except BKStorageError as error:
            raise UploadFailedError(key, src, str(error), status=error.status, code=error.code) from error

    def download_file(self, key: str, filepath: str | PathLike[str], *args: Any, **kwargs: Any) -> str | PathLike[str]:
        """Download to a local file (3.x name); nothing is left behind on failure."""
        directory = os.path.dirname(os.fspath(filepath)) or "."
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            try:
                self.download_fileobj(key, tmp)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        shutil.move(tmp.name, os.fspath(filepath))
        return filepath

    def download_fileobj(self, key: str, fh: IO[bytes], *args: Any, **kwargs: Any) -> None:
        """Download into a file object (3.x name). Raises DownloadFailedError."""
        key = key.lstrip("/")
        dest = str(getattr(fh, "name", "<memory>"))
        try:
            self.download_to(key, fh)
        except BKStorageError as error:
            raise DownloadFailedError(key, dest, str(error), status=error.status, code=error.code) from error

    def delete_file(self, key: str, *args: Any, **kwargs: Any) -> None:
        """Delete an object (3.x name); a missing object is not an error."""
        self.delete(key.lstrip("/"))

    def get_file_metadata(self, key: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        """The object's HTTP headers from a HEAD (3.x name)."""
        return dict(self.head(key.lstrip("/")).headers)

    def build_download_url(self, key: str, force_download: bool = False) -> str:
        """Permanent download URL of a public repository object (3.x name)."""
        return self.public_url(key.lstrip("/"), preview=not force_download)

    def generate_presigned_url(
        self,
        key: str,
        expires_in: int,
        token_type: str = "DOWNLOAD",  # noqa: S107 - a token type, not a secret
        *args: Any,
        **kwargs: Any,
    ) -> str:
        """A temporary URL (3.x name); ``expires_in <= 0`` means it never expires, as in bk-repo."""
        key = key.lstrip("/")
        return self.create_temporary_urls([key], expires_in, token_type=token_type)[key]

    def list_dir(self, key_prefix: str) -> tuple[list[str], list[str]]:
        """(directories, files) directly under ``key_prefix`` (3.x name), sorted."""
        directories: list[str] = []
        files: list[str] = []
        for record in self.iter_children(key_prefix.strip("/")):
            (directories if record.get("folder") else files).append(str(record["name"]))
        return sorted(directories), sorted(files)

    def get_bucket_metadata(self) -> dict[str, Any]:
        """The repository info (3.x name)."""
        return self.repo_info()
