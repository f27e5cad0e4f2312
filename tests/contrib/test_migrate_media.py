"""bkrepo_migrate_media: copy the files a site's FileField/ImageField columns name to bk-repo.

The rows belong to the sandbox's gallery models (installed in the test
settings); saving a row with a plain file name does not touch any storage.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, storages
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import override_settings

from sandbox_project.gallery.models import Photo, Upload
from tests.contrib.conftest import run, storages_setting
from tests.faultproxy import FaultProxy

pytestmark = pytest.mark.django_db

FILES = {
    "uploads/a.txt": b"first upload",
    "uploads/sub/b.bin": bytes(range(256)) * 64,
    "uploads/space é.txt": "non-ASCII ✓".encode(),
    "photos/p.png": b"\x89PNG\r\n\x1a\n not really an image",
}


class CorruptingStorage(FileSystemStorage):
    """A destination that stores something other than what it was given, to prove copies are verified."""

    def _save(self, name: str, content: Any) -> str:
        return super()._save(name, ContentFile(b"garbage"))


def old_storage(tmp_path: Path) -> dict[str, Any]:
    return {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "old")}}


@pytest.fixture
def site(bk: Any, tmp_path: Path) -> Any:
    """Old media on the local disk, rows that name them, and STORAGES['old'] pointing at that disk."""
    with override_settings(STORAGES=storages_setting(old=old_storage(tmp_path))):
        old = storages["old"]
        for name, content in FILES.items():
            assert old.save(name, ContentFile(content)) == name
        for name in ("uploads/a.txt", "uploads/sub/b.bin", "uploads/space é.txt", "uploads/missing.txt"):
            Upload.objects.create(file=name)
        Upload.objects.create(file="uploads/a.txt")  # two rows, one file
        Upload.objects.create(file="")  # no file at all
        Photo.objects.create(image="photos/p.png", width=1, height=1)  # known sizes: the image is not opened
        yield bk


def stored(alias: str, names: list[str]) -> dict[str, bytes]:
    storage = storages[alias]
    found = {}
    for name in names:
        with storage.open(name, "rb") as fh:
            found[name] = fh.read()
    return found


UPLOADS = {name: content for name, content in FILES.items() if name.startswith("uploads/")}
PHOTOS = {name: content for name, content in FILES.items() if name.startswith("photos/")}


def assert_migrated(default: str = "default") -> None:
    """Upload's files in the default storage; Photo's (a field on the public storage) in the public bucket only."""
    assert stored(default, list(UPLOADS)) == UPLOADS
    assert stored("public", list(PHOTOS)) == PHOTOS
    assert not storages["default"].exists("photos/p.png")


def test_copies_every_referenced_file_and_reports_missing_ones(site: Any) -> None:
    result = run("bkrepo_migrate_media", "--from", "old", "--model", "gallery")
    assert "Migrating 5 file(s)" in result.out
    assert "Copied 4 file(s)" in result.out
    assert "1 missing" in result.out
    assert "missing: uploads/missing.txt" in result.out
    assert "0 failed" in result.out
    assert_migrated()


def test_a_field_with_its_own_storage_gets_its_files_in_that_storage(site: Any) -> None:
    result = run("bkrepo_migrate_media", "--from", "old", "--model", "gallery.Photo")
    assert "gallery.Photo.image -> 'image.storage'" in result.out
    assert "Copied 1 file(s)" in result.out
    assert not storages["default"].exists("photos/p.png")
    photo = Photo.objects.get()
    with photo.image.open("rb") as fh:  # read back through the field, as the site does
        assert fh.read() == FILES["photos/p.png"]
    assert storages["public"].url("photos/p.png").endswith("/photos/p.png")


def test_the_source_may_be_a_storage_class_path(site: Any, tmp_path: Path) -> None:
    # A Django 4.2 site that used DEFAULT_FILE_STORAGE has no STORAGES alias for its old files.
    with override_settings(STORAGES=storages_setting(), MEDIA_ROOT=str(tmp_path / "old")):
        source = "django.core.files.storage.FileSystemStorage"
        result = run("bkrepo_migrate_media", "--from", source, "--model", "gallery")
        assert f"from {source!r}" in result.out
        assert "Copied 4 file(s)" in result.out
        assert "missing: uploads/missing.txt" in result.out
        assert_migrated()


def test_second_run_copies_nothing(site: Any) -> None:
    run("bkrepo_migrate_media", "--from", "old", "--to", "default", "--model", "gallery")
    again = run("bkrepo_migrate_media", "--from", "old", "--to", "default", "--model", "gallery")
    assert "Copied 0 file(s)" in again.out
    assert "4 already there" in again.out


def test_a_different_file_at_the_destination_is_replaced(site: Any) -> None:
    storages["default"].save("uploads/a.txt", ContentFile(b"something else entirely"))
    result = run("bkrepo_migrate_media", "--from", "old", "--model", "gallery.Upload")
    assert "Copied 3 file(s)" in result.out  # the photo is not selected
    assert stored("default", ["uploads/a.txt"]) == {"uploads/a.txt": FILES["uploads/a.txt"]}
    assert not storages["default"].exists("photos/p.png")


def test_failures_exit_non_zero_and_a_rerun_resumes(site: Any, proxy: FaultProxy, tmp_path: Path) -> None:
    with override_settings(STORAGES={**storages_setting(old=old_storage(tmp_path)), "proxied": _proxied(proxy)}):
        proxy.add_fault("error", method="PUT", path_regex=r"/uploads/sub/b\.bin", status=403, times=None)
        err = io.StringIO()
        with pytest.raises(CommandError, match="1 file"):
            call_command(
                "bkrepo_migrate_media",
                "--from",
                "old",
                "--to",
                "proxied",
                "--model",
                "gallery",
                stdout=io.StringIO(),
                stderr=err,
            )
        assert "uploads/sub/b.bin" in err.getvalue()
        proxy.clear()
        result = run("bkrepo_migrate_media", "--from", "old", "--to", "proxied", "--model", "gallery")
    assert "Copied 1 file(s)" in result.out
    assert "3 already there" in result.out
    assert proxy.count("PUT", r"/generic/") == 1
    assert_migrated()


def test_copies_are_verified(site: Any, tmp_path: Path) -> None:
    corrupt = {"BACKEND": f"{__name__}.CorruptingStorage", "OPTIONS": {"location": str(tmp_path / "bad")}}
    with override_settings(STORAGES=storages_setting(old=old_storage(tmp_path), bad=corrupt)):
        err = io.StringIO()
        with pytest.raises(CommandError, match="3 file"):  # the Upload files; Photo's go to its own storage
            call_command("bkrepo_migrate_media", "--from", "old", "--to", "bad", stdout=io.StringIO(), stderr=err)
        assert "verification failed" in err.getvalue()
        assert not storages["bad"].exists("uploads/a.txt")  # the bad copy is not left behind
        assert stored("public", list(PHOTOS)) == PHOTOS


def test_from_bkrepo_back_to_local_disk(site: Any, tmp_path: Path) -> None:
    run("bkrepo_migrate_media", "--from", "old", "--model", "gallery")
    back = {"BACKEND": "django.core.files.storage.FileSystemStorage", "OPTIONS": {"location": str(tmp_path / "back")}}
    with override_settings(STORAGES=storages_setting(back=back)):
        result = run("bkrepo_migrate_media", "--from", "default", "--to", "back", "--model", "gallery.Upload")
        assert "Copied 3 file(s)" in result.out
        assert stored("back", list(UPLOADS)) == UPLOADS


def test_dry_run_lists_the_fields(site: Any) -> None:
    result = run("bkrepo_migrate_media", "--from", "old", "--model", "gallery", "--dry-run")
    assert "gallery.Upload.file" in result.out
    assert "gallery.Photo.image" in result.out
    assert "nothing was copied" in result.out
    assert not storages["default"].exists("uploads/a.txt")


def test_argument_errors(site: Any) -> None:
    with pytest.raises(CommandError, match="same storage"):
        run("bkrepo_migrate_media", "--from", "default")
    with pytest.raises(CommandError, match="No storage 'nope'"):
        run("bkrepo_migrate_media", "--from", "nope")
    with pytest.raises(CommandError, match=r"No storage 'tests\.nope\.Storage': not a STORAGES alias"):
        run("bkrepo_migrate_media", "--from", "tests.nope.Storage")
    with pytest.raises(CommandError, match="not a storage class"):
        run("bkrepo_migrate_media", "--from", "django.utils.timezone.now")
    with pytest.raises(CommandError, match="No FileField"):
        run("bkrepo_migrate_media", "--from", "old", "--model", "auth")


def _proxied(proxy: FaultProxy) -> dict[str, Any]:
    return {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"endpoint_url": proxy.url}}
