"""Import rules of the layout: the client never imports Django; backends/base.py and its parts know no client."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest


def _modules_after(statement: str) -> set[str]:
    code = f"import sys; {statement}; print('\\n'.join(sorted(sys.modules)))"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return set(result.stdout.split())


def test_the_client_never_imports_django() -> None:
    modules = _modules_after("import bkstorages.client, bkstorages.sources")
    assert "bkstorages.client.transport" in modules
    assert not {name for name in modules if name == "django" or name.startswith("django.")}


def _imports_of(module: str) -> set[str]:
    import importlib

    tree = ast.parse(Path(importlib.import_module(module).__file__ or "").read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    return imported


def test_the_store_agnostic_storage_imports_nothing_from_the_client() -> None:
    imported = _imports_of("bkstorages.backends.base")
    assert "bkstorages.sources" in imported
    assert not {name for name in imported if name.startswith("bkstorages.client")}


@pytest.mark.parametrize(
    "module", ["bkstorages.backends.names", "bkstorages.backends.resolution", "bkstorages.backends.links"]
)
def test_the_parts_of_the_store_agnostic_storage_import_nothing_from_the_client(module: str) -> None:
    imported = _imports_of(module)
    assert imported, module
    assert not {name for name in imported if name.startswith(("bkstorages.client", "bkstorages.backends.bkrepo"))}


@pytest.mark.parametrize("module", ["bkstorages.options", "bkstorages.validation"])
def test_only_conf_reads_settings_and_the_environment(module: str) -> None:
    """The option table and the value checks read nothing; conf.py re-exports them."""
    imported = _imports_of(module)
    assert "typing" in imported
    assert "django.conf" not in imported
    assert "os" not in imported


def test_conf_re_exports_the_option_table_and_the_value_checks() -> None:
    from bkstorages import conf, options, validation

    assert conf.OPTIONS is options.OPTIONS
    assert conf.Option is options.Option
    assert conf.Problem is validation.Problem
    assert conf.check_value is validation.check_value


def test_clean_name_still_imports_from_the_storage_module() -> None:
    from bkstorages.backends import base, names

    assert base.clean_name is names.clean_name


@pytest.mark.parametrize(
    "name",
    ["BKGenericRepoClient", "Deadline", "ObjectReader", "UploadSource", "encode_path", "DEFAULTS", "CHUNK_SIZE"],
)
def test_names_of_the_former_client_module_still_import(name: str) -> None:
    import bkstorages.client

    assert getattr(bkstorages.client, name) is not None
