"""Fixtures for the sandbox site's tests.

``site`` points the sandbox's storages at fresh dev-server repositories
(through ``bkrepo_settings``) and gives the test the sandbox's URLs,
templates, middleware and ``STORAGES``. Overriding ``STORAGES`` also makes
Django drop the storages it built for earlier tests.
"""

from collections.abc import Iterator
from io import BytesIO
from typing import Any

import pytest
from django.test import override_settings
from PIL import Image

from sandbox_project import settings as sandbox_settings

# Short enough to wait out in a test, long enough to use the link first.
SHORT_LINK_SECONDS = 2
MAX_UPLOAD_BYTES = 64 * 1024


@pytest.fixture
def site(bkrepo_settings: Any, db: None) -> Iterator[Any]:
    """The sandbox site on fresh public and private repositories; returns ``bkrepo_settings``."""
    with override_settings(
        ROOT_URLCONF=sandbox_settings.ROOT_URLCONF,
        TEMPLATES=sandbox_settings.TEMPLATES,
        MIDDLEWARE=sandbox_settings.MIDDLEWARE,
        STORAGES=sandbox_settings.STORAGES,
        SANDBOX_SHORT_LINK_SECONDS=SHORT_LINK_SECONDS,
        SANDBOX_MAX_UPLOAD_BYTES=MAX_UPLOAD_BYTES,
    ):
        yield bkrepo_settings


def png_bytes(width: int = 32, height: int = 20, color: tuple[int, int, int] = (40, 120, 200)) -> bytes:
    """A small, valid PNG image."""
    buffer = BytesIO()
    Image.new("RGB", (width, height), color).save(buffer, format="PNG")
    return buffer.getvalue()
