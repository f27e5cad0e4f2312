"""RemoteStorage: the store-agnostic half of a Django storage on a remote object store.

It owns the name pipeline (clean, then check, before any request), the
overwrite policy (in Django's own naming hooks), the race retry of saves,
signed-URL caching, file objects, time conversion, pickling and
``deconstruct()``. A backend (``bkstorages.backends.bkrepo``) supplies the
``_store_*`` methods that actually talk to the store.
"""

from __future__ import annotations

import contextvars
import datetime
import os
import posixpath
import re
import threading
import weakref
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import IO, TYPE_CHECKING, Any

from django.core.exceptions import SuspiciousFileOperation
from django.core.files import File
from django.core.files.storage import Storage
from django.core.signals import setting_changed
from django.utils import timezone
from django.utils.deconstruct import deconstructible

from bkstorages import compat, conf
from bkstorages.exceptions import ObjectAlreadyExists, shorten
from bkstorages.files import Reader, RemoteFile
from bkstorages.sources import UploadSource
from bkstorages.urlcache import SignedURLCache

__all__ = ["ObjectStat", "RemoteStorage", "clean_name", "reset_all_options"]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
MAX_SEGMENT_LENGTH = 1024
MAX_DEPTH = 64
MAX_RENAMES = 10

# max_length of the save() in progress, for picking a new name after a race in _save().
_save_max_length: contextvars.ContextVar[int | None] = contextvars.ContextVar("bkstorages_max_length", default=None)
# With overwrite off, save() lets the store refuse a taken name (it does so atomically) instead of
# asking first: names it refused during this save(), and, only while get_available_name() runs,
# the same set as the answer to "is this name taken?".
_refused_names: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("bkstorages_refused", default=None)
_judged_by: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("bkstorages_judged_by", default=None)
#: bk-repo's NODE_EXISTED: the name is taken (251013, a conflict, is never solved by another name).
_NAME_TAKEN = 251012


def clean_name(name: Any) -> str:
    """Clean a storage name: the one name pipeline.

    Backslashes become ``/``; a leading ``/`` means the bucket root and is
    dropped; empty and ``.`` segments are dropped; ``..`` removes the previous
    segment. Raises ``SuspiciousFileOperation`` for control characters (NUL
    included), drive letters (``C:``), ``..`` escaping the root, and segments
    bk-repo would silently change (leading/trailing spaces, over 1024 chars).
    Returns the relative name (``""`` for the root).
    """
    if not isinstance(name, str):
        raise TypeError(f"storage names must be str, not {type(name).__name__}")
    shown = repr(shorten(name))  # the errors below never echo a huge name whole
    if _CONTROL_CHARS.search(name):
        raise SuspiciousFileOperation(f"File name {shown} contains control characters.")
    name = name.replace("\\", "/")
    relative = name.lstrip("/")
    if _DRIVE.match(relative):
        raise SuspiciousFileOperation(f"File name {shown} starts with a drive letter.")
    parts: list[str] = []
    for segment in relative.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise SuspiciousFileOperation(f"Detected path traversal attempt in {shown}.")
            parts.pop()
            continue
        if segment != segment.strip():
            raise SuspiciousFileOperation(f"File name {shown} has a path segment with leading or trailing spaces.")
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise SuspiciousFileOperation(f"File name {shown} has a path segment longer than {MAX_SEGMENT_LENGTH}.")
        parts.append(segment)
    return "/".join(parts)


def check_content(content: Any) -> None:
    """Refuse, before any request, content that is no file (``TypeError``) or a closed file (``ValueError``)."""
    if not callable(getattr(content, "read", None)):
        raise TypeError(
            f"save() needs a file to store (a django File, e.g. ContentFile(b'...'), or an open binary file), "
            f"not {type(content).__name__}"
        )
    if _is_closed(content):
        raise ValueError(f"save() was given a closed file ({type(content).__name__}); open it again before saving")


