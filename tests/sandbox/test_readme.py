"""Every code block in README.rst and in the docs/ pages runs here, so the examples cannot rot.

Python blocks of one document run in order in one namespace, against fresh
dev-server repositories: settings blocks become Django settings for the blocks
after them, ``test_*`` functions are called with the fixture they name, and
each block listed in ``CHECKS`` has its result checked. Console blocks are
checked command by command; a command nobody knows how to check fails the test.
"""

import ast
import configparser
import contextlib
import inspect
import io
import os
import re
import shlex
import subprocess
import sys
import textwrap
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import django
import pytest
import requests
from django.apps import apps
from django.core.files.base import ContentFile
from django.core.files.storage import Storage, default_storage, storages
from django.test import override_settings
from django.utils.module_loading import import_string
from docutils.core import publish_doctree

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from bkstorages_contrib.staticfiles import BKRepoManifestStaticStorage
from bkstorages_contrib.testing import new_limited_user
from tests.sandbox.runner import REPO_DIR

README = REPO_DIR / "README.rst"
# The documents whose code blocks run: the README (PyPI's page) and every page of the docs.
DOCUMENTS = [README, *sorted(path for path in (REPO_DIR / "docs").rglob("*.rst") if "_build" not in path.parts)]
# Models defined by example blocks join the sandbox's app, so that Django can register them.
EXAMPLE_MODULE = "sandbox_project.gallery.readme_example"


@dataclass
class Block:
    language: str
    code: str
    line: int
    document: str = "README.rst"

    @property
    def where(self) -> str:
        return f"{self.document} line {self.line}"


def code_blocks(text: str, document: str = "README.rst") -> list[Block]:
    """The ``.. code-block::`` directives of an RST document, dedented."""
    lines = text.splitlines()
    blocks = []
    for number, line in enumerate(lines):
        match = re.match(r"^(\s*)\.\. code-block::\s*(\S+)\s*$", line)
        if not match:
            continue
        indent = len(match.group(1))
        body = []
        for following in lines[number + 1 :]:
            if following.strip() and len(following) - len(following.lstrip()) <= indent:
                break
            body.append(following)
        code = textwrap.dedent("\n".join(body)).strip("\n")
        assert code, f"{document} line {number + 1}: an empty code block"
        assert not code.startswith(":"), f"{document} line {number + 1}: code-block options are not supported"
        blocks.append(Block(match.group(2), code + "\n", number + 1, document))
    return blocks


def document_name(path: Path) -> str:
    return path.relative_to(REPO_DIR).as_posix()


BLOCKS_BY_DOCUMENT = {
    document_name(path): code_blocks(path.read_text(encoding="utf-8"), document_name(path)) for path in DOCUMENTS
}
BLOCKS = [block for blocks in BLOCKS_BY_DOCUMENT.values() for block in blocks]


@pytest.mark.parametrize("document", DOCUMENTS, ids=document_name)
def test_every_code_block_is_one_we_run(document: Path) -> None:
    assert {block.language for block in BLOCKS_BY_DOCUMENT[document_name(document)]} <= {"python", "console"}
    # A literal block ("::") would escape these tests: write ".. code-block::" instead.
    literal = [
        number + 1
        for number, line in enumerate(document.read_text(encoding="utf-8").splitlines())
        if line.rstrip().endswith("::") and ".. " not in line
    ]
    assert literal == []


def test_the_examples_are_many_and_the_docs_have_them() -> None:
    assert len([block for block in BLOCKS if block.language == "python"]) >= 10
    assert len(DOCUMENTS) > 10
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 300


def test_the_readme_renders_without_warnings() -> None:
    """PyPI shows README.rst as the long description; docutils must accept every line of it."""
    warnings = io.StringIO()
    publish_doctree(
        README.read_text(encoding="utf-8"),
        settings_overrides={"report_level": 2, "halt_level": 5, "warning_stream": warnings},
    )
    assert warnings.getvalue() == ""


def test_the_readme_links_are_absolute() -> None:
    """PyPI cannot follow links relative to the repository."""
    targets = re.findall(r"<([^>]+)>`_", README.read_text(encoding="utf-8"))
    assert targets
    assert [target for target in targets if not target.startswith("https://")] == []


