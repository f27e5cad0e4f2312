"""The name pipeline: how a storage name becomes a key in the bucket, checked before any request.

Every name a storage is given goes through :func:`clean_name` once (the one
place for backslashes, ``.``/``..``, duplicate and leading slashes), then the
location prefix is applied by :func:`join_key`, which also limits the depth.
Names that would escape the storage root, or that the store would silently
change, raise ``SuspiciousFileOperation``, like Django's ``FileSystemStorage``.
"""

from __future__ import annotations

import os
import posixpath
import re
from typing import Any

from django.core.exceptions import SuspiciousFileOperation

from bkstorages.exceptions import shorten

__all__ = ["MAX_DEPTH", "MAX_SEGMENT_LENGTH", "clean_name", "join_key", "relative_name", "split_filename"]

_CONTROL_CHARS = re.compile(r"[\x00-\x1f\x7f]")
_DRIVE = re.compile(r"^[A-Za-z]:")
#: bk-repo refuses (or shortens) longer path segments.
MAX_SEGMENT_LENGTH = 1024
#: Folders deeper than this are refused before any request.
MAX_DEPTH = 64


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
    if _CONTROL_CHARS.search(name):
        raise SuspiciousFileOperation(f"File name {_shown(name)} contains control characters.")
    name = name.replace("\\", "/")
    relative = name.lstrip("/")
    if _DRIVE.match(relative):
        raise SuspiciousFileOperation(f"File name {_shown(name)} starts with a drive letter.")
    parts: list[str] = []
    for segment in relative.split("/"):
        if segment in ("", "."):
            continue
        if segment == "..":
            if not parts:
                raise SuspiciousFileOperation(f"Detected path traversal attempt in {_shown(name)}.")
            parts.pop()
            continue
        if segment != segment.strip():
            raise SuspiciousFileOperation(
                f"File name {_shown(name)} has a path segment with leading or trailing spaces."
            )
        if len(segment) > MAX_SEGMENT_LENGTH:
            raise SuspiciousFileOperation(
                f"File name {_shown(name)} has a path segment longer than {MAX_SEGMENT_LENGTH}."
            )
        parts.append(segment)
    return "/".join(parts)


def _shown(name: str) -> str:
    """How an error shows a name: quoted, and cut so that a huge name is never echoed whole."""
    return repr(shorten(name))


def relative_name(name: Any, *, allow_root: bool = False) -> str:
    """The clean name relative to the storage root; empty (the root itself) only when ``allow_root``."""
    relative = clean_name(name)
    if not relative and not allow_root:
        raise SuspiciousFileOperation(f"File name {shorten(name)!r} is empty; a file name is needed.")
    return relative


def join_key(location: str, relative: str) -> str:
    """The full key in the bucket: the location prefix, applied in this one place, and the depth limit."""
    key = f"{location}/{relative}" if location and relative else (location or relative)
    if key.count("/") + 1 > MAX_DEPTH:
        raise SuspiciousFileOperation(f"File name {shorten(relative)!r} is nested more than {MAX_DEPTH} levels deep.")
    return key


def split_filename(filename: str | os.PathLike[str]) -> tuple[str, str]:
    """``(folder, basename)`` of an upload's file name with POSIX separators on every OS.

    A ``..`` in the folder is refused as in Django's ``Storage.generate_filename()``.
    """
    filename = os.fspath(filename).replace("\\", "/")
    dirname, basename = posixpath.split(filename)
    if ".." in dirname.split("/"):
        raise SuspiciousFileOperation(f"Detected path traversal attempt in '{dirname}'")
    return dirname, basename
