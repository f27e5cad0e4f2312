"""Fixtures for the contrib tests: storages wired to a fresh pair of dev-server repositories."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest
from django.core.management import call_command
from django.test import override_settings

from tests.faultproxy import FaultProxy

BKREPO = "bkstorages.backends.bkrepo"


def storages_setting(**extra: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {
        "default": {"BACKEND": f"{BKREPO}.BKRepoStorage"},
        "public": {"BACKEND": f"{BKREPO}.BKRepoPublicStorage"},
        "private": {"BACKEND": f"{BKREPO}.BKRepoPrivateStorage"},
        "local": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
        "staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"},
        **extra,
    }


@pytest.fixture
def bk(bkrepo_settings: Any) -> Iterator[Any]:
    """Fresh repositories, and STORAGES pointing at them (re-set so Django rebuilds its storages)."""
    with override_settings(STORAGES=storages_setting()):
        yield bkrepo_settings


@pytest.fixture
def proxy(bk: Any) -> Iterator[FaultProxy]:
    """A fault-injecting proxy in front of the dev server, used by the 'proxied' storage alias."""
    upstream = urlsplit(bk.server.endpoint_url)
    assert upstream.hostname
    assert upstream.port
    with FaultProxy(upstream.hostname, upstream.port) as running:
        setting = storages_setting(
            proxied={"BACKEND": f"{BKREPO}.BKRepoStorage", "OPTIONS": {"endpoint_url": running.url}}
        )
        with override_settings(STORAGES=setting):
            yield running


class Result:
    """What a management command printed."""

    def __init__(self, out: str, err: str) -> None:
        self.out, self.err = out, err

    def __repr__(self) -> str:
        return f"Result(out={self.out!r}, err={self.err!r})"


def run(command: str, *args: str, **options: Any) -> Result:
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return Result(out.getvalue(), err.getvalue())


def write_tree(root: str, files: dict[str, bytes]) -> None:
    for name, content in files.items():
        path = os.path.join(root, *name.split("/"))
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "wb") as fh:
            fh.write(content)


def read_tree(root: str) -> dict[str, bytes]:
    found = {}
    for directory, _, filenames in os.walk(root):
        for filename in filenames:
            path = os.path.join(directory, filename)
            with open(path, "rb") as fh:
                found[os.path.relpath(path, root).replace(os.sep, "/")] = fh.read()
    return found
