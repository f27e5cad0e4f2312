"""The documentation builds with warnings as errors, and its generated pages cover the code.

``make test`` runs these, so a broken reference, a setting nobody documented
or a check id missing from the docs fails CI. The build goes to a temporary
directory (never over ``docs/_build``) in a subprocess, because the docs'
``conf.py`` configures Django on its own.
"""

from __future__ import annotations

import html
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import django
import pytest

from bkstorages import conf
from bkstorages_contrib.devserver.__main__ import build_parser

REPO_DIR = Path(__file__).resolve().parents[2]
DOCS = REPO_DIR / "docs"
SOURCES = [REPO_DIR / "bkstorages", REPO_DIR / "bkstorages_contrib"]


@dataclass
class Site:
    root: Path

    def page(self, name: str) -> str:
        return (self.root / name).read_text(encoding="utf-8")

    def text(self, name: str) -> str:
        """A page's words without tags, as a reader sees them."""
        return html.unescape(re.sub(r"<[^>]+>", "", self.page(name)))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Site:
    out = tmp_path_factory.mktemp("docs") / "html"
    # The options of `make docs`: warnings are errors, unresolved references too, a fresh build.
    command = ["-W", "--keep-going", "-n", "-E", "-a", "-q", "-b", "html", str(DOCS), str(out)]
    result = subprocess.run(
        [sys.executable, "-m", "sphinx", *command],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stderr == ""  # -q: only warnings would be printed
    return Site(out)


def names_in_code(pattern: str) -> set[str]:
    found: set[str] = set()
    for folder in SOURCES:
        for path in folder.rglob("*.py"):
            found.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return found


def test_every_setting_is_in_the_settings_reference(site: Site) -> None:
    settings = names_in_code(r"\bBKREPO_[A-Z][A-Z_]*[A-Z]\b")
    assert {"BKREPO_ENDPOINT_URL", "BKREPO_PUBLIC_BUCKET", "BKREPO_STATIC_LOCATION"} <= settings
    page = site.page("reference/settings.html")
    # Each setting has its own anchor (".. setting::"), so other pages can link to it.
    missing = [name for name in sorted(settings) if f'id="std-setting-{name}"' not in page]
    assert missing == []


def test_every_option_has_its_keyword_type_and_default(site: Site) -> None:
    page = site.page("reference/settings.html")
    for option in conf.OPTIONS:
        # The option's own section: from its anchor to the next section.
        section = page.split(f'id="option-{option.name.replace("_", "-")}"', 1)[1].split("<section", 1)[0]
        facts = re.sub(r"\s+", "", html.unescape(re.sub(r"<[^>]+>", "", section)))
        assert f"Keyword{option.name}" in facts, option.name
        for alias in option.aliases:
            assert alias in facts, alias
        assert "Type" in facts
        if option.default not in (None, ""):
            assert f"Default{option.default!r}".replace("'", '"') in facts, option.name


def test_every_check_id_is_documented(site: Site) -> None:
    from bkstorages_contrib.checks import CHECKS

    ids = names_in_code(r"\bbkstorages\.[EW]\d{3}\b")
    assert {"bkstorages.E001", "bkstorages.W001"} <= ids
    assert ids == {check.id for check in CHECKS}
    page = site.page("reference/checks.html")
    text = site.text("reference/checks.html")
    for check in CHECKS:
        assert f'id="std-check-{check.id}"' in page, check.id
        if check.since <= django.VERSION:
            # The message the check gave for its example, as manage.py check prints it.
            assert f"?: ({check.id})" in text, check.id


def test_every_dev_server_option_is_documented(site: Site) -> None:
    text = site.text("reference/devserver.html")
    actions = build_parser()._actions
    options = [option for action in actions for option in action.option_strings if option not in {"-h", "--help"}]
    assert "--port" in options
    assert [option for option in options if option not in text] == []


def test_the_performance_page_shows_the_last_benchmark_run(site: Site) -> None:
    results = (REPO_DIR / "bench" / "results.md").read_text(encoding="utf-8")
    first_line = results.splitlines()[2]  # the run: date, commit, machine
    commit = re.search(r"commit `([0-9a-f]+)`", first_line)
    assert commit
    text = site.text("performance.html")
    assert commit.group(1) in text
    rows = [line for line in results.splitlines() if line.startswith("| download 1 GiB |")]
    assert rows
    for cell in rows[0].strip("|").split("|")[1:4]:
        assert cell.strip() in text
    assert (site.root / "_images" / "results.png").read_bytes() == (REPO_DIR / "bench" / "results.png").read_bytes()


def test_the_changelog_and_upgrade_guide_are_there(site: Site) -> None:
    changelog = (REPO_DIR / "CHANGELOG.rst").read_text(encoding="utf-8")
    versions = re.findall(r"^(\d+\.\d+\.\d+)\n-+$", changelog, re.MULTILINE)
    assert versions
    text = site.text("changelog.html")
    assert all(version in text for version in versions)
    assert "Upgrading from bkstorages 3.x" in site.text("upgrading.html")


def test_the_exceptions_and_the_api_come_from_the_docstrings(site: Site) -> None:
    from bkstorages import exceptions

    text = site.text("reference/exceptions.html")
    for name in exceptions.__all__:
        assert name in text, name
    api = site.text("reference/api.html")
    for name in ("BKRepoStorage", "BKRepoPublicStorage", "BKRepoPrivateStorage", "DevServer", "BKGenericRepoClient"):
        assert name in api, name


def test_every_dev_server_route_is_documented(site: Site) -> None:
    from bkstorages_contrib.devserver.app import ROUTES

    text = site.text("reference/devserver.html")
    assert len(ROUTES) > 5
    for route in ROUTES:
        # The literal start of each path, e.g. "/generic/temporary/upload/".
        prefix = re.match(r"[\w/]*", route.pattern.pattern)
        assert prefix is not None
        assert prefix.group(0) in text, route.pattern.pattern
        for handler in route.methods.values():
            assert f"{handler.__module__.rsplit('.', 1)[-1]}.{handler.__name__}" in text, handler


def test_every_management_command_option_is_documented(site: Site) -> None:
    from django.core.management import BaseCommand, get_commands, load_command_class

    text = site.text("commands.html")
    commands = sorted(name for name, app in get_commands().items() if app == "bkstorages_contrib")
    assert "bkrepo_sync" in commands
    for name in commands:
        assert f"python manage.py {name}" in text, name
        parser = load_command_class("bkstorages_contrib", name).create_parser("manage.py", name)
        common = BaseCommand().create_parser("manage.py", name)._actions
        own = {option for action in parser._actions for option in action.option_strings}
        own -= {option for action in common for option in action.option_strings}
        assert own
        assert [option for option in sorted(own) if option not in text] == [], name


def test_the_reliability_page_names_tests_that_exist() -> None:
    """Each row of the fault table names its tests in tests/faults/ (a bare name is in the file named before it)."""
    page = (DOCS / "reliability.rst").read_text(encoding="utf-8")
    names = re.findall(r"``(test_\w+\.py)?(?:::)?(test_\w+)?``", page)
    assert len(names) > 30
    missing = []
    current = None
    for file_name, test_name in names:
        if file_name:
            current = REPO_DIR / "tests" / "faults" / file_name
            if not current.is_file():
                missing.append(file_name)
                continue
        if test_name:
            assert current is not None, test_name
            if not re.search(rf"^def {test_name}\(", current.read_text(encoding="utf-8"), re.MULTILINE):
                missing.append(f"{current.name}::{test_name}")
    assert missing == []


def test_the_api_page_lists_what_the_storages_add_to_django(site: Site) -> None:
    import inspect

    from django.core.files.storage import Storage

    from bkstorages.backends.base import RemoteStorage

    page = site.page("reference/api.html")
    # RemoteStorage and its parts (the link and option mixins), down to Django's Storage.
    own_classes = RemoteStorage.__mro__[: RemoteStorage.__mro__.index(Storage)]
    added = [
        name
        for cls in own_classes
        for name, member in vars(cls).items()
        if not name.startswith("_")
        and not hasattr(Storage, name)
        and (inspect.isfunction(member) or isinstance(member, property))
        and member.__doc__
    ]
    assert {"stat", "urls"} <= set(added)
    assert [name for name in added if f'id="bkstorages.backends.base.RemoteStorage.{name}"' not in page] == []


def test_the_reliability_page_shows_the_recorded_soak(site: Site) -> None:
    import json

    soak = json.loads((REPO_DIR / "bench" / "soak.json").read_text(encoding="utf-8"))
    text = site.text("reliability.html")
    assert f"{soak['total_ops']:,} operations" in text
    assert f"on commit {soak['run']['commit']}" in text
    for operation, figures in soak["operations"].items():
        assert f"{operation}{figures['count']:,}{figures['p50_ms']}{figures['p99_ms']}" in re.sub(r"\s+", "", text)
