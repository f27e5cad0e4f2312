"""The sandbox site, page by page, with Django's test client and a real dev server."""

import time
from typing import Any
from urllib.parse import urlsplit

import pytest
import requests
from django.contrib.auth import get_user_model
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.test import Client
from django.urls import reverse

from sandbox_project.gallery.models import Document, Photo, Upload
from tests.sandbox.conftest import MAX_UPLOAD_BYTES, SHORT_LINK_SECONDS, png_bytes


def upload(client: Client, data: bytes, name: str = "hello.txt", **fields: str) -> Any:
    form = {"title": "", "save_as": "", "on_conflict": "replace", **fields}
    return client.post(reverse("uploads"), {**form, "file": ContentFile(data, name=name)}, follow=True)


def fetch(url: str) -> requests.Response:
    assert urlsplit(url).hostname == "127.0.0.1"
    return requests.get(url, timeout=10)


def test_home_shows_the_connection_but_never_the_password(site: Any, client: Client) -> None:
    response = client.get(reverse("home"))
    page = response.content.decode()
    assert response.status_code == 200
    assert site.server.endpoint_url in page
    assert site.private in page
    assert site.public in page
    assert "set (never shown)" in page
    assert site.server.password not in page


def test_overwrite_on_replaces_the_file_with_the_same_name(site: Any, client: Client) -> None:
    first = upload(client, b"first version")
    second = upload(client, b"second version")
    assert "replacing the file that had this name" in second.content.decode()
    assert "replacing" not in first.content.decode()
    names = [row.file.name for row in Upload.objects.order_by("id")]
    assert names == ["uploads/hello.txt", "uploads/hello.txt"]
    assert [row.replaced_existing for row in Upload.objects.order_by("id")] == [False, True]
    with storages["default"].open("uploads/hello.txt") as stored:
        assert stored.read() == b"second version"
    assert storages["default"].listdir("uploads") == ([], ["hello.txt"])


def test_overwrite_off_keeps_both_files(site: Any, client: Client) -> None:
    upload(client, b"first version")
    response = upload(client, b"second version", on_conflict="keep_both")
    first, second = Upload.objects.order_by("id")
    assert first.file.name == "uploads/hello.txt"
    assert second.file.name != first.file.name
    assert second.file.name.startswith("uploads/hello_")
    assert second.file.name.endswith(".txt")
    assert f"saved the file as {second.file.name} (overwrite off)" in response.content.decode()
    storage = storages["default"]
    with storage.open(first.file.name) as one, storage.open(second.file.name) as two:
        assert (one.read(), two.read()) == (b"first version", b"second version")
    # The list page shows the renamed upload with a link that serves its bytes.
    page = client.get(reverse("uploads")).content.decode()
    assert "renamed" in page
    assert fetch(second.file.url).content == b"second version"


def test_save_as_puts_the_file_where_asked(site: Any, client: Client) -> None:
    upload(client, b"report", save_as="/reports/2024/summary.txt")
    (row,) = Upload.objects.all()
    assert row.file.name == "reports/2024/summary.txt"
    assert storages["default"].listdir("reports/2024") == ([], ["summary.txt"])


@pytest.mark.parametrize("name", ["../outside.txt", "reports/../../etc/passwd", "..", "reports/"])
def test_bad_names_get_a_form_error_and_store_nothing(site: Any, client: Client, name: str) -> None:
    response = upload(client, b"nope", save_as=name)
    page = response.content.decode()
    assert response.status_code == 200
    assert "every file must stay inside the bucket" in page or "not just a folder" in page
    assert not Upload.objects.exists()
    assert storages["default"].listdir("") == ([], [])


def test_too_large_uploads_get_a_form_error(site: Any, client: Client) -> None:
    response = upload(client, b"x" * (MAX_UPLOAD_BYTES + 1))
    assert "the sandbox accepts files up to 64.0\xa0KB" in response.content.decode()
    assert not Upload.objects.exists()


def test_gallery_stores_images_with_permanent_public_links(site: Any, client: Client) -> None:
    image = png_bytes(32, 20)
    response = client.post(
        reverse("gallery"), {"title": "Blue", "image": ContentFile(image, name="blue.png")}, follow=True
    )
    assert response.status_code == 200
    (photo,) = Photo.objects.all()
    assert (photo.width, photo.height, photo.size) == (32, 20, len(image))
    assert photo.image.name == "photos/blue.png"
    url = photo.image.url
    assert site.public in url
    assert "token=" not in url
    assert fetch(url).content == image
    page = client.get(reverse("gallery")).content.decode()
    assert url in page
    assert "32\u00d720 px" in page


def test_gallery_refuses_files_that_are_not_images(site: Any, client: Client) -> None:
    response = client.post(reverse("gallery"), {"image": ContentFile(b"not an image", name="fake.png")})
    assert "That file is not an image we can read" in response.content.decode()
    assert not Photo.objects.exists()
    assert storages["public"].listdir("") == ([], [])


