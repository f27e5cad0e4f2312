"""Storages for ``collectstatic``: static files in a public bk-repo repository.

.. code-block:: python

    STORAGES = {
        "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"},
        "staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoManifestStaticStorage"},
    }

``BKRepoStaticStorage`` is ``BKRepoPublicStorage`` with three differences:

- the repository is ``BKREPO_STATIC_BUCKET``, or ``BKREPO_PUBLIC_BUCKET``
  when that is not set;
- every name lives under the folder ``BKREPO_STATIC_LOCATION`` (default
  ``"static"``), so ``collectstatic --clear`` never touches anything else in
  the repository;
- overwrite is always on and URLs are always the permanent public ones (never
  signed, never a request), so browsers and CDNs can cache them.

``BKRepoManifestStaticStorage`` adds Django's ``ManifestFilesMixin``: hashed
names such as ``css/base.3f2a9c1d8e7b.css`` and a ``staticfiles.json``
manifest kept in the same folder. A first deploy needs no manifest.

Both work as ``STORAGES["staticfiles"]`` and, on Django 4.2, as
``STATICFILES_STORAGE``. STORAGES ``OPTIONS`` (``bucket``, ``location``,
``endpoint_url`` ...) override the settings as for every bkstorages storage.
"""

from __future__ import annotations

import datetime
import hashlib
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles.storage import HashedFilesMixin, ManifestFilesMixin

from bkstorages.backends.base import clean_name
from bkstorages.backends.bkrepo import BKRepoPublicStorage

__all__ = ["BKRepoManifestStaticStorage", "BKRepoStaticStorage"]

DEFAULT_STATIC_LOCATION = "static"
# How long the metadata from exists() may answer the get_modified_time() that follows it.
RECENT_SECONDS = 5.0


class BKRepoStaticStorage(BKRepoPublicStorage):
    """Static files in a public repository, under ``static/``; overwrite on, permanent URLs.

    ``collectstatic`` asks ``exists(name)`` and then ``get_modified_time(name)``
    for every file; here both are answered by one metadata request: the
    answer of ``exists()`` is kept (per thread, for a few seconds) for the
    ``get_modified_time()`` of the same name that follows it.
    """

    #: Collected files replace the previous version under the same name.
    file_overwrite = True
    #: The repository is treated as public: URLs are built locally and never signed.
    public = True

    #: The repository: ``BKREPO_STATIC_BUCKET``, else ``BKREPO_PUBLIC_BUCKET``.
    bucket_setting = ("BKREPO_STATIC_BUCKET", "BKREPO_PUBLIC_BUCKET")
    #: The folder for static files: ``BKREPO_STATIC_LOCATION``, default ``"static"``.
    location_setting = "BKREPO_STATIC_LOCATION"
    location_default = DEFAULT_STATIC_LOCATION

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._recent = threading.local()

    def exists(self, name: str) -> bool:
        if not clean_name(name):
            return super().exists(name)  # the root (or the location folder)
        try:
            info = self.stat(name)
        except FileNotFoundError:
            self._recent.stat = None
            return False
        self._recent.stat = (name, info, time.monotonic())
        return True

    def get_modified_time(self, name: str) -> datetime.datetime:
        recent = getattr(self._recent, "stat", None)
        self._recent.stat = None
        if recent is not None:
            recent_name, info, when = recent
            if recent_name == name and time.monotonic() - when < RECENT_SECONDS:
                if info.modified_time is None:
                    raise NotImplementedError("the store reports no modification time")
                return info.modified_time
        return super().get_modified_time(name)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_recent", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self._recent = threading.local()


@dataclass
class _Stored:
    sha256: str | None
    md5: str | None


class _KnownDigest:
    """Stands for a stored file's content where only its md5 is needed (``file_hash``)."""

    def __init__(self, md5: str) -> None:
        self.md5 = md5


