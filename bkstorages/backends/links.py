"""Links to a storage's files: permanent public URLs, signed URLs with their cache, upload links.

Store-agnostic like ``RemoteStorage``, which this mixin is part of: a public
bucket's URLs are string formatting (no request); a private bucket's are
signed by the store, many per request, and cached for less than they live;
upload links are signed for each call and never cached. A backend supplies
the ``_store_*`` link methods below.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from bkstorages.backends.resolution import LazyOptionsMixin

__all__ = ["LinksMixin"]


class LinksMixin(LazyOptionsMixin):
    """``url()``, ``urls()`` and ``upload_url()`` of a storage."""

    if TYPE_CHECKING:
        # Supplied by the storage: one lock so that threads share signing requests, and the name pipeline.
        _signing_lock: threading.Lock

        def key(self, name: Any, *, allow_root: bool = False) -> str: ...

    @property
    def is_public(self) -> bool:
        """Whether the bucket is public (its URLs need no signature)."""
        return self._store_is_public()

    def url(self, name: str | None, expire: int | None = None, download: bool | None = None) -> str:
        """A URL for ``name``: permanent for public buckets (no request), else signed and cached.

        ``expire`` (seconds) is the lifetime of a signed link for this call
        (default ``url_expire_seconds``); a cached link is reused only for the
        same lifetime. ``download=True`` makes browsers save the file,
        ``False`` show it inline, ``None`` keeps the storage's default.
        """
        if name is None:
            raise ValueError("This file is not accessible via a URL.")
        key = self.key(name)  # a bad name is refused before any request, even the one asking if public
        if self._store_is_public():  # the common case of a page full of links: no list, no dict
            return self._store_public_url(key, download=download)
        return self.urls([name], expire=expire, download=download)[name]

    def urls(self, names: Iterable[str], expire: int | None = None, download: bool | None = None) -> dict[str, str]:
        """URLs for many names; a private bucket signs every uncached one in one request."""
        names = list(names)
        keys = {name: self.key(name) for name in names}
        if self._store_is_public():
            return {name: self._store_public_url(key, download=download) for name, key in keys.items()}
        url_cache = (self._resolved or self._resolve()).url_cache
        expire = self._expire_seconds(expire)
        wanted = list(dict.fromkeys(keys.values()))
        found = url_cache.get_many(wanted, expire)
        if len(found) < len(wanted):
            # One signing request at a time, so threads asking for the same
            # name at once share one URL instead of each minting their own.
            with self._signing_lock:
                found.update(url_cache.get_many([key for key in wanted if key not in found], expire))
                missing = [key for key in wanted if key not in found]
                if missing:
                    signed = self._store_signed_urls(missing, expire)
                    url_cache.set_many(signed, expire)
                    found.update(signed)
        return {name: self._store_link(found[key], download=download) for name, key in keys.items()}

    def upload_url(self, name: str, expire: int | None = None, permits: int | None = 1) -> str:
        """A signed link to which a client may ``PUT`` the bytes of ``name`` without credentials.

        The name goes through the same cleaning and checks as ``save()``. The
        link is valid for ``expire`` seconds (default ``url_expire_seconds``) and
        ``permits`` uploads (``None``: any number); it is never cached. It does
        not pick a free name: with overwrite off, call ``get_available_name()``
        first.
        """
        key = self.key(name)
        if permits is not None and (isinstance(permits, bool) or int(permits) < 1):
            raise ValueError("permits must be a positive number of uploads, or None for any number")
        return self._store_upload_url(key, self._expire_seconds(expire), None if permits is None else int(permits))

    def _expire_seconds(self, expire: int | None) -> int:
        """The lifetime of a signed link: ``expire``, else the ``url_expire_seconds`` option."""
        seconds = (self._resolved or self._resolve()).url_expire_seconds if expire is None else int(expire)
        if seconds <= 0:
            raise ValueError("expire must be a positive number of seconds")
        return seconds

    # -- what a backend supplies ------------------------------------------------------

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
