# ruff: noqa: E501 - the user guide is quoted verbatim, long lines included
"""The examples of the bkstorages user documentation, run verbatim against the dev server.

The code blocks below are copied character for character from the user guide
("How to Use bkstorages"); the test runs them in order in one namespace.
"""

from __future__ import annotations

from typing import Any

import django
import pytest
import requests
from django.test import override_settings

CONFIGURATION = """
import os

# BKREPO related configuration information, the corresponding configuration will be automatically added to the environment variables after enabling enhanced services
# In addition to the `BKREPO_BUCKET` variable, you can also obtain repository configuration through two other environment variables
# Public repository: BKREPO_PUBLIC_BUCKET
# Private repository: BKREPO_PRIVATE_BUCKET
BKREPO_BUCKET = os.environ['BKREPO_BUCKET']
BKREPO_ENDPOINT_URL = os.environ['BKREPO_ENDPOINT_URL']
BKREPO_USERNAME = os.environ['BKREPO_USERNAME']
BKREPO_PASSWORD = os.environ['BKREPO_PASSWORD']
BKREPO_PROJECT = os.environ['BKREPO_PROJECT']
"""

DEFAULT_STORAGE = """
DEFAULT_FILE_STORAGE = 'bkstorages.backends.bkrepo.BKRepoStorage'
"""

EXAMPLES = [
    """
from bkstorages.backends.bkrepo import BKRepoStorage

storage = BKRepoStorage()
""",
    """
# The content of the file must be a string (bytes) rather than text (text). To ensure compatibility between Python2 and Python3,
# it is recommended to use Django's utility function for conversion first.
from django.utils.encoding import force_bytes
content = force_bytes('Hello, RGW!')

# Using ContentFile
from django.core.files.base import ContentFile
f = ContentFile(content)
storage.save(u'/test/hello', f)
""",
    """
from tempfile import NamedTemporaryFile
from django.core.files import File
from django.utils.encoding import force_bytes

with NamedTemporaryFile() as fp:
    fp.write(force_bytes('Temp file'))
    fp.flush()

    f = File(fp)
    storage.save(u'/test/temp_file.txt', f)
""",
    """
# For public repositories, the file link returned by `storage.url` is permanently available
# For private repositories, the file link returned by `storage.url` is a temporary link, which will become inaccessible when the access credentials in the link expire
storage.url('/test/temp_file.txt')
""",
    """
storage.listdir('/test')
""",
    """
storage.delete('/test/temp_file.txt')
""",
]


@pytest.mark.parametrize("bucket", ["BKREPO_PRIVATE_BUCKET", "BKREPO_PUBLIC_BUCKET"])
def test_the_user_guide_works_verbatim(bkrepo_repos: Any, monkeypatch: pytest.MonkeyPatch, bucket: str) -> None:
    env = bkrepo_repos.settings()
    env["BKREPO_BUCKET"] = env[bucket]  # the guide: BKREPO_BUCKET may name either kind
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    settings_namespace: dict[str, Any] = {}
    exec(CONFIGURATION, settings_namespace)  # noqa: S102 - the documented settings module
    configured = {name: value for name, value in settings_namespace.items() if name.startswith("BKREPO_")}
    if django.VERSION < (5, 1):
        exec(DEFAULT_STORAGE, settings_namespace)  # noqa: S102
        configured["DEFAULT_FILE_STORAGE"] = settings_namespace["DEFAULT_FILE_STORAGE"]
    namespace: dict[str, Any] = {}
    results = []
    with override_settings(**configured):
        for example in EXAMPLES:
            results.append(eval_last(example, namespace))
            if len(results) == 4:  # the URL works while the file exists
                assert requests.get(results[3], timeout=10).content == b"Temp file"
    storage = namespace["storage"]
    assert results[1] == "test/hello"  # save() of '/test/hello' names it from the bucket root
    assert results[2] is None  # a with block; listdir below shows what it saved
    url = results[3]
    assert ("token=" in url) is (bucket == "BKREPO_PRIVATE_BUCKET")
    assert results[4] == ([], ["hello", "temp_file.txt"])
    assert results[5] is None
    with override_settings(**configured):
        assert storage.listdir("/test") == ([], ["hello"])
        assert storage.open("/test/hello").read() == b"Hello, RGW!"


def eval_last(code: str, namespace: dict[str, Any]) -> Any:
    """Run a block like an interactive session would and return its last expression's value."""
    import ast

    tree = ast.parse(code)
    last = tree.body[-1]
    if isinstance(last, ast.Expr):
        exec(compile(ast.Module(tree.body[:-1], type_ignores=[]), "<docs>", "exec"), namespace)  # noqa: S102
        return eval(compile(ast.Expression(last.value), "<docs>", "eval"), namespace)  # noqa: S307
    exec(compile(tree, "<docs>", "exec"), namespace)  # noqa: S102
    return None
