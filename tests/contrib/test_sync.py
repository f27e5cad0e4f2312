"""bkrepo_sync against the dev server: uploads, downloads, skips, deletes, failures and resuming."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from tests.contrib.conftest import read_tree, run, storages_setting, write_tree
from tests.faultproxy import FaultProxy

FILES = {
    "index.html": b"<h1>hello</h1>",
    "css/site.css": b"body { color: red }",
    "img/empty.txt": b"",
    "deep/er/still/data.bin": bytes(range(256)) * 100,
    "names/with space & é.txt": "non-ASCII ✓".encode(),
}


def remote_tree(alias: str = "default", prefix: str = "") -> dict[str, bytes]:
    storage = storages[alias]
    found: dict[str, bytes] = {}

    def walk(path: str) -> None:
        dirs, files = storage.listdir(path)
        for name in files:
            full = f"{path}/{name}".lstrip("/")
            with storage.open(full, "rb") as fh:
                found[full[len(prefix) :].lstrip("/")] = fh.read()
        for name in dirs:
            walk(f"{path}/{name}".lstrip("/"))

    walk(prefix)
    return found


def test_upload_then_nothing_to_do(bk: Any, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    first = run("bkrepo_sync", str(tmp_path), "bkrepo:site")
    assert "Uploaded 5 file(s)" in first.out
    assert "0 unchanged" in first.out
    assert "uploaded css/site.css" in first.out  # plain progress lines when not on a terminal
    assert remote_tree(prefix="site") == FILES

    second = run("bkrepo_sync", str(tmp_path), "bkrepo://site/")
    assert "Uploaded 0 file(s)" in second.out
    assert "5 unchanged" in second.out


def test_a_run_with_nothing_to_do_only_lists_the_tree_once(bk: Any, proxy: FaultProxy, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    run("bkrepo_sync", str(tmp_path), "bkrepo:site", storage="proxied")
    proxy.clear()
    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site", storage="proxied")
    assert "5 unchanged" in result.out
    # Sizes and sha256 of every file below site/ (six folders deep) come with one deep listing page:
    # no request per folder, none per file.
    assert [(seen.method, seen.path) for seen in proxy.seen] == [
        ("GET", f"/repository/api/node/page/{bk.project}/{bk.private}/site")
    ]


def test_upload_replaces_changed_files_of_the_same_size(bk: Any, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    run("bkrepo_sync", str(tmp_path), "bkrepo:site")
    write_tree(str(tmp_path), {"css/site.css": b"body { color: 0xf }"})  # same length, new content
    assert len(b"body { color: 0xf }") == len(FILES["css/site.css"])

    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site")
    assert "Uploaded 1 file(s)" in result.out
    assert "4 unchanged" in result.out
    assert remote_tree(prefix="site")["css/site.css"] == b"body { color: 0xf }"


def test_delete_removes_only_extras_under_the_path(bk: Any, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    run("bkrepo_sync", str(tmp_path), "bkrepo:site")
    storage = storages["default"]
    storage.save("site/old/stale.txt", ContentFile(b"stale"))
    storage.save("elsewhere.txt", ContentFile(b"keep me"))

    kept = run("bkrepo_sync", str(tmp_path), "bkrepo:site")
    assert "0 deleted" in kept.out
    assert storage.exists("site/old/stale.txt")

    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site", delete=True)
    assert "1 deleted" in result.out
    assert not storage.exists("site/old/stale.txt")
    assert storage.exists("elsewhere.txt")
    assert remote_tree(prefix="site") == FILES


def test_dry_run_changes_nothing(bk: Any, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    storage = storages["default"]
    storage.save("site/extra.txt", ContentFile(b"extra"))
    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site", delete=True, dry_run=True)
    assert "would upload css/site.css (19 B) [new]" in result.out
    assert "would delete extra.txt" in result.out
    assert "Dry run: 5 to upload, 0 unchanged, 1 to delete" in result.out
    assert remote_tree(prefix="site") == {"extra.txt": b"extra"}


def test_download_and_resync(bk: Any, tmp_path: Path) -> None:
    source, target = tmp_path / "source", tmp_path / "target"
    write_tree(str(source), FILES)
    run("bkrepo_sync", str(source), "bkrepo:site")

    first = run("bkrepo_sync", "bkrepo:site", str(target))
    assert "Downloaded 5 file(s)" in first.out
    assert read_tree(str(target)) == FILES

    write_tree(str(target), {"index.html": b"edited locally", "local-only.txt": b"x"})
    second = run("bkrepo_sync", "bkrepo:site", str(target), delete=True)
    assert "Downloaded 1 file(s)" in second.out
    assert "4 unchanged" in second.out
    assert "1 deleted" in second.out
    assert read_tree(str(target)) == FILES


def test_many_files_with_workers(bk: Any, tmp_path: Path) -> None:
    many = {f"batch/{i:03d}.txt": f"file {i}".encode() * (i + 1) for i in range(30)}
    write_tree(str(tmp_path), many)
    result = run("bkrepo_sync", str(tmp_path), "bkrepo:", workers=8)
    assert "Uploaded 30 file(s)" in result.out
    assert remote_tree() == many


def test_failures_give_a_non_zero_exit_and_a_rerun_finishes(bk: Any, proxy: FaultProxy, tmp_path: Path) -> None:
    write_tree(str(tmp_path), FILES)
    proxy.add_fault("error", method="PUT", path_regex=r"/site/css/site\.css", status=403, times=None)
    err = io.StringIO()
    with pytest.raises(CommandError, match="1 file"):
        call_command("bkrepo_sync", str(tmp_path), "bkrepo:site", storage="proxied", stdout=io.StringIO(), stderr=err)
    assert "css/site.css" in err.getvalue()
    proxy.clear()

    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site", storage="proxied")
    assert "Uploaded 1 file(s)" in result.out
    assert "4 unchanged" in result.out
    assert proxy.count("PUT", r"/generic/") == 1
    assert remote_tree(prefix="site") == FILES


def test_interrupted_sync_resumes_without_resending(bk: Any, proxy: FaultProxy, tmp_path: Path) -> None:
    """Ctrl-C in the middle of a real run, then the same command again."""
    files = {f"part/{i:02d}.txt": f"content {i}".encode() for i in range(8)}
    write_tree(str(tmp_path), files)
    # The fifth upload hangs, so the process is surely in the middle of the job when it is interrupted.
    proxy.add_fault("stall", method="PUT", path_regex=r"/part/04\.txt", seconds=30)
    env = {
        **os.environ,
        **bk.server.env(),
        "BKREPO_BUCKET": bk.private,
        "BKREPO_ENDPOINT_URL": proxy.url,
        "DJANGO_SETTINGS_MODULE": "tests.contrib.settings_bkrepo",
        "PYTHONUNBUFFERED": "1",
    }
    process = subprocess.Popen(
        [sys.executable, "-m", "django", "bkrepo_sync", str(tmp_path), "bkrepo:site", "--workers", "1"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    deadline = time.monotonic() + 30
    while proxy.count("PUT", r"/part/04\.txt") == 0:
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "the sync never reached the fifth file"
        time.sleep(0.05)
    process.send_signal(signal.SIGINT)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 130, (out, err)
    assert b"Interrupted" in err
    sent_before = {seen.path for seen in proxy.seen if seen.method == "PUT"}
    assert len(sent_before) == 5

    proxy.clear()
    result = run("bkrepo_sync", str(tmp_path), "bkrepo:site", storage="proxied")
    # The stalled upload reached the server before its answer was held back, so it may count as done.
    resent = {seen.path.rsplit("/", 1)[-1] for seen in proxy.seen if seen.method == "PUT"}
    assert {"05.txt", "06.txt", "07.txt"} <= resent <= {"04.txt", "05.txt", "06.txt", "07.txt"}
    assert f"Uploaded {len(resent)} file(s)" in result.out
    assert f"{8 - len(resent)} unchanged" in result.out
    assert remote_tree(prefix="site") == files


def test_argument_errors(bk: Any, tmp_path: Path) -> None:
    with pytest.raises(CommandError, match="Exactly one"):
        run("bkrepo_sync", str(tmp_path), str(tmp_path))
    with pytest.raises(CommandError, match="Exactly one"):
        run("bkrepo_sync", "bkrepo:a", "bkrepo:b")
    with pytest.raises(CommandError, match="--workers"):
        run("bkrepo_sync", str(tmp_path), "bkrepo:a", workers=0)
    with pytest.raises(CommandError, match="not a directory"):
        run("bkrepo_sync", str(tmp_path / "missing"), "bkrepo:a")
    with pytest.raises(CommandError, match="No storage 'nope'"):
        run("bkrepo_sync", str(tmp_path), "bkrepo:a", storage="nope")


def test_storage_with_a_location(bk: Any, tmp_path: Path) -> None:
    """Paths are relative to the storage's location, like every storage name."""
    located = {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"location": "media"}}
    with override_settings(STORAGES=storages_setting(located=located)):
        write_tree(str(tmp_path / "up"), FILES)
        result = run("bkrepo_sync", str(tmp_path / "up"), "bkrepo:", storage="located")
        assert "Uploaded 5 file(s)" in result.out
        assert remote_tree(prefix="media") == FILES  # seen from the storage without a location
        again = run("bkrepo_sync", str(tmp_path / "up"), "bkrepo:", storage="located")
        assert "5 unchanged" in again.out
        down = run("bkrepo_sync", "bkrepo:css", str(tmp_path / "down"), storage="located")
        assert "Downloaded 1 file(s)" in down.out
        assert read_tree(str(tmp_path / "down")) == {"site.css": FILES["css/site.css"]}
