"""Sphinx configuration of the bkstorages documentation (``make docs``).

The reference pages are written from the code by the directives in
``_ext/bkstorages_docs.py`` and autodoc, so the docs import bkstorages from
this checkout with a minimal Django configuration.
"""

from __future__ import annotations

import sys
from pathlib import Path

import django
from django.conf import settings
from sphinx.application import Sphinx

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path[:0] = [str(ROOT), str(DOCS / "_ext")]

if not settings.configured:
    settings.configure(
        INSTALLED_APPS=["django.contrib.contenttypes", "django.contrib.staticfiles", "bkstorages_contrib"],
        USE_TZ=True,
    )
django.setup()

import bkstorages  # noqa: E402 - after sys.path and Django are ready

project = "bkstorages"
author = "Tencent BlueKing"
copyright = "Tencent BlueKing"
release = bkstorages.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.extlinks",
    "sphinxarg.ext",
    "myst_parser",
    "bkstorages_docs",
]

source_suffix = {".rst": "restructuredtext"}
exclude_patterns = ["_build"]
root_doc = "index"
nitpicky = True

# Types from other projects that the docs do not describe (no network at build time, so no intersphinx).
nitpick_ignore_regex = [
    ("py:class", r"(django|requests|datetime|collections|typing|types|pathlib|_io|io|os|pytest)\..*"),
    ("py:class", r"(Any|BinaryIO|IO|Iterator|Iterable|Mapping|Sequence|Callable|Path|TracebackType)(\[.*\])?"),
    # Django's classes, named as the modules import them.
    ("py:class", r"(Storage|HttpRequest|JsonResponse|SafeString)"),
    ("py:class", r"(bytes|str|int|float|bool|dict|list|tuple|object|type|None)"),
    ("py:exc", r"(django|requests)\..*"),
    # Typing protocols of bkstorages.files: what a storage must offer its file objects.
    ("py:class", r"(bkstorages\.files\.)?(RemoteStore|Reader)"),
]

autodoc_member_order = "bysource"
autodoc_typehints = "description"
autodoc_typehints_format = "short"
autodoc_default_options = {"show-inheritance": True}

extlinks = {
    "django": ("https://docs.djangoproject.com/en/stable/%s", "%s"),
    "repo": ("https://github.com/TencentBlueKing/bkpaas-python-sdk/blob/master/sdks/bkstorages/%s", "%s"),
}

myst_enable_extensions = ["colon_fence"]

html_theme = "furo"
html_title = f"bkstorages {release}"
html_show_sourcelink = False
html_copy_source = False
html_static_path = ["_static"]
html_css_files = ["bkstorages.css"]

# bench/results.md starts its sections at "##": they become sections of the page that includes it.
suppress_warnings = ["myst.header"]


def skip_member(app: object, what: str, name: str, obj: object, skip: bool, options: object) -> bool | None:
    """The API page lists what the storages add to Django's: skip Django's own methods and the options."""
    from django.core.files.storage import Storage

    if type(obj).__name__ == "resolved":  # an option, on the settings page
        return True
    if hasattr(Storage, name) and name not in {"url", "open"}:
        return True
    return None


def setup(app: Sphinx) -> None:
    app.connect("autodoc-skip-member", skip_member)
