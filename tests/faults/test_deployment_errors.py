"""What real deployments answer: folders, 404s that are not bk-repo's, signing refused and link hosts."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoStorage
from bkstorages.exceptions import (
    BKStorageError,
    EndpointConfigurationError,
    ObjectIsFolderError,
    PermissionDeniedError,
    ShareDisabledError,
    SigningNotPermittedError,
)
from bkstorages_contrib.testing import DevServer, LimitedUser, Repos
from tests.faultproxy import FaultProxy


def fetch(url: str) -> requests.Response:
    return requests.get(url, timeout=30)


# -- a folder is never an empty file -----------------------------------------------------


@pytest.mark.parametrize("listing", [True, False], ids=["listing-on", "listing-off"])
def test_a_folder_is_not_a_file(bkrepo_settings: Repos, listing: bool) -> None:
    storage = BKRepoPrivateStorage()
    storage.save("dir/inner.txt", ContentFile(b"inner"))
    if not listing:
        bkrepo_settings.server.set_switch(bkrepo_settings.project, bkrepo_settings.private, list_folders=False)
    assert storage.exists("dir")
    with pytest.raises(ObjectIsFolderError) as raised, storage.open("dir") as handle:
        handle.read()
    assert isinstance(raised.value, IsADirectoryError)
    assert isinstance(raised.value, BKStorageError)
    assert "dir" in str(raised.value)
    with pytest.raises(ObjectIsFolderError):
        storage.size("dir")
    assert storage.open("dir/inner.txt").read() == b"inner"
    assert storage.size("dir/inner.txt") == 5
    assert not storage.exists("dir/missing.txt")


# -- a 404 that is not bk-repo's -------------------------------------------------------


def test_a_404_page_that_is_not_bk_repo_is_a_configuration_error(
    bkrepo_settings: Repos, fault_proxy: FaultProxy
) -> None:
    storage = BKRepoPrivateStorage(endpoint_url=fault_proxy.url)
    storage.save("there.txt", ContentFile(b"x"))
    fault_proxy.add_fault("html", status=404, times=None)
    calls = {
        "exists": lambda: storage.exists("there.txt"),
        "delete": lambda: storage.delete("there.txt"),
        "read": lambda: storage.open("there.txt").read(),
        "size": lambda: storage.size("there.txt"),
    }
    for name, call in calls.items():
        with pytest.raises(EndpointConfigurationError) as raised:
            call()
        message = str(raised.value)
        assert fault_proxy.url in message, name
        assert "BKREPO_ENDPOINT_URL" in message, name
        assert bkrepo_settings.server.password not in message
        assert bkrepo_settings.server.password not in repr(raised.value)


def test_a_real_missing_file_is_still_false(bkrepo_settings: Repos, fault_proxy: FaultProxy) -> None:
    storage = BKRepoPrivateStorage(endpoint_url=fault_proxy.url)
    assert storage.exists("missing.txt") is False
    storage.delete("missing.txt")
    with pytest.raises(FileNotFoundError):
        storage.open("missing.txt").read()
    # bk-repo's own 404 is recognised from its answer: no extra request to tell it apart.
    assert fault_proxy.count("GET", r"^/repository/api/node/detail/") == 0


def test_a_head_404_that_is_not_bk_repo_is_confirmed_once(bkrepo_settings: Repos, fault_proxy: FaultProxy) -> None:
    storage = BKRepoPrivateStorage(endpoint_url=fault_proxy.url)
    fault_proxy.add_fault("html", method="HEAD", status=404, times=None)
    assert storage.exists("missing.txt") is False
    assert storage.exists("missing-too.txt") is False
    assert fault_proxy.count("GET", r"^/repository/api/node/detail/") == 1


# -- signed links ---------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", "/", "/generic", "/generic/"])
def test_the_temporary_url_host_may_be_the_gateway_or_the_generic_root(bkrepo_settings: Repos, suffix: str) -> None:
    endpoint = bkrepo_settings.server.endpoint_url
    storage = BKRepoPrivateStorage(temporary_url_host=endpoint + suffix)
    storage.save("linked.txt", ContentFile(b"linked"))
    url = storage.url("linked.txt")
    assert url.startswith(f"{endpoint}/generic/temporary/download/")
    assert fetch(url).content == b"linked"


def test_signing_without_write_permission_says_so(bkrepo_limited_user: LimitedUser, bkrepo_repos: Repos) -> None:
    server = bkrepo_limited_user.server
    BKRepoStorage(**_options(server, bkrepo_repos.private)).save("theirs.txt", ContentFile(b"t"))
    options = {
        **_options(server, bkrepo_repos.private),
        "username": bkrepo_limited_user.username,
        "password": bkrepo_limited_user.password,
        "public": False,  # known, so the first request is the signing one
    }
    limited = BKRepoStorage(**options)
    with pytest.raises(SigningNotPermittedError) as raised:
        limited.url("theirs.txt")
    assert isinstance(raised.value, PermissionDeniedError)
    assert raised.value.code == 250113
    assert "WRITE" in str(raised.value)
    assert bkrepo_limited_user.username in str(raised.value)
    assert bkrepo_limited_user.password not in str(raised.value)


def test_signing_in_a_project_without_sharing_says_so(bkrepo_unshared_project: Repos) -> None:
    options = {**_options(bkrepo_unshared_project.server, bkrepo_unshared_project.private)}
    storage = BKRepoStorage(**{**options, "project": bkrepo_unshared_project.project})
    storage.save("doc.txt", ContentFile(b"d"))
    with pytest.raises(ShareDisabledError) as raised:
        storage.url("doc.txt")
    assert raised.value.code == 251037
    assert raised.value.status == 400
    assert bkrepo_unshared_project.project in str(raised.value)
    assert "share" in str(raised.value).lower()


def _options(server: DevServer, repo: str) -> dict[str, Any]:
    return {
        "endpoint_url": server.endpoint_url,
        "username": server.username,
        "password": server.password,
        "project": server.project,
        "bucket": repo,
    }
