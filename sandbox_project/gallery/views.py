"""Views of the sandbox site. Each page shows one thing bkstorages does."""

import json
import os
import posixpath
from datetime import datetime, timedelta
from typing import Any

import requests
from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import Storage, storages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_POST
from django.views.static import serve

from bkstorages.exceptions import BKStorageError
from bkstorages.urlcache import cache_lifetime
from bkstorages_contrib.forms import DirectUploadView
from sandbox_project.gallery.forms import (
    DIRECT_PREFIX,
    DirectUploadForm,
    DocumentForm,
    PhotoForm,
    UploadForm,
    clean_bucket_name,
)
from sandbox_project.gallery.models import Document, Photo, Upload

# The storages the bucket browser can show, by their STORAGES alias.
BROWSABLE = {
    "default": "BKREPO_BUCKET: the default storage",
    "public": "BKREPO_PUBLIC_BUCKET: the gallery",
    "private": "BKREPO_PRIVATE_BUCKET: the documents",
}
# At most this many files are shown per folder, so a huge folder stays readable.
BROWSE_LIMIT = 500
# Which setting names the bucket of each browsable storage.
BUCKET_SETTING = {"default": "BKREPO_BUCKET", "public": "BKREPO_PUBLIC_BUCKET", "private": "BKREPO_PRIVATE_BUCKET"}
SHOWN_SETTINGS = [
    "BKREPO_ENDPOINT_URL",
    "BKREPO_PROJECT",
    "BKREPO_USERNAME",
    "BKREPO_BUCKET",
    "BKREPO_PUBLIC_BUCKET",
    "BKREPO_PRIVATE_BUCKET",
]


def setting(name: str) -> str | None:
    """A BKREPO_* value as bkstorages sees it: the Django setting, else the environment."""
    value = getattr(settings, name, None)
    if value is None:
        value = os.environ.get(name)
    return None if value is None else str(value)


def url_lifetime(alias: str) -> dict[str, int]:
    """How long the signed links of ``STORAGES[alias]`` stay valid, and how long bkstorages reuses one."""
    seconds = int(storages[alias].url_expire_seconds)  # type: ignore[attr-defined]
    reused = int(cache_lifetime(seconds))
    return {"seconds": seconds, "reused": reused, "left": seconds - reused}


def storage_error(exc: BKStorageError) -> str:
    """A one-line, password-free description of what bk-repo said."""
    return f"bk-repo answered HTTP {exc.status} (code {exc.code}): {exc.message}"


def home(request: HttpRequest) -> HttpResponse:
    password_set = bool(setting("BKREPO_PASSWORD"))
    context = {
        "connection": [(name, setting(name) or "not set") for name in SHOWN_SETTINGS],
        "password_set": password_set,
        "storages": [
            (alias, config["BACKEND"], config.get("OPTIONS", {}))
            for alias, config in settings.STORAGES.items()
            if alias != "staticfiles"
        ],
        "counts": {
            "uploads": Upload.objects.count(),
            "photos": Photo.objects.count(),
            "documents": Document.objects.count(),
        },
    }
    return render(request, "gallery/home.html", context)


def uploads(request: HttpRequest) -> HttpResponse:
    """Files on the default storage; the visitor picks overwrite on or off per upload."""
    form = UploadForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        requested = form.requested_name()
        overwrite = form.cleaned_data["on_conflict"] == UploadForm.REPLACE
        storage = storages["default" if overwrite else "keep_both"]
        uploaded = form.cleaned_data["file"]
        try:
            existed = storage.exists(requested)
            stored = storage.save(requested, uploaded, max_length=500)
        except SuspiciousFileOperation as exc:
            form.add_error("save_as", f"That name is not allowed: {exc}")
        except BKStorageError as exc:
            form.add_error(None, storage_error(exc))
        else:
            Upload.objects.create(
                title=form.cleaned_data["title"],
                file=stored,
                requested_name=requested,
                overwrite=overwrite,
                replaced_existing=overwrite and existed,
                size=uploaded.size or 0,
            )
            if overwrite and existed:
                messages.success(request, f"Saved {stored}, replacing the file that had this name (overwrite on).")
            elif stored != requested:
                messages.success(
                    request, f"{requested} was taken, so the storage saved the file as {stored} (overwrite off)."
                )
            else:
                messages.success(request, f"Saved {stored}.")
            return redirect("uploads")
    rows = list(Upload.objects.all()[:100])
    urls = signed_urls(storages["default"], [row.file.name for row in rows])
    items = [(row, urls.get(row.file.name)) for row in rows]
    context = {
        "form": form,
        "items": items,
        "lifetime": url_lifetime("default"),
        "signed": not storages["default"].is_public,  # type: ignore[attr-defined]
    }
    return render(request, "gallery/uploads.html", context)


