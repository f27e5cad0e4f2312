"""Code for Django versions before 5.1: the one place it lives.

Django 5.1 added ``Storage.is_name_available()``, so an overwriting storage
only overrides that hook and ``get_alternative_name()``. On 4.2 the whole of
``get_available_name()`` has to be replaced; this module does that with the
same validation Django applies. Django 4.2 also still reads the
``DEFAULT_FILE_STORAGE`` and ``STATICFILES_STORAGE`` settings, which 5.1
ignores: :func:`legacy_storage_backends` says which of them a project sets.
Delete this module when Django 4.2 support ends.
"""

from __future__ import annotations

import posixpath
from pathlib import PurePosixPath

import django
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.utils import validate_file_name

__all__ = [
    "HAS_IS_NAME_AVAILABLE",
    "READS_LEGACY_STORAGE_SETTINGS",
    "get_available_overwrite_name",
    "legacy_storage_backends",
]

HAS_IS_NAME_AVAILABLE = django.VERSION >= (5, 1)

#: Django before 5.1 reads DEFAULT_FILE_STORAGE and STATICFILES_STORAGE (and they win over STORAGES).
READS_LEGACY_STORAGE_SETTINGS = django.VERSION < (5, 1)

#: The STORAGES alias each legacy setting configures.
LEGACY_STORAGE_SETTINGS = (("default", "DEFAULT_FILE_STORAGE"), ("staticfiles", "STATICFILES_STORAGE"))


def legacy_storage_backends() -> dict[str, tuple[str, str]]:
    """alias -> (setting name, backend) of each legacy storage setting the project sets; empty from Django 5.1 on.

    As Django 4.2's storage handler reads them: only a setting the project
    (or ``override_settings``) set counts, not Django's default.
    """
    if not READS_LEGACY_STORAGE_SETTINGS:
        return {}
    from django.conf import settings

    found = {}
    for alias, name in LEGACY_STORAGE_SETTINGS:
        value = getattr(settings, name, None)
        if isinstance(value, str) and settings.is_overridden(name):  # type: ignore[misc]  # missing from django-stubs
            found[alias] = (name, value)
    return found


def get_available_overwrite_name(name: str, max_length: int | None) -> str:
    """The name to overwrite on Django 4.2: validated like Django does, only truncated to fit."""
    name = str(name).replace("\\", "/")
    dir_name, file_name = posixpath.split(name)
    if ".." in PurePosixPath(dir_name).parts:
        raise SuspiciousFileOperation(f"Detected path traversal attempt in '{dir_name}'")
    validate_file_name(file_name)
    if max_length is None or len(name) <= max_length:
        return name
    file_root, file_ext = posixpath.splitext(file_name)
    truncation = len(name) - max_length
    file_root = file_root[:-truncation]
    if not file_root:
        raise SuspiciousFileOperation(
            f'Storage tried to truncate away entire filename "{name}". '
            'Please make sure that the corresponding file field allows sufficient "max_length".'
        )
    return posixpath.join(dir_name, file_root + file_ext)
