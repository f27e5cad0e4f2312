"""collectstatic into bk-repo with BKRepoStaticStorage and BKRepoManifestStaticStorage.

Django admin is installed in the test settings, so its static files (well
over a hundred) are what gets collected, as on a real project.
"""

from __future__ import annotations

import io
import json
import pickle
import re
import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import django
import pytest
import requests
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.core.exceptions import ImproperlyConfigured
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.template import Context, Engine
from django.test import override_settings

from bkstorages_contrib.staticfiles import BKRepoManifestStaticStorage, BKRepoStaticStorage
from tests.contrib.conftest import storages_setting
from tests.faultproxy import FaultProxy

STATIC = "bkstorages_contrib.staticfiles.BKRepoStaticStorage"
MANIFEST = "bkstorages_contrib.staticfiles.BKRepoManifestStaticStorage"
DIRS_ONLY = "django.contrib.staticfiles.finders.FileSystemFinder"


def collectstatic(**options: Any) -> str:
    out = io.StringIO()
    call_command("collectstatic", interactive=False, verbosity=1, stdout=out, **options)
    return out.getvalue()


def source_files() -> dict[str, str]:
    """Every file collectstatic will find: name -> absolute path."""
    found = {}
    for finder in finders.get_finders():
        for path, storage in finder.list([]):
            found.setdefault(path.replace("\\", "/"), storage.path(path))
    return found


def counts(output: str) -> dict[str, int]:
    found = {"static": 0, "unmodified": 0}
    for number, what in re.findall(r"(\d+) (static files? copied|unmodified|post-processed)", output):
        found[what.split()[0] if what.startswith("static") else what] = int(number)
    return found


@pytest.fixture
def proxied_static(bk: Any) -> Any:
    """STORAGES['staticfiles'] = BKRepoStaticStorage through a fault proxy that counts requests."""
    from urllib.parse import urlsplit

    upstream = urlsplit(bk.server.endpoint_url)
    assert upstream.hostname
    assert upstream.port
    # Everything goes through the proxy (Django 4.2's override_settings drops the OPTIONS of "staticfiles").
    with (
        FaultProxy(upstream.hostname, upstream.port) as proxy,
        override_settings(STORAGES=storages_setting(), BKREPO_ENDPOINT_URL=proxy.url),
    ):
        yield proxy


def test_collectstatic_of_admin_then_nothing_is_uploaded_again(bk: Any, proxied_static: FaultProxy) -> None:
    files = source_files()
    assert "admin/css/base.css" in files
    assert len(files) > 100

    first = collectstatic()
    assert counts(first) == {"static": len(files), "unmodified": 0}
    assert proxied_static.count("PUT", r"/generic/") == len(files)

    proxied_static.clear()
    with override_settings(STORAGES=storages_setting()):  # a fresh storage, as in the next deploy's process
        second = collectstatic()
    assert counts(second) == {"static": 0, "unmodified": len(files)}
    assert proxied_static.count("PUT") == 0
    assert proxied_static.count("DELETE") == 0
    # exists() and get_modified_time() of every file come from one listing of the static folder.
    assert [seen.method for seen in proxied_static.seen] == ["GET"]
    assert "/repository/api/node/page/" in proxied_static.seen[0].path

    # Public, permanent URLs that browsers can load without credentials.
    url = staticfiles_storage.url("admin/css/base.css")
    assert "token" not in url
    assert "/static/admin/css/base.css" in url
    response = requests.get(url, timeout=10)
    assert response.status_code == 200
    assert response.content == Path(files["admin/css/base.css"]).read_bytes()


def test_unmodified_detection_without_time_zone_support(bk: Any, tmp_path: Path) -> None:
    (tmp_path / "app.js").write_text("console.log(1)")
    with override_settings(USE_TZ=False, STATICFILES_DIRS=[str(tmp_path)], STATICFILES_FINDERS=[DIRS_ONLY]):
        assert counts(collectstatic()) == {"static": 1, "unmodified": 0}
        assert counts(collectstatic()) == {"static": 0, "unmodified": 1}


def test_a_changed_file_is_uploaded_once(bk: Any, tmp_path: Path) -> None:
    source = tmp_path / "app.js"
    source.write_text("console.log(1)")
    with override_settings(STATICFILES_DIRS=[str(tmp_path)], STATICFILES_FINDERS=[DIRS_ONLY]):
        assert counts(collectstatic()) == {"static": 1, "unmodified": 0}
        time.sleep(1.1)  # collectstatic compares times to the second
        source.write_text("console.log(2)")
        assert counts(collectstatic()) == {"static": 1, "unmodified": 0}
        assert counts(collectstatic()) == {"static": 0, "unmodified": 1}
    with storages["staticfiles"].open("app.js") as fh:
        assert fh.read() == b"console.log(2)"


