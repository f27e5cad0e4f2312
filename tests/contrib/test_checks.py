"""The bkstorages system checks: each problem gives its id and a useful hint, a good config gives none."""

from __future__ import annotations

from typing import Any

import django
import pytest
from django.core import checks
from django.core.management import call_command
from django.core.management.base import SystemCheckError
from django.test import override_settings

from bkstorages_contrib import checks as bkchecks

GOOD = {
    "BKREPO_ENDPOINT_URL": "http://127.0.0.1:8765",
    "BKREPO_USERNAME": "admin",
    "BKREPO_PASSWORD": "blueking",
    "BKREPO_PROJECT": "bkstorages",
    "BKREPO_BUCKET": "private",
    "BKREPO_PUBLIC_BUCKET": "public",
    "BKREPO_PRIVATE_BUCKET": "private",
}
BKREPO_DEFAULT = {
    "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}


@pytest.fixture(autouse=True)
def _no_bkrepo_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The checks also read BKREPO_* environment variables; keep the developer's out of these tests."""
    import os

    for name in list(os.environ):
        if name.startswith("BKREPO_"):
            monkeypatch.delenv(name)


def run_checks() -> list[checks.CheckMessage]:
    return checks.run_checks(tags=["bkstorages"])


def ids(messages: list[checks.CheckMessage]) -> list[str]:
    return sorted(str(m.id) for m in messages)


def only(messages: list[checks.CheckMessage], check_id: str) -> checks.CheckMessage:
    matching = [m for m in messages if m.id == check_id]
    assert len(matching) == 1, messages
    return matching[0]


def test_registered_through_the_app() -> None:
    registered = {check.__name__ for check in checks.registry.registry.get_checks()}
    assert {"check_settings_types", "check_legacy_storage_settings", "check_configured_storages"} <= registered


@override_settings(**GOOD, STORAGES=BKREPO_DEFAULT)
def test_good_configuration_is_silent() -> None:
    assert run_checks() == []


def test_no_bkstorages_configured_is_silent() -> None:
    assert run_checks() == []


@override_settings(STORAGES=BKREPO_DEFAULT, BKREPO_USERNAME="admin", BKREPO_PASSWORD="secret-pass")
def test_missing_required_settings() -> None:
    messages = run_checks()
    assert ids(messages) == ["bkstorages.E001"] * 3
    text = " ".join(m.msg for m in messages)
    for option in ("endpoint_url", "project", "bucket"):
        assert option in text
    assert all("STORAGES['default']" in m.msg for m in messages)
    assert any("BKREPO_ENDPOINT_URL" in str(m.hint) for m in messages)
    assert "secret-pass" not in repr(messages)


@override_settings(STORAGES=BKREPO_DEFAULT)
def test_environment_variables_count_as_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in GOOD.items():
        monkeypatch.setenv(name, value)
    assert run_checks() == []


@override_settings(
    STORAGES={
        "default": {
            "BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage",
            "OPTIONS": {
                "endpoint_url": "http://127.0.0.1:1",
                "project": "p",
                "bucket": "b",
                "username": "u",
                "password": "w",
            },
        }
    }
)
def test_options_count_as_configuration() -> None:
    assert run_checks() == []


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("127.0.0.1:8765", "http://"),
        ("ftp://bkrepo.example.com", "http://"),
        ("http://", "no host"),
        ("https://bkrepo.example.com/generic", "/generic"),
        ("http://admin:pw@bkrepo.example.com", "credentials"),
        ("http://bkrepo.example.com:99999", "cannot be parsed"),
        ("http://bkrepo.example.com/?x=1", "query"),
    ],
)
def test_malformed_endpoint(url: str, problem: str) -> None:
    with override_settings(**{**GOOD, "BKREPO_ENDPOINT_URL": url}):
        messages = run_checks()
    error = only(messages, "bkstorages.E002")
    assert problem in error.msg
    assert "https://bkrepo.example.com" in str(error.hint)
    if "pw@" in url:
        assert "pw" not in error.msg.replace("password", "")


@override_settings(**GOOD, BKREPO_FILE_OVERWRITE="false")
def test_overwrite_as_a_string() -> None:
    error = only(run_checks(), "bkstorages.E003")
    assert "BKREPO_FILE_OVERWRITE" in error.msg
    assert "'false'" in error.msg
    assert "BKREPO_FILE_OVERWRITE = False" in str(error.hint)


@override_settings(**GOOD, BKREPO_FILE_OVERWRITE=True)
def test_overwrite_as_a_bool_is_fine() -> None:
    assert run_checks() == []


