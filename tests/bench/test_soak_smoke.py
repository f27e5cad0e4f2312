"""Keeps the soak script alive: three seconds of it with small files (``make soak`` is the real run)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO_DIR = Path(__file__).resolve().parents[2]


def test_a_short_soak_runs_clean(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    args = ["--threads", "4", "--seconds", "3", "--max-size", "65536", "--json", str(out)]
    done = subprocess.run(
        [sys.executable, str(REPO_DIR / "bench" / "soak.py"), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    result = json.loads(out.read_text("utf-8"))
    assert result["errors"] == {}
    assert result["wrong"] == {}
    assert set(result["operations"]) == {"save", "read", "exists", "size", "listdir", "url", "delete"}
    assert result["total_ops"] == sum(item["count"] for item in result["operations"].values())
    for usage in (result["server_before"], result["server_after"]):
        assert usage["fds"] > 0
        assert usage["rss_kib"] > 0
    assert "operations done:" in done.stdout
    assert "server descriptors:" in done.stdout
