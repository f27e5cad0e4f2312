"""The dev server goes away with the process that started it, however that process ends."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import psutil

PARENT = """
import json, sys, time
from bkstorages_contrib.testing import DevServer

server = DevServer().start()
print(json.dumps({"pid": server.process.pid, "work_dir": str(server._work_dir), "data_dir": str(server.data_dir)}))
sys.stdout.flush()
time.sleep(600)
"""


def wait_until(condition, seconds: float = 30) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_a_killed_parent_takes_its_dev_server_and_temp_data_along(tmp_path: Path) -> None:
    root = str(Path(__file__).resolve().parents[2])
    parent = subprocess.Popen([sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True, cwd=root)
    try:
        assert parent.stdout is not None
        started = json.loads(parent.stdout.readline())
        server = psutil.Process(started["pid"])
        work_dir = Path(started["work_dir"])
        assert server.is_running()
        assert Path(started["data_dir"]).is_dir()
        parent.kill()  # SIGKILL where there are signals: no cleanup code runs in the parent
        parent.wait()
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()

    def server_gone() -> bool:
        return not server.is_running() or server.status() == psutil.STATUS_ZOMBIE

    try:
        assert wait_until(server_gone), "the dev server outlived its parent"
    finally:
        if not server_gone():
            server.kill()
    assert wait_until(lambda: not work_dir.exists()), "the dev server left its temporary data behind"
