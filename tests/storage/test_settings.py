"""Settings: kwargs > class attributes > Django settings > environment > defaults, resolved at first use;
secrets kept out."""

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
    storage = BKRepoStorage()
    with override_settings(**BASE):
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
    with override_settings(BKREPO_PASSWORD="s3cret-password"):
        storage = BKRepoStorage()  # construction never raises for missing settings
        with pytest.raises(ImproperlyConfigured) as info:
            storage.exists("a.txt")
    message = str(info.value)
    for name in ("BKREPO_ENDPOINT_URL", "BKREPO_PROJECT", "BKREPO_BUCKET"):
        assert name in message
    assert "s3cret" not in message
    with override_settings(**{**BASE, "BKREPO_PRIVATE_BUCKET": None}), pytest.raises(ImproperlyConfigured) as info:
        BKRepoPrivateStorage().url("a.txt")
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
        BKRepoStorage().file_overwrite  # noqa: B018 - first use resolves


def test_storages_options_are_keyword_arguments(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = storages.create_storage(
            {
                "BACKEND": "bkstorages.backends.bkrepo.BKRepoPublicStorage",
                "OPTIONS": {"location": "media", "file_overwrite": False, "project_id": "other"},
            }
        )
    assert isinstance(storage, BKRepoPublicStorage)
    with override_settings(**BASE):
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
    # Keyword values need no settings: they are refused at construction.
    with override_settings(**BASE), pytest.raises(ImproperlyConfigured, match=fragment):
        BKRepoStorage(**options)
    # The same values from Django settings are refused at first use.
    setting = {
        "endpoint_url": "BKREPO_ENDPOINT_URL",
        "url_expire_seconds": "BKREPO_URL_EXPIRE_SECONDS",
        "connect_timeout": "BKREPO_CONNECT_TIMEOUT",
        "location": "BKREPO_LOCATION",
        "time_zone": "BKREPO_TIME_ZONE",
        "file_overwrite": "BKREPO_FILE_OVERWRITE",
    }
    ((name, value),) = options.items()
    with override_settings(**{**BASE, setting[name]: value}):
        storage = BKRepoStorage()
        with pytest.raises(ImproperlyConfigured, match=setting[name]):
            storage.url("a.txt")


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
        storage.client  # noqa: B018 - first use resolves
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
    # bkstorages.client never imports Django, so it keeps its own defaults for use
    # outside a Django project; they must be the ones conf.py documents.
    from bkstorages import conf
    from bkstorages.client import DEFAULTS

    documented = {option.name: option.default for option in conf.OPTIONS}
    shared = set(DEFAULTS) & set(documented)
    assert {"list_page_size", "block_upload_threshold", "verify_downloads", "deadline"} <= shared
    assert {name: DEFAULTS[name] for name in shared} == {name: documented[name] for name in shared}


# -- lazy resolution -----------------------------------------------------------------------

# Built at import, like a model field's storage: nothing is resolved yet.
FIELD_STORAGE = BKRepoPublicStorage()


def test_per_field_storages_follow_override_settings(clean_env: pytest.MonkeyPatch) -> None:
    assert not FIELD_STORAGE.options_resolved
    with override_settings(**BASE):
        assert FIELD_STORAGE.bucket == "pub"
        first_client = FIELD_STORAGE.client
        with override_settings(BKREPO_PUBLIC_BUCKET="other-pub"):
            assert FIELD_STORAGE.bucket == "other-pub"
            assert FIELD_STORAGE.client is not first_client  # the client built from the old settings is dropped
            assert FIELD_STORAGE.client.bucket == "other-pub"
        assert FIELD_STORAGE.bucket == "pub"
    assert not FIELD_STORAGE.options_resolved


def test_other_settings_keep_the_resolution(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = BKRepoStorage()
        client = storage.client
        with override_settings(MEDIA_URL="/elsewhere/"):
            assert storage.client is client


def test_environment_is_read_at_first_use(clean_env: pytest.MonkeyPatch) -> None:
    storage = BKRepoStorage()
    for name, value in BASE.items():
        clean_env.setenv(name, value)
    clean_env.setenv("BKREPO_LOCATION", "from-env")
    assert storage.location == "from-env"
    assert storage.bucket == "bucket"


def test_keyword_arguments_stay_fixed(clean_env: pytest.MonkeyPatch) -> None:
    storage = BKRepoStorage(bucket="kw-bucket", location="kw")
    with override_settings(**BASE):
        assert (storage.bucket, storage.location, storage.project) == ("kw-bucket", "kw", "proj")
        with override_settings(BKREPO_BUCKET="changed", BKREPO_LOCATION="changed", BKREPO_PROJECT="p2"):
            assert (storage.bucket, storage.location, storage.project) == ("kw-bucket", "kw", "p2")


def test_first_use_names_every_missing_setting_and_repr_never_raises(clean_env: pytest.MonkeyPatch) -> None:
    storage = BKRepoPrivateStorage(password="s3cret-password")
    assert "resolved at first use" in repr(storage)
    for use in (lambda: storage.url("a.txt"), lambda: storage.exists("a.txt"), lambda: storage.listdir("")):
        with pytest.raises(ImproperlyConfigured) as info:
            use()
        message = str(info.value)
        for name in ("BKREPO_ENDPOINT_URL", "BKREPO_PROJECT", "BKREPO_PRIVATE_BUCKET"):
            assert name in message
        assert "s3cret" not in message
    assert "s3cret" not in repr(storage)
    assert not storage.options_resolved


def test_concurrent_first_use_resolves_once(clean_env: pytest.MonkeyPatch) -> None:
    storage = BKRepoStorage()
    barrier = threading.Barrier(8)
    clients: list[Any] = []

    def first_use() -> None:
        barrier.wait()
        clients.append(storage.client)

    with override_settings(**BASE):
        threads = [threading.Thread(target=first_use) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(clients) == 8
        assert len({id(client) for client in clients}) == 1
        assert storage.client is clients[0]


def test_class_attributes_go_through_the_resolution(clean_env: pytest.MonkeyPatch) -> None:
    class Assets(BKRepoStorage):
        location = "/assets//css/"

    with override_settings(**BASE):
        assert Assets().location == "assets/css"  # cleaned like every location
        assert Assets().key("a.css") == "assets/css/a.css"


@pytest.mark.parametrize(
    ("endpoint", "fragment"),
    [
        ("http://admin:s3cret-password@127.0.0.1:9", "BKREPO_USERNAME and BKREPO_PASSWORD"),
        ("http://127.0.0.1:9/?token=s3cret-password", "query"),
        ("http://127.0.0.1:9/generic", "/generic"),
    ],
)
def test_odd_endpoints_are_refused_without_showing_them(
    clean_env: pytest.MonkeyPatch, endpoint: str, fragment: str
) -> None:
    with pytest.raises(ImproperlyConfigured, match=fragment) as info:
        BKRepoStorage(endpoint_url=endpoint)
    assert "s3cret" not in str(info.value)
    with override_settings(**{**BASE, "BKREPO_ENDPOINT_URL": endpoint}):
        storage = BKRepoStorage()
        with pytest.raises(ImproperlyConfigured, match=fragment) as info:
            storage.exists("a.txt")
        assert "s3cret" not in str(info.value)
        assert "s3cret" not in repr(storage)


def test_pickled_copies_resolve_again(clean_env: pytest.MonkeyPatch) -> None:
    with override_settings(**BASE):
        storage = BKRepoStorage(location="m")
        storage.client  # noqa: B018 - first use resolves
        clone = pickle.loads(pickle.dumps(storage))  # noqa: S301 - our own bytes
        assert not clone.options_resolved
        with override_settings(BKREPO_BUCKET="other"):
            assert (clone.bucket, clone.location) == ("other", "m")
        assert clone.deconstruct() == storage.deconstruct()


PLAIN_SCRIPT = """
import sys
from django.conf import settings
from django.core.files.base import ContentFile

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoStorage
from bkstorages_contrib.testing import DevServer

with DevServer() as server:
    storage = BKRepoStorage(
        endpoint_url=server.endpoint_url,
        username=server.username,
        password=server.password,
        project_id=server.project,
        bucket=server.public_bucket,
    )
    storage.save("hello.txt", ContentFile(b"Hello!"))
    print(storage.url("hello.txt"))
    print(storage.open("hello.txt").read().decode())
    print(storage.get_modified_time("hello.txt").tzinfo)
    private = BKRepoPrivateStorage(
        endpoint_url=server.endpoint_url, username=server.username, password=server.password,
        project=server.project, bucket=server.private_bucket,
    )
    private.save("p.txt", ContentFile(b"private"))
    print("token=" in private.url("p.txt"))
print(settings.configured)
"""


def test_keyword_arguments_work_in_a_plain_script(tmp_path: Any) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BKREPO_", "DJANGO_"))}
    result = subprocess.run(
        [sys.executable, "-c", PLAIN_SCRIPT], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("http://127.0.0.1:")
    assert lines[0].endswith("/generic/bkstorages/public/hello.txt")
    assert lines[1:] == ["Hello!", "None", "True", "False"]


MODELS = """
from django.db import models

from bkstorages.backends.bkrepo import BKRepoPublicStorage


class Attachment(models.Model):
    file = models.FileField(storage=BKRepoPublicStorage(location="attachments"))

    class Meta:
        app_label = "lazyapp"
"""

SETTINGS = """
SECRET_KEY = "check-test"
INSTALLED_APPS = ["django.contrib.contenttypes", "bkstorages_contrib", "lazyapp"]
DATABASES = {{"default": {{"ENGINE": "django.db.backends.sqlite3", "NAME": {db!r}}}}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
{storages}
"""


def _manage(tmp_path: Any, *args: str) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BKREPO_", "DJANGO_"))}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(tmp_path), env.get("PYTHONPATH")]))
    env["DJANGO_SETTINGS_MODULE"] = "lazysettings"
    return subprocess.run(
        [sys.executable, "-m", "django", *args], env=env, cwd=tmp_path, capture_output=True, text=True, check=False
    )


def test_manage_py_without_any_bkrepo_setting(tmp_path: Any) -> None:
    app = tmp_path / "lazyapp"
    app.mkdir()
    (app / "__init__.py").write_text("")
    (app / "models.py").write_text(MODELS)
    settings_file = tmp_path / "lazysettings.py"
    settings_file.write_text(SETTINGS.format(db=str(tmp_path / "db.sqlite3"), storages=""))

    for command in (["check"], ["makemigrations", "lazyapp"], ["migrate"]):
        result = _manage(tmp_path, *command)
        assert result.returncode == 0, result.stderr
    migration = (app / "migrations" / "0001_initial.py").read_text()
    assert "bkstorages.backends.bkrepo.BKRepoPublicStorage(location='attachments')" in migration

    # With the storage in STORAGES too, the checks name what is missing instead of a traceback.
    storages = 'STORAGES = {"default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"}}'
    settings_file.write_text(SETTINGS.format(db=str(tmp_path / "db.sqlite3"), storages=storages))
    result = _manage(tmp_path, "check")
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert result.stderr.count("bkstorages.E001") == 3
    for name in ("BKREPO_ENDPOINT_URL", "BKREPO_PROJECT", "BKREPO_BUCKET"):
        assert name in result.stderr


def test_static_storage_bucket_and_location_by_class_attribute(clean_env: pytest.MonkeyPatch) -> None:
    from bkstorages_contrib.staticfiles import BKRepoStaticStorage

    storage = BKRepoStaticStorage()
    with override_settings(**BASE):
        assert (storage.bucket, storage.location, storage.file_overwrite) == ("pub", "static", True)
        with override_settings(BKREPO_STATIC_BUCKET="assets", BKREPO_STATIC_LOCATION="s"):
            assert (storage.bucket, storage.location) == ("assets", "s")
        clean_env.setenv("BKREPO_STATIC_BUCKET", "from-env")
        storage.reset_options()
        assert storage.bucket == "from-env"
        assert BKRepoStaticStorage(bucket="kw").bucket == "kw"
        with override_settings(BKREPO_STATIC_BUCKET="", BKREPO_STATIC_LOCATION=""):
            clean_env.delenv("BKREPO_STATIC_BUCKET")
            assert (storage.bucket, storage.location) == ("pub", "static")  # blank: as if not set
    assert storage.deconstruct()[2] == {}


@pytest.mark.parametrize("where", ["keyword", "setting", "environment"])
def test_an_endpoint_with_credentials_never_shows_the_password(clean_env: pytest.MonkeyPatch, where: str) -> None:
    endpoint = "http://admin:s3cret-password@127.0.0.1:9"
    if where == "keyword":
        with pytest.raises(ImproperlyConfigured, match="BKREPO_USERNAME and BKREPO_PASSWORD") as info:
            BKRepoStorage(endpoint_url=endpoint, password="other-s3cret")
        assert "s3cret" not in str(info.value)
        return
    if where == "environment":
        clean_env.setenv("BKREPO_ENDPOINT_URL", endpoint)
        settings = {key: value for key, value in BASE.items() if key != "BKREPO_ENDPOINT_URL"}
    else:
        settings = {**BASE, "BKREPO_ENDPOINT_URL": endpoint}
    with override_settings(**settings):
        storage = BKRepoStorage(password="other-s3cret", location="m")
        for show in (repr, str):
            assert "s3cret" not in show(storage)
        assert "s3cret" not in repr(storage.deconstruct())
        with pytest.raises(ImproperlyConfigured, match="BKREPO_USERNAME and BKREPO_PASSWORD") as info:
            storage.exists("a.txt")
        assert "s3cret" not in str(info.value)
        assert "s3cret" not in repr(storage)


def test_the_client_refuses_an_endpoint_with_credentials_without_showing_it() -> None:
    from bkstorages.client import BKGenericRepoClient

    with pytest.raises(ValueError, match="BKREPO_USERNAME and BKREPO_PASSWORD") as info:
        BKGenericRepoClient("b", "p", "http://admin:s3cret-password@127.0.0.1:9", "admin", "pw")
    assert "s3cret" not in str(info.value)
