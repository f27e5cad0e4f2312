"""Models that use bkstorages through FileField and ImageField.

The storages are callables (Django >= 3.1), as the README recommends: a
migration then names the function, never a storage instance or its options.
Both return Django's ``default_storage``, which the tests point at bk-repo
with ``override_settings(STORAGES=...)``; imports need no BKREPO_* settings.
"""

from __future__ import annotations

from django.core.files.storage import Storage, default_storage
from django.db import models


def document_storage() -> Storage:
    return default_storage


def picture_storage() -> Storage:
    return default_storage


class Document(models.Model):
    title = models.CharField(max_length=100, blank=True)
    file = models.FileField(upload_to="docs/%Y/", storage=document_storage, max_length=100)


class Picture(models.Model):
    image = models.ImageField(
        upload_to="pictures/", storage=picture_storage, width_field="width", height_field="height"
    )
    width = models.PositiveIntegerField(null=True, blank=True)
    height = models.PositiveIntegerField(null=True, blank=True)
