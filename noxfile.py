"""The supported Python x Django matrix: ``make test-matrix`` (or ``nox -s tests``).

Every session installs the project with its dev dependency group and one Django series,
then runs the same pytest suite as ``make test`` (arguments after ``--`` go to
pytest, e.g. ``nox -s "tests(3.10-django4.2)" -- tests/storage``).

Interpreters come from the machine: ``python3.X`` on PATH when it runs, else
pyenv's newest ``3.X.*`` (pyenv's shims only answer for the selected
versions, so the binaries are looked up directly). A missing interpreter is
an error, never a silent skip.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import nox

nox.options.error_on_missing_interpreters = True
nox.options.reuse_existing_virtualenvs = True

DJANGO_SERIES = {
    "4.2": "Django>=4.2,<5.0",
    "5.2": "Django>=5.2,<5.3",
    "6.0": "Django>=6.0,<6.1",
    "6.1": "Django>=6.1,<6.2",
}
PYTHONS = ("3.10", "3.11", "3.12", "3.13")


def interpreter(version: str) -> str:
    """A runnable interpreter for Python ``version`` (a name nox finds, or a path)."""
    name = f"python{version}"
    found = shutil.which(name)
    if found and subprocess.run([found, "-c", ""], capture_output=True, check=False).returncode == 0:  # noqa: S603
        return name
    versions = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv")) / "versions"

    def patch_level(path: Path) -> int:
        match = re.fullmatch(rf"{re.escape(version)}\.(\d+)", path.parent.parent.name)
        return int(match.group(1)) if match else -1

    candidates = [path for path in versions.glob(f"{version}.*/bin/{name}") if patch_level(path) >= 0]
    if candidates:
        return str(max(candidates, key=patch_level))
    return name


# Django 6.x needs Python 3.12 or newer.
MATRIX = [
    nox.param(interpreter(python), django, id=f"{python}-django{django}")
    for python in PYTHONS
    for django in DJANGO_SERIES
    if not (django.startswith("6.") and python in ("3.10", "3.11"))
]


@nox.session
@nox.parametrize(("python", "django"), MATRIX)
def tests(session: nox.Session, django: str) -> None:
    # The dev dependency group needs pip 25.1 or newer.
    session.install("--upgrade", "pip")
    session.install("-e", ".[contrib,devserver]", "--group", "dev", DJANGO_SERIES[django])
    session.run("python", "-m", "pytest", *session.posargs)
