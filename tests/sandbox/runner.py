"""Start ``scripts/sandbox.sh`` (what ``make sandbox`` runs) as a child process and stop it like Ctrl-C does."""

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping
from pathlib import Path

import requests

REPO_DIR = Path(__file__).resolve().parents[2]
SCRIPT = REPO_DIR / "scripts" / "sandbox.sh"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


class SandboxProcess:
    """``scripts/sandbox.sh`` in its own process group, its output collected in ``self.output``."""

    def __init__(self, env: Mapping[str, str], data_dir: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.data_dir = data_dir
        self.lines: list[str] = []
        full_env = {key: value for key, value in os.environ.items() if not key.startswith(("BKREPO_", "SANDBOX_"))}
        full_env.update(
            {
                "VENV": str(Path(sys.executable).parent.parent),
                "SANDBOX_PORT": str(self.port),
                "SANDBOX_DATA_DIR": str(data_dir),
                "PYTHONUNBUFFERED": "1",
                **env,
            }
        )
        self.process = subprocess.Popen(
            ["bash", str(SCRIPT)],
            cwd=REPO_DIR,
            env=full_env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            start_new_session=True,
        )
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line.rstrip("\n"))

    @property
    def output(self) -> str:
        return "\n".join(self.lines)

    def wait_until_serving(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise AssertionError(f"the sandbox exited early:\n{self.output}")
            try:
                if requests.get(self.url + "/", timeout=2).status_code == 200:
                    return
            except requests.ConnectionError:
                pass
            time.sleep(0.2)
        raise AssertionError(f"the sandbox did not answer within {timeout} s:\n{self.output}")

    def interrupt(self, timeout: float = 30) -> int:
        """Send SIGINT to the whole process group, as Ctrl-C in a terminal does, and wait."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            code = self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            raise AssertionError(f"the sandbox did not stop on SIGINT:\n{self.output}") from None
        self._reader.join(timeout=5)
        return code