# --- console blocks ---------------------------------------------------------


def setup_cfg() -> configparser.ConfigParser:
    parser = configparser.ConfigParser()
    parser.read(REPO_DIR / "setup.cfg")
    return parser


@dataclass
class Shell:
    """Where console commands of one block run: a scratch folder and the dev server's environment."""

    cwd: Path
    env: dict[str, str]


def check_make(args: list[str], shell: Shell) -> None:
    makefile = (REPO_DIR / "Makefile").read_text()
    for target in args:
        assert re.search(rf"^{re.escape(target)}:", makefile, re.MULTILINE), f"no make target {target!r}"


def check_pip(args: list[str], shell: Shell) -> None:
    assert args[0] == "install"
    config = setup_cfg()
    for requirement in args[1:]:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)(?:\[([a-z,]+)\])?", requirement)
        assert match, requirement
        assert match.group(1) == config["metadata"]["name"]
        for extra in filter(None, (match.group(2) or "").split(",")):
            assert extra in config["options.extras_require"], f"no extra {extra!r} in setup.cfg"


def check_python(args: list[str], shell: Shell) -> None:
    if args[0] == "manage.py":
        check_manage(args[1:], shell)
    else:
        check_devserver(args, shell)


def check_manage(args: list[str], shell: Shell) -> None:
    """Run a management command in the sandbox project, on this test's repositories."""
    (shell.cwd / "media").mkdir(exist_ok=True)
    (shell.cwd / "media" / "hello.txt").write_bytes(b"Hello from media")
    result = subprocess.run(
        [sys.executable, str(REPO_DIR / "sandbox_project" / "manage.py"), *args],
        cwd=shell.cwd,
        env=shell.env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    if args[0] == "bkrepo_ls":
        assert "hello.txt" in result.stdout


def check_devserver(args: list[str], shell: Shell) -> None:
    """Start the dev server with the README's options (on a free port and a scratch data dir), then stop it."""
    assert args[:2] == ["-m", "bkstorages_contrib.devserver"]
    options = args[2:]
    for option, value in (("--port", "0"), ("--data", str(shell.cwd / "bkrepo-data"))):
        assert option in options
        options[options.index(option) + 1] = value
    server = subprocess.Popen(
        [sys.executable, "-m", "bkstorages_contrib.devserver", *options],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert server.stdout is not None
        first = server.stdout.readline()
        assert first.startswith("export BKREPO_ENDPOINT_URL=")
        endpoint = shlex.split(first.partition("=")[2])[0]
        # The default project and public bucket exist: a missing file there is a plain 404.
        assert requests.get(f"{endpoint}/generic/bkstorages/public/missing.txt", timeout=10).status_code == 404
    finally:
        server.terminate()
        assert server.wait(timeout=30) == 0


COMMANDS: dict[str, Callable[[list[str], Shell], None]] = {
    "make": check_make,
    "pip": check_pip,
    "python": check_python,
}


@pytest.mark.parametrize(
    "block",
    [block for block in BLOCKS if block.language == "console"],
    ids=lambda block: f"{block.document}:{block.line}",
)
def test_console_block(block: Block, tmp_path: Path, bkrepo_repos: Any) -> None:
    commands = [line[2:] for line in block.code.splitlines() if line.startswith("$ ")]
    assert commands, "a console block shows commands as '$ command'"
    env = {key: value for key, value in os.environ.items() if not key.startswith(("BKREPO_", "SANDBOX_"))}
    env.update(bkrepo_repos.settings())
    env.update(DJANGO_SETTINGS_MODULE="sandbox_project.settings", SANDBOX_DATA_DIR=str(tmp_path / "site"))
    shell = Shell(tmp_path, env)
    for command in commands:
        program, *args = shlex.split(command)
        assert program in COMMANDS, f"{block.where}: nothing checks {command!r}"
        COMMANDS[program](args, shell)


# --- python blocks ----------------------------------------------------------


def fetch(url: str) -> bytes:
    response = requests.get(url, timeout=10)
    response.raise_for_status()
    return response.content


def roundtrip(storage: Storage, name: str = "readme/check.txt") -> None:
    saved = storage.save(name, ContentFile(b"check"))
    try:
        assert fetch(storage.url(saved)) == b"check"
    finally:
        storage.delete(saved)


def check_settings(ns: dict[str, Any], value: Any) -> None:
    assert ns["BKREPO_BUCKET"]
    assert ns["BKREPO_PASSWORD"]


def check_default_file_storage(ns: dict[str, Any], value: Any) -> None:
    assert issubclass(import_string(ns["DEFAULT_FILE_STORAGE"]), BKRepoStorage)
    if django.VERSION < (5, 1):  # the setting only exists there
        roundtrip(default_storage)
        assert type(default_storage._wrapped) is BKRepoStorage


def check_storages(ns: dict[str, Any], value: Any) -> None:
    assert type(storages["default"]) is BKRepoStorage
    assert type(storages["public"]) is BKRepoPublicStorage
    assert type(storages["private"]) is BKRepoPrivateStorage
    for alias in ("default", "public", "private"):
        roundtrip(storages[alias])
    assert "token=" in storages["private"].url("any.txt")
    assert "token=" not in storages["public"].url("any.txt")
    # file_overwrite=False: a second file under the same name gets a new name.
    first = storages["private"].save("same.txt", ContentFile(b"1"))
    second = storages["private"].save("same.txt", ContentFile(b"2"))
    assert first == "same.txt" != second


def check_static(ns: dict[str, Any], value: Any) -> None:
    static = storages["staticfiles"]
    assert type(static) is BKRepoManifestStaticStorage
    name = static.save("css/site.css", ContentFile(b"body { color: black; }"))
    try:
        with override_settings(DEBUG=True):  # the plain name: no manifest before collectstatic
            url = static.url(name)
        assert "/static/css/site.css" in url
        assert "token=" not in url
        assert fetch(url) == b"body { color: black; }"
    finally:
        static.delete(name)


def check_hello(ns: dict[str, Any], value: Any) -> None:
    assert value == "test/hello"  # a leading "/" is the bucket root, as the README says
    with ns["storage"].open("test/hello") as saved:
        assert saved.read() == b"Hello, RGW!"


def check_temp_file(ns: dict[str, Any], value: Any) -> None:
    assert ns["storage"].size("test/temp_file.txt") == len(b"Temp file")


def check_url(ns: dict[str, Any], value: Any) -> None:
    assert isinstance(value, str)
    assert fetch(value) == b"Temp file"


def check_listdir(ns: dict[str, Any], value: Any) -> None:
    assert value == ([], ["hello", "temp_file.txt"])


def check_delete(ns: dict[str, Any], value: Any) -> None:
    assert not ns["storage"].exists("test/temp_file.txt")
    assert ns["storage"].listdir("/test") == ([], ["hello"])


def check_profile(ns: dict[str, Any], value: Any) -> None:
    profile = ns["Profile"]
    avatar = profile._meta.get_field("avatar").storage
    resume = profile._meta.get_field("resume").storage
    assert type(avatar) is BKRepoPublicStorage
    assert type(resume) is BKRepoPrivateStorage
    assert "password" not in repr(profile._meta.get_field("resume").deconstruct()).lower()
    roundtrip(avatar)
    roundtrip(resume)


def check_dev_server(ns: dict[str, Any], value: Any) -> None:
    url = ns["printed"].strip()
    assert url.startswith("http://127.0.0.1:")
    assert url.endswith("hello.txt")


# Each key is a line of one block; the check runs right after that block.
CHECKS: dict[str, Callable[[dict[str, Any], Any], None]] = {
    "BKREPO_PROJECT = os.environ['BKREPO_PROJECT']": check_settings,
    "DEFAULT_FILE_STORAGE = 'bkstorages.backends.bkrepo.BKRepoStorage'": check_default_file_storage,
    '"OPTIONS": {"url_expire_seconds": 600, "file_overwrite": False},': check_storages,
    '"staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoManifestStaticStorage"},': check_static,
    "storage.save(u'/test/hello', f)": check_hello,
    "storage.save(u'/test/temp_file.txt', f)": check_temp_file,
    "storage.url('/test/temp_file.txt')": check_url,
    "storage.listdir('/test')": check_listdir,
    "storage.delete('/test/temp_file.txt')": check_delete,
    "class Profile(models.Model):": check_profile,
    "with DevServer() as server:": check_dev_server,
}


def check_private_link(ns: dict[str, Any], value: Any) -> None:
    assert "token=" in ns["link"]
    assert fetch(ns["link"]) == b"month,total\n"


CHECKS["link = private.url(name)  # a signed link, valid for 600 seconds"] = check_private_link


def test_every_check_belongs_to_a_block() -> None:
    """A check whose line no document shows anymore would silently stop running."""
    lines = {line.strip() for block in BLOCKS if block.language == "python" for line in block.code.splitlines()}
    assert set(CHECKS) <= lines


def run_block(block: Block, ns: dict[str, Any]) -> Any:
    """Run a block like an interactive session: the value of a final expression is returned."""
    tree = ast.parse(block.code)
    last = tree.body.pop() if tree.body and isinstance(tree.body[-1], ast.Expr) else None
    # Line numbers of tracebacks point into the document.
    ast.increment_lineno(tree, block.line + 1)
    exec(compile(tree, block.document, "exec"), ns)  # noqa: S102 - the documents' own examples
    if last is None:
        return None
    expression = ast.Expression(last.value)
    ast.increment_lineno(expression, block.line + 1)
    return eval(compile(expression, block.document, "eval"), ns)  # noqa: S307


PYTHON_DOCUMENTS = [
    document for document, blocks in BLOCKS_BY_DOCUMENT.items() if any(block.language == "python" for block in blocks)
]


# The docs show DEFAULT_FILE_STORAGE for Django 4.2, which warns that it is deprecated.
@pytest.mark.filterwarnings("ignore:The DEFAULT_FILE_STORAGE setting is deprecated")
@pytest.mark.parametrize("document", PYTHON_DOCUMENTS)
def test_python_blocks(document: str, bkrepo_settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    server = bkrepo_settings.server
    for name, value in server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("BKREPO_BUCKET", bkrepo_settings.private)
    monkeypatch.setenv("BKREPO_PRIVATE_BUCKET", bkrepo_settings.private)
    monkeypatch.setenv("BKREPO_PUBLIC_BUCKET", bkrepo_settings.public)

    ns: dict[str, Any] = {"__name__": EXAMPLE_MODULE}
    fixtures: dict[str, Callable[[], Any]] = {
        "bkrepo_settings": lambda: bkrepo_settings,
        "bkrepo_limited_user": lambda: new_limited_user(server),
    }
    blocks = [block for block in BLOCKS_BY_DOCUMENT[document] if block.language == "python"]
    expected = {key for key in CHECKS for block in blocks if key in {line.strip() for line in block.code.splitlines()}}
    seen = set()
    defined_tests = set()
    try:
        with contextlib.ExitStack() as stack:
            for block in blocks:
                before = dict(ns)
                printed = io.StringIO()
                with contextlib.redirect_stdout(printed):
                    value = run_block(block, ns)
                ns["printed"] = printed.getvalue()
                new_settings = {
                    name: value for name, value in ns.items() if name.isupper() and before.get(name, ns) is not value
                }
                if new_settings and (django.VERSION >= (5, 1)):
                    new_settings.pop("DEFAULT_FILE_STORAGE", None)  # removed in Django 5.1
                if new_settings:
                    stack.enter_context(override_settings(**new_settings))
                for name in sorted(set(ns) - set(before)):
                    if name.startswith("test_") and callable(ns[name]):
                        defined_tests.add(name)
                        wanted = inspect.signature(ns[name]).parameters
                        ns[name](**{fixture: fixtures[fixture]() for fixture in wanted})
                        seen.add(name)
                for key, check in CHECKS.items():
                    if any(line.strip() == key for line in block.code.splitlines()):
                        check(ns, value)
                        seen.add(key)
    finally:
        for name, model in list(apps.all_models["gallery"].items()):
            if model.__module__ == EXAMPLE_MODULE:
                del apps.all_models["gallery"][name]
        apps.clear_cache()
    assert expected | defined_tests <= seen