def gallery(request: HttpRequest) -> HttpResponse:
    """Images in the public bucket: permanent links, no signing."""
    form = PhotoForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        photo = form.save(commit=False)
        photo.size = form.cleaned_data["image"].size or 0
        try:
            photo.save()
        except BKStorageError as exc:
            form.add_error(None, storage_error(exc))
        else:
            messages.success(request, f"Saved {photo.image.name} in the public bucket.")
            return redirect("gallery")
    return render(request, "gallery/gallery.html", {"form": form, "photos": Photo.objects.all()[:200]})


def documents(request: HttpRequest) -> HttpResponse:
    """Files in the private bucket, reachable only through temporary links."""
    form = DocumentForm(request.POST or None, request.FILES or None)
    if request.method == "POST" and form.is_valid():
        document = form.save(commit=False)
        document.size = form.cleaned_data["file"].size or 0
        try:
            document.save()
        except BKStorageError as exc:
            form.add_error(None, storage_error(exc))
        else:
            messages.success(request, f"Saved {document.file.name} in the private bucket.")
            return redirect("documents")
    rows = list(Document.objects.all()[:100])
    urls = signed_urls(storages["private"], [row.file.name for row in rows])
    lifetime = url_lifetime("private")
    context = {
        "form": form,
        "items": [(row, urls.get(row.file.name)) for row in rows],
        "lifetime": lifetime,
        "valid_until": timezone.now() + timedelta(seconds=lifetime["left"]),
    }
    return render(request, "gallery/documents.html", context)


#: Signs one-time upload links for the direct upload page (a real site would protect this view).
direct_sign = DirectUploadView.as_view(storage="private", prefix=DIRECT_PREFIX)


def direct(request: HttpRequest) -> HttpResponse:
    """Files the browser uploads straight to the private bucket; Django gets only their names."""
    form = DirectUploadForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        name = form.cleaned_data["file"]
        try:
            size = storages["private"].size(name)
            Document.objects.create(title=form.cleaned_data["title"], file=name, size=size)
        except BKStorageError as exc:
            form.add_error(None, storage_error(exc))
        else:
            messages.success(request, f"Stored {name} ({size} bytes) straight from the browser.")
            return redirect("direct")
    rows = list(Document.objects.filter(file__startswith=DIRECT_PREFIX)[:100])
    urls = signed_urls(storages["private"], [row.file.name for row in rows])
    context = {"form": form, "items": [(row, urls.get(row.file.name)) for row in rows]}
    return render(request, "gallery/direct.html", context)


def short_link(request: HttpRequest, pk: int) -> HttpResponse:
    """A link to a private document that expires after a few seconds, and a way to try it."""
    document = get_object_or_404(Document, pk=pk)
    seconds = settings.SANDBOX_SHORT_LINK_SECONDS
    session_key = f"short-link-{document.pk}"
    previous = request.session.get(session_key)
    result = None
    if request.method == "POST" and previous:
        link = previous
        result = check_link(link["url"])
    else:
        # The storage's own API: a temporary link with a lifetime of our choosing.
        url = storages["private"].url(document.file.name, expire=seconds)
        if previous and previous["url"] == url:
            link = previous  # bkstorages handed out the link it cached a moment ago
        else:
            link = {"url": url, "expires_at": (timezone.now() + timedelta(seconds=seconds)).isoformat()}
            request.session[session_key] = link
    expires_at = datetime.fromisoformat(link["expires_at"])
    context = {
        "document": document,
        "url": link["url"],
        "expires_at": expires_at,
        "expires_epoch_ms": int(expires_at.timestamp() * 1000),
        "expired": timezone.now() >= expires_at,
        "result": result,
        "seconds": seconds,
    }
    return render(request, "gallery/short_link.html", context)


