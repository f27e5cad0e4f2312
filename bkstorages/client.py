"""BKGenericRepoClient: everything bkstorages says to bk-repo over HTTP.

One request method (:meth:`BKGenericRepoClient.request`) owns timeouts,
retries, the deadline and the mapping of answers to errors; every other method
builds on it. Object paths are percent-encoded in one place
(:func:`encode_path`). This module never imports Django, so the client can be
used from any Python program.

Keys (object paths) given to the client are bucket-relative, already cleaned
paths such as ``"media/a b.txt"`` (no leading slash); :mod:`bkstorages.backends`
does the cleaning.
"""

from __future__ import annotations

import contextlib
import email.utils
import hashlib
import io
import json
import logging
import os
import queue
import random
import re
import shutil
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from os import PathLike
from typing import IO, Any
from urllib.parse import quote

import requests
import urllib3
from requests.adapters import HTTPAdapter

from bkstorages.exceptions import (
    AuthenticationError,
    BKStorageError,
    ConnectionFailedError,
    DeadlineExceededError,
    DownloadFailedError,
    IncompleteDownloadError,
    IntegrityError,
    InvalidResponseError,
    ObjectAlreadyExists,
    ObjectNotFoundError,
    PermissionDeniedError,
    RateLimitedError,
    RequestError,
    ServerError,
    TransportError,
    UploadFailedError,
)

__all__ = ["BKGenericRepoClient", "Deadline", "ObjectReader", "UploadSource", "encode_path"]

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
CHUNK_SIZE = MiB  # unit of streaming, both directions
READAHEAD = 64 * 1024  # first window of a bounded (random access) read
READAHEAD_MAX = 16 * MiB  # the window doubles on sequential reads up to this
SMALL_BODY = 64 * 1024  # uploads this small are sent as one piece of bytes
BACKGROUND_HASH_MIN = 8 * MiB  # downloads this large are hashed in a worker thread

# bk-repo error codes this client acts on (see the protocol notes in the docs).
CODE_NODE_NOT_FOUND = 251010
CODE_NODE_EXISTED = 251012
CODE_DIGEST_CHECK_FAILED = 251003
CODE_REPOSITORY_NOT_FOUND = 251006
CODE_ARTIFACT_DATA_NOT_FOUND = 251024
CODE_UPLOAD_ID_NOT_FOUND = 251201

RETRY_STATUSES = frozenset({429, 502, 503, 504})
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(-?\d+)/(\d+|\*)")
EXCERPT_LENGTH = 200

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


def encode_path(path: str) -> str:
    """Percent-encode an object path for a URL: the one place names are encoded.

    Everything but letters, digits, ``-._~`` and ``/`` is encoded, so ``#``,
    ``?``, ``%``, ``+``, spaces and non-ASCII round-trip.
    """
    return quote(path, safe="/")


class Deadline:
    """A time budget for one operation (all its requests, retries and waits)."""

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._end = None if seconds is None else time.monotonic() + seconds

    def remaining(self) -> float | None:
        if self._end is None:
            return None
        return self._end - time.monotonic()

    def expired(self) -> bool:
        remaining = self.remaining()
        return remaining is not None and remaining <= 0

    def cap(self, seconds: float) -> float:
        """``seconds``, shortened so it does not run past the deadline."""
        remaining = self.remaining()
        if remaining is None:
            return seconds
        return max(0.001, min(seconds, remaining))


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text[:EXCERPT_LENGTH] + ("..." if len(text) > EXCERPT_LENGTH else "")


def _retry_after(response: requests.Response | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta or HTTP date), if any."""
    if response is None:
        return None
    value = response.headers.get("Retry-After")
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _is_safe_to_resend(error: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (connection not made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    reason = error.args[0] if error.args else None
    reason = getattr(reason, "reason", reason)
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _error_class(status: int, code: int | None) -> type[RequestError]:
    if code == CODE_NODE_EXISTED:
        return ObjectAlreadyExists
    if code in (CODE_NODE_NOT_FOUND, CODE_ARTIFACT_DATA_NOT_FOUND, CODE_REPOSITORY_NOT_FOUND) or status == 404:
        return ObjectNotFoundError
    if status == 401:
        return AuthenticationError
    if status == 403:
        return PermissionDeniedError
    if status == 429:
        return RateLimitedError
    if status >= 500:
        return ServerError
    return RequestError


def error_from_response(response: requests.Response, method: str, path: str) -> BKStorageError:
    """Turn an error answer into the matching :class:`BKStorageError` subclass."""
    status = response.status_code
    code: int | None = None
    message = ""
    body = b"" if method == "HEAD" else response.content
    if body:
        try:
            payload = json.loads(body)
        except ValueError:
            payload = None
        if isinstance(payload, dict) and "code" in payload:
            try:
                code = int(payload["code"])
            except (TypeError, ValueError):
                code = None
            message = str(payload.get("message") or "")
        else:
            text = body[:2000].decode("utf-8", errors="replace")
            cls = _error_class(status, None)
            if cls is RequestError:
                cls = InvalidResponseError
            return cls(
                f"bk-repo answered HTTP {status} with a body that is not bk-repo JSON: {_excerpt(text)!r}",
                status=status,
                method=method,
                path=path,
                response=response,
            )
    if not message:
        message = {
            401: "authentication failed: check BKREPO_USERNAME and BKREPO_PASSWORD",
            403: "permission denied",
            404: "not found",
        }.get(status, response.reason or "request failed")
    elif status == 401:
        message = f"{message} (check BKREPO_USERNAME and BKREPO_PASSWORD)"
    if code == CODE_DIGEST_CHECK_FAILED:
        return IntegrityError(message, status=status, code=code, method=method, path=path)
    return _error_class(status, code)(message, code, response, status=status, method=method, path=path)


class _Retry(Exception):
    """Internal: this attempt failed in a way that may be retried."""

    def __init__(self, error: BKStorageError, response: requests.Response | None = None) -> None:
        super().__init__(str(error))
        self.error = error
        self.response = response


@dataclass
class Answer:
    """A successful answer: the response and, for JSON answers, the envelope's ``data``."""

    response: requests.Response
    data: Any = None
    zone: str | None = None


