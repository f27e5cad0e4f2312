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
import posixpath
import re
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

from django.contrib.staticfiles.storage import HashedFilesMixin, ManifestFilesMixin

from bkstorages.backends.base import ObjectStat, clean_name
from bkstorages.backends.bkrepo import BKRepoPublicStorage

__all__ = ["BKRepoManifestStaticStorage", "BKRepoStaticStorage"]

DEFAULT_STATIC_LOCATION = "static"
#: ``Cache-Control`` of static files (``BKREPO_STATIC_CACHE_CONTROL``): browsers reuse them
#: for five minutes, so a deploy reaches everyone within five minutes.
DEFAULT_STATIC_CACHE_CONTROL = "public, max-age=300"
#: ``Cache-Control`` of the manifest storage's hashed names: new content gets a new name.
IMMUTABLE_CACHE_CONTROL = "public, max-age=31536000, immutable"
#: A name as ``HashedFilesMixin.hashed_name()`` writes it: ``root.<12 hex digits>[.ext]``.
HASHED_NAME = re.compile(r".+\.[0-9a-f]{12}(?:\.[^.]*)?")
# How long a listing of the static folder answers exists() and get_modified_time() after its last use.
RECENT_SECONDS = 5.0


class _Listing:
    """The static folder as one listing said, kept up to date with this storage's own changes.

    ``holding`` (the manifest storage while it post-processes): deletes wait
    until :meth:`take_deleted`, since Django deletes a processed file and
    saves it again, most often with the very same content.
    """

    def __init__(self, files: dict[str, ObjectStat]) -> None:
        self.files = files
        self.deleted: set[str] = set()
        self.holding = False
        self.used = time.monotonic()
        self._folders: set[str] | None = None
        self._by_sha256: dict[str, str] | None = None

    def file(self, name: str) -> ObjectStat | None:
        return None if name in self.deleted else self.files.get(name)

    def exists(self, name: str) -> bool:
        if name in self.files:
            return name not in self.deleted
        if self._folders is None:
            self._folders = {path.rsplit("/", i)[0] for path in self.files for i in range(1, path.count("/") + 1)}
        return name in self._folders

    def holds(self, name: str, sha256: str) -> bool:
        """The same content is stored under ``name`` (maybe waiting to be deleted): keep it."""
        stored = self.files.get(name)
        if stored is None or stored.sha256 != sha256:
            return False
        self.deleted.discard(name)
        return True

    def same_content(self, sha256: str) -> str | None:
        """A name that holds exactly this content, to copy from."""
        if self._by_sha256 is None:
            self._by_sha256 = {stat.sha256: name for name, stat in self.files.items() if stat.sha256}
        name = self._by_sha256.get(sha256)
        return None if name is None or name in self.deleted else name

    def stored(self, name: str, size: int, digests: tuple[str, str] | None) -> None:
        """Saved by this storage: present, with its digests; its time is the store's to say."""
        sha256, md5 = digests or (None, None)
        self.files[name] = ObjectStat(name, size, sha256, md5, None, None, False)
        self.deleted.discard(name)
        self._folders = None
        if sha256 is not None and self._by_sha256 is not None:
            self._by_sha256[sha256] = name

    def removed(self, name: str) -> None:
        self.files.pop(name, None)
        self.deleted.discard(name)
        self._by_sha256 = None

    def take_deleted(self) -> list[str]:
        names, self.deleted = sorted(self.deleted), set()
        for name in names:
            self.removed(name)
        return names


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


class BKRepoStaticStorage(BKRepoPublicStorage):
    """Static files in a public repository, under ``static/``; overwrite on, permanent URLs.

    ``collectstatic`` asks ``exists(name)`` and ``get_modified_time(name)``
    for every file; both are answered from one listing of the static folder
    (sizes, digests and times of every file, one request per 10,000 files),
    taken at the first question and trusted while questions keep coming (up
    to a few seconds apart). Files this storage saves or deletes meanwhile
    are kept up to date in it; their time is asked from bk-repo.
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
    #: ``Cache-Control`` stored with each file: ``BKREPO_STATIC_CACHE_CONTROL``, default five minutes.
    cache_control_setting = "BKREPO_STATIC_CACHE_CONTROL"
    cache_control_default = DEFAULT_STATIC_CACHE_CONTROL

    _listing: _Listing | None = None

    def _current_listing(self) -> _Listing:
        listing = self._listing
        if listing is None or (not listing.holding and time.monotonic() - listing.used > RECENT_SECONDS):
            listing = self._listing = _Listing({stat.name: stat for stat in self.iter_files("")})
        listing.used = time.monotonic()
        return listing

    def exists(self, name: str) -> bool:
        relative = clean_name(name)
        if not relative:
            return super().exists(name)  # the root (or the location folder)
        return self._current_listing().exists(relative)

    def get_modified_time(self, name: str) -> datetime.datetime:
        stat = self._current_listing().file(clean_name(name))
        if stat is None or stat.modified_time is None:
            return super().get_modified_time(name)  # saved here, a folder, or missing: ask bk-repo
        return stat.modified_time

    def delete(self, name: str) -> None:
        listing = self._listing
        if listing is not None and listing.holding:
            relative = self._relative(name)
            if relative in listing.files:
                listing.deleted.add(relative)
            return
        super().delete(name)
        if listing is not None:
            listing.removed(self._relative(name))

    def _save(self, name: str, content: Any) -> str:
        listing = self._listing
        if listing is None:
            return str(super()._save(name, content))
        digests = _digests(content)
        if listing.holding and digests is not None:
            relative = self._relative(name)
            if listing.holds(relative, digests[0]):
                return relative  # that content is there already
            origin = listing.same_content(digests[0])
            if origin is not None and self._copy_keeps_metadata(origin, relative, content):
                self.copy(origin, relative, overwrite=True)
                listing.stored(relative, getattr(content, "size", 0) or 0, digests)
                return relative
        saved = str(super()._save(name, content))
        listing.stored(saved, getattr(content, "size", 0) or 0, digests)
        return saved

    def _copy_keeps_metadata(self, origin: str, name: str, content: Any) -> bool:
        """bk-repo's copy keeps the origin's metadata: copy only when ``name`` would be stored with the same."""
        return self.get_object_metadata(origin, content) == self.get_object_metadata(name, content)

    def __getstate__(self) -> dict[str, Any]:
        state = super().__getstate__()
        state.pop("_listing", None)
        return state


#: The manifest not read yet (see ``BKRepoManifestStaticStorage.load_manifest``).
_DEFERRED: Any = object()


class _KnownDigest:
    """Stands for a stored file's content where only its md5 is needed (``file_hash``)."""

    def __init__(self, md5: str) -> None:
        self.md5 = md5