def check_link(url: str) -> dict[str, Any]:
    """Open a link the site made itself and report what bk-repo answered."""
    try:
        with requests.get(url, stream=True, timeout=10) as response:
            result: dict[str, Any] = {"status": response.status_code, "ok": response.ok}
            if response.ok:
                return result
            body = response.raw.read(4096, decode_content=True)
    except requests.RequestException as exc:
        return {"status": None, "ok": False, "message": f"Could not reach bk-repo ({type(exc).__name__})."}
    try:
        payload = json.loads(body)
        result.update(code=payload.get("code"), message=payload.get("message"))
    except (ValueError, AttributeError):
        result["message"] = body.decode("utf-8", "replace")[:300]
    return result


def signed_urls(storage: Storage, names: list[str]) -> dict[str, str]:
    """URLs for many files: one request for a private bucket (``storage.urls``)."""
    names = [name for name in names if name]
    if not names:
        return {}
    try:
        return dict(storage.urls(names))  # type: ignore[attr-defined]
    except BKStorageError:
        return {}


def browse(request: HttpRequest, alias: str) -> HttpResponse:
    """List a folder of a bucket: sub-folders, files with sizes and times, delete buttons."""
    if alias not in BROWSABLE:
        raise Http404("No such storage")
    storage = storages[alias]
    raw_path = request.GET.get("path", "")
    error = None
    try:
        path = clean_bucket_name(raw_path) if raw_path.strip("/ ") else ""
    except forms.ValidationError as exc:
        error = " ".join(exc.messages)
        path = ""
    dirs: list[str] = []
    files: list[dict[str, Any]] = []
    total = 0
    if error is None:
        try:
            dirs, names = storage.listdir(path)
        except FileNotFoundError:
            error = f"There is no folder “{path}” in this bucket."
            names = []
        except BKStorageError as exc:
            error = storage_error(exc)
            names = []
        total = len(names)
        full_names = [posixpath.join(path, name) for name in names[:BROWSE_LIMIT]]
        urls = signed_urls(storage, full_names)
        for name, full in zip(names[:BROWSE_LIMIT], full_names, strict=True):
            info = storage.stat(full)  # type: ignore[attr-defined]
            files.append(
                {"name": name, "path": full, "size": info.size, "modified": info.modified_time, "url": urls.get(full)}
            )
    crumbs = []
    parts = path.split("/") if path else []
    for index, part in enumerate(parts):
        crumbs.append((part, "/".join(parts[: index + 1])))
    context = {
        "alias": alias,
        "browsable": BROWSABLE,
        "bucket": setting(BUCKET_SETTING[alias]),
        "path": path,
        "crumbs": crumbs,
        "dirs": [(name, posixpath.join(path, name)) for name in dirs],
        "files": files,
        "total": total,
        "limit": BROWSE_LIMIT,
        "error": error,
    }
    return render(request, "gallery/browse.html", context)


@require_POST
def browse_delete(request: HttpRequest, alias: str) -> HttpResponse:
    """Delete one file, and the sandbox's records that pointed at it."""
    if alias not in BROWSABLE:
        raise Http404("No such storage")
    storage = storages[alias]
    try:
        name = clean_bucket_name(request.POST.get("name", ""))
    except forms.ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
        return redirect("browse", alias=alias)
    try:
        storage.delete(name)
    except BKStorageError as exc:
        messages.error(request, storage_error(exc))
    else:
        removed = forget_file(alias, name)
        note = f" and {removed} record(s) that pointed at it" if removed else ""
        messages.success(request, f"Deleted {name}{note}.")
    folder = posixpath.dirname(name)
    url = reverse("browse", kwargs={"alias": alias})
    return redirect(f"{url}?path={folder}" if folder else url)


def forget_file(alias: str, name: str) -> int:
    """Drop the rows of the models whose files live in the same bucket as ``alias``."""
    target = setting(BUCKET_SETTING[alias])
    removed = 0
    for model, field, model_alias in (
        (Upload, "file", "default"),
        (Photo, "image", "public"),
        (Document, "file", "private"),
    ):
        if setting(BUCKET_SETTING[model_alias]) == target:
            removed += model.objects.filter(**{field: name}).delete()[0]
    return removed


def docs(request: HttpRequest, page: str = "") -> HttpResponse:
    """The documentation as ``make docs`` built it, or how to build it."""
    root = settings.SANDBOX_DOCS_DIR
    if not (root / "index.html").is_file():
        return render(request, "gallery/docs_missing.html", {"docs_dir": root}, status=404)
    if ".." in page.split("/"):
        raise Http404("No such page.")
    if not page or page.endswith("/"):
        page += "index.html"
    return serve(request, page, document_root=str(root))
