"""Test helpers: a bk-repo dev server in a subprocess, and pytest fixtures.

Without pytest::

    from bkstorages_contrib.testing import DevServer

    with DevServer() as server:
        os.environ.update(server.env())
        ...

As a pytest plugin (loaded automatically through the ``pytest11`` entry
point once bkstorages is installed):

``bkrepo_server``
    session-scoped :class:`DevServer` on a free port with a temporary data dir.
``bkrepo_repos``
    a fresh public and a fresh private repository for one test
    (``.public``, ``.private``, ``.server``).
``bkrepo_settings``
    like ``bkrepo_repos``, and every storage points at them for the duration
    of the test (see :func:`isolated`): the ``BKREPO_*`` settings are the
    dev server's, ``BKREPO_*`` environment variables are gone, Django's cached
    storages are built anew, and requests to any other endpoint are refused.
``bkrepo_limited_user``
    a :class:`LimitedUser` with full rights on one fresh private repository
    and none elsewhere (``.username``, ``.password``, ``.repo``,
    ``.settings()``): what it does outside that repository is 403/250113.
``bkrepo_unshared_project``
    :class:`Repos` in a fresh project whose share switch is off: creating a
    temporary URL or token there is 400/251037.

The ``bkrepo_isolate`` ini option (``bkrepo_isolate = true`` in pytest.ini
or ``[tool.pytest.ini_options]``) refuses requests to any endpoint other than
the dev servers the tests start, for the whole run: a test that forgot
``bkrepo_settings`` fails instead of reaching a real bk-repo.

Importing this module needs neither Django settings nor pytest.
"""

from __future__ import annotations

import base64
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any

from bkstorages.client import endpoint_guard

try:
    import pytest
except ImportError:  # pragma: no cover - usable without pytest
    pytest = None  # type: ignore[assignment]

__all__ = [
    "DevServer",
    "DevServerError",
    "LimitedUser",
    "Repos",
    "bkrepo_limited_user",
    "bkrepo_repos",
    "bkrepo_server",
    "bkrepo_settings",
    "bkrepo_unshared_project",
    "isolated",
]

START_TIMEOUT = 30.0


class DevServerError(RuntimeError):
    """The dev server did not start, or refused a setup request."""


