"""The wheel in a fresh Django project: the project's own tests never reach the bk-repo its shell exports.

The session's wheel (``artifacts``) is installed with its ``contrib`` and
``devserver`` extras into a fresh virtualenv (Django 5.2, pytest,
pytest-django), next to a project made by ``django-admin startproject``. The
shell of that project exports ``BKREPO_*`` of a "production" bk-repo: a dev
server of this test run behind a fault proxy that counts every connection.
The project's tests use the plugin as a Django team would: some with
``bkrepo_settings``, some forgetting it, with ``bkrepo_isolate = true`` in
its pytest.ini.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import psutil
import pytest

from bkstorages.backends.bkrepo import BKRepoStorage
from bkstorages_contrib.testing import DevServer
from tests.faultproxy import FaultProxy
from tests.packaging.conftest import Artifacts

SETTINGS = """
INSTALLED_APPS += ["bkstorages_contrib", "shop"]
STORAGES = {
    "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
"""

MODELS = """
from django.db import models

from bkstorages.backends.bkrepo import BKRepoPublicStorage


class Product(models.Model):
    photo = models.FileField(upload_to="photos/", storage=BKRepoPublicStorage())
    manual = models.FileField(upload_to="manuals/", blank=True)
"""

PYTEST_INI = """
[pytest]
DJANGO_SETTINGS_MODULE = shopsite.settings
python_files = test_*.py
bkrepo_isolate = true
"""

TESTS = """
import json
import os
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from shop.models import Product

SEEN = {}


@pytest.mark.django_db
def test_saves_go_to_the_test_repositories(bkrepo_settings):
    product = Product.objects.create(photo=ContentFile(b"png", name="a.png"), manual=ContentFile(b"pdf", name="m.pdf"))
    assert Product._meta.get_field("photo").storage.bucket == bkrepo_settings.public
    assert default_storage.bucket == bkrepo_settings.private
    assert default_storage.exists(product.manual.name)
    assert product.photo.url.startswith(bkrepo_settings.endpoint_url)
    assert "BKREPO_ENDPOINT_URL" not in os.environ
    SEEN.update(bucket=default_storage.bucket, name=product.manual.name)


def test_the_next_test_gets_fresh_repositories(bkrepo_settings):
    assert SEEN, "runs after the test above"
    assert default_storage.bucket == bkrepo_settings.private != SEEN["bucket"]
    assert not default_storage.exists(SEEN["name"])


@pytest.mark.django_db
def test_forgets_the_fixture_with_a_model():
    Product.objects.create(photo=ContentFile(b"png", name="b.png"))


def test_forgets_the_fixture_with_default_storage():
    default_storage.save("manuals/c.pdf", ContentFile(b"pdf"))


def test_blocks_until_killed(bkrepo_settings):
    server = bkrepo_settings.server
    report = {"pid": server.process.pid, "data_dir": str(server.data_dir)}
    Path(os.environ["SHOP_REPORT"]).write_text(json.dumps(report))
    time.sleep(600)
"""


@dataclass
class Production:
    server: DevServer
    proxy: FaultProxy

    def env(self) -> dict[str, str]:
        return {
            "BKREPO_ENDPOINT_URL": self.proxy.url,
            "BKREPO_USERNAME": self.server.username,
            "BKREPO_PASSWORD": self.server.password,  # valid: a leak would be written
            "BKREPO_PROJECT": self.server.project,
            "BKREPO_BUCKET": "prod-media",
            "BKREPO_PUBLIC_BUCKET": "prod-public",
            "BKREPO_PRIVATE_BUCKET": "prod-media",
        }

    def files(self) -> list[str]:
        """Every file in production's repositories, asked directly (not through the proxy)."""
        found = []
        for bucket in ("prod-media", "prod-public"):
            storage = BKRepoStorage(
                endpoint_url=self.server.endpoint_url,
                username=self.server.username,
                password=self.server.password,
                project=self.server.project,
                bucket=bucket,
            )
            for folder in ("", "photos", "manuals"):
                found += [f"{bucket}/{folder}/{name}" for name in storage.listdir(folder)[1]]
        return found


@dataclass
class Project:
    root: Path
    bin: Path
    clean_env: dict[str, str]

    def run(self, *args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
        return subprocess.run(
            [str(self.bin / "python"), *args],
            cwd=self.root,
            env={**self.clean_env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )


def outside_environment() -> dict[str, str]:
    """This process's environment without what would point the project at this checkout or a bk-repo."""
    dropped = ("PYTHONPATH", "DJANGO_SETTINGS_MODULE", "PYTEST_ADDOPTS", "VIRTUAL_ENV", "PYTEST_CURRENT_TEST")
    kept = {name: value for name, value in os.environ.items() if not name.startswith("BKREPO_") and name not in dropped}
    return {**kept, "COLUMNS": "1000"}  # pytest's -rA summary then keeps whole failure lines


@pytest.fixture(scope="module")
def production() -> Iterator[Production]:
    with DevServer() as server:
        server.create_repo("prod-media")
        server.create_repo("prod-public", public=True)
        with FaultProxy("127.0.0.1", server.port) as proxy:
            yield Production(server, proxy)


@pytest.fixture(scope="module")
def project(artifacts: Artifacts, production: Production, tmp_path_factory: pytest.TempPathFactory) -> Project:
    base = tmp_path_factory.mktemp("project")
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=120)
    # This venv's pip installs into the new one (no pip of its own to install first); the cache is shared.
    packages = [f"{artifacts.wheel}[contrib,devserver]", "Django>=5.2,<5.3", "pytest>=8", "pytest-django>=4.8"]
    install = [sys.executable, "-m", "pip", "--python", str(venv / "bin" / "python"), "install", "-q", *packages]
    result = subprocess.run(install, capture_output=True, text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]

    root = base / "site"
    root.mkdir()
    made = Project(root, venv / "bin", outside_environment())
    for command in (["-m", "django", "startproject", "shopsite", "."], ["manage.py", "startapp", "shop"]):
        result = made.run(*command)
        assert result.returncode == 0, result.stderr
    with open(root / "shopsite" / "settings.py", "a", encoding="utf-8") as settings:
        settings.write(SETTINGS)
    (root / "shop" / "models.py").write_text(MODELS, encoding="utf-8")
    (root / "shop" / "test_files.py").write_text(TESTS, encoding="utf-8")
    (root / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    # As on a developer's machine, with BKREPO_* exported (the system checks want the settings).
    result = made.run("manage.py", "makemigrations", "shop", env=production.env())
    assert result.returncode == 0, result.stdout + result.stderr
    return made


def outcomes(output: str) -> dict[str, str]:
    """``{test name: "PASSED" or the failure line}`` from pytest's ``-rA`` summary."""
    found = {}
    for line in output.splitlines():
        match = re.match(r"^(PASSED|FAILED|ERROR) \S+::(\w+)(?: - (.*))?$", line)
        if match:
            found[match.group(2)] = match.group(1) if match.group(1) == "PASSED" else (match.group(3) or "")
    return found


def test_the_project_uses_the_installed_wheel(project: Project) -> None:
    result = project.run("-c", "import bkstorages, bkstorages_contrib; print(bkstorages.__file__)")
    assert result.returncode == 0, result.stderr
    assert str(project.bin.parent) in result.stdout


def test_production_receives_nothing_from_the_projects_tests(project: Project, production: Production) -> None:
    connections = production.proxy.connections
    result = project.run("-m", "pytest", "-p", "no:cacheprovider", "-rA", "-k", "not blocks", env=production.env())
    found = outcomes(result.stdout)
    assert found.pop("test_saves_go_to_the_test_repositories") == "PASSED", result.stdout[-4000:]
    assert found.pop("test_the_next_test_gets_fresh_repositories") == "PASSED", result.stdout[-4000:]
    # Forgetting the fixture fails the test, with isolation on, instead of writing to production.
    assert set(found) == {"test_forgets_the_fixture_with_a_model", "test_forgets_the_fixture_with_default_storage"}
    for line in found.values():
        assert line.startswith("bkstorages.exceptions.EndpointNotAllowedError"), line
    assert result.returncode == 1
    assert production.proxy.connections == connections
    assert production.proxy.count() == 0
    assert production.files() == []
    assert production.server.password not in result.stdout + result.stderr


def test_pytest_starts_and_the_fixtures_work_without_any_bkrepo_setting(project: Project) -> None:
    result = project.run("-m", "pytest", "-p", "no:cacheprovider", "-rA", "-k", "saves or next")
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert set(outcomes(result.stdout).values()) == {"PASSED"}
    assert len(outcomes(result.stdout)) == 2


def test_manage_py_check_without_settings_names_e001_and_shows_no_traceback(project: Project) -> None:
    result = project.run("manage.py", "check")
    output = result.stdout + result.stderr
    assert result.returncode == 1, output
    assert "bkstorages.E001" in output
    assert "Traceback" not in output


def wait_until(condition: Callable[[], bool], seconds: float = 60) -> bool:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def devservers_with(data_dir: str) -> list[psutil.Process]:
    found = []
    for process in psutil.process_iter(["cmdline", "status"]):
        cmdline = process.info["cmdline"] or []
        if process.info["status"] != psutil.STATUS_ZOMBIE and data_dir in cmdline:
            found.append(process)
    return found


def test_a_killed_pytest_leaves_no_dev_server_behind(project: Project, production: Production) -> None:
    report = project.root / "killed.json"
    env = {**project.clean_env, **production.env(), "SHOP_REPORT": str(report)}
    command = [str(project.bin / "python"), "-m", "pytest", "-p", "no:cacheprovider", "-k", "blocks"]
    quiet = subprocess.DEVNULL
    pytest_run = subprocess.Popen(command, cwd=project.root, env=env, stdout=quiet, stderr=quiet)
    try:
        assert wait_until(lambda: report.exists() and report.read_text() != "", 120), "the test never started"
        started = json.loads(report.read_text())
        assert devservers_with(started["data_dir"]) != []
        os.kill(pytest_run.pid, signal.SIGKILL)
        pytest_run.wait(30)
    finally:
        if pytest_run.poll() is None:
            pytest_run.kill()
            pytest_run.wait()
    try:
        assert wait_until(lambda: devservers_with(started["data_dir"]) == [], 30), "a dev server outlived pytest"
    finally:
        for process in devservers_with(started["data_dir"]):
            process.kill()
    assert wait_until(lambda: not Path(started["data_dir"]).parent.exists(), 30), "its temp dir is still there"
