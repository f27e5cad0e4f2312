"""The published artifacts, built once per test session from a copy of this checkout."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_DIR = Path(__file__).resolve().parents[2]
# Local state that is neither source nor something a build may create.
IGNORED = shutil.ignore_patterns(
    ".git", ".venv", ".venv-*", ".nox", ".tox", ".sandbox", "*_cache", "__pycache__", "*.egg-info", "build", "dist"
)
SKIPPED_DIRS = {".venv-anchor", ".data", ".artifacts", "_build"}


def snapshot(root: Path) -> dict[str, int]:
    """Every file and folder under ``root`` with its size (folders: -1)."""
    found = {}
    for directory, dirnames, filenames in os.walk(root):
        base = Path(directory)
        for name in dirnames:
            found[str((base / name).relative_to(root))] = -1
        for name in filenames:
            path = base / name
            found[str(path.relative_to(root))] = path.stat().st_size
    return found


@dataclass
class Artifacts:
    """The copy built from, its files before the build, and the sdist and wheel."""

    copy: Path
    before: dict[str, int]
    sdist: Path
    wheel: Path


@pytest.fixture(scope="session")
def artifacts(tmp_path_factory: pytest.TempPathFactory) -> Artifacts:
    copy = tmp_path_factory.mktemp("checkout") / "bkstorages"
    shutil.copytree(
        REPO_DIR, copy, ignore=lambda d, names: set(IGNORED(d, names)) | (SKIPPED_DIRS & set(names)), symlinks=True
    )
    before = snapshot(copy)
    out = tmp_path_factory.mktemp("dist")
    # --no-isolation: the build backend comes from the dev requirements, so no download is needed.
    result = subprocess.run(
        [sys.executable, "-m", "build", "--no-isolation", "--outdir", str(out), str(copy)],
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    [sdist] = out.glob("*.tar.gz")
    [wheel] = out.glob("*.whl")
    return Artifacts(copy, before, sdist, wheel)