@override_settings(**{**GOOD, "BKREPO_PROJECT": 42})
def test_string_setting_with_another_type() -> None:
    error = only(run_checks(), "bkstorages.E003")
    assert "BKREPO_PROJECT" in error.msg
    assert "int" in error.msg


@pytest.mark.parametrize(
    ("value", "check_id"),
    [(0, "bkstorages.E004"), (-5, "bkstorages.E004"), ("3600", "bkstorages.E003"), (True, "bkstorages.E003")],
)
def test_expiry_must_be_a_positive_number(value: Any, check_id: str) -> None:
    with override_settings(**GOOD, BKREPO_URL_EXPIRE_SECONDS=value):
        error = only(run_checks(), check_id)
    assert "BKREPO_URL_EXPIRE_SECONDS" in error.msg
    assert "3600" in str(error.hint)


@override_settings(**GOOD, BKREPO_URL_EXPIRE_SECONDS=600)
def test_positive_expiry_is_fine() -> None:
    assert run_checks() == []


@override_settings(
    **GOOD,
    STORAGES={
        "default": {
            "BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage",
            "OPTIONS": {"file_overwrite": "no", "url_expire_seconds": -1, "endpoint_url": "localhost"},
        }
    },
)
def test_bad_storage_options() -> None:
    messages = run_checks()
    assert ids(messages) == ["bkstorages.E002", "bkstorages.E003", "bkstorages.E004"]
    assert all("STORAGES['default']['OPTIONS']" in m.msg for m in messages)


LEGACY_DJANGO = django.VERSION < (5, 1)  # Django 4.2 still reads DEFAULT_FILE_STORAGE / STATICFILES_STORAGE


@override_settings(**GOOD, DEFAULT_FILE_STORAGE="bkstorages.backends.bkrepo.BKRepoStorage")
def test_default_file_storage() -> None:
    messages = run_checks()
    if LEGACY_DJANGO:
        # Still honoured: no warning, and the storage it names is checked like a STORAGES entry.
        assert messages == []
        with override_settings(BKREPO_PROJECT=""):
            assert ids(run_checks()) == ["bkstorages.E001"]
        return
    warning = only(messages, "bkstorages.W001")
    assert warning.level == checks.WARNING
    assert "ignored" in warning.msg
    hint = str(warning.hint)
    assert "STORAGES = {" in hint
    assert '"default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"}' in hint
    assert '"staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}' in hint


@override_settings(**GOOD, STATICFILES_STORAGE="bkstorages_contrib.staticfiles.BKRepoStaticStorage")
def test_staticfiles_storage() -> None:
    messages = run_checks()
    if LEGACY_DJANGO:
        assert messages == []
        return
    warning = only(messages, "bkstorages.W002")
    assert '"staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"}' in str(warning.hint)


@override_settings(**GOOD, STORAGES=BKREPO_DEFAULT, DEFAULT_FILE_STORAGE="bkstorages.backends.bkrepo.BKRepoStorage")
def test_default_file_storage_matching_storages_is_not_reported() -> None:
    assert run_checks() == []


@override_settings(
    **{**GOOD, "BKREPO_PRIVATE_BUCKET": "public"},
    STORAGES={"default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoPrivateStorage"}},
)
def test_private_storage_on_the_public_bucket() -> None:
    error = only(run_checks(), "bkstorages.E005")
    assert "'public'" in error.msg
    assert "BKREPO_PRIVATE_BUCKET" in str(error.hint)


@override_settings(
    **GOOD,
    STORAGES={
        "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoPrivateStorage", "OPTIONS": {"bucket": "public"}}
    },
)
def test_private_storage_options_on_the_public_bucket() -> None:
    assert ids(run_checks()) == ["bkstorages.E005"]


@override_settings(
    **{k: v for k, v in GOOD.items() if k not in {"BKREPO_USERNAME", "BKREPO_PASSWORD"}},
    STORAGES={"default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoPublicStorage"}},
)
def test_missing_credentials_is_a_warning() -> None:
    warning = only(run_checks(), "bkstorages.W003")
    assert "username or password" in warning.msg


@override_settings(**GOOD, STORAGES={"default": {"BACKEND": "bkstorages.BkRepoStorage"}})
def test_backend_typo_is_reported() -> None:
    error = only(run_checks(), "bkstorages.E006")
    assert "bkstorages.BkRepoStorage" in error.msg
    assert "bkstorages.backends.bkrepo.BKRepoStorage" in str(error.hint)


@override_settings(
    **GOOD,
    STORAGES={"staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"}},
    BKREPO_STATIC_BUCKET="private",
)
def test_static_storage_on_the_private_bucket() -> None:
    assert ids(run_checks()) == ["bkstorages.W004"]


