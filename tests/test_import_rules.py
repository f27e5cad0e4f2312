"""Import rules of the layout: the client never imports Django; backends/base.py knows no bk-repo client."""

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


def test_the_store_agnostic_storage_imports_nothing_from_the_client() -> None:
    import bkstorages.backends.base

    tree = ast.parse(Path(bkstorages.backends.base.__file__).read_text(encoding="utf-8"))
    imported = {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    imported |= {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    assert "bkstorages.sources" in imported
    assert not {name for name in imported if name.startswith("bkstorages.client")}


@pytest.mark.parametrize(
    "name",
    ["BKGenericRepoClient", "Deadline", "ObjectReader", "UploadSource", "encode_path", "DEFAULTS", "CHUNK_SIZE"],
)
def test_names_of_the_former_client_module_still_import(name: str) -> None:
    import bkstorages.client

    assert getattr(bkstorages.client, name) is not None
