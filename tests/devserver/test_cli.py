"""The command line: export lines, free ports, clean stops, persistent data."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from bkstorages_contrib.testing import DevServer, Repos, new_repos


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "bkstorages_contrib.devserver", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_print_env_defaults() -> None:
    result = run_cli("--print-env")
    assert result.returncode == 0
    assert result.stdout.splitlines() == [
        "export BKREPO_ENDPOINT_URL=http://127.0.0.1:8765",
        "export BKREPO_USERNAME=admin",
        "export BKREPO_PASSWORD=blueking",
        "export BKREPO_PROJECT=bkstorages",
        "export BKREPO_BUCKET=private",
        "export BKREPO_PUBLIC_BUCKET=public",
        "export BKREPO_PRIVATE_BUCKET=private",
    ]


def test_print_env_options_are_shell_quoted(tmp_path: Path) -> None:
    result = run_cli(
        "--print-env",
        "--port",
        "9000",
        "--project",
        "demo",
        "--username",
        "me",
        "--password",
        "it's secret",
        "--public-bucket",
        "pub",
        "--private-bucket",
        "priv",
        "--data",
        str(tmp_path / "unused"),
    )
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert "export BKREPO_ENDPOINT_URL=http://127.0.0.1:9000" in lines
    assert "export BKREPO_PASSWORD='it'\"'\"'s secret'" in lines
    assert "export BKREPO_BUCKET=priv" in lines
    assert "export BKREPO_PUBLIC_BUCKET=pub" in lines
    assert not (tmp_path / "unused").exists()


@pytest.mark.parametrize("stop_signal", [signal.SIGTERM, signal.SIGINT])
def test_free_port_and_clean_stop(tmp_path: Path, stop_signal: signal.Signals) -> None:
    process = subprocess.Popen(
        [sys.executable, "-m", "bkstorages_contrib.devserver", "--port", "0", "--data", str(tmp_path), "--quiet"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline().strip() for _ in range(7)]
        endpoint = lines[0].removeprefix("export BKREPO_ENDPOINT_URL=")
        assert endpoint.startswith("http://127.0.0.1:")
        assert not endpoint.endswith(":0")
        response = requests.get(f"{endpoint}/repository/api/repo/info/bkstorages/public/GENERIC", timeout=30)
        assert response.json()["data"]["public"] is True
        process.send_signal(stop_signal)
        assert process.wait(15) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert process.stderr is not None
    errors = process.stderr.read()
    assert "Traceback" not in errors
    assert "blueking" not in errors


def test_data_persists_and_secrets_stay_out_of_logs(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path, password="s3cret-pass") as server:
        auth = (server.username, server.password)
        url = f"{server.endpoint_url}/generic/{server.project}/{server.private_bucket}/kept.txt"
        assert requests.put(url, data=b"kept", auth=auth, timeout=30).status_code == 200
        create = {
            "projectId": server.project,
            "repoName": server.private_bucket,
            "fullPathSet": ["/kept.txt"],
            "type": "DOWNLOAD",
        }
        made = requests.post(
            f"{server.endpoint_url}/generic/temporary/url/create", json=create, auth=auth, timeout=30
        ).json()
        token_url = made["data"][0]["url"]
        assert requests.get(token_url, timeout=30).content == b"kept"
        requests.get(url, auth=(server.username, "wrong-password"), timeout=30)
        time.sleep(0.1)
        log = server.log_path.read_text()
    assert "s3cret-pass" not in log
    assert "wrong-password" not in log
    assert token_url.rsplit("token=", 1)[1] not in log
    assert "/generic/temporary/download/" in log  # the request itself is logged
    with DevServer(data_dir=tmp_path, password="s3cret-pass") as again:
        url = f"{again.endpoint_url}/generic/{again.project}/{again.private_bucket}/kept.txt"
        assert requests.get(url, auth=(again.username, again.password), timeout=30).content == b"kept"


def test_public_flag_of_default_buckets(bkrepo_server: DevServer) -> None:
    base = f"{bkrepo_server.endpoint_url}/repository/api/repo/info/{bkrepo_server.project}"
    auth = (bkrepo_server.username, bkrepo_server.password)
    public = requests.get(f"{base}/{bkrepo_server.public_bucket}/GENERIC", auth=auth, timeout=30).json()
    private = requests.get(f"{base}/{bkrepo_server.private_bucket}/GENERIC", auth=auth, timeout=30).json()
    assert public["data"]["public"] is True
    assert private["data"]["public"] is False


def test_env_of_the_context_manager(bkrepo_server: DevServer) -> None:
    env = bkrepo_server.env()
    assert env["BKREPO_ENDPOINT_URL"] == bkrepo_server.endpoint_url
    assert env["BKREPO_BUCKET"] == env["BKREPO_PRIVATE_BUCKET"] == bkrepo_server.private_bucket
    assert env["BKREPO_PUBLIC_BUCKET"] == bkrepo_server.public_bucket
    assert set(env) == {
        "BKREPO_ENDPOINT_URL",
        "BKREPO_USERNAME",
        "BKREPO_PASSWORD",
        "BKREPO_PROJECT",
        "BKREPO_BUCKET",
        "BKREPO_PUBLIC_BUCKET",
        "BKREPO_PRIVATE_BUCKET",
    }


def test_bkrepo_settings_fixture(bkrepo_settings: Repos) -> None:
    from django.conf import settings

    assert bkrepo_settings.server.endpoint_url == settings.BKREPO_ENDPOINT_URL
    assert bkrepo_settings.private == settings.BKREPO_BUCKET
    assert bkrepo_settings.private == settings.BKREPO_PRIVATE_BUCKET
    assert bkrepo_settings.public == settings.BKREPO_PUBLIC_BUCKET
    assert bkrepo_settings.server.project == settings.BKREPO_PROJECT
    assert bkrepo_settings.public != bkrepo_settings.private


def test_repos_are_fresh_per_test(bkrepo_repos: Repos, bkrepo_server: DevServer) -> None:
    other = new_repos(bkrepo_server)
    assert {other.public, other.private}.isdisjoint({bkrepo_repos.public, bkrepo_repos.private})
    assert bkrepo_repos.server is bkrepo_server


def test_restart_sweeps_orphan_blobs_and_temp_files(tmp_path: Path) -> None:
    with DevServer(data_dir=tmp_path) as server:
        url = f"{server.endpoint_url}/generic/{server.project}/{server.private_bucket}/kept.bin"
        kept = requests.put(url, data=b"kept", auth=(server.username, server.password), timeout=30).json()
    digest = kept["data"]["sha256"]
    kept_blob = tmp_path / "blobs" / digest[:2] / digest[2:4] / digest
    orphan = tmp_path / "blobs" / "ab" / "cd" / ("abcd" + "0" * 60)
    orphan.parent.mkdir(parents=True, exist_ok=True)
    orphan.write_bytes(b"left by a crash before the commit")
    leftover = tmp_path / "tmp" / "half-received.part"
    leftover.write_bytes(b"half")
    with DevServer(data_dir=tmp_path) as again:
        url = f"{again.endpoint_url}/generic/{again.project}/{again.private_bucket}/kept.bin"
        assert requests.get(url, auth=(again.username, again.password), timeout=30).content == b"kept"
    assert kept_blob.exists()
    assert not orphan.exists()
    assert not leftover.exists()


def test_port_in_use_is_a_plain_message(bkrepo_server: DevServer, tmp_path: Path) -> None:
    result = run_cli("--port", str(bkrepo_server.port), "--data", str(tmp_path))
    assert result.returncode == 2
    assert f"Cannot listen on 127.0.0.1:{bkrepo_server.port}" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_missing_http_server_names_the_extra(tmp_path: Path) -> None:
    # As if cheroot were not installed: importing it fails.
    code = (
        "import sys; sys.modules['cheroot'] = None\n"
        "from bkstorages_contrib.devserver.__main__ import main\n"
        f"sys.exit(main(['--port', '0', '--data', {str(tmp_path / 'data')!r}]))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=False)
    assert result.returncode == 2
    assert "pip install 'bkstorages[devserver]'" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("option", ["--threads", "--max-connections", "--header-timeout", "--max-header-size"])
def test_limits_must_be_positive(option: str, tmp_path: Path) -> None:
    result = run_cli(option, "0", "--data", str(tmp_path))
    assert result.returncode == 2
    assert f"{option} must be positive" in result.stderr
