"""A cache for signed (temporary) URLs.

Signed URLs are kept for a fraction of their lifetime (a cachetools
``TTLCache`` in the process), so a page rendering the same file twice, or the
next request a minute later, reuses the URL instead of asking bk-repo again,
and a URL is always handed out with most of its lifetime left. With a Django
cache alias (e.g. Redis) several processes share the URLs too.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Mapping
from typing import Any

from cachetools import TTLCache

__all__ = ["SignedURLCache", "cache_lifetime"]


def cache_lifetime(expire_seconds: int) -> float:
    """How long a URL valid for ``expire_seconds`` may be served from the cache.

    Three quarters of its lifetime, and at least a minute less when the
    lifetime allows, so a cached URL never expires in a user's hands right away.
    """
    lifetime = expire_seconds * 0.75
    if expire_seconds > 240:
        lifetime = min(lifetime, expire_seconds - 60)
    return max(lifetime, 0.0)


class SignedURLCache:
    """Thread-safe signed-URL cache; optionally backed by a Django cache alias."""

    def __init__(self, maxsize: int = 10000, alias: str | None = None, namespace: str = "") -> None:
        self.maxsize = maxsize
        self.alias = alias
        self.namespace = namespace
        self._caches: dict[float, TTLCache[str, str]] = {}
        self._lock = threading.Lock()

    def __getstate__(self) -> dict[str, Any]:
        # URLs are not worth pickling; locks cannot be pickled.
        return {"maxsize": self.maxsize, "alias": self.alias, "namespace": self.namespace}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(**state)  # type: ignore[misc]

    def _local(self, lifetime: float) -> TTLCache[str, str]:
        cache = self._caches.get(lifetime)
        if cache is None:
            cache = self._caches[lifetime] = TTLCache(maxsize=self.maxsize, ttl=lifetime)
        return cache

    def _shared_key(self, key: str) -> str:
        import hashlib

        # Keys of memcached & co. must be short and plain ASCII.
        return "bkstorages:url:" + hashlib.sha256(f"{self.namespace}\0{key}".encode()).hexdigest()

    def _shared(self) -> Any:
        if not self.alias:
            return None
        from django.core.cache import caches

        return caches[self.alias]

    def get_many(self, keys: Iterable[str], expire_seconds: int) -> dict[str, str]:
        lifetime = cache_lifetime(expire_seconds)
        keys = list(keys)
        if lifetime <= 0:
            return {}
        found: dict[str, str] = {}
        with self._lock:
            local = self._local(lifetime)
            for key in keys:
                value = local.get(key)
                if value is not None:
                    found[key] = value
        missing = [key for key in keys if key not in found]
        shared = self._shared()
        if missing and shared is not None:
            names = {self._shared_key(f"{expire_seconds}\0{key}"): key for key in missing}
            hits = shared.get_many(list(names))
            fetched = {names[name]: value for name, value in hits.items()}
            if fetched:
                with self._lock:
                    local = self._local(lifetime)
                    for key, value in fetched.items():
                        local[key] = value
                found.update(fetched)
        return found

    def set_many(self, urls: Mapping[str, str], expire_seconds: int) -> None:
        lifetime = cache_lifetime(expire_seconds)
        if lifetime <= 0 or not urls:
            return
        with self._lock:
            local = self._local(lifetime)
            for key, value in urls.items():
                local[key] = value
        shared = self._shared()
        if shared is not None:
            shared.set_many(
                {self._shared_key(f"{expire_seconds}\0{key}"): value for key, value in urls.items()},
                timeout=max(1, int(lifetime)),
            )

    def clear(self) -> None:
        with self._lock:
            self._caches.clear()