class BKRepoManifestStaticStorage(ManifestFilesMixin, BKRepoStaticStorage):  # type: ignore[misc]  # url(name, force) vs url(name, expire)
    """``BKRepoStaticStorage`` with hashed file names and a ``staticfiles.json`` manifest.

    While ``collectstatic`` post-processes, the listing of the static folder
    also gives the md5 that Django's hashed names are made of (no file is
    read back to hash it); a file saved with the content it already has is
    not sent again, a file whose content is stored under another name with
    the same metadata is copied by bk-repo, and a deleted file that
    is saved again is never deleted. So a run where nothing changed uploads
    nothing.

    The hashed copies that post-processing writes are stored with
    ``Cache-Control: public, max-age=31536000, immutable``: their content never
    changes under their name. Everything else (the original names, the
    manifest) gets the storage's ``cache_control``. (So a hashed copy is
    uploaded rather than copied from its original, whose metadata differs.)
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Django's __init__ reads the manifest; here it is read at first use, so
        # building the storage does no I/O and never raises for missing settings.
        self._manifest_deferred = True
        super().__init__(*args, **kwargs)
        self._manifest_deferred = False

    def load_manifest(self) -> Any:  # (paths, hash); django-stubs still say a dict
        if self._manifest_deferred:
            return _DEFERRED, ""
        return super().load_manifest()

    @property
    def hashed_files(self) -> dict[str, str]:
        if self.__dict__.get("_hashed_files", _DEFERRED) is _DEFERRED:
            self._hashed_files, self._manifest_hash = self.load_manifest()
        return self._hashed_files

    @hashed_files.setter
    def hashed_files(self, value: dict[str, str]) -> None:
        self._hashed_files = value

    @property
    def manifest_hash(self) -> str:
        self.hashed_files  # noqa: B018 - the manifest gives both
        return self._manifest_hash

    @manifest_hash.setter
    def manifest_hash(self, value: str) -> None:
        self._manifest_hash = value

    def post_process(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        if kwargs.get("dry_run"):
            yield from super().post_process(*args, **kwargs)
            return
        listing = self._current_listing()
        listing.holding = True
        try:
            yield from super().post_process(*args, **kwargs)
            listing.holding = False
            for name in listing.take_deleted():
                super().delete(name)
        finally:
            listing.holding = False

    def get_object_metadata(self, name: str, content: Any) -> dict[str, str]:
        metadata = super().get_object_metadata(name, content)
        if self.carries_content_hash(name):
            metadata = {key: value for key, value in metadata.items() if key.lower() != "cache-control"}
            metadata["Cache-Control"] = IMMUTABLE_CACHE_CONTROL
        return metadata

    def carries_content_hash(self, name: str) -> bool:
        """Whether ``name`` is a hashed copy being written by post-processing (never the manifest)."""
        listing = self._listing
        return (
            listing is not None
            and listing.holding
            and clean_name(name) != clean_name(self.manifest_name)
            and HASHED_NAME.fullmatch(posixpath.basename(name)) is not None
        )

    def hashed_name(self, name: str, content: Any = None, filename: str | None = None) -> str:
        listing = self._listing
        if content is None and listing is not None and type(self).file_hash is BKRepoManifestStaticStorage.file_hash:
            target = (filename and urlsplit(unquote(filename)).path.strip()) or urlsplit(unquote(name)).path.strip()
            stat = listing.file(clean_name(target))
            if stat is not None and stat.md5:
                content = _KnownDigest(stat.md5)
        return str(super().hashed_name(name, content, filename))

    def file_hash(self, name: str, content: Any = None) -> str | None:
        if isinstance(content, _KnownDigest):
            return content.md5[:12]  # what HashedFilesMixin.file_hash makes of the same bytes
        return HashedFilesMixin.file_hash(self, name, content)