def test_clear_touches_only_the_static_location(bk: Any, tmp_path: Path) -> None:
    public = storages["public"]
    public.save("media/keep.txt", ContentFile(b"user upload"))
    static = storages["staticfiles"]
    static.save("old/removed.css", ContentFile(b"old"))
    static.save("stale.js", ContentFile(b"old"))
    assert public.exists("static/old/removed.css")  # the static location is a folder of the public bucket

    (tmp_path / "app.js").write_text("console.log(1)")
    with override_settings(STATICFILES_DIRS=[str(tmp_path)], STATICFILES_FINDERS=[DIRS_ONLY]):
        output = collectstatic(clear=True)
    assert counts(output)["static"] == 1
    assert static.listdir("")[1] == ["app.js"]
    assert static.listdir("old") == ([], [])  # Django deletes files only; bk-repo keeps the empty folder
    assert not static.exists("old/removed.css")
    assert public.exists("media/keep.txt")


def test_static_storage_is_picklable_and_answers_exists_truthfully(bk: Any) -> None:
    storage = BKRepoStaticStorage()
    storage.save("a.css", ContentFile(b"a"))
    assert storage.exists("a.css")
    assert storage.exists("")
    assert not storage.exists("missing.css")
    with pytest.raises(FileNotFoundError):
        storage.get_modified_time("missing.css")
    copy = pickle.loads(pickle.dumps(storage))  # noqa: S301 - our own object
    assert copy.exists("a.css")
    assert copy.get_modified_time("a.css") == storage.stat("a.css").modified_time
    assert copy.deconstruct() == ("bkstorages_contrib.staticfiles.BKRepoStaticStorage", (), {})


def test_static_storage_settings(bk: Any) -> None:
    storage = BKRepoStaticStorage()
    assert storage.url("a b/c.css") == storages["public"].url("static/a b/c.css")
    with override_settings(BKREPO_STATIC_BUCKET=bk.public, BKREPO_STATIC_LOCATION="assets"):
        other = BKRepoStaticStorage()
        other.save("x.css", ContentFile(b"x"))
        assert storages["public"].exists("assets/x.css")
    # Overwrite is always on: a second save keeps the name and replaces the content.
    assert storage.save("same.css", ContentFile(b"one")) == "same.css"
    assert storage.save("same.css", ContentFile(b"two")) == "same.css"
    with storage.open("same.css") as fh:
        assert fh.read() == b"two"


