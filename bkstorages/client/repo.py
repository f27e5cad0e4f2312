"""The bk-repo API calls on one generic repository: routes, objects, listing, temporary URLs, repo info."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import quote, urljoin, urlsplit

import requests

from bkstorages.client.errors import CODE_REPOSITORY_NOT_FOUND, TEMPORARY_URL_ROUTE, is_bkrepo_head_404, wrong_endpoint
from bkstorages.client.transport import REDIRECT_STATUSES, Answer, Deadline, Transport
from bkstorages.exceptions import (
    InvalidResponseError,
    NameTooLongError,
    ObjectIsFolderError,
    ObjectNotFoundError,
    PermissionDeniedError,
    shorten,
)

_TEMPORARY_URL_ROUTE = TEMPORARY_URL_ROUTE
#: The longest percent-encoded name (location included) sent to bk-repo. Its
#: gateway is nginx with ``large_client_header_buffers`` left at the default
#: ``4 8k`` (``src/gateway/nginx.conf`` does not raise it; Spring Boot's
#: header limit behind it is 8 KiB too), so a request line over 8 KiB is a
#: 414. 1 KiB of that is left for the method, route, project, bucket and query.
MAX_ENCODED_NAME = 7 * 1024
#: Percent-encoding makes at most 12 characters of one (4 UTF-8 bytes, each ``%XX``).
_MAX_ENCODED_PER_CHAR = 12


def encode_path(path: str) -> str:
    """Percent-encode an object path for a URL: the one place names are encoded.

    Everything but letters, digits, ``-._~`` and ``/`` is encoded, so ``#``,
    ``?``, ``%``, ``+``, spaces and non-ASCII round-trip.
    """
    return quote(path, safe="/")


def check_name_length(key: str) -> None:
    """Raise :class:`NameTooLongError` when ``key`` would not fit a request line (encoding only long keys)."""
    if len(key) * _MAX_ENCODED_PER_CHAR > MAX_ENCODED_NAME:
        checked_path(key)


def checked_path(key: str) -> str:
    """:func:`encode_path` of ``key``; :class:`NameTooLongError` when it would not fit a request line."""
    encoded = encode_path(key)
    if len(encoded) > MAX_ENCODED_NAME:
        raise NameTooLongError(
            f"the name {shorten(key, 60)!r} is too long for bk-repo: {len(encoded)} bytes percent-encoded, "
            f"at most {MAX_ENCODED_NAME}"
        )
    return encoded


class RepoAPI(Transport):
    """bk-repo's API for the generic repository ``bucket`` in ``project``."""

    project: str
    bucket: str
    list_page_size: int
    _public: bool | None
    #: Set once node detail has answered as bk-repo: a HEAD 404 without a body is then a missing file.
    _endpoint_confirmed: bool = False

    # -- routes -----------------------------------------------------------------

    def generic_route(self, key: str) -> str:
        return f"/generic/{self.project}/{self.bucket}/{checked_path(key)}"

    def block_route(self, key: str) -> str:
        return f"/generic/block/{self.project}/{self.bucket}/{checked_path(key)}"

    def public_url(self, key: str, *, preview: bool = False, base_url: str | None = None) -> str:
        """The permanent URL of ``key`` in a public repository (no request made)."""
        base = (base_url or f"{self.endpoint_url}/generic/{self.project}/{self.bucket}").rstrip("/")
        url = f"{base}/{checked_path(key)}"
        return url + "?preview=true" if preview else url

    # -- objects ----------------------------------------------------------------

    def head(self, key: str, *, deadline: Deadline | None = None) -> requests.Response:
        """HEAD a file: its answer (a redirect to another origin is followed, without credentials).

        Raises :class:`~bkstorages.exceptions.ObjectIsFolderError` for a folder
        (bk-repo answers HEAD on one with a redirect to its ``/`` URL, or 403
        when its repository does not list folders) and ``ObjectNotFoundError``
        for bk-repo's own 404 only (see :meth:`_confirm_missing`).
        """
        route = self.generic_route(key)
        deadline = deadline or self.new_deadline()
        try:
            response = self.request("HEAD", route, deadline=deadline).response
        except ObjectNotFoundError as error:
            self._confirm_missing(key, error)
            raise
        except PermissionDeniedError as error:
            # A 403 to HEAD has no body to tell "no right" from "a folder it will not list".
            if self._is_folder(key):
                folder = ObjectIsFolderError(f"{key!r} is a folder, not a file", status=403, method="HEAD", path=route)
                raise folder from error
            raise
        if response.status_code not in REDIRECT_STATUSES:
            return response
        if is_folder_redirect(response, route):
            raise ObjectIsFolderError(f"{key!r} is a folder, not a file", status=response.status_code, path=route)
        return self.follow(response, "HEAD", route, headers={}, deadline=deadline)

    def _confirm_missing(self, key: str, error: ObjectNotFoundError) -> None:
        """Raise EndpointConfigurationError unless bk-repo itself said 404.

        bk-repo's 404 to HEAD has no body but still says ``application/json``;
        without that, node detail (a GET, with a body) decides, once per client:
        after one bk-repo answer the endpoint is known to be bk-repo.
        """
        if error.code is not None or self._endpoint_confirmed or is_bkrepo_head_404(error.response):
            return
        try:
            detail = self.node_detail(key).data
        except ObjectNotFoundError:
            self._endpoint_confirmed = True
            return
        if not isinstance(detail, dict):
            return
        # bk-repo knows the node, yet HEAD was a 404 without its envelope: something else answered.
        raise wrong_endpoint(error.response, method="HEAD", path=self.generic_route(key)) from error

    def _is_folder(self, key: str) -> bool:
        try:
            detail = self.node_detail(key).data
        except ObjectNotFoundError:
            return False
        return isinstance(detail, dict) and bool(detail.get("folder"))

    def exists(self, key: str) -> bool:
        """True for a file or folder, False only for bk-repo's own 404; other errors raise."""
        try:
            self.head(key)
        except ObjectIsFolderError:
            return True
        except ObjectNotFoundError:
            return False
        return True

    def node_detail(self, key: str) -> Answer:
        """Node detail (``data``) with the server's time zone (``zone``), dates asked for in UTC."""
        return self.request(
            "GET",
            f"/repository/api/node/detail/{self.project}/{self.bucket}/{checked_path(key)}",
            headers={"X-BKREPO-Time-Zone": "UTC"},
            expect_json=True,
        )

    def node_metadata(self, key: str) -> dict[str, str]:
        """The node's metadata (keys as bk-repo stores them); ObjectNotFoundError when there is no node."""
        data = self.node_detail(key).data
        if not isinstance(data, dict):
            raise ObjectNotFoundError(f"no node at {key!r}", path=key)
        return {str(name): str(value) for name, value in (data.get("metadata") or {}).items()}

    def delete(self, key: str) -> bool:
        """Delete an object; False when it did not exist."""
        try:
            self.request("DELETE", self.generic_route(key), expect_json=True)
        except ObjectNotFoundError:
            return False
        return True

    # -- listing ----------------------------------------------------------------

    def list_page(
        self, key: str, page_number: int, page_size: int | None = None, *, deep: bool = False
    ) -> dict[str, Any]:
        """One page of the direct children of folder ``key`` (bk-repo's ``Page``); ``deep``: every file below it."""
        return self._page(key, page_number, page_size, deep=deep).data or {}

    def _page(self, key: str, page_number: int, page_size: int | None, *, deep: bool) -> Answer:
        return self.request(
            "GET",
            f"/repository/api/node/page/{self.project}/{self.bucket}/{checked_path(key)}",
            params={
                "pageNumber": page_number,
                "pageSize": page_size or self.list_page_size,
                "includeFolder": "false" if deep else "true",
                "includeMetadata": "false",
                "deep": "true" if deep else "false",
                # Without an order, MongoDB's natural order may shift between pages.
                "sort": "true",
            },
            headers={"X-BKREPO-Time-Zone": "UTC"},
            expect_json=True,
        )

    def iter_children(self, key: str, page_size: int | None = None, *, deep: bool = False) -> Iterator[dict[str, Any]]:
        """Every direct child of folder ``key`` (``deep``: every file below it), page after page.

        A missing folder has none. Each record is bk-repo's ``NodeInfo``: name,
        ``fullPath``, size, sha256, md5 and dates.
        """
        for records, _zone in self._pages(key, page_size, deep=deep):
            yield from records

    def iter_files(self, key: str, page_size: int | None = None) -> Iterator[tuple[dict[str, Any], str | None]]:
        """Every file below folder ``key`` (deep listing pages), with the time zone its dates are in."""
        for records, zone in self._pages(key, page_size, deep=True):
            for record in records:
                yield record, zone

    def _pages(
        self, key: str, page_size: int | None, *, deep: bool
    ) -> Iterator[tuple[list[dict[str, Any]], str | None]]:
        size = page_size or self.list_page_size
        page_number = 1
        while True:
            answer = self._page(key, page_number, size, deep=deep)
            page = answer.data or {}
            records = page.get("records") or []
            yield records, answer.zone
            total_pages = page.get("totalPages")
            if len(records) < size or (isinstance(total_pages, int) and 0 < total_pages <= page_number):
                return
            page_number += 1

    # -- node operations: bk-repo does the work, no bytes pass through here -----

    def copy_node(self, source: str, target: str, *, overwrite: bool, move: bool = False) -> None:
        """bk-repo copies (or moves) ``source`` to ``target`` in this repository, like ``cp``/``mv``.

        A file onto an existing folder goes inside it. Without ``overwrite`` an
        existing file at ``target`` raises ObjectAlreadyExists (251013) and is
        left as it was; a missing ``source`` raises ObjectNotFoundError (251010).
        """
        body = {
            "srcProjectId": self.project,
            "srcRepoName": self.bucket,
            "srcFullPath": "/" + source,
            "destProjectId": self.project,
            "destRepoName": self.bucket,
            "destFullPath": "/" + target,
            "overwrite": overwrite,
        }
        # Sending an overwriting copy twice gives the same result; a move or a refusing copy would not.
        idempotent = overwrite and not move
        route = "/repository/api/node/move" if move else "/repository/api/node/copy"
        self.request("POST", route, json_body=body, expect_json=True, idempotent=idempotent)

    def delete_tree(self, key: str) -> dict[str, Any]:
        """Delete a file, or a folder with everything in it, in one request (bk-repo's ``NodeDeleteResult``).

        A missing node deletes nothing. bk-repo refuses the repository root.
        """
        answer = self.request(
            "DELETE", f"/repository/api/node/delete/{self.project}/{self.bucket}/{encode_path(key)}", expect_json=True
        )
        return answer.data if isinstance(answer.data, dict) else {}

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
        for key in wanted:
            checked_path(key)  # the URL must be usable
        body: dict[str, Any] = {
            "projectId": self.project,
            "repoName": self.bucket,
            "fullPathSet": ["/" + key for key in wanted],
            "expireSeconds": int(expire_seconds),
            "type": token_type,
        }
        if host:
            body["host"] = generic_root(host)
        if permits is not None:
            body["permits"] = permits
        answer = self.request("POST", _TEMPORARY_URL_ROUTE, json_body=body, expect_json=True, idempotent=True)
        by_path = {
            str(item.get("fullPath", "")): _encode_temporary_url(str(item["url"]), str(item["fullPath"]))
            for item in answer.data or []
        }
        missing = [key for key in wanted if "/" + key not in by_path]
        if missing:
            raise InvalidResponseError(
                "bk-repo did not return a temporary URL for every path", path=_TEMPORARY_URL_ROUTE
            )
        return {key: by_path["/" + key] for key in wanted}

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
        """Whether the repository is public (given as ``public=``, or asked once and remembered)."""
        if self._public is None:
            self._public = bool(self.repo_info().get("public", False))
        return self._public


def generic_root(host: str) -> str:
    """bk-repo appends ``/temporary/...`` to the host it is given: give it the generic root.

    ``BKREPO_TEMPORARY_URL_HOST`` may name the gateway root or the generic root.
    """
    host = host.strip().rstrip("/")
    return host if host.endswith("/generic") else host + "/generic"


def is_folder_redirect(response: requests.Response, route: str) -> bool:
    """bk-repo's answer to GET/HEAD on a folder: a redirect to the folder's URL plus ``/``."""
    location = (response.headers.get("Location") or "").strip()
    return bool(location) and urlsplit(urljoin(response.url, location)).path.endswith(route + "/")


def _encode_temporary_url(url: str, full_path: str) -> str:
    """bk-repo appends the raw path to temporary URLs; encode the path part ourselves."""
    base, separator, token = url.rpartition("?token=")
    if not separator:
        base, token = url, ""
    if not base.endswith(full_path):
        raise InvalidResponseError("unexpected temporary URL format from bk-repo", path=_TEMPORARY_URL_ROUTE)
    prefix = base[: len(base) - len(full_path)]
    encoded = prefix + encode_path(full_path)
    return f"{encoded}?token={token}" if separator else encoded
