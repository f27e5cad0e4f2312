"""A local bk-repo compatible server and the ``python -m bkstorages_contrib.devserver`` CLI.

``app`` is the WSGI entry and its route table; ``handlers/`` has one module
per bk-repo service; ``envelope`` the JSON envelope and error codes;
``accounts`` authentication and the permission check; ``store`` (with
``database``, ``blobs`` and ``blocks``) the data directory; ``server`` the
threaded runner.
"""

from .app import DevServerApp
from .store import Store

__all__ = ["DevServerApp", "Store"]