# --------------------------------------------------------------------------
# Upload sources
# --------------------------------------------------------------------------


class UploadSource:
    """Binary content to upload, readable by range from several threads.

    Reads are serialised with a lock (seek + read), so the parts of a block
    upload can share one file handle while holding at most one chunk each in
    memory. Build one with :meth:`from_fileobj`.
    """

    def __init__(self, fileobj: IO[bytes], size: int, sha256: str | None = None, *, owned: bool = False) -> None:
        self.fileobj = fileobj
        self.size = size
        self.sha256 = sha256
        self._owned = owned
        self._lock = threading.Lock()

    @classmethod
    def from_fileobj(
        cls, fileobj: Any, *, size: int | None = None, spool_dir: str | None = None, hash_limit: int = 4 * MiB
    ) -> UploadSource:
        """Wrap ``fileobj`` (rewound first). Text and non-seekable content is spooled to disk.

        The sha256 is computed up front when it is cheap (spooled content, or
        seekable content up to ``hash_limit`` bytes) so it can be declared to
        the server; otherwise it is computed while the bytes stream out.
        """
        probe = fileobj.read(0) if hasattr(fileobj, "read") else b""
        seekable = _rewind(fileobj)
        if isinstance(probe, str) or not seekable:
            return cls._spool(fileobj, spool_dir)
        if size is None:
            size = _measure(fileobj)
        source = cls(fileobj, size)
        if size <= hash_limit:
            source.sha256 = source.compute_sha256()
        return source

    @classmethod
    def _spool(cls, fileobj: Any, spool_dir: str | None) -> UploadSource:
        spool = tempfile.TemporaryFile(dir=spool_dir)  # noqa: SIM115 - owned by the source, closed by close()
        hasher = hashlib.sha256()
        size = 0
        try:
            while True:
                chunk = fileobj.read(CHUNK_SIZE)
                if not chunk:
                    break
                if isinstance(chunk, str):
                    chunk = chunk.encode("utf-8")
                hasher.update(chunk)
                spool.write(chunk)
                size += len(chunk)
            spool.seek(0)
        except BaseException:
            spool.close()
            raise
        return cls(spool, size, hasher.hexdigest(), owned=True)

    def read_at(self, offset: int, length: int) -> bytes:
        with self._lock:
            self.fileobj.seek(offset)
            data = self.fileobj.read(length)
        if isinstance(data, str):  # pragma: no cover - text content is spooled
            data = data.encode("utf-8")
        return data

    def chunks(self, offset: int = 0, length: int | None = None) -> Iterator[bytes]:
        end = self.size if length is None else offset + length
        position = offset
        while position < end:
            data = self.read_at(position, min(CHUNK_SIZE, end - position))
            if not data:
                raise IntegrityError(f"the content ended at byte {position}, {end - position} bytes short")
            position += len(data)
            yield data

    def compute_sha256(self) -> str:
        hasher = hashlib.sha256()
        for chunk in self.chunks():
            hasher.update(chunk)
        return hasher.hexdigest()

    def close(self) -> None:
        if self._owned:
            self.fileobj.close()


def _rewind(fileobj: Any) -> bool:
    """Seek to the start if possible; True when the object is seekable."""
    seekable = getattr(fileobj, "seekable", None)
    try:
        if seekable is not None and not seekable():
            return False
        fileobj.seek(0)
    except (AttributeError, OSError, ValueError, io.UnsupportedOperation):
        return False
    return True


def _measure(fileobj: Any) -> int:
    fileobj.seek(0, os.SEEK_END)
    size = int(fileobj.tell())
    fileobj.seek(0)
    return size


class _StreamBody:
    """A request body streamed from an :class:`UploadSource` range, hashed on the way out if ``hashed``."""

    def __init__(self, source: UploadSource, offset: int, length: int, *, hashed: bool = True) -> None:
        self.source = source
        self.offset = offset
        self.length = length
        # None when the sha256 was declared to the server, which checks it itself.
        self.hasher = hashlib.sha256() if hashed else None
        self.sent = 0

    def __len__(self) -> int:
        return self.length

    def __iter__(self) -> Iterator[bytes]:
        for chunk in self.source.chunks(self.offset, self.length):
            if self.hasher is not None:
                self.hasher.update(chunk)
            self.sent += len(chunk)
            yield chunk


# --------------------------------------------------------------------------
# Downloads
# --------------------------------------------------------------------------


class _DownloadHash:
    """sha256 of a download, computed in a worker thread for large objects.

    hashlib releases the GIL on large buffers, so hashing one piece overlaps
    reading the next from the socket. The queue is small and bounded, so at
    most a few pieces wait in memory. Small objects are hashed inline.
    """

    def __init__(self) -> None:
        self._hasher = hashlib.sha256()
        self._queue: queue.Queue[bytes | None] | None = None
        self._thread: threading.Thread | None = None

    def start_background(self) -> None:
        if self._thread is None:
            self._queue = queue.Queue(maxsize=4)
            self._thread = threading.Thread(target=self._work, name="bkstorages-sha256", daemon=True)
            self._thread.start()

    def _work(self) -> None:
        assert self._queue is not None
        while True:
            data = self._queue.get()
            if data is None:
                return
            self._hasher.update(data)

    def update(self, data: bytes) -> None:
        if self._queue is not None:
            self._queue.put(data)
        else:
            self._hasher.update(data)

    def _stop(self) -> None:
        thread, self._thread = self._thread, None
        if thread is not None:
            assert self._queue is not None
            self._queue.put(None)
            thread.join()
            self._queue = None

    def hexdigest(self) -> str:
        self._stop()
        return self._hasher.hexdigest()

    def close(self) -> None:
        self._stop()


