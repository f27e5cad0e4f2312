"""Shared pytest configuration.

The dev-server fixtures (``bkrepo_server``, ``bkrepo_repos``,
``bkrepo_settings``) come from the ``bkstorages_contrib.testing`` plugin,
which pytest loads through the package's ``pytest11`` entry point.
``fault_proxy`` puts the fault-injecting proxy of ``tests/faultproxy.py``
in front of the session's dev server.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.faultproxy import FaultProxy


def pytest_configure(config: pytest.Config) -> None:
    # A run started in the background by a non-interactive shell inherits
    # SIGINT ignored, and so would every process the tests start and then stop
    # with SIGINT as Ctrl-C does (the sandbox, the dev server, bkrepo_sync).
    # Give it back its default, which the processes started from here inherit.
    if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.fixture
def fault_proxy(bkrepo_server: Any) -> Iterator[FaultProxy]:
    upstream = urlsplit(bkrepo_server.endpoint_url)
    assert upstream.hostname is not None
    assert upstream.port is not None
    with FaultProxy(upstream.hostname, upstream.port) as proxy:
        yield proxy
