"""HTTP to one bk-repo endpoint: per-thread sessions, the deadline, the retry policy and request().

Every request the client makes goes through :meth:`Transport.request`, which
owns timeouts, retries, the deadline and the mapping of answers to errors.
How long to wait and when to give up is one value, :class:`RetryPolicy`,
which the upload and download loops ask too. While :data:`endpoint_guard`
is on (test isolation), a request to an endpoint it does not allow raises
before anything is sent.
"""

from __future__ import annotations

import logging
import os
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from bkstorages.client.errors import decode_envelope, envelope_code, error_for, error_from_response, not_bkrepo_json
from bkstorages.exceptions import (
    BKStorageError,
    ConnectionFailedError,
    DeadlineExceededError,
    EndpointNotAllowedError,
    RedirectError,
    TransportError,
)
from bkstorages.sources import ContentError

logger = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({429, 502, 503, 504})
#: Answers that send a download elsewhere (bk-repo: 302 to COS or another cluster, 301 for link nodes).
REDIRECT_STATUSES = frozenset({301, 302, 303, 307, 308})
#: Hops followed from bk-repo's answer before giving up.
MAX_REDIRECTS = 5
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "DELETE", "OPTIONS"})
_ZONE_HEADER = "X-BKREPO-Time-Zone"
# Parses Retry-After (seconds or an HTTP date); holds no state of ours.
_RETRY_AFTER_PARSER = Retry(total=0)


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


@dataclass(frozen=True)
class RetryPolicy:
    """What may be sent again, how long to wait first, and when to give up.

    Modelled on urllib3's ``Retry`` (``total``, ``backoff_factor``,
    ``backoff_max``, ``status_forcelist``, ``Retry-After``, whose parser it
    uses), plus what ``Retry`` lacks: the operation's overall
    :class:`Deadline`, and attempts counted by loops other than
    :meth:`Transport.request` (a resumed download, an upload sent again).
    The wait before retry *n* is drawn from ``[c/2, c]`` with
    ``c = min(backoff_max, backoff_factor * 2 ** (n - 1))``: unlike
    ``Retry``, the first retry waits too.
    """

    total: int = 3
    backoff_factor: float = 0.2
    backoff_max: float = 5.0
    status_forcelist: frozenset[int] = RETRY_STATUSES

    def is_retry(self, status: int) -> bool:
        """Whether an answer with this status is worth asking again."""
        return status in self.status_forcelist

    def may_resend(self, *, idempotent: bool, status: int | None, error: BaseException | None) -> bool:
        """Whether a failed request may be sent again: idempotent, refused with 429, or never sent."""
        return idempotent or status == 429 or (isinstance(error, requests.RequestException) and _never_sent(error))

    def backoff(self, attempt: int) -> float:
        """Exponential backoff with jitter for retry number ``attempt`` (1-based)."""
        ceiling = min(self.backoff_max, self.backoff_factor * (2 ** (attempt - 1)))
        return random.uniform(ceiling / 2, ceiling)  # noqa: S311 - jitter, not security

    def gives_up(self, attempt: int, deadline: Deadline) -> bool:
        """True when retry number ``attempt`` is not allowed: retries used up, or the deadline passed."""
        return attempt > self.total or deadline.expired()

    def wait_before(self, attempt: int, deadline: Deadline, response: requests.Response | None = None) -> float | None:
        """Seconds to wait before retry number ``attempt``, or None to give up.

        The wait honours ``Retry-After``; a wait that would end past the
        deadline gives up at once instead.
        """
        if self.gives_up(attempt, deadline):
            return None
        wait = self.backoff(attempt)
        asked = retry_after(response)
        if asked is not None:
            wait = max(wait, asked)
        remaining = deadline.remaining()
        if remaining is not None and wait >= remaining:
            return None
        return wait


def origin(url: str) -> str:
    """``scheme://host:port`` of a URL (lower case, default port filled in, no credentials)."""
    parts = urlsplit(url.strip())
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    port = port or {"http": 80, "https": 443}.get(scheme)
    host = (parts.hostname or "").lower()
    if ":" in host:
        host = f"[{host}]"
    return f"{scheme}://{host}:{port}"