class DevServer:
    """A dev server subprocess on a free loopback port.

    ``data_dir`` defaults to a temporary directory that is removed on
    :meth:`stop`. The server stops, and removes that directory, by itself
    when this process ends without calling :meth:`stop` (even when killed):
    it watches a pipe from this process, which every OS closes then. Other
    keyword options (``project``, ``username``,
    ``password``, ``public_bucket``, ``private_bucket``, ``read_only_users``
    as ``{name: password}``, ``platform_accounts`` as ``{access_key:
    secret_key}``, ``time_zone``, ``generic_domain``, ``block_upload_expiry`` in seconds) are passed to the CLI;
    ``extra_args`` are further CLI options (e.g. ``["--header-timeout", "5"]``).
    ``redirect=True`` starts it in redirect mode (downloads answer 302 to a
    second origin on ``redirect_port`` whose targets expire after
    ``redirect_expires`` seconds and start with ``redirect_base_url``, when
    given, instead of the origin's own URL);
    ``share_off`` (project names) and ``folder_listing_off``
    (``"project/repo"``) turn those switches off at start. While it runs, the
    test isolation (:data:`bkstorages.client.endpoint_guard`) allows requests to it.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        project: str = "bkstorages",
        username: str = "admin",
        password: str = "blueking",  # noqa: S107 - the dev server's documented default
        public_bucket: str = "public",
        private_bucket: str = "private",
        read_only_users: dict[str, str] | None = None,
        platform_accounts: dict[str, str] | None = None,
        time_zone: str | None = None,
        generic_domain: str | None = None,
        host: str = "127.0.0.1",
        redirect: bool = False,
        redirect_expires: int | None = None,
        redirect_port: int = 0,
        redirect_base_url: str | None = None,
        share_off: list[str] | None = None,
        folder_listing_off: list[str] | None = None,
        block_upload_expiry: float | None = None,
        extra_args: Sequence[str] = (),
    ) -> None:
        self.project = project
        self.username = username
        self.password = password
        self.public_bucket = public_bucket
        self.private_bucket = private_bucket
        self.read_only_users = dict(read_only_users or {})
        self.platform_accounts = dict(platform_accounts or {})
        self.time_zone = time_zone
        self.generic_domain = generic_domain
        self.host = host
        self.redirect = redirect
        self.redirect_expires = redirect_expires
        self.redirect_port = redirect_port
        self.redirect_base_url = redirect_base_url
        self.share_off = list(share_off or [])
        self.folder_listing_off = list(folder_listing_off or [])
        self.block_upload_expiry = block_upload_expiry
        self.extra_args = list(extra_args)
        self._work_dir = Path(tempfile.mkdtemp(prefix="bkrepo-devserver-"))
        self.data_dir = Path(data_dir) if data_dir is not None else self._work_dir / "data"
        self.log_path = self._work_dir / "server.log"
        self.endpoint_url = ""
        self.port = 0
        self.process: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"<DevServer {self.endpoint_url or 'not started'} project={self.project!r}>"

    # -- life cycle -------------------------------------------------------------

    def command(self) -> list[str]:
        args = [
            sys.executable,
            "-m",
            "bkstorages_contrib.devserver",
            "--host",
            self.host,
            "--port",
            "0",
            "--data",
            str(self.data_dir),
            "--project",
            self.project,
            "--username",
            self.username,
            "--password",
            self.password,
            "--public-bucket",
            self.public_bucket,
            "--private-bucket",
            self.private_bucket,
            # Stop, and remove the work dir, once this process is gone (even killed):
            # the server holds the read end of a pipe on its stdin, which then sees EOF.
            "--exit-with-stdin",
            "--remove-on-exit",
            str(self._work_dir),
        ]
        for name, password in self.read_only_users.items():
            args += ["--read-only-user", f"{name}:{password}"]
        for access_key, secret_key in self.platform_accounts.items():
            args += ["--platform-account", f"{access_key}:{secret_key}"]
        if self.time_zone:
            args += ["--time-zone", self.time_zone]
        if self.generic_domain:
            args += ["--generic-domain", self.generic_domain]
        if self.redirect:
            args += ["--redirect", "--redirect-port", str(self.redirect_port)]
        if self.redirect_base_url:
            args += ["--redirect-base-url", self.redirect_base_url]
        if self.redirect_expires is not None:
            args += ["--redirect-expires", str(self.redirect_expires)]
        for project in self.share_off:
            args += ["--share-off", project]
        for repo in self.folder_listing_off:
            args += ["--folder-listing-off", repo]
        if self.block_upload_expiry is not None:
            args += ["--block-upload-expiry", str(self.block_upload_expiry)]
        return args + self.extra_args

    def start(self) -> DevServer:
        if self.process is not None:
            return self
        out_path = self._work_dir / "server.out"
        with open(out_path, "wb") as out_file, open(self.log_path, "ab") as log_file:
            # Make sure the child imports this very copy of the package.
            env = dict(os.environ)
            package_root = str(Path(__file__).resolve().parent.parent)
            env["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root, env.get("PYTHONPATH")]))
            self.process = subprocess.Popen(  # noqa: S603 - our own module, fixed arguments
                self.command(), stdout=out_file, stderr=log_file, stdin=subprocess.PIPE, env=env
            )
        deadline = time.monotonic() + START_TIMEOUT
        while True:
            env = _parse_exports(out_path.read_text("utf-8", errors="replace"))
            if "BKREPO_PRIVATE_BUCKET" in env:
                break
            if self.process.poll() is not None or time.monotonic() > deadline:
                log = self.log_path.read_text("utf-8", errors="replace")[-2000:]
                self.stop()
                raise DevServerError(f"the dev server did not start:\n{log}")
            time.sleep(0.02)
        self.endpoint_url = env["BKREPO_ENDPOINT_URL"]
        self.port = int(self.endpoint_url.rsplit(":", 1)[1])
        endpoint_guard.allow(self.endpoint_url)
        return self

    def stop(self) -> None:
        process, self.process = self.process, None
        if process is not None and self.endpoint_url:
            endpoint_guard.disallow(self.endpoint_url)
        if process is not None and process.stdin is not None:
            with contextlib.suppress(OSError):
                process.stdin.close()
        if process is not None and process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # The work dir holds the logs, and the data too unless the caller named a data dir.
        shutil.rmtree(self._work_dir, ignore_errors=True)

    def __enter__(self) -> DevServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    # -- helpers ------------------------------------------------------------------

    def env(self) -> dict[str, str]:
        """The ``BKREPO_*`` environment variables for this server."""
        return {
            "BKREPO_ENDPOINT_URL": self.endpoint_url,
            "BKREPO_USERNAME": self.username,
            "BKREPO_PASSWORD": self.password,
            "BKREPO_PROJECT": self.project,
            "BKREPO_BUCKET": self.private_bucket,
            "BKREPO_PUBLIC_BUCKET": self.public_bucket,
            "BKREPO_PRIVATE_BUCKET": self.private_bucket,
        }

    def auth_header(self) -> str:
        token = base64.b64encode(f"{self.username}:{self.password}".encode()).decode()
        return f"Basic {token}"

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> Any:
        """One request as the server's admin user; the envelope's ``data``, or ``DevServerError``."""
        request = urllib.request.Request(  # noqa: S310 - loopback http URL we started
            f"{self.endpoint_url}{path}",
            data=None if body is None else json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Authorization": self.auth_header()},
            method=method,
        )
        try:
            with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
                payload = json.loads(response.read())
        except urllib.error.HTTPError as error:
            payload = json.loads(error.read() or b"{}")
        if payload.get("code") != 0:
            raise DevServerError(f"{method} {path.partition('?')[0]} failed: {payload.get('message')}")
        return payload.get("data")

    def create_repo(self, name: str, public: bool = False, project: str | None = None) -> str:
        """Create a generic repository (in the server's project by default); returns its name."""
        body = {
            "projectId": project or self.project,
            "name": name,
            "type": "GENERIC",
            "category": "LOCAL",
            "public": public,
        }
        self.call("POST", "/repository/api/repo/create", body)
        return name

    def create_project(self, name: str, *, share: bool = True) -> str:
        """Create a project (``share=False``: with its share switch off); returns its name."""
        self.call("POST", "/repository/api/project/create", {"name": name, "displayName": name, "description": ""})
        if not share:
            self.set_switch(name, share=False)
        return name

    def create_user(self, name: str, password: str, *, repo: str | None = None, project: str | None = None) -> str:
        """A user with full rights on one repository (``repo``) or a whole project (admin of it), and no
        others; an existing user gets the new password. bk-repo's ``/auth/api/user/create/{repo,project}``."""
        body = {"userId": name, "name": name, "pwd": password, "projectId": project or self.project}
        if repo is not None:
            self.call("POST", "/auth/api/user/create/repo", {**body, "repoName": repo})
        else:
            self.call("POST", "/auth/api/user/create/project", body)
        return name

    def set_switch(
        self, project: str, repo: str | None = None, *, share: bool | None = None, list_folders: bool | None = None
    ) -> dict[str, Any]:
        """Turn a project's share switch or a repository's folder listing; returns the switches now."""
        body: dict[str, Any] = {"project": project, "repo": repo, "share": share, "listFolders": list_folders}
        data: dict[str, Any] = self.call("POST", "/_devserver/switches", body)
        return data

    def expire_redirects(self) -> None:
        """Redirect mode: every redirect target handed out so far answers 403 from now on."""
        self.call("POST", "/_devserver/redirect/expire", {})


def _parse_exports(text: str) -> dict[str, str]:
    import shlex

    env = {}
    for line in text.splitlines():
        if line.startswith("export ") and "=" in line:
            name, _, value = line[len("export ") :].partition("=")
            parts = shlex.split(value)
            env[name] = parts[0] if parts else ""
    return env


@dataclass
class Repos:
    """A fresh public and private repository on ``server``."""

    server: DevServer
    public: str
    private: str
    #: The project they are in, when not the server's own.
    project_name: str | None = None

    @property
    def project(self) -> str:
        return self.project_name or self.server.project

    @property
    def endpoint_url(self) -> str:
        return self.server.endpoint_url

    def settings(self) -> dict[str, Any]:
        """Django ``BKREPO_*`` settings for these repositories."""
        return {
            "BKREPO_ENDPOINT_URL": self.server.endpoint_url,
            "BKREPO_USERNAME": self.server.username,
            "BKREPO_PASSWORD": self.server.password,
            "BKREPO_PROJECT": self.project,
            "BKREPO_BUCKET": self.private,
            "BKREPO_PUBLIC_BUCKET": self.public,
            "BKREPO_PRIVATE_BUCKET": self.private,
        }


#: ``BKREPO_*`` settings that say where storages send requests or point links:
#: :func:`isolated` sets each to the dev server's value, or clears it.
TARGET_SETTINGS = (
    "BKREPO_ENDPOINT_URL",
    "BKREPO_USERNAME",
    "BKREPO_PASSWORD",
    "BKREPO_PROJECT",
    "BKREPO_BUCKET",
    "BKREPO_PUBLIC_BUCKET",
    "BKREPO_PRIVATE_BUCKET",
    "BKREPO_STATIC_BUCKET",
    "BKREPO_BUCKET_PUBLIC",
    "BKREPO_PUBLIC_BASE_URL",
    "BKREPO_TEMPORARY_URL_HOST",
)


def fresh_storages() -> None:
    """Storages resolve their options again, and Django builds its cached storages anew, at next use.

    Django keeps ``default_storage``, ``storages[alias]`` and
    ``staticfiles_storage`` once built; its own test signal forgets them the
    same way when ``STORAGES`` changes. The entries are read from
    ``settings.STORAGES`` again: Django 4.2's ``override_settings(DEFAULT_FILE_STORAGE=...)``
    updates ``STORAGES`` but leaves the handler's copy of it stale.
    """
    from django.contrib.staticfiles.storage import staticfiles_storage
    from django.core.files.storage import default_storage, storages
    from django.utils.functional import empty

    from bkstorages.backends.base import reset_all_options

    # Private attributes (django-stubs leave them out) that Django's test signal resets too.
    with contextlib.suppress(AttributeError):
        del storages.backends
    storages._backends = None  # type: ignore[attr-defined]
    storages._storages = {}  # type: ignore[attr-defined]
    default_storage._wrapped = empty  # type: ignore[attr-defined]
    staticfiles_storage._wrapped = empty  # type: ignore[attr-defined]
    reset_all_options()


def _replace_environment(values: dict[str, str]) -> dict[str, str]:
    """Drop every ``BKREPO_*`` environment variable and set ``values``; returns what was there."""
    saved = {name: value for name, value in os.environ.items() if name.startswith("BKREPO_")}
    for name in saved:
        del os.environ[name]
    os.environ.update(values)
    return saved


@contextmanager
def isolated(repos: Repos) -> Iterator[Repos]:
    """Point every storage at ``repos`` and refuse requests to any other endpoint (needs Django settings).

    Inside the block: the :data:`TARGET_SETTINGS` are the dev server's (or
    None), other ``BKREPO_*`` settings stay the project's; there are no
    ``BKREPO_*`` environment variables (a subprocess a test starts gets
    ``repos.settings()`` only if the test passes them); storages resolve their
    options afresh and Django's cached storages are built anew (on entry and
    on exit); and :data:`~bkstorages.client.endpoint_guard` refuses requests
    to any endpoint but the running dev servers. Storages given
    ``endpoint_url`` explicitly (keyword or ``STORAGES`` ``OPTIONS``) keep it
    and are refused; other explicit options (a bucket, credentials) are kept
    and sent to the dev server.
    """
    from django.test import override_settings

    overrides: dict[str, Any] = dict.fromkeys(TARGET_SETTINGS)
    overrides.update(repos.settings())
    with endpoint_guard.switched_on():
        saved = _replace_environment({})
        try:
            with override_settings(**overrides):
                fresh_storages()
                yield repos
        finally:
            _replace_environment(saved)
            fresh_storages()


def new_repos(server: DevServer, project: str | None = None) -> Repos:
    suffix = uuid.uuid4().hex[:12]
    return Repos(
        server=server,
        public=server.create_repo(f"pub-{suffix}", public=True, project=project),
        private=server.create_repo(f"priv-{suffix}", public=False, project=project),
        project_name=project,
    )


@dataclass
class LimitedUser:
    """A user with full rights on ``repo`` (private, in the server's project) and none elsewhere."""

    server: DevServer
    username: str
    password: str
    repo: str

    def settings(self) -> dict[str, Any]:
        """Django ``BKREPO_*`` settings that act as this user on its repository."""
        return {
            "BKREPO_ENDPOINT_URL": self.server.endpoint_url,
            "BKREPO_USERNAME": self.username,
            "BKREPO_PASSWORD": self.password,
            "BKREPO_PROJECT": self.server.project,
            "BKREPO_BUCKET": self.repo,
            "BKREPO_PRIVATE_BUCKET": self.repo,
        }


def new_limited_user(server: DevServer) -> LimitedUser:
    suffix = uuid.uuid4().hex[:12]
    repo = server.create_repo(f"limited-{suffix}", public=False)
    password = uuid.uuid4().hex
    return LimitedUser(server, server.create_user(f"user-{suffix}", password, repo=repo), password, repo)


if pytest is not None:

    def pytest_addoption(parser: Any) -> None:
        parser.addini(
            "bkrepo_isolate",
            type="bool",
            default=False,
            help="bkstorages: refuse storage requests to any endpoint other than the dev servers the tests start",
        )

    def pytest_configure(config: Any) -> None:
        if config.getini("bkrepo_isolate"):
            endpoint_guard.switch_on()
            config.add_cleanup(endpoint_guard.switch_off)

    @pytest.fixture(scope="session")
    def bkrepo_server() -> Iterator[DevServer]:
        """A dev server for the whole test session (temporary data dir, free port)."""
        with DevServer() as server:
            yield server

    @pytest.fixture
    def bkrepo_repos(bkrepo_server: DevServer) -> Repos:
        """A fresh public and private repository for this test."""
        return new_repos(bkrepo_server)

    @pytest.fixture
    def bkrepo_settings(bkrepo_repos: Repos) -> Iterator[Repos]:
        """Point every storage at this test's fresh repositories; refuse other endpoints (:func:`isolated`)."""
        with isolated(bkrepo_repos):
            yield bkrepo_repos

    @pytest.fixture
    def bkrepo_limited_user(bkrepo_server: DevServer) -> LimitedUser:
        """A user with full rights on one fresh private repository and no others."""
        return new_limited_user(bkrepo_server)

    @pytest.fixture
    def bkrepo_unshared_project(bkrepo_server: DevServer) -> Repos:
        """A fresh public and private repository in a fresh project whose share switch is off."""
        project = bkrepo_server.create_project(f"unshared_{uuid.uuid4().hex[:12]}", share=False)
        return new_repos(bkrepo_server, project)
