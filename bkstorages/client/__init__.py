"""BKGenericRepoClient: everything bkstorages says to bk-repo over HTTP.

The client is assembled from one module per job:

- :mod:`~bkstorages.client.transport`: per-thread sessions, :class:`Deadline`,
  the :class:`RetryPolicy` and ``request()``, the one request path, which
  asks :data:`endpoint_guard` (test isolation) first;
- :mod:`~bkstorages.client.errors`: the envelope decoder and the one mapping
  of status + bk-repo code + message to an exception;
- :mod:`~bkstorages.client.repo`: the bk-repo API calls (HEAD, delete, node
  detail, listing pages, temporary URLs, repository info);
- :mod:`~bkstorages.client.uploads` and :mod:`~bkstorages.client.downloads`;
- :mod:`~bkstorages.client.compat3x`: the bkstorages 3.x method names.

This package never imports Django, so the client can be used from any Python
program. Keys (object paths) given to the client are bucket-relative, already
cleaned paths such as ``"media/a b.txt"`` (no leading slash);
:mod:`bkstorages.backends` does the cleaning.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from bkstorages.client.compat3x import Compat3x

# Every name importable from bkstorages.client before it became a package
# still is (``X as X``: re-exported on purpose).
from bkstorages.client.downloads import BACKGROUND_HASH_MIN as BACKGROUND_HASH_MIN
from bkstorages.client.downloads import CONTENT_RANGE_RE as CONTENT_RANGE_RE
from bkstorages.client.downloads import READAHEAD as READAHEAD
from bkstorages.client.downloads import READAHEAD_MAX as READAHEAD_MAX
from bkstorages.client.downloads import SHA256_RE as SHA256_RE
from bkstorages.client.downloads import ObjectReader
from bkstorages.client.errors import CODE_ARTIFACT_DATA_NOT_FOUND as CODE_ARTIFACT_DATA_NOT_FOUND
from bkstorages.client.errors import CODE_DIGEST_CHECK_FAILED as CODE_DIGEST_CHECK_FAILED
from bkstorages.client.errors import CODE_NODE_EXISTED as CODE_NODE_EXISTED
from bkstorages.client.errors import CODE_NODE_NOT_FOUND as CODE_NODE_NOT_FOUND
from bkstorages.client.errors import CODE_REPOSITORY_NOT_FOUND as CODE_REPOSITORY_NOT_FOUND
from bkstorages.client.errors import CODE_UPLOAD_ID_NOT_FOUND as CODE_UPLOAD_ID_NOT_FOUND
from bkstorages.client.errors import EXCERPT_LENGTH as EXCERPT_LENGTH
from bkstorages.client.errors import error_from_response as error_from_response
from bkstorages.client.repo import encode_path
from bkstorages.client.transport import RETRY_STATUSES as RETRY_STATUSES
from bkstorages.client.transport import Answer as Answer
from bkstorages.client.transport import Deadline, EndpointGuard, RetryPolicy, endpoint_guard
from bkstorages.client.uploads import SMALL_BODY as SMALL_BODY
from bkstorages.client.uploads import metadata_headers
from bkstorages.sources import CHUNK_SIZE as CHUNK_SIZE
from bkstorages.sources import MiB, UploadSource

__all__ = [
    "BKGenericRepoClient",
    "Deadline",
    "EndpointGuard",
    "ObjectReader",
    "RetryPolicy",
    "UploadSource",
    "encode_path",
    "endpoint_guard",
    "metadata_headers",
]

DEFAULTS: dict[str, Any] = {
    "connect_timeout": 10.0,
    "read_timeout": 30.0,
    "deadline": 120.0,
    "max_retries": 3,
    "backoff": 0.2,
    "backoff_max": 5.0,
    "block_upload_threshold": 1024 * MiB,
    "block_size": 16 * MiB,
    "block_upload_workers": 4,
    "list_page_size": 10_000,
    "spool_dir": None,
    "pool_maxsize": 10,
    "verify_downloads": True,
}


class BKGenericRepoClient(Compat3x):
    """A client for one bk-repo generic repository (``bucket``) in ``project``.

    Thread-safe: each thread (and each process after a fork) gets its own HTTP
    session, created on first use. Picklable: sessions are never pickled.
    ``public`` says whether the repository is public; when None it is asked
    once. The 3.x constructor ``BKGenericRepoClient(bucket, project,
    endpoint_url, username, password)`` and its method names still work.
    """

    STORE_TYPE = "bkrepo"

    def __init__(
        self,
        bucket: str,
        project: str,
        endpoint_url: str,
        username: str | None = None,
        password: str | None = None,
        *,
        public: bool | None = None,
        **options: Any,
    ) -> None:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown BKGenericRepoClient options: {', '.join(sorted(unknown))}")
        self.bucket = bucket
        self.project = project
        if "@" in urlsplit(endpoint_url).netloc:
            # Never quoted: it would show the password.
            raise ValueError(
                "endpoint_url must not contain credentials: pass username= and password= "
                "(BKREPO_USERNAME and BKREPO_PASSWORD for the storages)"
            )
        self.endpoint_url = endpoint_url.rstrip("/")
        self.username = username or None
        self._password = password or None
        self._public = None if public is None else bool(public)
        settings = {**DEFAULTS, **options}
        self.connect_timeout = float(settings["connect_timeout"])
        self.read_timeout = float(settings["read_timeout"])
        self.deadline = None if settings["deadline"] is None else float(settings["deadline"])
        self.retry_policy = RetryPolicy(
            total=int(settings["max_retries"]),
            backoff_factor=float(settings["backoff"]),
            backoff_max=float(settings["backoff_max"]),
        )
        self.block_upload_threshold = int(settings["block_upload_threshold"])
        self.block_size = max(1, int(settings["block_size"]))
        self.block_upload_workers = max(1, int(settings["block_upload_workers"]))
        self.list_page_size = int(settings["list_page_size"])
        self.spool_dir = settings["spool_dir"]
        self.pool_maxsize = max(int(settings["pool_maxsize"]), self.block_upload_workers)
        self.verify_downloads = bool(settings["verify_downloads"])
        self._reset_runtime()

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} endpoint={self.endpoint_url!r} project={self.project!r} "
            f"bucket={self.bucket!r} username={self.username!r}>"
        )
