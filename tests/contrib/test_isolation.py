"""Test isolation: under bkrepo_settings every storage talks to the dev server, and nothing else is reached.

"Production" here is a second dev server behind a fault proxy that counts
every connection and request; the test isolation does not allow the proxy.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import django
import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage, storages
from django.test import override_settings

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from bkstorages.client import BKGenericRepoClient, EndpointGuard, endpoint_guard
from bkstorages.exceptions import AuthenticationError, EndpointNotAllowedError
from bkstorages_contrib.testing import DevServer, Repos, isolated, new_repos
from tests.faultproxy import FaultProxy
from tests.models_app.models import Document

BKREPO = "bkstorages.backends.bkrepo"
STORAGES = {
    "default": {"BACKEND": f"{BKREPO}.BKRepoStorage"},
    "media": {"BACKEND": f"{BKREPO}.BKRepoPrivateStorage"},
    "staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"},
}


class Production:
    """A dev server standing in for the real bk-repo, reached only through ``proxy``."""

    def __init__(self, server: DevServer, proxy: FaultProxy) -> None:
        self.server = server
        self.proxy = proxy
        suffix = uuid.uuid4().hex[:8]
        self.bucket = server.create_repo(f"prod-media-{suffix}")
        self.public_bucket = server.create_repo(f"prod-public-{suffix}", public=True)

    def env(self) -> dict[str, str]:
        return {
            "BKREPO_ENDPOINT_URL": self.proxy.url,
            "BKREPO_USERNAME": self.server.username,
            "BKREPO_PASSWORD": "prod-password-not-for-tests",
            "BKREPO_PROJECT": self.server.project,
            "BKREPO_BUCKET": self.bucket,
            "BKREPO_PUBLIC_BUCKET": self.public_bucket,
            "BKREPO_PRIVATE_BUCKET": self.bucket,
            "BKREPO_PUBLIC_BASE_URL": "https://cdn.prod.example.com/media",
        }

    def stored(self) -> list[str]:
        """Every file in production's repositories (asked directly, not through the proxy)."""
        storage = BKRepoStorage(
            endpoint_url=self.server.endpoint_url,
            username=self.server.username,
            password=self.server.password,
            project=self.server.project,
            bucket=self.bucket,
        )
        return storage.listdir("")[1] + storage.listdir("media")[1]


@pytest.fixture(scope="module")
def production_server() -> Iterator[DevServer]:
    with DevServer() as server:
        yield server


@pytest.fixture
def production(production_server: DevServer, monkeypatch: pytest.MonkeyPatch) -> Iterator[Production]:
    """Production's BKREPO_* exported in the environment, as on a developer's machine."""
    with FaultProxy("127.0.0.1", production_server.port, allowed=False) as proxy:
        prod = Production(production_server, proxy)
        for name, value in prod.env().items():
            monkeypatch.setenv(name, value)
        yield prod


def files_in(repos: Repos, bucket: str) -> list[str]:
    client = BKGenericRepoClient(
        bucket, repos.project, repos.endpoint_url, repos.server.username, repos.server.password
    )
    return sorted(client.list_dir("media")[1])


def test_every_storage_goes_to_the_dev_server_and_production_gets_nothing(
    production: Production, bkrepo_repos: Repos
) -> None:
    # Built (and used) before the test's isolation, as a FileField's storage=BKRepoPublicStorage() at import.
    per_field = BKRepoPublicStorage()
    with override_settings(STORAGES=STORAGES):
        assert default_storage.bucket == production.bucket  # resolved from the environment, no request
        assert per_field.bucket == production.public_bucket
        assert per_field.url("a.txt").startswith("https://cdn.prod.example.com/")
        outside = default_storage._wrapped

        with isolated(bkrepo_repos):
            assert "BKREPO_ENDPOINT_URL" not in os.environ
            assert default_storage._wrapped is not outside  # Django built it anew
            default_storage.save("media/default.txt", ContentFile(b"1"))
            storages["media"].save("media/alias.txt", ContentFile(b"2"))
            per_field.save("media/field.txt", ContentFile(b"3"))
            Document.file.field.storage.save("media/model.txt", ContentFile(b"4"))
            storages["staticfiles"].save("x.css", ContentFile(b"5"))
            assert per_field.url("media/field.txt").startswith(bkrepo_repos.endpoint_url)

        assert os.environ["BKREPO_ENDPOINT_URL"] == production.proxy.url
        assert default_storage.bucket == production.bucket

    assert files_in(bkrepo_repos, bkrepo_repos.private) == ["alias.txt", "default.txt", "model.txt"]
    assert files_in(bkrepo_repos, bkrepo_repos.public) == ["field.txt"]
    assert production.proxy.connections == 0
    assert production.stored() == []


def test_an_explicit_endpoint_is_refused_and_nothing_is_sent(production: Production, bkrepo_settings: Repos) -> None:
    explicit = BKRepoStorage(endpoint_url=production.proxy.url, password="prod-password-not-for-tests")
    with pytest.raises(EndpointNotAllowedError, match="test isolation is on") as refused:
        explicit.save("media/x.txt", ContentFile(b"x"))
    assert production.proxy.url.replace("http://", "") in str(refused.value)
    assert bkrepo_settings.endpoint_url in str(refused.value)
    assert "prod-password" not in str(refused.value)

    options = {"endpoint_url": production.proxy.url}
    # As Django builds a STORAGES entry (override_settings(STORAGES=...) drops OPTIONS on Django 4.2).
    from_storages = storages.create_storage({"BACKEND": f"{BKREPO}.BKRepoStorage", "OPTIONS": options})
    with pytest.raises(EndpointNotAllowedError):
        from_storages.exists("media/x.txt")
    assert production.proxy.connections == 0
    assert production.stored() == []


