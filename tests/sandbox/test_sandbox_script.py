"""``make sandbox`` end to end: it starts the dev server and the site, and Ctrl-C stops both."""

import socket
from pathlib import Path
from urllib.parse import urlsplit

import requests

from tests.sandbox.runner import SandboxProcess, port_is_open


def test_sandbox_starts_a_dev_server_and_stops_cleanly_on_ctrl_c(tmp_path: Path) -> None:
    data_dir = tmp_path / "sandbox-data"
    site = SandboxProcess({"SANDBOX_ADMIN_USER": "demo"}, data_dir)
    try:
        site.wait_until_serving()
        log = (data_dir / "devserver.log").read_text()
        endpoint = next(line for line in log.splitlines() if line.startswith("export BKREPO_ENDPOINT_URL="))
        endpoint_url = endpoint.split("=", 1)[1].strip("'\"")
        bkrepo_port = urlsplit(endpoint_url).port
        assert bkrepo_port is not None
        assert port_is_open(bkrepo_port)

        home = requests.get(site.url + "/", timeout=10).text
        assert endpoint_url in home
        password = (data_dir / "admin-password.txt").read_text().strip()
        assert f"as 'demo' with password {password}" in site.output
        assert (data_dir / "db.sqlite3").exists()
        assert (data_dir / "bkrepo").is_dir()
    finally:
        code = site.interrupt()
    assert code == 130
    assert "Stopped the site and the bk-repo dev server." in site.output
    assert not port_is_open(site.port)
    assert not port_is_open(bkrepo_port)


def test_sandbox_explains_missing_settings_for_a_real_bk_repo(tmp_path: Path) -> None:
    site = SandboxProcess({"BKREPO_ENDPOINT_URL": "http://127.0.0.1:9"}, tmp_path / "data")
    assert site.process.wait(timeout=30) == 1
    site.interrupt()
    assert "these are missing: BKREPO_USERNAME BKREPO_PASSWORD" in site.output


def test_sandbox_refuses_a_port_in_use_before_starting_anything(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        data_dir = tmp_path / "data"
        site = SandboxProcess({"SANDBOX_PORT": str(port)}, data_dir)
        try:
            code = site.process.wait(timeout=30)
        finally:
            site.interrupt()
    assert code == 1
    assert f"Port {port} is already in use" in site.output
    assert f"SANDBOX_PORT={port + 1} make sandbox" in site.output
    assert "The site runs at" not in site.output
    assert not (data_dir / "devserver.log").exists()  # no dev server was started
    assert not (data_dir / "db.sqlite3").exists()


def test_sandbox_redirect_mode_serves_downloads_from_a_second_origin(tmp_path: Path) -> None:
    from django.core.files.base import ContentFile

    from bkstorages.backends.bkrepo import BKRepoStorage

    data_dir = tmp_path / "sandbox-data"
    site = SandboxProcess({"SANDBOX_REDIRECT": "1"}, data_dir)
    try:
        site.wait_until_serving()
        log = (data_dir / "devserver.log").read_text()
        assert "# redirect targets on http://127.0.0.1:" in log
        env = dict(
            line.removeprefix("export ").split("=", 1) for line in log.splitlines() if line.startswith("export BKREPO_")
        )
        options = {key.removeprefix("BKREPO_").lower(): value.strip("'\"") for key, value in env.items()}
        storage = BKRepoStorage(
            endpoint_url=options["endpoint_url"],
            username=options["username"],
            password=options["password"],
            project=options["project"],
            bucket=options["private_bucket"],
        )
        name = storage.save("redirected.txt", ContentFile(b"served from the second origin"))
        raw = requests.get(
            f"{options['endpoint_url']}/generic/{options['project']}/{options['private_bucket']}/{name}",
            auth=(options["username"], options["password"]),
            allow_redirects=False,
            timeout=10,
        )
        assert raw.status_code == 302
        assert storage.open(name).read() == b"served from the second origin"
    finally:
        assert site.interrupt() == 130