class EndpointGuard:
    """While on, requests go only to allowed origins (test isolation); others raise
    :class:`~bkstorages.exceptions.EndpointNotAllowedError` before anything is sent.

    Test isolation: the pytest plugin (``bkstorages_contrib.testing``) turns
    it on for a test using ``bkrepo_settings`` and, with the ``bkrepo_isolate``
    ini option, for the whole run; every dev server it starts is allowed while
    it runs. Switching on nests (each ``switch_on()`` needs its
    ``switch_off()``); an origin allowed twice needs two ``disallow()``.
    The client never imports Django or pytest: this is a plain allowlist.
    It checks the endpoint of every request; the targets an allowed endpoint
    redirects downloads to (``Transport.follow()``) are not checked again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._depth = 0
        self._origins: Counter[str] = Counter()
        #: What :meth:`check` reads: the allowed origins while on, None while off.
        self.allowed: frozenset[str] | None = None

    def _update(self) -> None:
        self.allowed = frozenset(self._origins) if self._depth else None

    @property
    def active(self) -> bool:
        return self.allowed is not None

    def switch_on(self) -> None:
        with self._lock:
            self._depth += 1
            self._update()

    def switch_off(self) -> None:
        with self._lock:
            self._depth = max(0, self._depth - 1)
            self._update()

    def allow(self, url: str) -> None:
        """Allow requests to the origin of ``url`` (until ``disallow(url)``)."""
        with self._lock:
            self._origins[origin(url)] += 1
            self._update()

    def disallow(self, url: str) -> None:
        with self._lock:
            self._origins[origin(url)] -= 1
            self._origins += Counter()  # drops origins no longer allowed
            self._update()

    @contextmanager
    def switched_on(self) -> Iterator[None]:
        """The guard is on inside the ``with`` block."""
        self.switch_on()
        try:
            yield
        finally:
            self.switch_off()

    @contextmanager
    def allowing(self, url: str) -> Iterator[None]:
        """The origin of ``url`` is allowed inside the ``with`` block (e.g. a proxy of your own in a test)."""
        self.allow(url)
        try:
            yield
        finally:
            self.disallow(url)

    def check(self, url: str, method: str, path: str) -> None:
        """Raise :class:`~bkstorages.exceptions.EndpointNotAllowedError` if on and ``url`` is not allowed."""
        allowed = self.allowed
        if allowed is None:
            return
        target = origin(url)
        if target in allowed:
            return
        raise EndpointNotAllowedError(
            f"bkstorages refused to send {method} {path} to {target}: test isolation is on, and only "
            f"the dev servers the tests started may be reached ({', '.join(sorted(allowed)) or 'none running'}). "
            "Use the bkrepo_settings fixture, which points every storage built from settings or the "
            "environment at its dev server; a storage given endpoint_url explicitly (keyword or STORAGES "
            "OPTIONS) keeps it, so take that option from the settings in tests."
        )


#: The one guard every :class:`Transport` asks before sending (off unless a test turns it on).
endpoint_guard = EndpointGuard()


def retry_after(response: requests.Response | None) -> float | None:
    """Seconds asked for by a ``Retry-After`` header (delta or HTTP date), if any."""
    value = None if response is None else response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return float(_RETRY_AFTER_PARSER.parse_retry_after(value))
    except urllib3.exceptions.InvalidHeader:
        return None


def _never_sent(error: requests.RequestException) -> bool:
    """True when the request certainly never reached the server (connection not made)."""
    if isinstance(error, requests.ConnectTimeout):
        return True
    return isinstance(_reason(error), urllib3.exceptions.NewConnectionError)


def _reason(error: BaseException) -> Any:
    reason = error.args[0] if error.args else error
    return getattr(reason, "reason", reason)


def _retryable(failure: BKStorageError, cause: BaseException) -> _Retry:
    """A failure that may be retried, raised as itself (from ``cause``) once retries end."""
    failure.__cause__ = cause
    return _Retry(failure)


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


class Transport:
    """Sessions, timeouts, the retry policy and :meth:`request` for one endpoint.

    Thread-safe: each thread (and each process after a fork) gets its own HTTP
    session, created on first use. Sessions and worker threads are never pickled.
    """

    endpoint_url: str
    username: str | None
    _password: str | None
    connect_timeout: float
    read_timeout: float
    deadline: float | None
    retry_policy: RetryPolicy
    pool_maxsize: int
    block_upload_workers: int

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

    @property
    def password(self) -> str | None:
        """The password (kept out of ``repr()`` and pickles' logs; still pickled so copies work)."""
        return self._password

    # The retry settings, as the client's attributes.
    @property
    def max_retries(self) -> int:
        return self.retry_policy.total

    @property
    def backoff(self) -> float:
        return self.retry_policy.backoff_factor

    @property
    def backoff_max(self) -> float:
        return self.retry_policy.backoff_max

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
            session = self._local.session = self._new_session()
        return session

    def _new_session(self) -> requests.Session:
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
        return session

    @property
    def bare_session(self) -> requests.Session:
        """This thread's session for other origins: no auth, no netrc, no cookies kept, no redirects."""
        self._check_fork()
        session: requests.Session | None = getattr(self._local, "bare_session", None)
        if session is None:
            session = self._local.bare_session = requests.Session()
            session.trust_env = False
            session.verify = self.session.verify
            session.headers["User-Agent"] = "bkstorages"
        return session

    def _pool(self) -> ThreadPoolExecutor:
        self._check_fork()
        with self._lock:
            if self._executor is None:
                self._executor = ThreadPoolExecutor(self.block_upload_workers, thread_name_prefix="bkstorages-block")
            return self._executor

    def close(self) -> None:
        """Close this thread's sessions (others close when their threads end)."""
        for name in ("session", "bare_session"):
            session = getattr(self._local, name, None)
            if session is not None:
                session.close()
                setattr(self._local, name, None)

    def new_deadline(self) -> Deadline:
        return Deadline(self.deadline)

    def backoff_delay(self, attempt: int) -> float:
        """The retry policy's wait before retry number ``attempt`` (1-based)."""
        return self.retry_policy.backoff(attempt)

    def url_for(self, route: str) -> str:
        return self.endpoint_url + route

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
        rewound). What is retried and how long to wait is the
        :class:`RetryPolicy`'s: connection failures, timeouts, 429 and
        502/503/504 (and broken JSON bodies), while the deadline allows;
        requests that are not ``idempotent`` (default: GET, HEAD, DELETE) are
        retried only when they certainly did not reach the server, or got 429.
        Errors raise :class:`~bkstorages.exceptions.BKStorageError` subclasses.
        """
        if idempotent is None:
            idempotent = method in IDEMPOTENT_METHODS
        deadline = deadline or self.new_deadline()
        url = self.endpoint_url + route
        path = route  # for logs and errors: never has credentials or tokens
        endpoint_guard.check(url, method, path)
        policy = self.retry_policy
        attempt = 0
        while True:
            attempt += 1
            if deadline.expired():
                raise DeadlineExceededError(
                    f"gave up after {deadline.seconds}s (the deadline)", method=method, path=path
                )
            try:
                data = body() if body is not None else None
                response = self._send(
                    method, url, path, deadline, params=params, headers=headers, json=json_body, data=data
                )
                return self._answer(response, method, path, deadline, stream=stream, expect_json=expect_json)
            except ContentError as failed:
                # The caller's content could not be read: their error, not the network's; never retried.
                raise failed.original from None
            except _Retry as retry:
                error, cause = retry.error, retry.error.__cause__
                status = None if retry.response is None else retry.response.status_code
                wait = None
                if policy.may_resend(idempotent=idempotent, status=status, error=cause):
                    wait = policy.wait_before(attempt, deadline, retry.response)
                if wait is None:
                    raise error from cause
                retries = policy.total
                logger.info("%s %s failed (%s); retry %d of %d in %.2fs", method, path, error, attempt, retries, wait)
                time.sleep(wait)

    def _send(
        self,
        method: str,
        url: str,
        path: str,
        deadline: Deadline,
        *,
        session: requests.Session | None = None,
        **arguments: Any,
    ) -> requests.Response:
        """One attempt on the wire; failures that may be retried raise :class:`_Retry`."""
        started = time.monotonic()
        timeout = (deadline.cap(self.connect_timeout), deadline.cap(self.read_timeout))
        arguments["headers"] = dict(arguments["headers"] or {})
        try:
            # The body is read later (in _answer or by the caller), within the deadline. Redirects
            # are never followed by requests (which would re-send the session's auth): follow() does.
            response = (session or self.session).request(
                method, url, stream=True, timeout=timeout, allow_redirects=False, **arguments
            )
        except (requests.Timeout, urllib3.exceptions.TimeoutError) as error:
            logger.debug("%s %s timed out after %.0f ms", method, path, (time.monotonic() - started) * 1000)
            timed_out = DeadlineExceededError(f"timed out ({type(error).__name__})", method=method, path=path)
            raise _retryable(timed_out, error) from error
        except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError) as error:
            logger.debug("%s %s connection failed: %s", method, path, type(error).__name__)
            reason = type(_reason(error)).__name__
            failed = ConnectionFailedError(f"connection failed ({reason})", method=method, path=path)
            raise _retryable(failed, error) from error
        except requests.RequestException as error:
            raise TransportError(f"request failed ({type(error).__name__})", method=method, path=path) from error
        logger.debug("%s %s -> %s in %.0f ms", method, path, response.status_code, (time.monotonic() - started) * 1000)
        return response

    # -- redirects ------------------------------------------------------------------

    def follow(
        self, response: requests.Response, method: str, path: str, *, headers: Mapping[str, str], deadline: Deadline
    ) -> requests.Response:
        """Follow bk-repo's redirect answer ``response`` to the body; returns the target's answer.

        The one place redirects are followed (requests never follows one
        itself): at most :data:`MAX_REDIRECTS` hops; the endpoint's own origin
        (scheme, host, port) gets this session with its credentials, any other
        origin a bare session with nothing but ``headers`` (``Range``). A
        missing ``Location``, a target that is not HTTP(S), a loop, too many
        hops or a target that refuses (an expired signed link: 403) raise
        :class:`~bkstorages.exceptions.RedirectError`; logs and errors name
        ``path`` (bk-repo's route), never a target and its signature.
        """
        seen = {self.url_for(path)}
        for _hop in range(MAX_REDIRECTS):
            target = redirect_target(response, method, path)
            response.close()
            if target in seen:
                raise RedirectError("redirect loop: sent back to a URL already visited", method=method, path=path)
            seen.add(target)
            response = self.fetch_target(method, target, path, headers=headers, deadline=deadline)
            if response.status_code not in REDIRECT_STATUSES:
                return response
        response.close()
        raise RedirectError(f"too many redirects (more than {MAX_REDIRECTS})", method=method, path=path)

    def fetch_target(
        self, method: str, url: str, path: str, *, headers: Mapping[str, str], deadline: Deadline
    ) -> requests.Response:
        """One request to a redirect target, retried as the policy allows; a refusal raises RedirectError."""
        same = same_origin(url, self.endpoint_url)
        session = self.session if same else self.bare_session
        extra: dict[str, Any] = {} if same else {"proxies": requests.utils.get_environ_proxies(url)}
        attempt = 0
        while True:
            attempt += 1
            try:
                if not same:
                    session.cookies.clear()  # nothing one origin set goes to another
                response = self._send(method, url, path, deadline, session=session, headers=headers, **extra)
                status = response.status_code
                if status < 400:
                    return response
                self._read_body(response, deadline, method, path)
                refused = RedirectError(
                    f"the redirect target refused the download (HTTP {status})", status=status, method=method, path=path
                )
                if not self.retry_policy.is_retry(status):
                    raise refused
                raise _Retry(refused, response)
            except _Retry as retry:
                wait = self.retry_policy.wait_before(attempt, deadline, retry.response)
                if wait is None:
                    raise retry.error from retry.error.__cause__
                time.sleep(wait)

    def _answer(
        self,
        response: requests.Response,
        method: str,
        path: str,
        deadline: Deadline,
        *,
        stream: bool,
        expect_json: bool,
    ) -> Answer:
        """Check an answer: errors raise (retryable ones as :class:`_Retry`); JSON is decoded."""
        status = response.status_code
        if status >= 400:
            try:
                self._read_body(response, deadline, method, path)
                error = error_from_response(response, method, path)
                if self.retry_policy.is_retry(status):
                    raise _Retry(error, response)
                raise error
            finally:
                response.close()
        zone = response.headers.get(_ZONE_HEADER)
        if stream and not expect_json:
            return Answer(response, zone=zone)
        content = self._read_body(response, deadline, method, path)
        if not expect_json:
            return Answer(response, zone=zone)
        payload = decode_envelope(content)
        if payload is None:
            raise _Retry(not_bkrepo_json(status, content, method=method, path=path, response=response), response)
        if payload["code"] not in (0, "0"):
            message = str(payload.get("message") or "")
            raise error_for(status, envelope_code(payload), message, method=method, path=path, response=response)
        return Answer(response, payload.get("data"), zone=zone)

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
                raise _retryable(broken, error) from error
            if not data:
                break
            pieces.append(data)
        body = b"".join(pieces)
        response._content = body
        response._content_consumed = True  # type: ignore[attr-defined]
        response.close()  # the body was read to the end: the connection goes back to the pool
        return body


def same_origin(url: str, other: str) -> bool:
    """Same scheme, host and port (the default port of the scheme when none is given)."""
    return _origin(url) == _origin(other)


def _origin(url: str) -> tuple[str, str, int | None]:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    return scheme, (parts.hostname or "").lower(), port or {"http": 80, "https": 443}.get(scheme)


def redirect_target(response: requests.Response, method: str, path: str) -> str:
    """The absolute URL a redirect answer points to; RedirectError without one or for a non-HTTP(S) one."""
    status = response.status_code
    location = (response.headers.get("Location") or "").strip()
    if not location:
        raise RedirectError(f"HTTP {status} with no Location to follow", status=status, method=method, path=path)
    target = urljoin(response.url, location)
    if urlsplit(target).scheme.lower() not in ("http", "https"):
        raise RedirectError(
            f"HTTP {status} to a target that is not an HTTP(S) URL", status=status, method=method, path=path
        )
    return target
