"""The comparison anchor: bkstorages 3.1.0 from PyPI in its own virtualenv.

3.1.0 needs Python 3.11 or newer and Django 5.2, and it must never see this
checkout's ``bkstorages``, so it lives in ``bench/.venv-anchor`` and the
worker runs there with ``python -I``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

BENCH_DIR = Path(__file__).resolve().parent
REPO_DIR = BENCH_DIR.parent
ANCHOR_DIR = BENCH_DIR / ".venv-anchor"
ANCHOR_VERSION = "3.1.0"
ANCHOR_REQUIREMENTS = [f"bkstorages=={ANCHOR_VERSION}", "Django>=5.2,<5.3"]
STAMP = ANCHOR_DIR / ".installed"


def anchor_python() -> Path:
    return ANCHOR_DIR / "bin" / "python"


def installed_version() -> str | None:
    """The bkstorages version the anchor venv imports, or None if it cannot."""
    python = anchor_python()
    if not python.exists():
        return None
    probe = subprocess.run(
        [str(python), "-I", "-c", "import bkstorages, django, requests; print(bkstorages.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return probe.stdout.strip() if probe.returncode == 0 else None


def find_python() -> str:
    """A Python 3.11+ interpreter to build the anchor venv with."""
    for name in ("python3.11", "python3.12", "python3.13"):
        found = shutil.which(name)
        if found:
            return found
    if sys.version_info >= (3, 11):
        return sys.executable
    raise RuntimeError("bkstorages 3.1.0 needs Python 3.11 or newer: install python3.11 first")


def ensure_anchor(say: object = print) -> str:
    """Create ``bench/.venv-anchor`` with bkstorages 3.1.0 if needed; return its version."""
    log = say if callable(say) else print
    if STAMP.exists() and installed_version() == ANCHOR_VERSION:
        return ANCHOR_VERSION
    log(f"Creating {ANCHOR_DIR.relative_to(REPO_DIR)} with bkstorages {ANCHOR_VERSION} from PyPI")
    shutil.rmtree(ANCHOR_DIR, ignore_errors=True)
    subprocess.run(["bash", str(REPO_DIR / "scripts" / "make-venv.sh"), find_python(), str(ANCHOR_DIR)], check=True)
    pip = [str(anchor_python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, *ANCHOR_REQUIREMENTS], check=True)
    version = installed_version()
    if version != ANCHOR_VERSION:
        raise RuntimeError(f"the anchor venv imports bkstorages {version!r}, expected {ANCHOR_VERSION}")
    STAMP.write_text(ANCHOR_VERSION + "\n", encoding="utf-8")
    return version


if __name__ == "__main__":
    print(f"bkstorages {ensure_anchor()} ready in {ANCHOR_DIR}")
