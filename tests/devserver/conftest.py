"""Helpers for the dev server protocol tests: raw HTTP with requests."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
import requests

from bkstorages_contrib.testing import DevServer, Repos


@dataclass
class Api:
    """A requests session aimed at one test's fresh repositories."""

    server: DevServer
    repos: Repos
    session: requests.Session

    @property
    def base(self) -> str:
        return self.server.endpoint_url

    @property
    def project(self) -> str:
        return self.server.project

    @property
    def auth(self) -> tuple[str, str]:
        return (self.server.username, self.server.password)

    def generic(self, path: str, repo: str | None = None) -> str:
        return f"{self.base}/generic/{self.project}/{repo or self.repos.private}/{path.lstrip('/')}"

    def request(self, method: str, url: str, *, anonymous: bool = False, **kwargs: Any) -> requests.Response:
        if not anonymous:
            kwargs.setdefault("auth", self.auth)
        kwargs.setdefault("timeout", 30)
        if not url.startswith("http"):
            url = self.base + url
        return self.session.request(method, url, **kwargs)

    def put(self, path: str, data: bytes = b"data", repo: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("PUT", self.generic(path, repo), data=data, **kwargs)

    def get(self, path: str, repo: str | None = None, **kwargs: Any) -> requests.Response:
        return self.request("GET", self.generic(path, repo), **kwargs)


def assert_error(response: requests.Response, status: int, code: int) -> dict[str, Any]:
    """The response is bk-repo's error envelope with this status and code."""
    assert response.status_code == status, response.text
    assert response.headers["Content-Type"].startswith("application/json")
    body = response.json()
    assert set(body) == {"code", "message", "data", "traceId"}
    assert body["code"] == code, body
    assert body["data"] is None
    assert isinstance(body["message"], str)
    assert body["message"]
    return body


def assert_ok(response: requests.Response, status: int = 200) -> Any:
    """The response is a success envelope; returns its data."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["code", "message", "data", "traceId"]
    assert body["code"] == 0
    assert body["message"] is None
    assert response.headers["X-BKREPO-Time-Zone"]
    return body["data"]


def parse_local(text: str) -> dt.datetime:
    """Parse bk-repo's ISO local date-time (fraction trimmed, maybe absent)."""
    main, _, fraction = text.partition(".")
    return dt.datetime.fromisoformat(main) + dt.timedelta(milliseconds=int(fraction.ljust(3, "0")) if fraction else 0)


@pytest.fixture(scope="session")
def reader_server() -> Iterator[DevServer]:
    """A separate server with a read-only user, a platform account and a +0800 zone."""
    with DevServer(
        read_only_users={"reader": "reader-pass"}, platform_accounts={"app": "app-secret"}, time_zone="Asia/Shanghai"
    ) as server:
        yield server


@pytest.fixture
def api(bkrepo_server: DevServer, bkrepo_repos: Repos) -> Iterator[Api]:
    with requests.Session() as session:
        yield Api(bkrepo_server, bkrepo_repos, session)
