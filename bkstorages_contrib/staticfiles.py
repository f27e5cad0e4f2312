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
import threading
import time
from typing import Any

from django.contrib.staticfiles.storage import ManifestFilesMixin

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


class BKRepoManifestStaticStorage(ManifestFilesMixin, BKRepoStaticStorage):  # type: ignore[misc]  # url(name, force) vs url(name, expire)
    """``BKRepoStaticStorage`` with hashed file names and a ``staticfiles.json`` manifest."""