class ObjectReader:
    """Reads one object from ``start`` with a streaming, ranged GET.

    Nothing is requested until the first :meth:`read`. A connection that
    breaks mid-body is resumed with ``Range`` from the current position, as
    long as the object's sha256 (ETag) is unchanged. When the read started at
    byte 0 and reaches the end, the bytes are checked against the ETag and the
    length against ``Content-Range``; a mismatch raises, so partial data is
    never returned as if it were whole.
    """

    def __init__(self, client: BKGenericRepoClient, key: str, start: int = 0, *, preview: bool = False) -> None:
        self.client = client
        self.key = key
        self.start = start
        self.position = start
        self.total: int | None = None
        self.etag: str | None = None
        self._response: requests.Response | None = None
        self._whole = start == 0  # a read from the start is checked when it reaches the end
        self._hasher = _DownloadHash() if self._whole and client.verify_downloads else None
        self._eof = False
        self._checked = False
        # When set, each GET asks for a bounded range (at least this many bytes,
        # doubling on sequential reads) and reads it to the end, so the
        # connection goes back to the pool; otherwise one open-ended range.
        self.readahead: int | None = None
        self._range_end: int | None = None  # end (exclusive) of the open response's range

    def _open(self, deadline: Deadline, wanted: int) -> None:
        if self.readahead:
            length = max(wanted, self.readahead)
            self.readahead = min(self.readahead * 2, READAHEAD_MAX)
            last = self.position + length - 1
            if self.total is not None:
                last = min(last, self.total - 1)
            byte_range = f"bytes={self.position}-{last}"
        else:
            byte_range = f"bytes={self.position}-"
        try:
            answer = self.client.request(
                "GET",
                self.client.generic_route(self.key),
                headers={"Range": byte_range},
                stream=True,
                deadline=deadline,
            )
        except RequestError as error:
            if error.status == 416:
                self._eof = True
                return
            raise
        response = answer.response
        total = _parse_total(response.headers.get("Content-Range"))
        etag = (response.headers.get("ETag") or "").strip('"') or None
        if self.etag is not None and etag != self.etag:
            response.close()
            raise IncompleteDownloadError(
                "the object changed while it was being read", method="GET", path=self.client.generic_route(self.key)
            )
        if response.status_code == 200 and self.position:
            response.close()
            raise InvalidResponseError("the server ignored the Range header", status=200, method="GET")
        self.etag = etag
        if total is not None:
            self.total = total
        self._range_end = (
            _parse_range_end(response.headers.get("Content-Range")) if response.status_code == 206 else None
        )
        if (
            self._hasher is not None
            and self.readahead is None
            and self.total is not None
            and self.total - self.position >= BACKGROUND_HASH_MIN
        ):
            self._hasher.start_background()
        self._response = response

    def read(self, size: int = -1, deadline: Deadline | None = None) -> bytes:
        """Up to ``size`` bytes (all that is left when negative) within the client's deadline."""
        deadline = deadline or self.client.new_deadline()
        if size is None or size < 0:
            pieces: list[bytes] = []
            while True:
                data = self.read(CHUNK_SIZE * 4, deadline)
                if not data:
                    return b"".join(pieces)
                pieces.append(data)
        if size == 0 or self._eof:
            return b""
        parts: list[bytes] = []
        wanted = size
        failures = 0
        while wanted > 0 and not self._eof:
            if deadline.expired():
                self._drop()
                raise DeadlineExceededError(
                    f"reading took longer than the deadline ({deadline.seconds}s)",
                    method="GET",
                    path=self.client.generic_route(self.key),
                )
            if self._response is None:
                self._open(deadline, wanted)
                if self._eof or self._response is None:
                    break
            if self.total is not None and self.position >= self.total:
                self._finish()
                break
            amount = min(wanted, CHUNK_SIZE)
            if self._range_end is not None:
                if self.position >= self._range_end:
                    self._release()
                    continue
                amount = min(amount, self._range_end - self.position)
            failure: BaseException | None = None
            try:
                # read1: return what has arrived, so a trickling body cannot outlast the deadline.
                data = self._response.raw.read1(amount)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
                data = b""
                failure = error
            if data:
                failures = 0
                parts.append(data)
                wanted -= len(data)
                self.position += len(data)
                if self._hasher is not None:
                    self._hasher.update(data)
                continue
            if failure is None and (self.total is None or self.position >= self.total):
                self._finish()
                break
            # The body ended early or broke: resume from where we are.
            failures += 1
            self._drop()
            logger.info("download of %s broke at byte %d (%s); resuming", self.key, self.position, failure)
            if failures > self.client.max_retries:
                raise IncompleteDownloadError(
                    f"the download broke at byte {self.position} of {self.total} and could not be resumed",
                    method="GET",
                    path=self.client.generic_route(self.key),
                ) from failure
            time.sleep(deadline.cap(self.client.backoff_delay(failures)))
        return b"".join(parts)

    def _finish(self) -> None:
        self._eof = True
        self._release()  # the body was read to its end: keep the connection
        if self._whole and not self._checked:
            self._checked = True
            if self.total is not None and self.position != self.total:
                raise IncompleteDownloadError(
                    f"received {self.position} bytes, expected {self.total}", path=self.client.generic_route(self.key)
                )
            if (
                self._hasher is not None
                and self.etag
                and SHA256_RE.match(self.etag)
                and self._hasher.hexdigest() != self.etag.lower()
            ):
                raise IntegrityError(
                    "the downloaded bytes do not match the object's sha256", path=self.client.generic_route(self.key)
                )

    def _release(self) -> None:
        """End a response whose body was read in full, keeping its connection."""
        self._range_end = None
        response, self._response = self._response, None
        if response is None:
            return
        # Reading the (empty) rest lets urllib3 return the connection to the pool.
        with contextlib.suppress(urllib3.exceptions.HTTPError, OSError):
            response.raw.read(decode_content=False)
        response.close()

    def _drop(self) -> None:
        self._range_end = None
        response, self._response = self._response, None
        if response is not None:
            response.close()

    def close(self) -> None:
        self._drop()
        if self._hasher is not None:
            self._hasher.close()

    def __del__(self) -> None:
        hasher = getattr(self, "_hasher", None)
        if hasher is not None:
            hasher.close()  # never leave a hashing thread waiting

    def __enter__(self) -> ObjectReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _parse_range_end(content_range: str | None) -> int | None:
    """The end (exclusive) of the range a 206 answer carries, if it says."""
    match = CONTENT_RANGE_RE.match((content_range or "").strip())
    if not match or int(match.group(2)) < 0:
        return None
    return int(match.group(2)) + 1


