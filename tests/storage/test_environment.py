"""What a storage takes from the process environment: proxies and ~/.netrc.

Each thread's HTTP session reads the environment once, when it is created,
as requests would have on every call. A real forward proxy (the fault proxy,
which forwards absolute-form requests as they are) shows which requests
went through it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoStorage
from bkstorages.exceptions import AuthenticationError
from tests.faultproxy import FaultProxy


@pytest.fixture
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> pytest.MonkeyPatch:
    for name in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.lower(), raising=False)
    monkeypatch.setenv("NETRC", str(tmp_path / "no-netrc"))
    return monkeypatch


def _storage(server: Any, repos: Any, **options: Any) -> BKRepoStorage:
    settings: dict[str, Any] = {
        "endpoint_url": server.endpoint_url,
        "username": server.username,
        "password": server.password,
        "project": server.project,
        "bucket": repos.private,
    }
    settings.update(options)
    return BKRepoStorage(**settings)


def test_requests_go_through_the_proxy_named_in_the_environment(
    clean_environment: pytest.MonkeyPatch, fault_proxy: FaultProxy, bkrepo_server: Any, bkrepo_repos: Any
) -> None:
    clean_environment.setenv("HTTP_PROXY", fault_proxy.url)
    storage = _storage(bkrepo_server, bkrepo_repos)
    storage.save("via-proxy.txt", ContentFile(b"through the proxy"))
    assert storage.open("via-proxy.txt").read() == b"through the proxy"
    targets = [seen.target for seen in fault_proxy.seen]
    assert any(target.startswith(f"{bkrepo_server.endpoint_url}/generic/") for target in targets), targets
    assert {seen.method for seen in fault_proxy.seen} >= {"PUT", "GET"}


def test_no_proxy_sends_the_endpoint_directly(
    clean_environment: pytest.MonkeyPatch, fault_proxy: FaultProxy, bkrepo_server: Any, bkrepo_repos: Any
) -> None:
    clean_environment.setenv("HTTP_PROXY", fault_proxy.url)
    clean_environment.setenv("NO_PROXY", "127.0.0.1,localhost")
    storage = _storage(bkrepo_server, bkrepo_repos)
    storage.save("direct.txt", ContentFile(b"straight to the server"))
    assert storage.open("direct.txt").read() == b"straight to the server"
    assert fault_proxy.seen == []


def test_an_anonymous_storage_uses_netrc_credentials(
    clean_environment: pytest.MonkeyPatch, tmp_path: Path, bkrepo_server: Any, bkrepo_repos: Any
) -> None:
    _storage(bkrepo_server, bkrepo_repos).save("netrc.txt", ContentFile(b"private"))
    host = urlsplit(bkrepo_server.endpoint_url).hostname
    anonymous = {"username": "", "password": ""}
    with pytest.raises(AuthenticationError):
        _storage(bkrepo_server, bkrepo_repos, **anonymous).open("netrc.txt").read()
    netrc = tmp_path / "netrc"
    netrc.write_text(f"machine {host} login {bkrepo_server.username} password {bkrepo_server.password}\n")
    netrc.chmod(0o600)
    clean_environment.setenv("NETRC", str(netrc))
    assert _storage(bkrepo_server, bkrepo_repos, **anonymous).open("netrc.txt").read() == b"private"