def test_default_storage_keeps_no_repository_from_one_isolation_to_the_next(bkrepo_server: DevServer) -> None:
    first, second = new_repos(bkrepo_server), new_repos(bkrepo_server)
    with override_settings(STORAGES=STORAGES):
        with isolated(first):
            default_storage.save("media/first.txt", ContentFile(b"1"))
            assert default_storage.exists("media/first.txt")
            first_storage = default_storage._wrapped
        with isolated(second):
            assert default_storage.bucket == second.private
            assert default_storage._wrapped is not first_storage
            assert not default_storage.exists("media/first.txt")
            assert first_storage.bucket == second.private  # even a kept instance resolves again
            assert not first_storage.exists("media/first.txt")


def test_the_guard_lets_requests_through_only_while_off_or_allowed(production: Production) -> None:
    client = BKGenericRepoClient(
        production.bucket, production.server.project, production.proxy.url, production.server.username, "x"
    )
    assert not endpoint_guard.active  # this suite does not turn the ini option on
    with pytest.raises(AuthenticationError):
        client.exists("a.txt")  # off: sent (the proxy counts it), refused by the server for the password
    assert production.proxy.count("HEAD") == 1

    with endpoint_guard.switched_on(), endpoint_guard.switched_on():
        with pytest.raises(EndpointNotAllowedError):
            client.exists("a.txt")
        # The same origin written differently is allowed once allowed.
        written_otherwise = production.proxy.url.replace("http://", "HTTP://") + "/generic/"
        with endpoint_guard.allowing(written_otherwise), pytest.raises(AuthenticationError):
            client.exists("a.txt")
        endpoint_guard.switch_off()
        assert endpoint_guard.active  # switched on twice: still on
        with pytest.raises(EndpointNotAllowedError):
            client.exists("a.txt")
        endpoint_guard.switch_on()
    assert not endpoint_guard.active
    assert production.proxy.count("HEAD") == 2


def test_origins_are_compared_without_case_default_ports_or_credentials() -> None:
    guard = EndpointGuard()
    guard.switch_on()
    guard.allow("HTTP://Example.COM")
    guard.check("http://example.com:80/generic/x", "GET", "/generic/x")
    guard.check("http://user:pw@example.com/x", "GET", "/x")
    for refused in ("https://example.com/x", "http://example.com:8080/x", "http://example.org/x"):
        with pytest.raises(EndpointNotAllowedError):
            guard.check(refused, "GET", "/x")
    guard.allow("http://example.com")
    guard.disallow("http://example.com")
    guard.check("http://example.com/x", "GET", "/x")  # allowed twice, disallowed once
    guard.disallow("http://example.com")
    with pytest.raises(EndpointNotAllowedError, match=r"http://example.com:80.*\(none running\)"):
        guard.check("http://example.com/x", "GET", "/x")
    guard.switch_off()
    guard.check("http://example.com/x", "GET", "/x")


def test_a_dev_server_is_allowed_while_it_runs(bkrepo_settings: Repos) -> None:
    with DevServer() as other:
        storage = BKRepoStorage(
            endpoint_url=other.endpoint_url,
            username=other.username,
            password=other.password,
            project=other.project,
            bucket=other.public_bucket,
        )
        storage.save("a.txt", ContentFile(b"a"))
        assert storage.exists("a.txt")
    with pytest.raises(EndpointNotAllowedError):
        storage.exists("a.txt")


def test_under_isolation_no_setting_comes_from_the_environment(production: Production, bkrepo_settings: Repos) -> None:
    storage: Any = BKRepoPrivateStorage()
    assert storage.endpoint_url == bkrepo_settings.endpoint_url
    assert storage.bucket == bkrepo_settings.private
    assert storage.public_base_url is None


@pytest.mark.filterwarnings("ignore:The DEFAULT_FILE_STORAGE setting is deprecated")
def test_the_default_storage_django_was_told_to_build_stays_that_storage(bkrepo_server: DevServer) -> None:
    repos = new_repos(bkrepo_server)
    if django.VERSION < (5, 1):  # Django 4.2 builds it from its own setting, which leaves storages.backends stale
        told = {"DEFAULT_FILE_STORAGE": f"{BKREPO}.BKRepoStorage"}
    else:
        told = {"STORAGES": {"default": STORAGES["default"], "staticfiles": STORAGES["staticfiles"]}}
    before = type(storages["default"])
    assert before is not BKRepoStorage
    with override_settings(**told):
        assert type(storages["default"]) is BKRepoStorage
        with isolated(repos):
            assert default_storage.bucket == repos.private
            assert type(default_storage._wrapped) is BKRepoStorage
            assert storages["default"] is default_storage._wrapped
        assert type(storages["default"]) is BKRepoStorage
    with isolated(repos):  # once the override ended, the storage from before it
        assert type(storages["default"]) is before