def test_manifest_storage_serves_hashed_names(bk: Any, tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "img").mkdir()
    (tmp_path / "img" / "logo.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (tmp_path / "css" / "site.css").write_text("body { background: url('../img/logo.svg'); }")
    setting = storages_setting(staticfiles={"BACKEND": MANIFEST})
    sources = {"STATICFILES_DIRS": [str(tmp_path)], "STATICFILES_FINDERS": [DIRS_ONLY]}
    with override_settings(STORAGES=setting, **sources):
        storage = storages["staticfiles"]
        assert isinstance(storage, BKRepoManifestStaticStorage)
        assert not storage.exists("staticfiles.json")  # a first deploy: no manifest yet
        output = collectstatic()
        assert counts(output) == {"static": 2, "unmodified": 0, "post-processed": 2}
        assert storage.exists("staticfiles.json")

    with override_settings(STORAGES=setting, **sources):  # a fresh process: the manifest is loaded from bk-repo
        engine = Engine(libraries={"static": "django.templatetags.static"})
        url = engine.from_string("{% load static %}{% static 'css/site.css' %}").render(Context())
        assert re.search(r"/static/css/site\.[0-9a-f]{12}\.css$", url), url
        assert "token" not in url
        css = requests.get(url, timeout=10)
        assert css.status_code == 200
        logo = re.search(r"url\(['\"]?([^'\")]+)", css.text)
        assert logo
        assert re.fullmatch(r"\.\./img/logo\.[0-9a-f]{12}\.svg", logo.group(1))  # the reference was rewritten
        assert requests.get(url.rsplit("/css/", 1)[0] + logo.group(1)[2:], timeout=10).status_code == 200
        with pytest.raises(ValueError, match="Missing staticfiles manifest entry"):
            staticfiles_storage.url("css/not-there.css")


def test_staticfiles_storage_setting(bk: Any, tmp_path: Path) -> None:
    """Django 4.2 reads STATICFILES_STORAGE; later versions ignore it (and the system check says so)."""
    (tmp_path / "app.js").write_text("console.log(1)")
    sources = {"STATICFILES_DIRS": [str(tmp_path)], "STATICFILES_FINDERS": [DIRS_ONLY]}
    local = {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}
    with (
        override_settings(STORAGES=storages_setting(staticfiles=local), STATIC_ROOT=str(tmp_path / "root"), **sources),
        override_settings(STATICFILES_STORAGE=STATIC),
    ):
        if django.VERSION < (5, 1):
            assert isinstance(storages["staticfiles"], BKRepoStaticStorage)
            assert counts(collectstatic()) == {"static": 1, "unmodified": 0}
            assert storages["public"].exists("static/app.js")
        else:
            assert not isinstance(storages["staticfiles"], BKRepoStaticStorage)


def test_manifest_names_match_djangos_and_an_unchanged_run_sends_nothing(bk: Any, tmp_path: Path) -> None:
    """Admin's static files: the same hashed names as Django's ManifestStaticFilesStorage on disk, with
    nothing read back to hash it; a second run lists the folder once and uploads nothing."""
    local = {"BACKEND": "django.contrib.staticfiles.storage.ManifestStaticFilesStorage"}
    with override_settings(STORAGES=storages_setting(staticfiles=local), STATIC_ROOT=str(tmp_path)):
        collectstatic()
    expected = json.loads((tmp_path / "staticfiles.json").read_text("utf-8"))["paths"]
    assert len(expected) > 100

    upstream = urlsplit(bk.server.endpoint_url)
    assert upstream.hostname
    assert upstream.port
    with (
        FaultProxy(upstream.hostname, upstream.port) as proxy,
        override_settings(STORAGES=storages_setting(staticfiles={"BACKEND": MANIFEST}), BKREPO_ENDPOINT_URL=proxy.url),
    ):
        collectstatic()
        # Nothing stored was downloaded to be hashed: the listing's md5 gave the names.
        assert proxy.count("GET", r"^/generic/") <= 1  # the manifest, looked for once
        with storages["staticfiles"].open("staticfiles.json") as manifest:
            assert json.loads(manifest.read())["paths"] == expected
        proxy.clear()
        with override_settings(STORAGES=storages_setting(staticfiles={"BACKEND": MANIFEST})):  # the next deploy
            second = collectstatic()
            with storages["staticfiles"].open("staticfiles.json") as manifest:
                assert json.loads(manifest.read())["paths"] == expected
        assert counts(second)["unmodified"] == len(source_files())
        assert proxy.count("GET", r"/repository/api/node/page/") == 1
        assert proxy.count("GET", r"/repository/api/node/detail/") == 0
        # Django's passes save an intermediate name of one stylesheet and delete it again; nothing else.
        assert proxy.count("PUT") <= 1
        assert proxy.count("DELETE") <= 1


def cache_control(url: str) -> str:
    response = requests.get(url, timeout=10)
    assert response.status_code == 200, url
    return response.headers["Cache-Control"]


def test_hashed_names_are_immutable_and_the_rest_short_lived(bk: Any, tmp_path: Path) -> None:
    (tmp_path / "css").mkdir()
    (tmp_path / "css" / "site.css").write_text("body { color: red; }")
    (tmp_path / "LICENSE").write_text("MIT")
    setting = storages_setting(staticfiles={"BACKEND": MANIFEST})
    sources = {"STATICFILES_DIRS": [str(tmp_path)], "STATICFILES_FINDERS": [DIRS_ONLY]}
    with override_settings(STORAGES=setting, **sources):
        collectstatic()
        storage = storages["staticfiles"]
        hashed = storage.stored_name("css/site.css")
        assert hashed != "css/site.css"
        raw = BKRepoStaticStorage()  # plain links, without the manifest's lookups
        immutable = "public, max-age=31536000, immutable"
        assert cache_control(raw.url(hashed)) == immutable
        assert cache_control(raw.url(storage.stored_name("LICENSE"))) == immutable
        assert cache_control(raw.url("css/site.css")) == "public, max-age=300"
        assert cache_control(raw.url("staticfiles.json")) == "public, max-age=300"
        # Outside post-processing a name that merely looks hashed is not trusted.
        storage.save("vendor/lib.0123456789ab.js", ContentFile(b"1"))
        assert cache_control(raw.url("vendor/lib.0123456789ab.js")) == "public, max-age=300"
    with override_settings(STORAGES=storages_setting(), BKREPO_STATIC_CACHE_CONTROL="no-cache"):
        plain = storages["staticfiles"]
        plain.save("plain.css", ContentFile(b"p"))
        assert cache_control(plain.url("plain.css")) == "no-cache"
        assert plain.get_metadata("plain.css") == {"cache-control": "no-cache"}


def test_manifest_storage_reads_its_manifest_at_first_use(bk: Any, proxied_static: FaultProxy) -> None:
    with override_settings(BKREPO_ENDPOINT_URL=None, BKREPO_PROJECT=None):
        unconfigured = BKRepoManifestStaticStorage()  # building it reads no setting and sends nothing
        with pytest.raises(ImproperlyConfigured, match="BKREPO_ENDPOINT_URL"):
            unconfigured.url("css/site.css")
    storage = BKRepoManifestStaticStorage()
    storage.save("staticfiles.json", ContentFile(json.dumps({"version": "1.1", "paths": {"a.css": "a.1.css"}})))
    proxy_requests = proxied_static.count()
    fresh = BKRepoManifestStaticStorage()
    assert proxied_static.count() == proxy_requests  # nothing sent while building it
    assert fresh.stored_name("a.css") == "a.1.css"  # the manifest, read at first use
    assert proxied_static.count() > proxy_requests
    assert fresh.manifest_hash == ""
