"""Downloads: ObjectReader (ranged, resumed, verified GETs) and the sha256 worker thread."""

from __future__ import annotations

import contextlib
import hashlib
import logging
import queue
import re
import threading
import time
from typing import IO

import requests
import urllib3

from bkstorages.client.repo import RepoAPI, is_folder_redirect
from bkstorages.client.transport import REDIRECT_STATUSES, Deadline
from bkstorages.exceptions import (
    DeadlineExceededError,
    IncompleteDownloadError,
    IntegrityError,
    InvalidResponseError,
    ObjectIsFolderError,
    RedirectError,
    RequestError,
)
from bkstorages.sources import CHUNK_SIZE, MiB

logger = logging.getLogger(__name__)

READAHEAD = 64 * 1024  # first window of a bounded (random access) read
READAHEAD_MAX = 16 * MiB  # the window doubles on sequential reads up to this
BACKGROUND_HASH_MIN = 8 * MiB  # downloads this large are hashed in a worker thread
SHA256_RE = re.compile(r"^[0-9a-fA-F]{64}$")
CONTENT_RANGE_RE = re.compile(r"bytes\s+(\d+)-(-?\d+)/(\d+|\*)")
#: A redirect target answering these has expired (or was withdrawn): bk-repo is asked for a fresh one.
TARGET_REFUSALS = frozenset({401, 403, 404, 410})
#: How many fresh targets one reader asks bk-repo for.
MAX_REASKS = 2


class Downloads(RepoAPI):
    """Reading objects: :class:`ObjectReader` and whole downloads into a file object."""

    verify_downloads: bool

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


class _BodyBroke(Exception):
    """Internal: the body of the open response broke or ended early (the cause, if any, is chained)."""


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

    def __init__(self, client: Downloads, key: str, start: int = 0, *, preview: bool = False) -> None:
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
        self._route = client.generic_route(key)
        # Where bk-repo redirected the download (resumed there with Range), and fresh targets asked for.
        self._target: str | None = None
        self._reasks = 0
        self._redirected = False
        self._expected_sha256: str | None = None
        self._expected_size: int | None = None

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
            response = self._get(byte_range, deadline)
        except RequestError as error:
            if error.status == 416:
                self._eof = True
                return
            raise
        total = _parse_total(response.headers.get("Content-Range"))
        if self._redirected:
            # A redirect target's ETag is its own (COS: md5); the sha256 came with bk-repo's answer.
            etag = self._expected_sha256
            total = total if total is not None else self._expected_size
        else:
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

    def _get(self, byte_range: str, deadline: Deadline) -> requests.Response:
        """The answer carrying the body from here: bk-repo's, or that of the target it redirected to.

        A target that refuses (expired) is given up for a fresh one from
        bk-repo, :data:`MAX_REASKS` times at most.
        """
        headers = {"Range": byte_range}
        while True:
            try:
                if self._target is not None:
                    return self.client.fetch_target(
                        "GET", self._target, self._route, headers=headers, deadline=deadline
                    )
                return self._ask_bkrepo(headers, deadline)
            except RedirectError as error:
                if error.status not in TARGET_REFUSALS or self._reasks >= MAX_REASKS:
                    raise
                self._reasks += 1
                self._target = None
                logger.info("the download target of %s refused (HTTP %s); asking bk-repo again", self.key, error.status)

    def _ask_bkrepo(self, headers: dict[str, str], deadline: Deadline) -> requests.Response:
        """GET from bk-repo; a redirect is followed (transport) and its target kept for resuming."""
        response = self.client.request("GET", self._route, headers=headers, stream=True, deadline=deadline).response
        if response.status_code not in REDIRECT_STATUSES:
            return response
        if is_folder_redirect(response, self._route):
            response.close()
            raise ObjectIsFolderError(f"{self.key!r} is a folder, not a file", method="GET", path=self._route)
        self._redirected = True
        sha256 = (response.headers.get("X-Checksum-Sha256") or "").strip().lower()
        if sha256:
            self._expected_sha256 = sha256
        elif self._hasher is not None or self._expected_size is None:
            # Nothing arrived to check the body against: node detail says (one request, redirects only).
            detail = self.client.node_detail(self.key).data or {}
            self._expected_sha256 = str(detail.get("sha256") or "").lower() or None
            self._expected_size = int(detail["size"]) if isinstance(detail.get("size"), int) else None
        target = self.client.follow(response, "GET", self._route, headers=headers, deadline=deadline)
        self._target = target.url
        return target

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
            try:
                data = self._read_piece(wanted, deadline)
            except _BodyBroke as broke:
                failures += 1
                self._resume(broke.__cause__, failures, deadline)
                continue
            if not data:
                break
            failures = 0
            parts.append(data)
            wanted -= len(data)
            self.position += len(data)
            if self._hasher is not None:
                self._hasher.update(data)
        return b"".join(parts)

    def _read_piece(self, wanted: int, deadline: Deadline) -> bytes:
        """Up to ``wanted`` bytes as they arrive, opening a ranged GET when needed; ``b""`` at the end.

        Raises :class:`_BodyBroke` when the body broke or ended early.
        """
        while True:
            if self._response is None:
                self._open(deadline, wanted)
                if self._response is None:  # nothing left to read (416)
                    return b""
            if self.total is not None and self.position >= self.total:
                self._finish()
                return b""
            amount = min(wanted, CHUNK_SIZE)
            if self._range_end is not None:
                if self.position >= self._range_end:
                    self._release()  # this range is done: ask for the next one
                    continue
                amount = min(amount, self._range_end - self.position)
            try:
                # read1: return what has arrived, so a trickling body cannot outlast the deadline.
                data: bytes = self._response.raw.read1(amount)
            except (urllib3.exceptions.HTTPError, requests.RequestException, OSError) as error:
                raise _BodyBroke from error
            if data:
                return data
            if self.total is None or self.position >= self.total:
                self._finish()
                return b""
            raise _BodyBroke

    def _resume(self, failure: BaseException | None, failures: int, deadline: Deadline) -> None:
        """After the body broke: wait as the retry policy says, then read on from here (or give up)."""
        self._drop()
        logger.info("download of %s broke at byte %d (%s); resuming", self.key, self.position, failure)
        wait = self.client.retry_policy.wait_before(failures, deadline)
        if wait is None:
            raise IncompleteDownloadError(
                f"the download broke at byte {self.position} of {self.total} and could not be resumed",
                method="GET",
                path=self.client.generic_route(self.key),
            ) from failure
        time.sleep(wait)

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
