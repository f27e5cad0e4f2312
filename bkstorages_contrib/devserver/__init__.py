"""A local bk-repo compatible server: WSGI app (``app``), storage (``store``),
threaded runner (``server``) and the ``python -m bkstorages_contrib.devserver`` CLI."""

from .app import DevServerApp
from .store import Store

__all__ = ["DevServerApp", "Store"]