def _is_closed(content: Any) -> bool:
    """Whether ``content`` is closed; a django ``File`` by the file it wraps, a ``FieldFile`` not yet opened is not."""
    from django.db.models.fields.files import FieldFile

    attributes = getattr(content, "__dict__", {})
    if isinstance(content, FieldFile):
        inner = attributes.get("_file")  # opened on first use
        return inner is not None and _is_closed(inner)
    if isinstance(content, File) and "file" in attributes:
        inner = attributes["file"]
        return inner is not None and inner is not content and _is_closed(inner)
    return getattr(content, "closed", False) is True


@dataclass(frozen=True)
class ObjectStat:
    """What one metadata request says about an object (``storage.stat(name)``)."""

    name: str
    size: int
    sha256: str | None
    md5: str | None
    modified_time: datetime.datetime | None
    created_time: datetime.datetime | None
    is_dir: bool
    accessed_time: datetime.datetime | None = None


@deconstructible
class _DeconstructibleStorage(Storage):
    """Records constructor arguments (Django's ``@deconstructible``) for subclasses."""


class resolved:
    """A public storage attribute read from the resolved options (resolving them at first use).

    Reading one costs a descriptor call; the hot paths read
    ``self._resolved`` (a plain instance attribute) instead.
    """

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, instance: Any, owner: type | None = None) -> Any:
        if instance is None:
            # A subclass's class attribute (``location = "static"``) is configuration, kept here.
            return getattr(owner, "_class_values", {}).get(self.name, self)
        return getattr(instance._resolved or instance._resolve(), self.name)

    def __set__(self, instance: Any, value: Any) -> None:
        raise AttributeError(f"'{self.name}' comes from the storage's options; pass it to the constructor")


class ResolvedOptions:
    """The attributes a storage built from its resolved options (its client among them)."""

    def __init__(self, attributes: dict[str, Any]) -> None:
        for name, value in attributes.items():
            # setattr, not __dict__.update(): CPython keeps the values inline (the fastest reads).
            setattr(self, name, value)

    if TYPE_CHECKING:  # the attributes differ by storage class

        def __getattr__(self, name: str) -> Any: ...


_storages: weakref.WeakSet[RemoteStorage] = weakref.WeakSet()


def reset_all_options() -> None:
    """Every storage alive (per-field ones too) resolves its options again: after BKREPO_* settings or env change."""
    for storage in list(_storages):
        storage.reset_options()


def _on_setting_changed(*, setting: str, **kwargs: Any) -> None:
    if conf.affects_storages(setting):
        reset_all_options()


setting_changed.connect(_on_setting_changed, dispatch_uid="bkstorages.backends.base.setting_changed")


