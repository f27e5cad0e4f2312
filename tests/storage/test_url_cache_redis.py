"""Signed links shared between processes through a real Redis.

``BKREPO_URL_CACHE_ALIAS`` names a Django cache; with Django's Redis cache,
a link signed by one process is handed out by another one without a new
signing request. The test starts its own ``redis-server`` (installed by
``make test``) on a free port.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import requests
from django.core.files.base import ContentFile
from django.test import override_settings

from bkstorages.backends.bkrepo import BKRepoPrivateStorage

REPO_DIR = Path(__file__).resolve().parents[2]

OTHER_PROCESS = """
import json, sys
import django
from django.conf import settings

options = json.loads(sys.argv[1])
settings.configure(CACHES=options.pop("caches"), USE_TZ=True)
django.setup()
from bkstorages.backends.bkrepo import BKRepoPrivateStorage

print(BKRepoPrivateStorage(**options).url("shared.txt"))
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def redis_url(tmp_path: Path) -> Iterator[str]:
    server = shutil.which("redis-server")
    assert server, "redis-server is missing: `make test` installs it (apt-get install redis-server)"
    port = _free_port()
    process = subprocess.Popen(
        [
            server,
            "--port",
            str(port),
            "--bind",
            "127.0.0.1",
            "--save",
            "",
            "--appendonly",
            "no",
            "--dir",
            str(tmp_path),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"redis://127.0.0.1:{port}/0"
    try:
        client = redis.Redis.from_url(url, socket_timeout=1)
        deadline = time.monotonic() + 15
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert process.poll() is None, "redis-server exited"
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(10)


def test_signed_links_are_shared_between_processes(redis_url: str, bkrepo_server: Any, bkrepo_repos: Any) -> None:
    caches = {"urls": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": redis_url}}
    options: dict[str, Any] = {
        "endpoint_url": bkrepo_server.endpoint_url,
        "username": bkrepo_server.username,
        "password": bkrepo_server.password,
        "project": bkrepo_server.project,
        "bucket": bkrepo_repos.private,
    }
    uncached = BKRepoPrivateStorage(**options)
    uncached.save("shared.txt", ContentFile(b"one link for every process"))
    with override_settings(CACHES=caches):
        url = BKRepoPrivateStorage(**options, url_cache_alias="urls").url("shared.txt")
    assert uncached.url("shared.txt") != url  # each signing makes a new token

    other = subprocess.run(
        [sys.executable, "-c", OTHER_PROCESS, json.dumps({**options, "caches": caches, "url_cache_alias": "urls"})],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO_DIR,
        check=False,
    )
    assert other.returncode == 0, other.stderr
    assert other.stdout.strip() == url  # the other process got the link from Redis
    assert requests.get(url, timeout=10).content == b"one link for every process"

    stored = redis.Redis.from_url(redis_url)
    values = [stored.get(key) or b"" for key in stored.keys("*")]
    assert values
    assert not any(bkrepo_server.password.encode() in value for value in values)
