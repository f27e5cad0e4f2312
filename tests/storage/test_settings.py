"""Settings: kwargs > class attributes > Django settings > environment > defaults; secrets kept out."""

from __future__ import annotations

import copy
import logging
import os
import pickle
import subprocess
import sys
import threading
from typing import Any

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.db import models
from django.db.migrations.writer import MigrationWriter
from django.test import override_settings

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage

BASE = {
    "BKREPO_ENDPOINT_URL": "http://127.0.0.1:9",
    "BKREPO_PROJECT": "proj",
    "BKREPO_BUCKET": "bucket",
    "BKREPO_PUBLIC_BUCKET": "pub",
    "BKREPO_PRIVATE_BUCKET": "priv",
    "BKREPO_USERNAME": "user",
    "BKREPO_PASSWORD": "s3cret-password",
}
ALL_NAMES = [*BASE, "BKREPO_FILE_OVERWRITE", "BKREPO_LOCATION", "BKREPO_TIMEOUT_THRESHOLD", "BKREPO_URL_EXPIRE_SECONDS"]


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> pytest.MonkeyPatch:
    for name in ALL_NAMES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_no_arguments_with_settings(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = BKRepoStorage()
    assert storage.endpoint_url == "http://127.0.0.1:9"
    assert storage.project == "proj"
    assert storage.bucket == "bucket"
    assert storage.file_overwrite is True
    assert storage.location == ""
    assert storage.url_expire_seconds == 3600
    assert storage.client.connect_timeout == 10
    assert storage.client.read_timeout == 30


def test_each_class_reads_its_own_bucket_setting(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        assert BKRepoStorage().bucket == "bucket"
        assert BKRepoPublicStorage().bucket == "pub"
        assert BKRepoPrivateStorage().bucket == "priv"
        assert BKRepoPublicStorage().is_public is True
        assert BKRepoPrivateStorage().is_public is False
        assert BKRepoStorage(public=True).is_public is True


def test_missing_settings_are_named_never_their_values(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(BKREPO_PASSWORD="s3cret-password"), pytest.raises(ImproperlyConfigured) as info:
        BKRepoStorage()
    message = str(info.value)
    for name in ("BKREPO_ENDPOINT_URL", "BKREPO_PROJECT", "BKREPO_BUCKET"):
        assert name in message
    assert "s3cret" not in message
    with override_settings(**{**BASE, "BKREPO_PRIVATE_BUCKET": None}), pytest.raises(ImproperlyConfigured) as info:
        BKRepoPrivateStorage()
    assert "BKREPO_PRIVATE_BUCKET" in str(info.value)


def test_unknown_options_are_refused(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE), pytest.raises(ImproperlyConfigured, match="Invalid setting 'bukcet'"):
        BKRepoStorage(bukcet="typo")
    with override_settings(**BASE), pytest.raises(ImproperlyConfigured, match="Invalid setting 'nope'"):
        storages.create_storage({"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"nope": 1}})


def test_precedence_kwarg_class_setting_environment_default(clean_env: pytest.MonkeyPatch) -> None:
    class Static(BKRepoStorage):
        location = "static"

    with override_settings(**BASE):
        assert BKRepoStorage().location == ""  # default
        clean_env.setenv("BKREPO_LOCATION", "from-env")
        assert BKRepoStorage().location == "from-env"  # environment beats default
        with override_settings(BKREPO_LOCATION="from-settings"):
            assert BKRepoStorage().location == "from-settings"  # setting beats environment
            assert Static().location == "static"  # class attribute beats setting
            assert Static(location="kw").location == "kw"  # keyword beats everything
            assert BKRepoStorage(root_path="old-name").location == "old-name"  # the 3.x keyword


def test_environment_alone_is_enough(clean_env: pytest.MonkeyPatch) -> None:
    for name, value in BASE.items():
        clean_env.setenv(name, value)
    clean_env.setenv("BKREPO_FILE_OVERWRITE", "false")
    clean_env.setenv("BKREPO_URL_EXPIRE_SECONDS", "600")
    storage = BKRepoStorage()
    assert storage.bucket == "bucket"
    assert storage.file_overwrite is False
    assert storage.url_expire_seconds == 600
    clean_env.setenv("BKREPO_FILE_OVERWRITE", "maybe")
    with pytest.raises(ImproperlyConfigured, match="BKREPO_FILE_OVERWRITE must be a boolean"):
        BKRepoStorage()


def test_storages_options_are_keyword_arguments(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = storages.create_storage(
            {
                "BACKEND": "bkstorages.backends.bkrepo.BKRepoPublicStorage",
                "OPTIONS": {"location": "media", "file_overwrite": False, "project_id": "other"},
            }
        )
    assert isinstance(storage, BKRepoPublicStorage)
    assert storage.location == "media"
    assert storage.file_overwrite is False
    assert storage.project == "other"


def test_3x_positional_arguments_and_timeout(clean_env: pytest.MonkeyPatch) -> None:
    storage = BKRepoStorage("root", "user", "pw", "proj", "bkt", "http://127.0.0.1:9", False)
    assert (storage.location, storage.username, storage.project, storage.bucket) == ("root", "user", "proj", "bkt")
    assert storage.file_overwrite is False
    with override_settings(**BASE, BKREPO_TIMEOUT_THRESHOLD=7):
        legacy = BKRepoStorage()
        assert (legacy.client.connect_timeout, legacy.client.read_timeout) == (7, 7)
        assert BKRepoStorage(read_timeout=3).client.read_timeout == 3


@pytest.mark.parametrize(
    ("options", "fragment"),
    [
        ({"url_expire_seconds": 0}, "BKREPO_URL_EXPIRE_SECONDS"),
        ({"url_expire_seconds": -1}, "BKREPO_URL_EXPIRE_SECONDS"),
        ({"endpoint_url": "localhost:8080"}, "BKREPO_ENDPOINT_URL"),
        ({"connect_timeout": 0}, "connect_timeout"),
        ({"location": "../up"}, "BKREPO_LOCATION"),
        ({"time_zone": "Mars/Olympus"}, "BKREPO_TIME_ZONE"),
        ({"file_overwrite": "no way"}, "file_overwrite"),
    ],
)
def test_invalid_values_are_refused(clean_env: pytest.MonkeyPatch, options: dict[str, Any], fragment: str) -> None:
    with override_settings(**BASE), pytest.raises(ImproperlyConfigured, match=fragment):
        BKRepoStorage(**options)


def test_import_reads_no_settings() -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BKREPO_", "DJANGO_"))}
    code = (
        "import bkstorages.backends.bkrepo, bkstorages.client, bkstorages.files, bkstorages.urlcache;"
        "from bkstorages.backends.bkrepo import BKGenericRepoClient; print('ok')"
    )
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, check=False)
    assert result.stdout.strip() == "ok", result.stderr


def test_construction_makes_no_connection(clean_env: pytest.MonkeyPatch) -> None:
    # Port 9 (discard) is closed: any request would fail loudly.
    storage = BKRepoStorage(endpoint_url="http://127.0.0.1:9", project="p", bucket="b", max_retries=0)
    assert storage.client._local.__dict__ == {}


# -- secrets, copies, migrations ---------------------------------------------------------


def test_deconstruct_keeps_only_given_options_and_never_the_password(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        path, args, kwargs = BKRepoStorage(password="one-secret", location="m").deconstruct()
        other = BKRepoStorage(password="another-secret", location="m").deconstruct()
        positional = BKRepoStorage("root", "user", "pw3", "proj").deconstruct()
    assert path == "bkstorages.backends.bkrepo.BKRepoStorage"
    assert args == ()
    assert kwargs == {"location": "m"}
    assert other == (path, args, kwargs)
    assert positional[2] == {"root_path": "root", "username": "user", "project_id": "proj"}
    with override_settings(**BASE):
        field = models.FileField(storage=BKRepoPrivateStorage(password="field-secret", location="docs"))
        serialized, _imports = MigrationWriter.serialize(field)
    assert "field-secret" not in serialized
    assert "BKRepoPrivateStorage(location='docs')" in serialized


def test_repr_and_pickles_hide_nothing_they_should_not(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = BKRepoStorage()
    assert "s3cret" not in repr(storage)
    assert "s3cret" not in repr(storage.client)
    assert "s3cret" not in str(vars(storage.client).get("password", ""))


def test_pickle_and_deepcopy_after_use_in_threads(bkrepo_settings: Any) -> None:
    storage = BKRepoPrivateStorage()
    storage.save("p.txt", ContentFile(b"pickled"))
    threads = [threading.Thread(target=storage.exists, args=("p.txt",)) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    storage.url("p.txt")
    for clone in (pickle.loads(pickle.dumps(storage)), copy.deepcopy(storage)):  # noqa: S301 - our own bytes
        assert clone.open("p.txt").read() == b"pickled"
        assert clone.deconstruct() == storage.deconstruct()
        assert clone.client.session is not storage.client.session


def test_no_secret_in_logs_at_any_level(bkrepo_settings: Any, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    storage = BKRepoPrivateStorage()
    storage.save("logged.txt", ContentFile(b"x"))
    url = storage.url("logged.txt")
    token = url.rsplit("token=", 1)[1]
    storage.open("logged.txt").read()
    storage.exists("missing")
    storage.listdir("")
    storage.delete("logged.txt")
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert "bkstorages" in {record.name.split(".")[0] for record in caplog.records}
    assert "PUT /generic/" in text  # DEBUG logs say what happened...
    assert bkrepo_settings.server.password not in text  # ...but never the password
    assert token not in text


def test_the_client_defaults_match_the_documented_ones() -> None:
    # client.py never imports Django, so it keeps its own defaults for use
    # outside a Django project; they must be the ones conf.py documents.
    from bkstorages import conf
    from bkstorages.client import DEFAULTS

    documented = {option.name: option.default for option in conf.OPTIONS}
    shared = set(DEFAULTS) & set(documented)
    assert {"list_page_size", "block_upload_threshold", "verify_downloads", "deadline"} <= shared
    assert {name: DEFAULTS[name] for name in shared} == {name: documented[name] for name in shared}