class RemoteStorage(_DeconstructibleStorage):
    """A Django storage whose files live in a remote object store.

    Options are resolved at first use (see ``bkstorages.conf``), not at
    construction: a subclass implements ``_resolve_attributes_now()``,
    returning every ``resolved`` attribute, usually starting from
    ``_common_attributes()``. They are resolved again after Django's
    ``setting_changed`` for a ``BKREPO_*`` setting.
    """

    file_class = RemoteFile
    # Options never written by deconstruct() (migrations are not a secret store).
    secret_options: frozenset[str] = frozenset({"password"})
    # Positional constructor arguments, in order, for deconstruct().
    positional_options: tuple[str, ...] = ()
    # Plain class attributes of subclasses that shadow a resolved attribute (configuration).
    _class_values: dict[str, Any] = {}

    if TYPE_CHECKING:
        location: str
        file_overwrite: bool
        url_expire_seconds: int
        url_preview: bool
        max_memory_size: int
        time_zone: str
        url_cache: SignedURLCache
        cache_control: str | None
        object_metadata: dict[str, str] | None
    else:
        location = resolved()
        file_overwrite = resolved()
        url_expire_seconds = resolved()
        url_preview = resolved()
        max_memory_size = resolved()
        time_zone = resolved()
        url_cache = resolved()
        cache_control = resolved()
        object_metadata = resolved()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        class_values = dict(cls._class_values)
        for name, value in list(vars(cls).items()):
            if isinstance(value, resolved):
                continue
            inherited = next((vars(base)[name] for base in cls.__mro__[1:] if name in vars(base)), None)
            if isinstance(inherited, resolved):
                # ``location = "static"`` on a subclass: keep the value as configuration (a class
                # attribute in the order of precedence) and the attribute resolved, so every read
                # goes through the resolution (which cleans and checks it).
                class_values[name] = value
                setattr(cls, name, inherited)
        cls._class_values = class_values

    def __init__(self) -> None:
        self._init_runtime()

    def _init_runtime(self) -> None:
        self._resolved: ResolvedOptions | None = None
        self._resolve_lock = threading.RLock()
        self._signing_lock = threading.Lock()
        _storages.add(self)

    # -- options --------------------------------------------------------------------

    def _resolve(self) -> ResolvedOptions:
        """The resolved options, resolving them if they are not (or no longer) resolved.

        Hot paths read ``self._resolved or self._resolve()``: after the first
        use that is one plain attribute read.
        """
        with self._resolve_lock:
            resolved_options = self._resolved
            if resolved_options is None:
                resolved_options = self._resolved = ResolvedOptions(self._resolve_attributes_now())
            return resolved_options

    def reset_options(self) -> None:
        """Forget the resolved options (and the client built from them); the next use resolves again."""
        with self._resolve_lock:
            self._resolved = None

    @property
    def options_resolved(self) -> bool:
        """Whether the options are resolved (they are at first use)."""
        return self._resolved is not None

    def _resolve_attributes_now(self) -> dict[str, Any]:
        """Resolve the options (raising ImproperlyConfigured) and return every resolved attribute."""
        raise NotImplementedError

    def _common_attributes(self, values: dict[str, Any], url_cache_namespace: str) -> dict[str, Any]:
        """The store-agnostic resolved attributes, from resolved option values."""
        return {
            "location": values["location"],
            "file_overwrite": values["file_overwrite"],
            "url_expire_seconds": values["url_expire_seconds"],
            "url_preview": values["url_preview"],
            "max_memory_size": values["max_memory_size"],
            "time_zone": values["time_zone"],
            "cache_control": values["cache_control"],
            "object_metadata": values["object_metadata"],
            "url_cache": SignedURLCache(
                maxsize=values["url_cache_size"], alias=values["url_cache_alias"], namespace=url_cache_namespace
            ),
        }

    # -- names ----------------------------------------------------------------------

    def _relative(self, name: Any, *, allow_root: bool = False) -> str:
        """The clean name relative to the storage root; empty only when ``allow_root``."""
        relative = clean_name(name)
        if not relative and not allow_root:
            raise SuspiciousFileOperation(f"File name {shorten(name)!r} is empty; a file name is needed.")
        return relative

    def _key(self, relative: str) -> str:
        """The full key in the bucket: the location prefix is applied here, once."""
        location = (self._resolved or self._resolve()).location
        key = f"{location}/{relative}" if location and relative else (location or relative)
        if key.count("/") + 1 > MAX_DEPTH:
            raise SuspiciousFileOperation(
                f"File name {shorten(relative)!r} is nested more than {MAX_DEPTH} levels deep."
            )
        return key

    def key(self, name: Any, *, allow_root: bool = False) -> str:
        """The bucket key of a storage name (checked; raises SuspiciousFileOperation)."""
        return self._key(self._relative(name, allow_root=allow_root))

    def generate_filename(self, filename: str | os.PathLike[str]) -> str:
        """Like Django's, with POSIX paths on every OS (and the same traversal check)."""
        filename = os.fspath(filename).replace("\\", "/")
        dirname, basename = posixpath.split(filename)
        if ".." in dirname.split("/"):
            raise SuspiciousFileOperation(f"Detected path traversal attempt in '{dirname}'")
        return posixpath.normpath(posixpath.join(dirname, self.get_valid_name(basename)))

    def get_available_name(self, name: str, max_length: int | None = None) -> str:
        name = self._relative(name)
        if self.file_overwrite and not compat.HAS_IS_NAME_AVAILABLE:
            return compat.get_available_overwrite_name(name, max_length)
        refused = _refused_names.get()
        if refused is None:
            return str(super().get_available_name(name, max_length=max_length))
        # Inside save(): a name is free unless the store refused it, so a free name costs one upload.
        token = _judged_by.set(refused)
        try:
            return str(super().get_available_name(name, max_length=max_length))
        finally:
            _judged_by.reset(token)

    def is_name_available(self, name: str, max_length: int | None = None) -> bool:
        """Django 5.1+: with overwrite on, any name that fits is available (``exists()`` still tells the truth)."""
        fits = max_length is None or len(name) <= max_length
        if self.file_overwrite:
            return fits
        refused = _judged_by.get()
        if refused is not None:
            return fits and clean_name(name) not in refused
        return bool(super().is_name_available(name, max_length=max_length))

    def get_alternative_name(self, file_root: str, file_ext: str) -> str:
        if self.file_overwrite:
            return f"{file_root}{file_ext}"
        return str(super().get_alternative_name(file_root, file_ext))

    # -- save -------------------------------------------------------------------------

    def save(self, name: str | None, content: Any, max_length: int | None = None) -> str:
        """Check the content and clean the name first (a leading ``/`` is the bucket root), then Django's save()."""
        check_content(content)
        if name is None:
            name = content.name
        name = self._relative(name)
        self._object_metadata(name, content)  # metadata the store cannot carry is refused before any request
        token = _save_max_length.set(max_length)
        refused = _refused_names.set(None if self.file_overwrite else set())
        try:
            return str(super().save(name, content, max_length=max_length))
        finally:
            _refused_names.reset(refused)
            _save_max_length.reset(token)

    def _save(self, name: str, content: Any) -> str:
        """Stream ``content`` to the store; returns the clean name relative to the storage root.

        With overwrite off the upload itself asks for the name: when the store
        says it is taken, another name is picked (Django's pattern) and tried,
        so nothing is replaced and a free name costs one request.
        """
        relative = self._relative(name)
        source = UploadSource.from_fileobj(content, spool_dir=conf.file_upload_temp_dir())
        try:
            for _attempt in range(MAX_RENAMES):
                metadata = self._object_metadata(relative, content)
                try:
                    self._store_upload(self._key(relative), source, overwrite=self.file_overwrite, metadata=metadata)
                except ObjectAlreadyExists as error:
                    if self.file_overwrite or error.code not in (None, _NAME_TAKEN):
                        raise
                    refused = _refused_names.get()
                    if refused is not None:
                        refused.add(relative)
                    relative = self._relative(self.get_available_name(relative, max_length=_save_max_length.get()))
                    continue
                return relative
        finally:
            source.close()
        raise ObjectAlreadyExists(f"could not find a free name for {name!r} after {MAX_RENAMES} tries")

    def upload_file(self, name: str, fileobj: IO[bytes], *, exclusive: bool = False) -> None:
        """Store ``fileobj`` under exactly ``name`` (used by files opened for writing)."""
        key, metadata = self.key(name), self._object_metadata(name, File(fileobj, name=name))
        source = UploadSource.from_fileobj(fileobj, spool_dir=conf.file_upload_temp_dir())
        try:
            self._store_upload(key, source, overwrite=not exclusive, metadata=metadata)
        finally:
            source.close()

    # -- metadata ---------------------------------------------------------------------

    def get_object_metadata(self, name: str, content: Any) -> dict[str, str]:
        """The metadata stored with ``name`` when ``content`` is saved there (override to choose per file):
        the ``object_metadata`` option, and ``Cache-Control`` from ``cache_control`` (winning over such a
        key of any case). What the store cannot carry raises ``ValueError`` before any request."""
        options = self._resolved or self._resolve()
        metadata = dict(options.object_metadata or {})
        if options.cache_control:
            metadata = {key: value for key, value in metadata.items() if str(key).lower() != "cache-control"}
            metadata["Cache-Control"] = options.cache_control
        return metadata

    def _object_metadata(self, name: str, content: Any) -> dict[str, str]:
        """``get_object_metadata()``, checked by the store (ValueError for what it cannot carry)."""
        metadata = dict(self.get_object_metadata(name, content))
        self._store_check_metadata(metadata)
        return metadata

    def get_metadata(self, name: str) -> dict[str, str]:
        """The metadata the store holds for ``name`` (FileNotFoundError when there is no such object)."""
        return self._store_metadata(self.key(name))

    # -- open -------------------------------------------------------------------------

    def open(self, name: str, mode: str = "rb", encoding: str | None = None) -> RemoteFile:
        """A lazy :class:`~bkstorages.files.RemoteFile`; text modes decode with ``encoding`` (UTF-8)."""
        return self._open(name, mode, encoding=encoding)

    def _open(self, name: str, mode: str = "rb", encoding: str | None = None) -> RemoteFile:
        return self.file_class(self._relative(name), mode, self, encoding=encoding)

    def open_reader(self, name: str, start: int = 0) -> Reader:
        return self._store_reader(self.key(name), start)

    def download_into(self, name: str, fileobj: IO[bytes]) -> None:
        self._store_download(self.key(name), fileobj)

    # -- queries ----------------------------------------------------------------------

    def exists(self, name: str) -> bool:
        """True when a file or folder has this name; False only when the store says 404."""
        refused = _judged_by.get()
        if refused is not None:  # Django 4.2's get_available_name() inside save(): see there
            return clean_name(name) in refused
        key = self.key(name, allow_root=True)
        if not key:
            return True
        return self._store_exists(key)

    def delete(self, name: str) -> None:
        """Delete a file; deleting a missing file is fine."""
        if not name:
            raise ValueError("The name must be given to delete().")
        self._store_delete(self.key(name))

    def delete_folder(self, name: str) -> None:
        """Delete the folder ``name`` and everything in it, in one request; a missing folder is fine.

        The storage root (``""`` or ``"/"``) is refused with ValueError: delete
        its folders one by one if that is really meant.
        """
        relative = self._relative(name, allow_root=True)
        if not relative:
            raise ValueError("delete_folder() does not delete the storage root; name a folder inside it.")
        self._store_delete_folder(self._key(relative))

    def copy(self, source: str, target: str, *, overwrite: bool | None = None) -> None:
        """Copy the file ``source`` to ``target`` inside the store: no bytes pass through this process.

        ``overwrite`` defaults to the storage's ``file_overwrite``; without it
        an existing ``target`` raises ObjectAlreadyExists and is left as it
        was. A missing ``source`` raises FileNotFoundError. Like ``cp``, a
        ``target`` that is an existing folder receives the file under its own
        name, and a folder ``source`` is copied with everything in it.
        """
        self._store_copy(self.key(source), self.key(target), overwrite=self._overwrite(overwrite), move=False)

    def move(self, source: str, target: str, *, overwrite: bool | None = None) -> None:
        """Move ``source`` to ``target`` inside the store, like :meth:`copy` but ``source`` is gone afterwards."""
        self._store_copy(self.key(source), self.key(target), overwrite=self._overwrite(overwrite), move=True)

    def _overwrite(self, overwrite: bool | None) -> bool:
        return self.file_overwrite if overwrite is None else bool(overwrite)

    def iter_files(self, path: str = "") -> Iterator[ObjectStat]:
        """Every file below the folder ``path`` with its size, digests and times, from listing pages.

        One request per page (``BKREPO_LIST_PAGE_SIZE`` files) instead of one
        per file; names are relative to the storage root.
        """
        prefix = self._relative(path, allow_root=True)
        for stat in self._store_walk(self._key(prefix)):
            modified, created = self._django_time(stat.modified_time), self._django_time(stat.created_time)
            yield ObjectStat(stat.name, stat.size, stat.sha256, stat.md5, modified, created, False)

    def size(self, name: str) -> int:
        return self._store_size(self.key(name))

    def stat(self, name: str) -> ObjectStat:
        """Size, digests, times and kind of ``name`` from one metadata request."""
        relative = self._relative(name)
        stat = self._store_stat(self._key(relative))
        return ObjectStat(
            name=relative,
            size=stat.size,
            sha256=stat.sha256,
            md5=stat.md5,
            modified_time=self._django_time(stat.modified_time),
            created_time=self._django_time(stat.created_time),
            accessed_time=self._django_time(stat.accessed_time),
            is_dir=stat.is_dir,
        )

    def listdir(self, path: str) -> tuple[list[str], list[str]]:
        """``(directories, files)`` directly in ``path``, sorted; a missing directory gives ``([], [])``."""
        directories: list[str] = []
        files: list[str] = []
        for entry_name, is_dir in self._store_list(self.key(path, allow_root=True)):
            (directories if is_dir else files).append(entry_name)
        return sorted(directories), sorted(files)

    def _django_time(self, value: datetime.datetime | None) -> datetime.datetime | None:
        """Aware UTC with USE_TZ, naive local time without (like FileSystemStorage)."""
        if value is None:
            return None
        value = value.astimezone(datetime.timezone.utc)
        if conf.use_tz():
            return value
        if not conf.settings_configured():
            return value.astimezone().replace(tzinfo=None)  # no Django settings: this machine's local time
        return timezone.make_naive(value, timezone.get_default_timezone())

    def get_modified_time(self, name: str) -> datetime.datetime:
        value = self.stat(name).modified_time
        if value is None:
            raise NotImplementedError("the store reports no modification time")
        return value

    def get_created_time(self, name: str) -> datetime.datetime:
        value = self.stat(name).created_time
        if value is None:
            raise NotImplementedError("the store reports no creation time")
        return value

    def get_accessed_time(self, name: str) -> datetime.datetime:
        value = self.stat(name).accessed_time
        if value is None:
            raise NotImplementedError("the store does not record access times for this file")
        return value

    # bkstorages 3.x kept these pre-Django-2.0 names.
    def accessed_time(self, name: str) -> datetime.datetime:
        return self.get_accessed_time(name)

    def created_time(self, name: str) -> datetime.datetime:
        return self.get_created_time(name)

    def modified_time(self, name: str) -> datetime.datetime:
        return self.get_modified_time(name)

    # -- URLs -------------------------------------------------------------------------

    @property
    def is_public(self) -> bool:
        return self._store_is_public()

    def url(self, name: str | None, expire: int | None = None, download: bool | None = None) -> str:
        """A URL for ``name``: permanent for public buckets (no request), else signed and cached.

        ``expire``: seconds a signed link lives (a cached one is reused only for the same lifetime);
        ``download``: ``True`` saves the file, ``False`` shows it inline, ``None`` the storage's default."""
        if name is None:
            raise ValueError("This file is not accessible via a URL.")
        return self.urls([name], expire=expire, download=download)[name]

    def urls(self, names: Iterable[str], expire: int | None = None, download: bool | None = None) -> dict[str, str]:
        """URLs for many names; a private bucket signs every uncached one in one request."""
        names = list(names)
        keys = {name: self.key(name) for name in names}
        if self._store_is_public():
            return {name: self._store_public_url(key, download=download) for name, key in keys.items()}
        resolved_options = self._resolved or self._resolve()
        expire = self._expire_seconds(expire)
        wanted = list(dict.fromkeys(keys.values()))
        found = resolved_options.url_cache.get_many(wanted, expire)
        if len(found) < len(wanted):
            # One signing request at a time, so threads asking for the same
            # name at once share one URL instead of each minting their own.
            with self._signing_lock:
                found.update(resolved_options.url_cache.get_many([key for key in wanted if key not in found], expire))
                missing = [key for key in wanted if key not in found]
                if missing:
                    signed = self._store_signed_urls(missing, expire)
                    resolved_options.url_cache.set_many(signed, expire)
                    found.update(signed)
        return {name: self._store_link(found[key], download=download) for name, key in keys.items()}

    def upload_url(self, name: str, expire: int | None = None, permits: int | None = 1) -> str:
        """A signed link to which a client may ``PUT`` the bytes of ``name`` without credentials.

        The name is cleaned and checked as by ``save()`` but kept (call ``get_available_name()`` first);
        the link lives ``expire`` seconds for ``permits`` uploads (``None``: any number), never cached."""
        key = self.key(name)
        if permits is not None and (isinstance(permits, bool) or int(permits) < 1):
            raise ValueError("permits must be a positive number of uploads, or None for any number")
        return self._store_upload_url(key, self._expire_seconds(expire), None if permits is None else int(permits))

    def _expire_seconds(self, expire: int | None) -> int:
        seconds = (self._resolved or self._resolve()).url_expire_seconds if expire is None else int(expire)
        if seconds <= 0:
            raise ValueError("expire must be a positive number of seconds")
        return seconds

    # -- what a backend supplies ------------------------------------------------------

    def _store_upload(self, key: str, source: UploadSource, *, overwrite: bool, metadata: dict[str, str]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_upload()")

    def _store_reader(self, key: str, start: int) -> Reader:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_reader()")

    def _store_download(self, key: str, fileobj: IO[bytes]) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_download()")

    def _store_exists(self, key: str) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_exists()")

    def _store_delete(self, key: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_delete()")

    def _store_size(self, key: str) -> int:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_size()")

    def _store_stat(self, key: str) -> ObjectStat:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_stat()")

    def _store_list(self, key: str) -> Iterator[tuple[str, bool]]:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_list()")

    def _store_walk(self, key: str) -> Iterator[ObjectStat]:
        """Every file below folder ``key``, named relative to the storage root."""
        raise NotImplementedError(f"{type(self).__name__} must implement _store_walk()")

    def _store_copy(self, source: str, target: str, *, overwrite: bool, move: bool) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_copy()")

    def _store_delete_folder(self, key: str) -> None:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_delete_folder()")

    def _store_is_public(self) -> bool:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_is_public()")

    def _store_public_url(self, key: str, *, download: bool | None) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_public_url()")

    def _store_signed_urls(self, keys: list[str], expire: int) -> dict[str, str]:
        """Signed download links as the store gives them (cached as they are; see ``_store_link``)."""
        raise NotImplementedError(f"{type(self).__name__} must implement _store_signed_urls()")

    def _store_link(self, url: str, *, download: bool | None) -> str:
        """A signed link made to download (``True``), show inline (``False``) or do the store's default."""
        raise NotImplementedError(f"{type(self).__name__} must implement _store_link()")

    def _store_upload_url(self, key: str, expire: int, permits: int | None) -> str:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_upload_url()")

    def _store_check_metadata(self, metadata: dict[str, str]) -> None:
        """Raise ValueError for metadata the store cannot carry."""
        raise NotImplementedError(f"{type(self).__name__} must implement _store_check_metadata()")

    def _store_metadata(self, key: str) -> dict[str, str]:
        raise NotImplementedError(f"{type(self).__name__} must implement _store_metadata()")

    # -- copies and migrations ----------------------------------------------------------

    def deconstruct(self) -> tuple[str, tuple[Any, ...], dict[str, Any]]:
        """Only the options the caller passed, and never a secret."""
        path, args, kwargs = super().deconstruct()  # type: ignore[misc]
        kwargs = dict(kwargs)
        for option, value in zip(self.positional_options, args, strict=False):
            kwargs.setdefault(option, value)
        for option in self.secret_options:
            kwargs.pop(option, None)
        return path, (), kwargs

    def __getstate__(self) -> dict[str, Any]:
        """The given options only: a copy resolves its own at first use."""
        state = self.__dict__.copy()
        for name in ("_signing_lock", "_resolve_lock", "_resolved"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._init_runtime()
