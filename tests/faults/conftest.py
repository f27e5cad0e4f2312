"""Fixtures for the resilience tests: a fault proxy in front of the dev server.

``fault_proxy`` sits between the storage and the session's dev server.
``make_storage(**options)`` builds a ``BKRepoStorage`` on a fresh private
repository that talks through the proxy with short timeouts, a short
deadline and a tiny backoff, so every fault resolves in well under a second
or two. ``bucket`` reads and writes that same repository directly (plain
HTTP, no proxy, no bkstorages code) to check what the server really holds.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests

from tests.faultproxy import FaultProxy

# Options for storages under test: fail fast, retry fast.
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.0
DEADLINE = 4.0
# For tests that run into the deadline on purpose.
SHORT_DEADLINE = 2.0
MAX_RETRIES = 3
# A deadline is a correctness bound, not a speed target: allow this much on
# top of it for a loaded two-core machine.
DEADLINE_MARGIN = 3.0


@dataclass
class Bucket:
    """Direct access to one dev-server repository, bypassing proxy and library."""

    endpoint_url: str
    project: str
    repo: str
    auth: tuple[str, str]

    def _url(self, name: str) -> str:
        return f"{self.endpoint_url}/generic/{self.project}/{self.repo}/{quote(name.lstrip('/'))}"

    def read(self, name: str) -> bytes | None:
        """The stored bytes, or None when there is no such object."""
        response = requests.get(self._url(name), auth=self.auth, timeout=10)
        if response.status_code == 404:
            return None
        response.raise_for_status()
        return response.content

    def put(self, name: str, data: bytes) -> None:
        headers = {"X-BKREPO-OVERWRITE": "true", "X-BKREPO-SHA256": hashlib.sha256(data).hexdigest()}
        response = requests.put(self._url(name), data=data, headers=headers, auth=self.auth, timeout=10)
        response.raise_for_status()

    def names(self) -> list[str]:
        """Full paths of every file in the repository."""
        url = f"{self.endpoint_url}/repository/api/node/page/{self.project}/{self.repo}/"
        params: dict[str, str | int] = {"pageNumber": 1, "pageSize": 1000, "includeFolder": "false", "deep": "true"}
        response = requests.get(url, params=params, auth=self.auth, timeout=10)
        response.raise_for_status()
        return sorted(record["fullPath"] for record in response.json()["data"]["records"])


@dataclass
class Routes:
    """Regular expressions for the proxy's ``path_regex``, for one repository."""

    project: str
    repo: str

    def object(self, name: str) -> str:
        """The generic route of ``name``: uploads, downloads, HEAD, DELETE and block parts."""
        return f"^/generic/{re.escape(self.project)}/{re.escape(self.repo)}/{re.escape(quote(name))}(\\?|$)"

    def block(self, name: str) -> str:
        """The block-upload route of ``name``: start, complete, abort, list parts."""
        return f"^/generic/block/{re.escape(self.project)}/{re.escape(self.repo)}/{re.escape(quote(name))}(\\?|$)"

    def listing(self) -> str:
        return f"^/repository/api/node/page/{re.escape(self.project)}/{re.escape(self.repo)}/"


@pytest.fixture
def routes(bkrepo_server: Any, bkrepo_repos: Any) -> Routes:
    return Routes(bkrepo_server.project, bkrepo_repos.private)


@pytest.fixture
def bucket(bkrepo_server: Any, bkrepo_repos: Any) -> Bucket:
    return Bucket(
        bkrepo_server.endpoint_url,
        bkrepo_server.project,
        bkrepo_repos.private,
        (bkrepo_server.username, bkrepo_server.password),
    )


@pytest.fixture
def make_storage(fault_proxy: FaultProxy, bkrepo_server: Any, bkrepo_repos: Any) -> Callable[..., Any]:
    """Build a storage on the fresh private repository, talking through the proxy."""
    from bkstorages.backends.bkrepo import BKRepoStorage

    def build(**options: Any) -> Any:
        settings: dict[str, Any] = {
            "endpoint_url": fault_proxy.url,
            "username": bkrepo_server.username,
            "password": bkrepo_server.password,
            "project": bkrepo_server.project,
            "bucket": bkrepo_repos.private,
            "connect_timeout": CONNECT_TIMEOUT,
            "read_timeout": READ_TIMEOUT,
            "deadline": DEADLINE,
            "max_retries": MAX_RETRIES,
            "backoff": 0.02,
        }
        settings.update(options)
        return BKRepoStorage(**settings)

    return build