@override_settings(
    **GOOD,
    STORAGES={
        "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"overwrite": True}},
        "staticfiles": {
            "BACKEND": "bkstorages_contrib.staticfiles.BKRepoManifestStaticStorage",
            "OPTIONS": {"manifest_strict": False, "project_id": "p", "root_path": "assets"},
        },
    },
)
def test_unknown_option() -> None:
    error = only(run_checks(), "bkstorages.E007")
    assert "'overwrite'" in error.msg
    assert "file_overwrite" in str(error.hint)


@override_settings(**GOOD, BKREPO_FILE_OVERWRITE="false")
def test_manage_py_check_fails_with_the_error() -> None:
    with pytest.raises(SystemCheckError, match=r"bkstorages\.E003"):
        call_command("check", tags=["bkstorages"])


def test_checks_module_has_a_table_of_every_id() -> None:
    table = [check.id for check in bkchecks.CHECKS]
    for check_id in ("E001", "E002", "E003", "E004", "E005", "E006", "E007", "E008", "W001", "W002", "W003", "W004"):
        assert f"bkstorages.{check_id}" in table
    assert len(set(table)) == len(table)
    assert set(table) == set(bkchecks.CHECK_BY_ID)


def test_every_id_the_checks_use_is_in_the_table() -> None:
    import inspect
    import re

    used = set(re.findall(r"bkstorages\.[EW]\d{3}", inspect.getsource(bkchecks).split("CHECK_BY_ID =", 1)[1]))
    used |= set(bkchecks.CHECK_IDS.values())
    assert used == set(bkchecks.CHECK_BY_ID)


@pytest.mark.parametrize("check", bkchecks.CHECKS, ids=lambda check: check.id)
def test_each_check_reports_its_example_and_nothing_else(check: bkchecks.Check) -> None:
    """The examples are what the documentation shows for each check: they must give that check."""
    with override_settings(**check.settings()):
        messages = run_checks()
    if check.since > django.VERSION:
        # Older Django still reads what the check is about, so its example is fine there (newer Django in the matrix).
        assert check.id not in ids(messages)
        return
    assert ids(messages) == [check.id]
    assert isinstance(messages[0], check.level)
    assert messages[0].hint


@override_settings(**bkchecks.CHECKS[0].settings())
def test_the_examples_start_from_a_configuration_the_checks_accept() -> None:
    with override_settings(BKREPO_PROJECT="demo"):
        assert run_checks() == []


@override_settings(**GOOD, BKREPO_CONNECT_TIMEOUT=0, BKREPO_TIME_ZONE="Mars/Olympus")
def test_values_out_of_range() -> None:
    messages = run_checks()
    assert ids(messages) == ["bkstorages.E008", "bkstorages.E008"]
    text = " ".join(m.msg for m in messages)
    assert "BKREPO_CONNECT_TIMEOUT" in text
    assert "BKREPO_TIME_ZONE" in text


@override_settings(
    BKREPO_USERNAME="admin",
    BKREPO_PASSWORD="secret-pass",
    STORAGES={
        "default": {
            "BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage",
            "OPTIONS": {"endpoint_url": "http://admin:secret-pass@bkrepo.example.com", "block_size": 0},
        }
    },
)
def test_every_problem_is_reported_and_the_storage_raises_the_same() -> None:
    from django.core.exceptions import ImproperlyConfigured
    from django.core.files.storage import storages

    messages = run_checks()
    assert ids(messages) == ["bkstorages.E001", "bkstorages.E001", "bkstorages.E002", "bkstorages.E008"]
    assert "secret-pass" not in repr(messages)
    endpoint = only(messages, "bkstorages.E002")
    assert "BKREPO_USERNAME and BKREPO_PASSWORD" in endpoint.msg
    # The storage refuses the same endpoint, with the same words.
    with pytest.raises(ImproperlyConfigured, match="BKREPO_USERNAME and BKREPO_PASSWORD") as info:
        storages.create_storage(STORAGES_WITH_CREDENTIALS)
    assert "secret-pass" not in str(info.value)


STORAGES_WITH_CREDENTIALS = {
    "BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage",
    "OPTIONS": {"endpoint_url": "http://admin:secret-pass@bkrepo.example.com"},
}


@override_settings(
    **GOOD,
    STORAGES={"default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"}},
)
def test_environment_problems_are_reported(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BKREPO_MAX_RETRIES", "many")
    error = only(run_checks(), "bkstorages.E003")
    assert "The environment variable BKREPO_MAX_RETRIES" in error.msg
