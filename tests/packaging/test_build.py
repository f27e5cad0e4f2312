"""The published artifacts: ``python -m build`` of a copy of this checkout.

The sdist and the wheel are built once per session (``artifacts`` in this
folder's conftest.py), into a folder outside the copy; the copy must look
exactly as before (no ``build/``, no ``*.egg-info``).
"""

from __future__ import annotations

import email.parser
import tarfile
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from email.message import Message
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version

import bkstorages
from tests.packaging.conftest import REPO_DIR, Artifacts, snapshot


@dataclass
class Built:
    copy: Path
    before: dict[str, int]
    sdist: tarfile.TarFile
    wheel: zipfile.ZipFile
    sdist_root: str

    def metadata(self) -> Message:
        [name] = [name for name in self.wheel.namelist() if name.endswith(".dist-info/METADATA")]
        return email.parser.Parser().parsestr(self.wheel.read(name).decode())


@pytest.fixture(scope="module")
def built(artifacts: Artifacts) -> Iterator[Built]:
    with tarfile.open(artifacts.sdist) as sdist, zipfile.ZipFile(artifacts.wheel) as wheel:
        yield Built(artifacts.copy, artifacts.before, sdist, wheel, artifacts.sdist.name.removesuffix(".tar.gz"))


def test_building_leaves_the_checkout_as_it_was(built: Built) -> None:
    after = snapshot(built.copy)
    assert sorted(set(after) - set(built.before)) == []
    assert after == built.before


def test_the_license_is_in_the_sdist_and_the_wheel(built: Built) -> None:
    license_text = (REPO_DIR / "LICENSE").read_bytes()
    assert b"MIT License" in license_text
    sdist_license = built.sdist.extractfile(f"{built.sdist_root}/LICENSE")
    assert sdist_license is not None
    assert sdist_license.read() == license_text
    [wheel_license] = [name for name in built.wheel.namelist() if name.endswith(".dist-info/licenses/LICENSE")]
    assert built.wheel.read(wheel_license) == license_text
    assert built.metadata()["License-Expression"] == "MIT"


def test_the_sdist_holds_what_the_tests_need(built: Built) -> None:
    names = set(built.sdist.getnames())
    for needed in (
        "LICENSE",
        "CHANGELOG.rst",
        "README.rst",
        "Makefile",
        "noxfile.py",
        "pyproject.toml",
        "setup.cfg",
        "setup.py",
        "tests/conftest.py",
        "tests/packaging/test_build.py",
        "tests/faultproxy.py",
        "scripts/sandbox.sh",
        "sandbox_project/manage.py",
        "bench/run.py",
        "docs/conf.py",
        "docs/index.rst",
    ):
        assert f"{built.sdist_root}/{needed}" in names, needed
    assert not [name for name in names if "__pycache__" in name or name.endswith(".pyc")]


def test_metadata(built: Built) -> None:
    metadata = built.metadata()
    version = Version(metadata["Version"])
    assert str(version) == bkstorages.__version__
    assert not version.is_prerelease
    assert not version.is_devrelease
    classifiers = set(metadata.get_all("Classifier") or [])
    for python in ("3.10", "3.11", "3.12", "3.13"):
        assert f"Programming Language :: Python :: {python}" in classifiers
    for django in ("4.2", "5.2", "6.0", "6.1"):
        assert f"Framework :: Django :: {django}" in classifiers
    assert not {"Framework :: Django :: 5.0", "Framework :: Django :: 5.1"} & classifiers
    assert not [classifier for classifier in classifiers if classifier.startswith("License ::")]
    assert metadata["Requires-Python"] == ">=3.10"
    urls = dict(url.split(", ", 1) for url in metadata.get_all("Project-URL") or [])
    assert urls["Repository"] == "https://github.com/TencentBlueKing/bkpaas-python-sdk/"


def test_django_requirement_excludes_unsupported_series(built: Built) -> None:
    requirements = [Requirement(line) for line in built.metadata().get_all("Requires-Dist") or []]
    [django] = [requirement for requirement in requirements if requirement.name.lower() == "django"]
    for supported in ("4.2", "4.2.20", "5.2", "5.2.3", "6.0", "6.1"):
        assert django.specifier.contains(supported, prereleases=False), supported
    for unsupported in ("4.1.13", "5.0", "5.0.14", "5.1", "5.1.9"):
        assert not django.specifier.contains(unsupported), unsupported


def test_contributor_tools_are_not_published_extras(built: Built) -> None:
    metadata = built.metadata()
    extras = set(metadata.get_all("Provides-Extra") or [])
    assert "contrib" in extras
    assert not {"dev", "bench"} & extras
    requirements = [Requirement(line) for line in metadata.get_all("Requires-Dist") or []]
    names = {requirement.name.lower() for requirement in requirements}
    assert not {"pytest", "ruff", "mypy", "matplotlib", "build"} & names


def test_the_changelog_describes_this_version() -> None:
    changelog = (REPO_DIR / "CHANGELOG.rst").read_text(encoding="utf-8")
    assert f"\n{bkstorages.__version__}\n-----" in changelog
