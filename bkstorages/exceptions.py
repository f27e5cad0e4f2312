"""Errors raised by bkstorages.

Everything that comes from the store is a :class:`BKStorageError` carrying the
HTTP ``status``, bk-repo's numeric ``code`` and its ``message`` (any of them may
be ``None`` when there was no response, e.g. a connection failure).

A missing object additionally is a :class:`FileNotFoundError`, and a name that is
already taken a :class:`FileExistsError`, so code written for Django's
``FileSystemStorage`` keeps working.

The names bkstorages 3.x exported (``RequestError``, ``ObjectAlreadyExists``,
``UploadFailedError``, ``DownloadFailedError``) live here too, as part of the
same hierarchy. No error ever contains a password or a signed-URL token.
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AuthenticationError",
    "BKStorageError",
    "ConnectionFailedError",
    "DeadlineExceededError",
    "DownloadFailedError",
    "EndpointConfigurationError",
    "EndpointNotAllowedError",
    "IncompleteDownloadError",
    "IntegrityError",
    "InvalidResponseError",
    "NameTooLongError",
    "ObjectAlreadyExists",
    "ObjectIsFolderError",
    "ObjectNotFoundError",
    "PermissionDeniedError",
    "RateLimitedError",
    "RedirectError",
    "RequestError",
    "ServerError",
    "ShareDisabledError",
    "SigningNotPermittedError",
    "TransportError",
    "UploadFailedError",
]


#: How much of a path or of a server's message an error shows: a name may be kilobytes long.
SHOWN_LENGTH = 200


def shorten(text: str, limit: int = SHOWN_LENGTH) -> str:
    """``text``, cut to ``limit`` characters with a note of its full length."""
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


class BKStorageError(Exception):
    """Base class of every error bkstorages raises about the store."""

    def __init__(
        self,
        message: str = "",
        *,
        status: int | None = None,
        code: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.method = method
        self.path = path

    def __str__(self) -> str:
        parts = []
        if self.method and self.path:
            parts.append(f"{self.method} {shorten(self.path)}")
        if self.status is not None:
            parts.append(f"HTTP {self.status}")
        if self.code is not None:
            parts.append(f"code {self.code}")
        prefix = ", ".join(parts)
        message = shorten(self.message, 2 * SHOWN_LENGTH)
        if prefix and message:
            return f"{message} ({prefix})"
        return message or prefix or self.__class__.__name__

    def __reduce__(self) -> tuple[Any, ...]:
        # Keyword-only arguments need help to survive pickling (e.g. Celery results).
        # The HTTP response (if any) stays behind: it holds a connection.
        state = {key: value for key, value in self.__dict__.items() if key != "response"}
        return (_rebuild, (self.__class__, self.message, state))


def _rebuild(cls: type[BKStorageError], message: str, state: dict[str, Any]) -> BKStorageError:
    error = cls.__new__(cls)
    BKStorageError.__init__(error, message)
    error.__dict__.update(state)
    if issubclass(cls, RequestError):
        error.__dict__.setdefault("response", None)
    return error


class RequestError(BKStorageError):
    """The store answered a request with an error (the 3.x name, kept).

    The 3.x signature ``RequestError(message, code, response)`` still works.
    """

    def __init__(
        self,
        message: str = "",
        code: int | str | None = None,
        response: Any = None,
        *,
        status: int | None = None,
        method: str | None = None,
        path: str | None = None,
    ) -> None:
        numeric_code: int | None
        try:
            numeric_code = int(code) if code is not None else None
        except (TypeError, ValueError):
            numeric_code = None
        if status is None and response is not None:
            status = getattr(response, "status_code", None)
        super().__init__(message, status=status, code=numeric_code, method=method, path=path)
        self.response = response


class AuthenticationError(RequestError):
    """HTTP 401: the username/password were refused, or are needed and missing."""


class PermissionDeniedError(RequestError):
    """HTTP 403: the user may not do this (e.g. write to a read-only repository)."""


class SigningNotPermittedError(PermissionDeniedError):
    """bk-repo refused to sign a temporary link: signing needs WRITE permission on the file (code 250113)."""


class ObjectNotFoundError(RequestError, FileNotFoundError):
    """The object (or the repository) does not exist."""

    def __str__(self) -> str:
        return BKStorageError.__str__(self)


class ObjectAlreadyExists(RequestError, FileExistsError):
    """The name is taken and overwriting was not allowed (bk-repo code 251012)."""

    def __str__(self) -> str:
        return BKStorageError.__str__(self)


class RateLimitedError(RequestError):
    """HTTP 429 after every allowed retry."""


class ServerError(RequestError):
    """HTTP 5xx after every allowed retry."""


class InvalidResponseError(RequestError):
    """The answer was not bk-repo's JSON (an HTML error page from a proxy, broken JSON ...)."""


class NameTooLongError(BKStorageError, ValueError):
    """The name is too long for a bk-repo request line (refused before any request)."""


class ShareDisabledError(RequestError):
    """bk-repo refused to sign a temporary link: the project's share switch is off (code 251037)."""


class EndpointConfigurationError(InvalidResponseError):
    """A 404 that is not bk-repo's (a web server's page): ``BKREPO_ENDPOINT_URL`` points elsewhere."""


class RedirectError(InvalidResponseError):
    """A download redirect could not be followed: no ``Location``, a target that is not HTTP(S), a loop,
    too many hops, or a target that refused the download (its ``status``)."""


class ObjectIsFolderError(BKStorageError, IsADirectoryError):
    """The name is a folder, not a file: it cannot be read or sized (a folder is never an empty file)."""

    def __str__(self) -> str:
        return BKStorageError.__str__(self)


class IntegrityError(BKStorageError):
    """The bytes stored or received do not match their sha256 or length."""


class TransportError(BKStorageError):
    """No usable answer: connection refused or reset, a timeout, a broken body."""


class ConnectionFailedError(TransportError, ConnectionError):
    """The connection could not be made, or broke before an answer arrived."""

    def __str__(self) -> str:
        return BKStorageError.__str__(self)


class DeadlineExceededError(TransportError, TimeoutError):
    """The operation did not finish within its deadline (timeouts included)."""

    def __str__(self) -> str:
        return BKStorageError.__str__(self)


class IncompleteDownloadError(TransportError):
    """A download ended early and could not be resumed."""


class UploadFailedError(BKStorageError):
    """An upload through the 3.x client methods failed (``key``, ``src`` as in 3.x)."""

    def __init__(self, key: str = "", src: str = "", message: str = "", **details: Any) -> None:
        super().__init__(message or f"could not upload to {key!r}", **details)
        self.key = key
        self.src = src


class DownloadFailedError(BKStorageError):
    """A download through the 3.x client methods failed (``key``, ``dest`` as in 3.x)."""

    def __init__(self, key: str = "", dest: str = "", message: str = "", **details: Any) -> None:
        super().__init__(message or f"could not download {key!r}", **details)
        self.key = key
        self.dest = dest


class EndpointNotAllowedError(RuntimeError):
    """A request to an endpoint the test isolation does not allow; nothing was sent.

    Not a :class:`BKStorageError` (it says nothing about the store), so no
    code that handles store errors catches or wraps it: the test fails with
    this message. See :data:`bkstorages.client.endpoint_guard`.
    """
