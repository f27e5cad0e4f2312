"""Fixtures for the storage tests: every storage class on fresh dev-server repositories.

``storage`` runs a test once per storage class (``BKRepoStorage`` on a fresh
private repository, ``BKRepoPublicStorage`` and ``BKRepoPrivateStorage`` on
fresh public/private ones), over real HTTP. ``counting`` puts a pass-through
proxy between a storage and the dev server, so tests can count the requests
a call makes (the proxy injects no faults unless a test asks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from tests.faultproxy import FaultProxy

STORAGE_CLASSES = [BKRepoStorage, BKRepoPublicStorage, BKRepoPrivateStorage]
PUBLIC = {BKRepoStorage: False, BKRepoPublicStorage: True, BKRepoPrivateStorage: False}


@pytest.fixture(params=STORAGE_CLASSES, ids=lambda cls: cls.__name__)
def storage_class(request: pytest.FixtureRequest) -> type[BKRepoStorage]:
    return request.param  # type: ignore[no-any-return]


@pytest.fixture
def make_storage(storage_class: type[BKRepoStorage], bkrepo_settings: Any) -> Callable[..., BKRepoStorage]:
    """Build the class under test from the test's settings, with extra options."""

    def build(**options: Any) -> BKRepoStorage:
        return storage_class(**options)

    return build


@pytest.fixture
def storage(make_storage: Callable[..., BKRepoStorage]) -> BKRepoStorage:
    return make_storage()


@pytest.fixture
def proxy(fault_proxy: FaultProxy) -> FaultProxy:
    return fault_proxy


@pytest.fixture
def counting(
    storage_class: type[BKRepoStorage], bkrepo_settings: Any, proxy: FaultProxy
) -> Callable[..., tuple[BKRepoStorage, FaultProxy]]:
    """``counting(**options)`` -> (storage talking through the proxy, the proxy)."""

    def build(**options: Any) -> tuple[BKRepoStorage, FaultProxy]:
        return storage_class(endpoint_url=proxy.url, **options), proxy

    return build
