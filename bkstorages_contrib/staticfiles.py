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

import os
from typing import Any

from django.conf import settings
from django.contrib.staticfiles.storage import ManifestFilesMixin

from bkstorages.backends.bkrepo import BKRepoPublicStorage

__all__ = ["BKRepoManifestStaticStorage", "BKRepoStaticStorage"]

STATIC_BUCKET_SETTING = "BKREPO_STATIC_BUCKET"
STATIC_LOCATION_SETTING = "BKREPO_STATIC_LOCATION"
DEFAULT_STATIC_LOCATION = "static"


def _configured(name: str) -> str | None:
    """A BKREPO_* value from Django settings, else the environment (the order bkstorages uses)."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    if isinstance(value, str) and not value.strip():
        return None
    return value


class BKRepoStaticStorage(BKRepoPublicStorage):
    """Static files in a public repository, under ``static/``; overwrite on, permanent URLs."""

    #: Collected files replace the previous version under the same name.
    file_overwrite = True
    #: The repository is treated as public: URLs are built locally and never signed.
    public = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Only the instance changes here; deconstruct() still reports just what the caller passed.
        has_bucket = "bucket" in kwargs or len(args) > self.positional_options.index("bucket")
        if not has_bucket and _configured(STATIC_BUCKET_SETTING) is not None:
            self.bucket_setting = STATIC_BUCKET_SETTING
        has_location = "location" in kwargs or "root_path" in kwargs or len(args) > 0
        if not has_location:
            kwargs["location"] = _configured(STATIC_LOCATION_SETTING) or DEFAULT_STATIC_LOCATION
        super().__init__(*args, **kwargs)


class BKRepoManifestStaticStorage(ManifestFilesMixin, BKRepoStaticStorage):  # type: ignore[misc]  # url(name, force) vs url(name, expire)
    """``BKRepoStaticStorage`` with hashed file names and a ``staticfiles.json`` manifest."""