class _Snapshot:
    """The static folder as one listing said, kept up to date with this storage's own changes.

    Deletes are held back until the end: Django deletes a processed file and
    saves it again, most often with the very same content, which then costs
    no request at all.
    """

    def __init__(self, files: dict[str, _Stored]) -> None:
        self.files = files
        self.deleted: set[str] = set()
        self._folders: set[str] | None = None

    def exists(self, name: str) -> bool:
        if name in self.files:
            return name not in self.deleted
        if self._folders is None:
            self._folders = {path.rsplit("/", i)[0] for path in self.files for i in range(1, path.count("/") + 1)}
        return name in self._folders

    def md5(self, name: str) -> str | None:
        stored = self.files.get(name)
        return stored.md5 if stored is not None and name not in self.deleted else None

    def holds(self, name: str, sha256: str) -> bool:
        """The same content is stored under ``name`` (maybe waiting to be deleted): keep it."""
        stored = self.files.get(name)
        if stored is None or stored.sha256 != sha256:
            return False
        self.deleted.discard(name)
        return True

    def stored(self, name: str, sha256: str, md5: str) -> None:
        self.files[name] = _Stored(sha256, md5)
        self.deleted.discard(name)
        self._folders = None


def _digests(content: Any) -> tuple[str, str] | None:
    """sha256 and md5 of a seekable content, rewound afterwards; None when it cannot be read twice."""
    if not callable(getattr(content, "seek", None)):
        return None
    sha256, md5 = hashlib.sha256(), hashlib.md5(usedforsecurity=False)
    content.seek(0)
    chunks: Iterator[Any] = content.chunks() if callable(getattr(content, "chunks", None)) else iter([content.read()])
    for chunk in chunks:
        data = chunk.encode() if isinstance(chunk, str) else chunk
        sha256.update(data)
        md5.update(data)
    content.seek(0)
    return sha256.hexdigest(), md5.hexdigest()


class BKRepoManifestStaticStorage(ManifestFilesMixin, BKRepoStaticStorage):  # type: ignore[misc]  # url(name, force) vs url(name, expire)
    """``BKRepoStaticStorage`` with hashed file names and a ``staticfiles.json`` manifest.

    While ``collectstatic`` post-processes, one listing of the static folder
    answers ``exists()`` and gives the md5 that Django's hashed names are made
    of (no file is read back to hash it); a file saved with the content it
    already has is not sent again, and a deleted file that is saved again is
    never deleted. So a run where nothing changed uploads nothing.
    """

    _snapshot: _Snapshot | None = None

    def post_process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("dry_run") or self._snapshot is not None:
            yield from super().post_process(*args, **kwargs)
            return
        self._snapshot = self._list_static_files()
        try:
            yield from super().post_process(*args, **kwargs)
            for name in sorted(self._snapshot.deleted):
                super().delete(name)
        finally:
            self._snapshot = None

    def _list_static_files(self) -> _Snapshot:
        return _Snapshot({stat.name: _Stored(stat.sha256, stat.md5) for stat in self.iter_files("")})

    def exists(self, name: str) -> bool:
        snapshot, relative = self._snapshot, clean_name(name)
        if snapshot is None or not relative:
            return super().exists(name)
        return snapshot.exists(relative)

    def delete(self, name: str) -> None:
        snapshot = self._snapshot
        if snapshot is None:
            super().delete(name)
            return
        relative = self._relative(name)
        if relative in snapshot.files:
            snapshot.deleted.add(relative)

    def _save(self, name: str, content: Any) -> str:
        snapshot = self._snapshot
        digests = None if snapshot is None else _digests(content)
        if snapshot is None or digests is None:
            return str(super()._save(name, content))
        relative = self._relative(name)
        if snapshot.holds(relative, digests[0]):
            return relative
        saved = str(super()._save(relative, content))
        snapshot.stored(saved, *digests)
        return saved

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        snapshot = self._snapshot
        if content is None and snapshot is not None and type(self).file_hash is BKRepoManifestStaticStorage.file_hash:
            target = (filename and urlsplit(unquote(filename)).path.strip()) or urlsplit(unquote(name)).path.strip()
            md5 = snapshot.md5(clean_name(target))
            if md5:
                content = _KnownDigest(md5)
        return str(super().hashed_name(name, content, filename))

    def file_hash(self, name: str, content: Any = None) -> str | None:
        if isinstance(content, _KnownDigest):
            return content.md5[:12]  # what HashedFilesMixin.file_hash makes of the same bytes
        return HashedFilesMixin.file_hash(self, name, content)
