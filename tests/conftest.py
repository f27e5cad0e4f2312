"""Shared pytest configuration.

The dev-server fixtures (``bkrepo_server``, ``bkrepo_repos``,
``bkrepo_settings``) come from the ``bkstorages_contrib.testing`` plugin,
which pytest loads through the package's ``pytest11`` entry point.
``fault_proxy`` puts the fault-injecting proxy of ``tests/faultproxy.py``
in front of the session's dev server.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.faultproxy import FaultProxy


@pytest.fixture
def fault_proxy(bkrepo_server: Any) -> Iterator[FaultProxy]:
    upstream = urlsplit(bkrepo_server.endpoint_url)
    assert upstream.hostname is not None
    assert upstream.port is not None
    with FaultProxy(upstream.hostname, upstream.port) as proxy:
        yield proxy