def test_documents_get_temporary_links(site: Any, client: Client) -> None:
    client.post(reverse("documents"), {"title": "Secret", "file": ContentFile(b"top secret", name="plan.txt")})
    (document,) = Document.objects.all()
    assert document.file.name == "documents/plan.txt"
    assert document.size == len(b"top secret")
    page = client.get(reverse("documents")).content.decode()
    assert "documents/plan.txt" in page
    url = storages["private"].url(document.file.name)
    assert "token=" in url
    assert fetch(url).content == b"top secret"
    # Without the token, the private bucket does not serve the file.
    assert fetch(url.split("?")[0]).status_code in (400, 401, 403, 404)


def test_an_expired_link_visibly_fails(site: Any, client: Client) -> None:
    client.post(reverse("documents"), {"file": ContentFile(b"short lived", name="brief.txt")})
    (document,) = Document.objects.all()
    page_url = reverse("short_link", args=[document.pk])
    page = client.get(page_url).content.decode()
    assert f"expire={SHORT_LINK_SECONDS})" in page

    fresh = client.post(page_url, {"check": "1"})
    assert fresh.context["result"]["ok"] is True
    url = fresh.context["url"]
    assert fetch(url).content == b"short lived"

    time.sleep(SHORT_LINK_SECONDS + 1.5)
    expired = client.post(page_url, {"check": "1"})
    result = expired.context["result"]
    assert result["ok"] is False
    assert result["status"] == 400
    assert result["code"] == 251022
    assert "the link no longer works" in expired.content.decode()
    assert fetch(url).status_code == 400


def test_bucket_browser_lists_and_deletes(site: Any, client: Client) -> None:
    upload(client, b"12345", save_as="folder/a.txt")
    upload(client, b"1234567", save_as="folder/sub/b.txt")
    page = client.get(reverse("browse", args=["default"]), {"path": "folder"})
    files = page.context["files"]
    assert [(item["name"], item["size"]) for item in files] == [("a.txt", 5)]
    assert files[0]["modified"].tzinfo is not None
    assert page.context["dirs"] == [("sub", "folder/sub")]
    assert fetch(files[0]["url"]).content == b"12345"

    response = client.post(reverse("browse_delete", args=["default"]), {"name": "folder/a.txt"}, follow=True)
    assert "Deleted folder/a.txt and 1 record(s) that pointed at it." in response.content.decode()
    assert not storages["default"].exists("folder/a.txt")
    assert list(Upload.objects.values_list("file", flat=True)) == ["folder/sub/b.txt"]
    assert response.context["files"] == []


def test_bucket_browser_explains_bad_and_missing_paths(site: Any, client: Client) -> None:
    bad = client.get(reverse("browse", args=["public"]), {"path": "../other-bucket"})
    assert "every file must stay inside the bucket" in bad.content.decode()
    assert client.get(reverse("browse", args=["nope"])).status_code == 404
    refused = client.post(reverse("browse_delete", args=["default"]), {"name": "../x"}, follow=True)
    assert "every file must stay inside the bucket" in refused.content.decode()


def test_admin_lists_and_adds_every_model(site: Any, client: Client) -> None:
    admin = get_user_model().objects.create_superuser("admin", "admin@example.com", "pw")
    client.force_login(admin)
    response = client.post(
        reverse("admin:gallery_document_add"),
        {"title": "From the admin", "file": ContentFile(b"admin upload", name="admin.txt")},
    )
    assert response.status_code == 302
    (document,) = Document.objects.all()
    assert document.size == len(b"admin upload")
    with storages["private"].open(document.file.name) as stored:
        assert stored.read() == b"admin upload"
    client.post(reverse("admin:gallery_upload_add"), {"file": ContentFile(b"via admin", name="admin.txt")})
    (added,) = Upload.objects.all()
    assert (added.file.name, added.requested_name, added.size) == ("uploads/admin.txt", "uploads/admin.txt", 9)
    for model in ("upload", "photo", "document"):
        page = client.get(reverse(f"admin:gallery_{model}_changelist"))
        assert page.status_code == 200
    assert "From the admin" in client.get(reverse("admin:gallery_document_changelist")).content.decode()


def test_the_docs_link_shows_how_to_build_the_docs_until_they_are_built(
    site: Any, client: Client, tmp_path: Any, settings: Any
) -> None:
    settings.SANDBOX_DOCS_DIR = tmp_path / "html"
    home = client.get(reverse("home")).content.decode()
    assert f'href="{reverse("docs")}"' in home
    response = client.get(reverse("docs"))
    assert response.status_code == 404
    assert "make docs" in response.content.decode()

    (tmp_path / "html" / "reference").mkdir(parents=True)
    (tmp_path / "html" / "index.html").write_text("<h1>bkstorages docs</h1>")
    (tmp_path / "html" / "reference" / "settings.html").write_text("<h1>Settings</h1>")
    response = client.get(reverse("docs"))
    assert response.status_code == 200
    assert b"".join(response.streaming_content) == b"<h1>bkstorages docs</h1>"
    page = client.get(reverse("docs_page", args=["reference/settings.html"]))
    assert b"".join(page.streaming_content) == b"<h1>Settings</h1>"
    assert client.get(reverse("docs_page", args=["../settings.py"])).status_code == 404
