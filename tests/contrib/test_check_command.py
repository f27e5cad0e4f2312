"""bkrepo_check against the dev server: a line per check, non-zero exit on failure, never the password."""

from __future__ import annotations

import io
import re
from typing import Any

import pytest
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from bkstorages.client import endpoint_guard
from tests.contrib.conftest import storages_setting

BKREPO = "bkstorages.backends.bkrepo"


def check(*aliases: str, fails: bool = False, **options: Any) -> str:
    out = io.StringIO()
    args = [f"--storage={alias}" for alias in aliases]
    if fails:
        with pytest.raises(CommandError, match=r"check\(s\) failed"):
            call_command("bkrepo_check", *args, stdout=out, **options)
    else:
        call_command("bkrepo_check", *args, stdout=out, **options)
    return out.getvalue()


def statuses(output: str) -> dict[str, str]:
    """Check title -> OK / FAIL / WARN / SKIP."""
    return {title: status.strip() for status, title in re.findall(r"\[(.{4})\] ([a-z/]+):", output)}


def test_private_storage_passes_every_check(bk: Any) -> None:
    output = check()
    assert statuses(output) == {
        "settings": "OK",
        "endpoint": "OK",
        "credentials": "OK",
        "repository": "OK",
        "visibility": "OK",
        "write/read/delete": "OK",
        "url": "OK",
        "cleanup": "OK",
    }
    assert f"bucket {bk.private!r}" in output
    assert "password set" in output
    assert bk.server.password not in output
    assert "token=" not in output  # the signed URL of the probe is shown without its token
    assert "the repository is private" in output
    assert "All checks passed for 'default'" in output
    assert storages["default"].listdir("") == ([], [])  # the probe and its folder are gone


def test_public_storage_and_several_aliases(bk: Any) -> None:
    output = check("public", "private")
    assert "the repository is public, as BKRepoPublicStorage expects" in output
    assert "the repository is private, as BKRepoPrivateStorage expects" in output
    assert output.count("All checks passed") == 2


def test_wrong_password(bk: Any) -> None:
    with override_settings(BKREPO_PASSWORD="not-the-password-42"):
        output = check(fails=True)
    found = statuses(output)
    assert found["endpoint"] == "OK"
    assert found["credentials"] == "FAIL"
    assert found["write/read/delete"] == "SKIP"
    assert "refused the password of user 'admin'" in output
    assert "not-the-password-42" not in output


def test_unreachable_endpoint(bk: Any) -> None:
    closed = {"BACKEND": f"{BKREPO}.BKRepoStorage", "OPTIONS": {"endpoint_url": "http://127.0.0.1:9", "max_retries": 0}}
    # A closed port on this machine: the test isolation may let requests try it.
    with override_settings(STORAGES=storages_setting(closed=closed)), endpoint_guard.allowing("http://127.0.0.1:9"):
        output = check("closed", fails=True)
    found = statuses(output)
    assert found["settings"] == "OK"
    assert found["endpoint"] == "FAIL"
    assert {found[title] for title in ("credentials", "repository", "visibility", "url")} == {"SKIP"}
    assert "cannot reach http://127.0.0.1:9" in output


def test_missing_repository(bk: Any) -> None:
    with override_settings(BKREPO_BUCKET="no-such-repo"):
        output = check(fails=True)
    found = statuses(output)
    assert found["repository"] == "FAIL"
    assert "has no generic repository 'no-such-repo'" in output


def test_public_storage_on_a_private_repository(bk: Any) -> None:
    with override_settings(BKREPO_PUBLIC_BUCKET=bk.private):
        output = check("public", fails=True)
    found = statuses(output)
    assert found["visibility"] == "FAIL"
    assert "the repository is private, but BKRepoPublicStorage expects a public one" in output
    assert found["url"] == "FAIL"  # browsers really cannot load its files
    assert found["cleanup"] == "OK"


def test_read_only_writes_nothing(bk: Any) -> None:
    output = check(read_only=True)
    found = statuses(output)
    assert found["write/read/delete"] == "SKIP"
    assert found["url"] == "SKIP"
    assert "cleanup" not in found
    assert storages["default"].listdir("") == ([], [])


def test_not_configured_and_not_bkstorages(bk: Any) -> None:
    with override_settings(BKREPO_PROJECT=""):
        output = check(fails=True)
    assert "[FAIL] settings:" in output
    assert "BKREPO_PROJECT" in output
    output = check("local", fails=True)
    assert "not a bkstorages storage" in output


def test_credentials_in_the_endpoint_url_are_refused_and_not_printed(bk: Any) -> None:
    port = bk.server.endpoint_url.rsplit(":", 1)[1]
    with override_settings(BKREPO_ENDPOINT_URL=f"http://admin:{bk.server.password}@127.0.0.1:{port}"):
        output = check(read_only=True, fails=True)
    assert bk.server.password not in output
    assert "[FAIL] settings:" in output
    assert "set BKREPO_USERNAME and BKREPO_PASSWORD instead" in output