def _parse_total(content_range: str | None) -> int | None:
    if not content_range:
        return None
    match = CONTENT_RANGE_RE.match(content_range.strip())
    if not match or match.group(3) == "*":
        return None
    return int(match.group(3))


# --------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------


class BKGenericRepoClient:
    """A client for one bk-repo generic repository (``bucket``) in ``project``.

    Thread-safe: each thread (and each process after a fork) gets its own HTTP
    session, created on first use. Picklable: sessions are never pickled.
    The 3.x constructor ``BKGenericRepoClient(bucket, project, endpoint_url,
    username, password)`` and its method names still work.
    """

    STORE_TYPE = "bkrepo"

    def __init__(
        self,
        bucket: str,
        project: str,
        endpoint_url: str,
        username: str | None = None,
        password: str | None = None,
        **options: Any,
    ) -> None:
        unknown = set(options) - set(DEFAULTS)
        if unknown:
            raise TypeError(f"unknown BKGenericRepoClient options: {', '.join(sorted(unknown))}")
        self.bucket = bucket
        self.project = project
        self.endpoint_url = endpoint_url.rstrip("/")
        self.username = username or None
        self._password = password or None
        settings = {**DEFAULTS, **options}
        self.connect_timeout = float(settings["connect_timeout"])
        self.read_timeout = float(settings["read_timeout"])
        self.deadline = None if settings["deadline"] is None else float(settings["deadline"])
        self.max_retries = int(settings["max_retries"])
        self.backoff = float(settings["backoff"])
        self.backoff_max = float(settings["backoff_max"])
        self.block_upload_threshold = int(settings["block_upload_threshold"])
        self.block_size = max(1, int(settings["block_size"]))
        self.block_upload_workers = max(1, int(settings["block_upload_workers"]))
        self.list_page_size = int(settings["list_page_size"])
        self.spool_dir = settings["spool_dir"]
        self.pool_maxsize = max(int(settings["pool_maxsize"]), self.block_upload_workers)
        self.verify_downloads = bool(settings["verify_downloads"])
        self._public: bool | None = None
        self._reset_runtime()

    # -- life cycle -------------------------------------------------------------

    def _reset_runtime(self) -> None:
        self._local = threading.local()
        self._pid = os.getpid()
        self._lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for name in ("_local", "_pid", "_lock", "_executor"):
            state.pop(name, None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._reset_runtime()

    def __repr__(self) -> str:
        return (
            f"<{self.__class__.__name__} endpoint={self.endpoint_url!r} project={self.project!r} "
            f"bucket={self.bucket!r} username={self.username!r}>"
        )

    @property
    def password(self) -> str | None:
        """The password (kept out of ``repr()`` and pickles' logs; still pickled so copies work)."""
        return self._password

    def _check_fork(self) -> None:
        if os.getpid() != self._pid:
            # A forked child must not share its parent's sockets or worker threads.
            self._reset_runtime()

    @property
    def session(self) -> requests.Session:
        """This thread's HTTP session (created on first use)."""
        self._check_fork()
        session: requests.Session | None = getattr(self._local, "session", None)
        if session is None:
            session = requests.Session()
            # The environment (HTTP(S)_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE,
            # CURL_CA_BUNDLE, ~/.netrc) is read once here: left to itself,
            # requests scans os.environ twice per request, about a sixth of
            # the client's CPU for a small save.
            environment = session.merge_environment_settings(self.endpoint_url, {}, None, None, None)
            session.proxies.update(environment["proxies"])
            session.verify = environment["verify"]
            if self.username:
                session.auth = (self.username, self._password or "")
            else:
                session.auth = requests.utils.get_netrc_auth(self.endpoint_url)
            session.trust_env = False
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=self.pool_maxsize, max_retries=0)
            session.mount("http://", adapter)
            session.mount("https://", adapter)
            session.headers["User-Agent"] = "bkstorages"
            self._local.session = session
        return session

    def _pool(self) -> ThreadPoolExecutor:
        self._check_fork()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.block_upload_workers, thread_name_prefix="bkstorages-block")
            return self._executor

    def close(self) -> None:
        """Close this thread's session (others close when their threads end)."""
        session = getattr(self._local, "session", None)
        if session is not None:
            session.close()
            self._local.session = None

    def new_deadline(self) -> Deadline:
        return Deadline(self.deadline)

    def backoff_delay(self, attempt: int) -> float:
        """Exponential backoff with full jitter for retry number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    # -- routes -----------------------------------------------------------------

    def generic_route(self, key: str) -> str:
        return f"/generic/{self.project}/{self.bucket}/{encode_path(key)}"

    def block_route(self, key: str) -> str:
        return f"/generic/block/{self.project}/{self.bucket}/{encode_path(key)}"

    def url_for(self, route: str) -> str:
        return self.endpoint_url + route

    def public_url(self, key: str, *, preview: bool = False, base_url: str | None = None) -> str:
        """The permanent URL of ``key`` in a public repository (no request made)."""
        base = (base_url or f"{self.endpoint_url}/generic/{self.project}/{self.bucket}").rstrip("/")
        url = f"{base}/{encode_path(key)}"
        return url + "?preview=true" if preview else url

    # -- the request method -----------------------------------------------------

    def request(
        self,
        method: str,
        route: str,
        *,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        json_body: Any = None,
        body: Callable[[], Any] | None = None,
        stream: bool = False,
        expect_json: bool = False,
        idempotent: bool | None = None,
        deadline: Deadline | None = None,
    ) -> Answer:
        """Send one request, with timeouts, retries and error mapping.

        ``body`` is a factory called for every attempt (so a stream can be
        rewound). Retries happen on connection failures, timeouts, 429 and
        502/503/504 (and broken JSON bodies), with exponential backoff and
        jitter, honouring ``Retry-After``, and only while the deadline allows;
        requests that are not ``idempotent`` (default: GET, HEAD, DELETE) are
        retried only when they certainly did not reach the server, or got 429.
        Errors raise :class:`~bkstorages.exceptions.BKStorageError` subclasses.
        """
        if idempotent is None:
            idempotent = method in ("GET", "HEAD", "DELETE", "OPTIONS")
        deadline = deadline or self.new_deadline()
        url = self.url_for(route)
        path = route  # for logs and errors: never has credentials or tokens
        attempt = 0
        while True:
            attempt += 1
            if deadline.expired():
                raise DeadlineExceededError(
                    f"gave up after {deadline.seconds}s (the deadline)", method=method, path=path
                )
            timeout = (deadline.cap(self.connect_timeout), deadline.cap(self.read_timeout))
            started = time.monotonic()
            try:
                return self._attempt(
                    method, url, path, params, headers, json_body, body, stream, expect_json, timeout, started, deadline
                )
            except _Retry as retry:
                error = retry.error
                retryable = idempotent or (retry.response is not None and retry.response.status_code == 429)
                cause = error.__cause__
                if not retryable and isinstance(cause, requests.RequestException) and _is_safe_to_resend(cause):
                    retryable = True
                if not retryable or attempt > self.max_retries:
                    raise error from cause
                wait = self.backoff_delay(attempt)
                asked = _retry_after(retry.response)
                if asked is not None:
                    wait = max(wait, asked)
                remaining = deadline.remaining()
                if remaining is not None and wait >= remaining:
                    raise error from cause
                logger.info(
                    "%s %s failed (%s); retry %d of %d in %.2fs", method, path, error, attempt, self.max_retries, wait
                )
                time.sleep(wait)

    def _attempt(
        self,
        method: str,
        url: str,
        path: str,
        params: Mapping[str, Any] | None,
        headers: Mapping[str, str] | None,
        json_body: Any,
        body: Callable[[], Any] | None,
        stream: bool,
        expect_json: bool,
        timeout: tuple[float, float],
        started: float,
        deadline: Deadline,
    ) -> Answer:
        try:
            response = self.session.request(
                method,
                url,
                params=params,
                headers=dict(headers or {}),
                json=json_body,
                data=body() if body is not None else None,
                stream=True,  # bodies are read below, within the deadline
                timeout=timeout,
                allow_redirects=False,
            )
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as error:
            elapsed = time.monotonic() - started
            logger.debug("%s %s timed out after %.0f ms", method, path, elapsed * 1000)
            timed_out = DeadlineExceededError(f"timed out ({type(error).__name__})", method=method, path=path)
            timed_out.__cause__ = error
            raise _Retry(timed_out) from error
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            logger.debug("%s %s connection failed: %s", method, path, type(error).__name__)
            exc = ConnectionFailedError(
                f"connection failed ({_describe_connection_error(error)})", method=method, path=path
            )
            exc.__cause__ = error
            raise _Retry(exc) from error
        except requests.RequestException as error:
            raise TransportError(f"request failed ({type(error).__name__})", method=method, path=path) from error
        elapsed = time.monotonic() - started
        status = response.status_code
        logger.debug("%s %s -> %s in %.0f ms", method, path, status, elapsed * 1000)
        if status >= 400:
            try:
                self._read_body(response, deadline, method, path)
                if status in RETRY_STATUSES:
                    raise _Retry(error_from_response(response, method, path), response)
                raise error_from_response(response, method, path)
            finally:
                response.close()
        if stream and not expect_json:
            return Answer(response, zone=response.headers.get("X-BKREPO-Time-Zone"))
        content = self._read_body(response, deadline, method, path)
        if not expect_json:
            return Answer(response, zone=response.headers.get("X-BKREPO-Time-Zone"))
        try:
            payload = json.loads(content)
            if not isinstance(payload, dict) or "code" not in payload:
                raise ValueError("not an envelope")
        except ValueError:
            text = content[:2000].decode("utf-8", errors="replace")
            exc2 = InvalidResponseError(
                f"bk-repo answered HTTP {status} with a body that is not bk-repo JSON: {_excerpt(text)!r}",
                status=status,
                method=method,
                path=path,
            )
            raise _Retry(exc2, response) from None
        code = payload.get("code")
        if code not in (0, "0"):
            raise _error_class(status, _int_or_none(code))(
                str(payload.get("message") or "request failed"), code, response, status=status, method=method, path=path
            )
        return Answer(response, payload.get("data"), zone=response.headers.get("X-BKREPO-Time-Zone"))

    @staticmethod
    def _read_body(response: requests.Response, deadline: Deadline, method: str, path: str) -> bytes:
        """Read a whole (small) answer as it arrives, within the deadline; keep it on the response."""
        pieces: list[bytes] = []
        # Also for HEAD: reading the (empty) body ends the exchange cleanly.
        while True:
            # Checked between reads, outside the try below: DeadlineExceededError is
            # a TimeoutError (an OSError) and must not pass for a broken connection.
            if deadline.expired():
                response.close()
                raise DeadlineExceededError(
                    f"the answer came too slowly for the deadline ({deadline.seconds}s)",
                    method=method,
                    path=path,
                    status=response.status_code,
                )
            try:
                data = response.raw.read1(64 * 1024, decode_content=True)
            except (urllib3.exceptions.HTTPError, OSError) as error:
                response.close()
                broken = ConnectionFailedError(
                    "the answer broke off", method=method, path=path, status=response.status_code
                )
                broken.__cause__ = error
                raise _Retry(broken) from error
            if not data:
                break
            pieces.append(data)
        body = b"".join(pieces)
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]
        response.close()  # the body was read to the end: the connection goes back to the pool
        return body

    # -- objects ----------------------------------------------------------------

    def head(self, key: str, *, deadline: Deadline | None = None) -> requests.Response:
        """HEAD an object: raises ObjectNotFoundError on 404; a folder answers 3xx (not followed)."""
        return self.request("HEAD", self.generic_route(key), deadline=deadline).response

    def exists(self, key: str) -> bool:
        """True for a file or folder, False only for a real 404; other errors raise."""
        try:
            self.head(key)
        except ObjectNotFoundError:
            return False
        return True

    def node_detail(self, key: str) -> Answer:
        """Node detail (``data``) with the server's time zone (``zone``), dates asked for in UTC."""
        return self.request(
            "GET",
            f"/repository/api/node/detail/{self.project}/{self.bucket}/{encode_path(key)}",
            headers={"X-BKREPO-Time-Zone": "UTC"},
            expect_json=True,
        )

    def delete(self, key: str) -> bool:
        """Delete an object; False when it did not exist."""
        try:
            self.request("DELETE", self.generic_route(key), expect_json=True)
        except ObjectNotFoundError:
            return False
        return True

    def open_reader(self, key: str, start: int = 0) -> ObjectReader:
        return ObjectReader(self, key, start)

    def download_to(self, key: str, fileobj: IO[bytes]) -> int:
        """Stream the whole object into ``fileobj``, verified; returns the byte count."""
        written = 0
        with self.open_reader(key) as reader:
            while True:
                data = reader.read(CHUNK_SIZE)
                if not data:
                    break
                fileobj.write(data)
                written += len(data)
        return written

    def upload(
        self,
        key: str,
        source: UploadSource,
        *,
        overwrite: bool,
        headers: Mapping[str, str] | None = None,
        deadline: Deadline | None = None,
    ) -> dict[str, Any]:
        """Upload ``source`` to ``key``; returns what is known of the stored node.

        Large sources (above ``block_upload_threshold``) use block upload.
        With ``overwrite=False`` an existing node raises ObjectAlreadyExists.
        The stored sha256 is checked against the bytes sent.
        A single PUT larger than one block gets one deadline per block's worth
        of bytes, so it may move as slowly as a block upload may.
        """
        if deadline is None:
            blocks = max(1, -(-source.size // self.block_size))
            deadline = Deadline(None if self.deadline is None else self.deadline * blocks)
        if source.size > self.block_upload_threshold:
            return self._block_upload(key, source, overwrite=overwrite, headers=headers, deadline=deadline)
        request_headers = {"X-BKREPO-OVERWRITE": "true" if overwrite else "false", **(headers or {})}
        if source.sha256:
            request_headers["X-BKREPO-SHA256"] = source.sha256
        # A declared sha256 is checked by the server against the body it receives
        # (251003 otherwise); an undeclared one is computed on the way out and
        # compared with what the server reports.
        declared = request_headers.get("X-BKREPO-SHA256")
        route = self.generic_route(key)
        bodies: list[_StreamBody] = []

        def make_body() -> Any:
            if source.size == 0:
                return b""
            stream = _StreamBody(source, 0, source.size, hashed=not declared)
            bodies.append(stream)
            if source.size <= SMALL_BODY:
                # As bytes, http.client sends the head and the body in one write.
                return b"".join(stream)
            return stream

        failed_before = False
        attempt = 0
        while True:
            attempt += 1
            try:
                answer = self.request(
                    "PUT",
                    route,
                    headers=request_headers,
                    body=make_body,
                    expect_json=True,
                    idempotent=overwrite,
                    deadline=deadline,
                )
            except (TransportError, ServerError, InvalidResponseError) as error:
                # No clear answer: the upload may or may not have been stored.
                if overwrite or deadline.expired() or attempt > self.max_retries:
                    raise
                if (
                    isinstance(error, InvalidResponseError)
                    and (error.status or 0) >= 400
                    and error.status not in RETRY_STATUSES
                ):
                    raise
                # A PUT without overwrite may have landed before the connection broke.
                failed_before = True
                node = self._stored_copy(key, source, deadline)
                if node is not None:
                    return node
                time.sleep(deadline.cap(self.backoff_delay(attempt)))
                continue
            except ObjectAlreadyExists:
                if failed_before:
                    node = self._stored_copy(key, source, deadline)
                    if node is not None:
                        return node
                raise
            except IntegrityError as error:
                # The body arrived changed and bk-repo refused it (stored nothing): send it again.
                if error.code != CODE_DIGEST_CHECK_FAILED or deadline.expired() or attempt > self.max_retries:
                    raise
                logger.warning("bk-repo received different bytes than were sent for %s; sending them again", key)
                continue
            data = answer.data if isinstance(answer.data, dict) else {}
            stored = str(data.get("sha256") or answer.response.headers.get("X-Checksum-Sha256") or "").lower()
            if declared:
                sent = declared
            else:
                hasher = bodies[-1].hasher if bodies else hashlib.sha256(b"")
                assert hasher is not None  # undeclared bodies are hashed
                sent = hasher.hexdigest()
            if declared or not stored or stored == sent:
                if source.sha256 is None:
                    source.sha256 = sent
                return data
            logger.warning("bk-repo stored different bytes than were sent for %s (sha256 mismatch)", key)
            if overwrite and attempt <= self.max_retries and not deadline.expired():
                continue  # overwriting again is safe
            if not overwrite:
                self.delete(key)  # a new object holding the wrong bytes: ours to remove
            raise IntegrityError(
                "bk-repo stored different bytes than were sent (sha256 mismatch)", method="PUT", path=route
            )

    def _stored_copy(self, key: str, source: UploadSource, deadline: Deadline) -> dict[str, Any] | None:
        """If ``key`` holds exactly ``source`` (by sha256) return its detail; None when absent.

        Raises ObjectAlreadyExists when it holds something else.
        """
        try:
            response = self.head(key, deadline=deadline)
        except ObjectNotFoundError:
            return None
        stored = (response.headers.get("X-Checksum-Sha256") or response.headers.get("ETag") or "").strip('"').lower()
        if source.sha256 is None:
            source.sha256 = source.compute_sha256()
        if stored and stored == source.sha256:
            logger.info("an earlier attempt stored %s already (same sha256)", key)
            return {"fullPath": "/" + key, "size": source.size, "sha256": stored}
        raise ObjectAlreadyExists("the name is taken by other content", CODE_NODE_EXISTED, path=self.generic_route(key))

    def _block_upload(
        self,
        key: str,
        source: UploadSource,
        *,
        overwrite: bool,
        headers: Mapping[str, str] | None,
        deadline: Deadline,
    ) -> dict[str, Any]:
        route = self.block_route(key)
        flag = "true" if overwrite else "false"
        answer = self.request(
            "POST",
            route,
            headers={"X-BKREPO-OVERWRITE": flag},
            expect_json=True,
            idempotent=True,  # a second upload id is harmless
            deadline=deadline,
        )
        upload_id = str((answer.data or {}).get("uploadId") or "")
        if not upload_id:
            raise InvalidResponseError("block upload start returned no uploadId", method="POST", path=route)
        parts = [
            (number, offset, min(self.block_size, source.size - offset))
            for number, offset in enumerate(range(0, source.size, self.block_size), start=1)
        ]
        completed = False
        try:
            # Each part, and the steps after them, get a deadline of their own: a large
            # file on a slow link may take longer than one deadline as long as it moves.
            hashes = self._upload_parts(key, upload_id, source, parts)
            self._verify_parts(key, upload_id, source, parts, hashes)
            complete_headers = {"X-BKREPO-UPLOAD-ID": upload_id, "X-BKREPO-OVERWRITE": flag, **(headers or {})}
            deadline = self.new_deadline()
            try:
                self.request(
                    "PUT", route, headers=complete_headers, expect_json=True, idempotent=True, deadline=deadline
                )
            except RequestError as error:
                if error.code != CODE_UPLOAD_ID_NOT_FOUND:
                    raise
                # A retried complete after the first one merged: check what is stored.
                completed = True
                node = self._stored_copy(key, source, deadline)
                if node is None:
                    raise
                return node
            completed = True
        finally:
            if not completed:
                self._abort_block_upload(route, upload_id)
        # Every part was checked against its sha256 before the merge; a HEAD now
        # could see another writer's newer object, so the merge is not re-checked.
        return {"fullPath": "/" + key, "size": source.size, "sha256": source.sha256}

    def _upload_parts(
        self, key: str, upload_id: str, source: UploadSource, parts: list[tuple[int, int, int]]
    ) -> dict[int, str]:
        """Send parts in parallel (each with its own deadline); the first failure cancels the rest."""
        route = self.generic_route(key)

        def send(part: tuple[int, int, int]) -> tuple[int, str]:
            number, offset, length = part
            bodies: list[_StreamBody] = []

            def make_body() -> _StreamBody:
                body = _StreamBody(source, offset, length)
                bodies.append(body)
                return body

            self.request(
                "PUT",
                route,
                headers={
                    "X-BKREPO-UPLOAD-ID": upload_id,
                    "X-BKREPO-SEQUENCE": str(number),
                    # Replace a part an earlier attempt left behind.
                    "X-BKREPO-OVERWRITE": "true",
                },
                body=make_body,
                expect_json=True,
                idempotent=True,
                deadline=self.new_deadline(),
            )
            hasher = bodies[-1].hasher
            assert hasher is not None  # parts are always hashed
            return number, hasher.hexdigest()

        pool = self._pool()
        futures: list[Future[tuple[int, str]]] = [pool.submit(send, part) for part in parts]
        done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        failures = [future.exception() for future in done if future.exception() is not None]
        if failures:
            for future in pending:
                future.cancel()
            wait(pending)  # parts already on their way finish (or fail) before the abort
            error = failures[0]
            assert error is not None
            raise error
        return dict(future.result() for future in futures)

    def _verify_parts(
        self,
        key: str,
        upload_id: str,
        source: UploadSource,
        parts: list[tuple[int, int, int]],
        hashes: dict[int, str],
    ) -> None:
        """Compare the server's list of parts with what was sent; resend a part that differs, once."""
        bad = self._parts_held_differently(key, upload_id, parts, hashes)
        if not bad:
            return
        logger.warning("resending %d block part(s) of %s that the server holds differently", len(bad), key)
        hashes.update(self._upload_parts(key, upload_id, source, bad))
        still_bad = self._parts_held_differently(key, upload_id, parts, hashes)
        if still_bad:
            raise IntegrityError(f"block part {still_bad[0][0]} was not stored correctly", path=self.block_route(key))

    def _parts_held_differently(
        self, key: str, upload_id: str, parts: list[tuple[int, int, int]], hashes: dict[int, str]
    ) -> list[tuple[int, int, int]]:
        """The parts that the server's part list is missing or holds with another size or sha256."""
        answer = self.request(
            "GET",
            self.block_route(key),
            headers={"X-BKREPO-UPLOAD-ID": upload_id},
            expect_json=True,
            deadline=self.new_deadline(),
        )
        listed = {int(item["sequence"]): item for item in (answer.data or [])}
        return [
            part
            for part in parts
            if part[0] not in listed
            or int(listed[part[0]].get("size", -1)) != part[2]
            or str(listed[part[0]].get("sha256", "")).lower() != hashes[part[0]]
        ]

    def _abort_block_upload(self, route: str, upload_id: str) -> None:
        try:
            self.request(
                "DELETE",
                route,
                headers={"X-BKREPO-UPLOAD-ID": upload_id},
                expect_json=True,
                deadline=Deadline(min(self.deadline or 10.0, 10.0)),
            )
        except BKStorageError as error:
            logger.warning("could not abort block upload of %s: %s", route, error)

    # -- listing ----------------------------------------------------------------

    def list_page(self, key: str, page_number: int, page_size: int | None = None) -> dict[str, Any]:
        """One page of the direct children of folder ``key`` (bk-repo's ``Page``)."""
        answer = self.request(
            "GET",
            f"/repository/api/node/page/{self.project}/{self.bucket}/{encode_path(key)}",
            params={
                "pageNumber": page_number,
                "pageSize": page_size or self.list_page_size,
                "includeFolder": "true",
                "includeMetadata": "false",
                "deep": "false",
                # Without an order, MongoDB's natural order may shift between pages.
                "sort": "true",
            },
            expect_json=True,
        )
        return answer.data or {}

    def iter_children(self, key: str, page_size: int | None = None) -> Iterator[dict[str, Any]]:
        """Every direct child of folder ``key``, page after page (empty for a missing folder)."""
        size = page_size or self.list_page_size
        page_number = 1
        while True:
            page = self.list_page(key, page_number, size)
            records = page.get("records") or []
            yield from records
            total_pages = page.get("totalPages")
            if len(records) < size or (isinstance(total_pages, int) and 0 < total_pages <= page_number):
                return
            page_number += 1

    # -- temporary URLs and repository info ------------------------------------

    def create_temporary_urls(
        self,
        keys: Iterable[str],
        expire_seconds: int,
        *,
        host: str | None = None,
        token_type: str = "DOWNLOAD",  # noqa: S107 - a token type, not a secret
        permits: int | None = None,
    ) -> dict[str, str]:
        """Signed URLs for many keys in one request: ``{key: url}``, paths percent-encoded."""
        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        body: dict[str, Any] = {
            "projectId": self.project,
            "repoName": self.bucket,
            "fullPathSet": ["/" + key for key in wanted],
            "expireSeconds": int(expire_seconds),
            "type": token_type,
        }
        if host:
            body["host"] = host
        if permits is not None:
            body["permits"] = permits
        answer = self.request(
            "POST", "/generic/temporary/url/create", json_body=body, expect_json=True, idempotent=True
        )
        by_path = {}
        for item in answer.data or []:
            by_path[str(item.get("fullPath", ""))] = _encode_temporary_url(str(item["url"]), str(item["fullPath"]))
        result = {}
        for key in wanted:
            url = by_path.get("/" + key)
            if url is None:
                raise InvalidResponseError(
                    "bk-repo did not return a temporary URL for every path", path="/generic/temporary/url/create"
                )
            result[key] = url
        return result

    def repo_info(self) -> dict[str, Any]:
        answer = self.request(
            "GET", f"/repository/api/repo/info/{self.project}/{self.bucket}/GENERIC", expect_json=True
        )
        if not isinstance(answer.data, dict):
            raise ObjectNotFoundError(
                f"repository {self.bucket!r} is not a generic repository in project {self.project!r}",
                CODE_REPOSITORY_NOT_FOUND,
            )
        return answer.data

    @property
    def is_public(self) -> bool:
        """Whether the repository is public (asked once, then remembered)."""
        if self._public is None:
            public = bool(self.repo_info().get("public", False))
            self._public = public
        return self._public

    # -- the bkstorages 3.x method names ---------------------------------------

    def upload_file(self, filepath: str | PathLike[str], key: str, allow_overwrite: bool = True, **kwargs: Any) -> None:
        """Upload a local file (3.x name)."""
        with open(filepath, "rb") as fh:
            self.upload_fileobj(fh, key=key, allow_overwrite=allow_overwrite, **kwargs)

    def upload_fileobj(self, fh: IO[Any], key: str, allow_overwrite: bool = True, **kwargs: Any) -> None:
        """Upload a file object (3.x name). Raises ObjectAlreadyExists or UploadFailedError."""
        key = key.lstrip("/")
        src = str(getattr(fh, "name", "<memory>"))
        try:
            source = UploadSource.from_fileobj(fh, spool_dir=self.spool_dir)
            try:
                self.upload(key, source, overwrite=allow_overwrite)
            finally:
                source.close()
        except ObjectAlreadyExists:
            raise
        except BKStorageError as error:
            raise UploadFailedError(key, src, str(error), status=error.status, code=error.code) from error

    def download_file(self, key: str, filepath: str | PathLike[str], *args: Any, **kwargs: Any) -> str | PathLike[str]:
        """Download to a local file (3.x name); nothing is left behind on failure."""
        directory = os.path.dirname(os.fspath(filepath)) or "."
        with tempfile.NamedTemporaryFile(dir=directory, delete=False) as tmp:
            try:
                self.download_fileobj(key, tmp)
            except BaseException:
                tmp.close()
                os.unlink(tmp.name)
                raise
        shutil.move(tmp.name, os.fspath(filepath))
        return filepath

    def download_fileobj(self, key: str, fh: IO[bytes], *args: Any, **kwargs: Any) -> None:
        """Download into a file object (3.x name). Raises DownloadFailedError."""
        key = key.lstrip("/")
        dest = str(getattr(fh, "name", "<memory>"))
        try:
            self.download_to(key, fh)
        except BKStorageError as error:
            raise DownloadFailedError(key, dest, str(error), status=error.status, code=error.code) from error

    def delete_file(self, key: str, *args: Any, **kwargs: Any) -> None:
        """Delete an object (3.x name); a missing object is not an error."""
        self.delete(key.lstrip("/"))

    def get_file_metadata(self, key: str, *args: Any, **kwargs: Any) -> dict[str, str]:
        """The object's HTTP headers from a HEAD (3.x name)."""
        return dict(self.head(key.lstrip("/")).headers)

    def build_download_url(self, key: str, force_download: bool = False) -> str:
        """Permanent download URL of a public repository object (3.x name)."""
        return self.public_url(key.lstrip("/"), preview=not force_download)

    def generate_presigned_url(
        self,
        key: str,
        expires_in: int,
        token_type: str = "DOWNLOAD",  # noqa: S107 - a token type, not a secret *args: Any, **kwargs: Any
    ) -> str:
        """A temporary URL (3.x name); ``expires_in <= 0`` means it never expires, as in bk-repo."""
        key = key.lstrip("/")
        return self.create_temporary_urls([key], expires_in, token_type=token_type)[key]

    def list_dir(self, key_prefix: str) -> tuple[list[str], list[str]]:
        """(directories, files) directly under ``key_prefix`` (3.x name), sorted."""
        directories: list[str] = []
        files: list[str] = []
        for record in self.iter_children(key_prefix.strip("/")):
            (directories if record.get("folder") else files).append(str(record["name"]))
        return sorted(directories), sorted(files)

    def get_bucket_metadata(self) -> dict[str, Any]:
        """The repository info (3.x name)."""
        return self.repo_info()


def _describe_connection_error(error: BaseException) -> str:
    reason = error.args[0] if error.args else error
    reason = getattr(reason, "reason", reason)
    return type(reason).__name__


def _int_or_none(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _encode_temporary_url(url: str, full_path: str) -> str:
    """bk-repo appends the raw path to temporary URLs; encode the path part ourselves."""
    base, separator, token = url.rpartition("?token=")
    if not separator:
        base, token = url, ""
    if not base.endswith(full_path):
        raise InvalidResponseError("unexpected temporary URL format from bk-repo", path="/generic/temporary/url/create")
    prefix = base[: len(base) - len(full_path)]
    encoded = prefix + encode_path(full_path)
    return f"{encoded}?token={token}" if separator else encoded
