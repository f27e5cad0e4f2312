"""Django models on bk-repo: FileField, ImageField (Pillow), forms, migrations."""

from __future__ import annotations

import io
import os
from collections.abc import Iterator
from typing import Any

import django
import pytest
import requests
from django import forms
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.management import call_command
from django.db import models
from django.test import override_settings
from django.test.utils import isolate_apps
from PIL import Image

from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
from tests.faultproxy import FaultProxy
from tests.models_app.models import Document, Picture

BACKEND = "bkstorages.backends.bkrepo."
CLASS_NAMES = ["BKRepoStorage", "BKRepoPublicStorage", "BKRepoPrivateStorage"]


def png_bytes(width: int, height: int, noise: bool = False) -> bytes:
    if noise:
        image = Image.frombytes("RGB", (width, height), os.urandom(width * height * 3))
    else:
        image = Image.new("RGB", (width, height), (200, 30, 30))
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


@pytest.fixture(params=CLASS_NAMES)
def default_bkrepo(request: pytest.FixtureRequest, bkrepo_settings: Any) -> Iterator[Any]:
    """Django's default storage is the bkstorages class under test (the usual set-up)."""
    if django.VERSION < (5, 1):  # the 4.2 way: DEFAULT_FILE_STORAGE (deprecated, still supported)
        with override_settings(DEFAULT_FILE_STORAGE=BACKEND + request.param):
            yield bkrepo_settings
    else:
        with override_settings(STORAGES={"default": {"BACKEND": BACKEND + request.param}}):
            yield bkrepo_settings


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "file"]


@pytest.mark.django_db
def test_model_form_round_trip(default_bkrepo: Any) -> None:
    assert isinstance(default_storage, BKRepoStorage)
    upload = SimpleUploadedFile("report final.pdf", b"%PDF-1.4 tiny", content_type="application/pdf")
    form = DocumentForm(data={"title": "t"}, files={"file": upload})
    assert form.is_valid(), form.errors
    document = form.save()
    name = document.file.name
    assert name.startswith("docs/")
    assert name.endswith("report_final.pdf")
    reloaded = Document.objects.get(pk=document.pk)
    assert reloaded.file.size == len(b"%PDF-1.4 tiny")
    with reloaded.file.open("rb") as fh:
        assert fh.read() == b"%PDF-1.4 tiny"
    assert requests.get(reloaded.file.url, timeout=10).content == b"%PDF-1.4 tiny"
    reloaded.file.delete(save=True)
    assert not default_storage.exists(name)
    assert Document.objects.get(pk=document.pk).file.name == ""


@pytest.mark.django_db
def test_long_upload_names_are_truncated_to_max_length(default_bkrepo: Any) -> None:
    document = Document(title="long")
    document.file.save("x" * 150 + ".txt", ContentFile(b"long"), save=True)
    assert len(document.file.name) <= 100
    assert document.file.read() == b"long"


@pytest.mark.django_db
def test_image_field_dimensions(default_bkrepo: Any) -> None:
    picture = Picture()
    picture.image.save("red.png", ContentFile(png_bytes(37, 21), name="red.png"), save=True)
    assert (picture.width, picture.height) == (37, 21)
    reloaded = Picture.objects.get(pk=picture.pk)
    assert (reloaded.width, reloaded.height) == (37, 21)
    assert (reloaded.image.width, reloaded.image.height) == (37, 21)


@pytest.mark.django_db
def test_image_dimensions_read_only_the_header(bkrepo_settings: Any, proxy: FaultProxy) -> None:
    big = png_bytes(1500, 1500, noise=True)  # several MiB
    # Settings rather than OPTIONS: Django 4.2's override_settings(STORAGES=...) drops the default's OPTIONS.
    with override_settings(
        BKREPO_ENDPOINT_URL=proxy.url,
        BKREPO_BUCKET=bkrepo_settings.public,
        STORAGES={"default": {"BACKEND": BACKEND + "BKRepoStorage"}},
    ):
        picture = Picture()
        picture.image.save("noise.png", ContentFile(big, name="noise.png"), save=True)
        stored = Picture.objects.get(pk=picture.pk)
        stored.width = stored.height = None
        proxy.reset_counts()
        with stored.image.open("rb") as fh:
            from django.core.files.images import get_image_dimensions

            assert get_image_dimensions(fh) == (1500, 1500)
            # Reading the header was a single streaming GET from byte 0 that
            # stopped after the header: far less than the object came over.
            assert proxy.count("GET") == 1
            assert fh.tell() == 0
            assert fh.file.file.raw.tell() <= 256 * 1024
            assert fh.read(8) == big[:8]  # from the read buffer
        assert proxy.count("GET") == 1
        assert len(big) > 4 * 1024 * 1024


@isolate_apps("tests.models_app")
def test_fields_with_storage_instances(bkrepo_settings: Any) -> None:
    class Avatar(models.Model):
        image = models.ImageField(storage=BKRepoPrivateStorage(), width_field="w", height_field="h")
        attachment = models.FileField(storage=BKRepoPublicStorage())
        w = models.IntegerField(null=True)
        h = models.IntegerField(null=True)

        class Meta:
            app_label = "models_app"

    avatar = Avatar()
    avatar.image.save("face.png", ContentFile(png_bytes(8, 9), name="face.png"), save=False)
    avatar.attachment.save("cv.txt", ContentFile(b"cv"), save=False)
    assert (avatar.w, avatar.h) == (8, 9)
    assert "token=" in avatar.image.url
    assert requests.get(avatar.image.url, timeout=10).content == png_bytes(8, 9)
    assert avatar.attachment.url.endswith("/cv.txt")
    assert requests.get(avatar.attachment.url, timeout=10).content == b"cv"


@pytest.mark.django_db
def test_migrations_are_current_and_hold_no_secrets() -> None:
    call_command("makemigrations", "models_app", "--check", "--dry-run", "--skip-checks", verbosity=0)
    from tests.models_app import migrations

    path = os.path.join(os.path.dirname(migrations.__file__), "0001_initial.py")
    with open(path, encoding="utf-8") as fh:
        text = fh.read()
    assert "storage=tests.models_app.models.document_storage" in text
    assert "password" not in text.lower()
