"""Uploads straight from the browser to bk-repo: a form field, its widget and the view that signs.

The file never passes through Django. The widget's script asks
:class:`DirectUploadView` for a link (the view picks a free name under a
prefix and signs a one-time ``UPLOAD`` link for exactly that name with
``storage.upload_url()``), ``PUT``\\ s the file's bytes to bk-repo, and puts the
stored name into the form, signed by the view (``django.core.signing``), so
the form accepts only names the server handed out. On submit
:class:`DirectUploadField` checks that signature, that the name is inside the
allowed prefix and that a file of that name exists in the storage; the name is
all the form receives.

.. code-block:: python

    # urls.py
    from django.contrib.auth.decorators import login_required
    from bkstorages_contrib.forms import DirectUploadView

    urlpatterns = [
        path("uploads/sign/", login_required(DirectUploadView.as_view(prefix="uploads/direct/")), name="sign"),
    ]

    # forms.py
    from django.urls import reverse_lazy
    from bkstorages_contrib.forms import DirectUploadField

    class ReportForm(forms.Form):
        report = DirectUploadField(sign_url=reverse_lazy("sign"), prefix="uploads/direct/")

The signing view is the gate: anyone who can call it can store files (of any
size; bk-repo sets no limit on a temporary upload), so protect it like the form
that uses it. The form page needs ``{{ form.media }}`` and Django's CSRF token.
"""

from __future__ import annotations

import posixpath
from typing import Any

from django import forms
from django.core import signing
from django.core.exceptions import SuspiciousFileOperation, ValidationError
from django.core.files.storage import Storage, storages
from django.http import HttpRequest, JsonResponse
from django.template.defaultfilters import filesizeformat
from django.utils.crypto import get_random_string
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.views import View

from bkstorages.backends.base import clean_name
from bkstorages.exceptions import BKStorageError

__all__ = ["DirectUploadField", "DirectUploadView", "DirectUploadWidget"]

#: How long a signed upload link stays valid, in seconds.
DEFAULT_UPLOAD_EXPIRE = 600
#: How long the form accepts a name the view handed out, in seconds.
NAME_MAX_AGE = 24 * 3600
SALT = "bkstorages_contrib.forms.direct_upload"


def _storage(storage: Storage | str | None) -> Storage:
    """A storage instance from an instance or a ``STORAGES`` alias (default: ``"default"``)."""
    if storage is None or isinstance(storage, str):
        return storages[storage or "default"]
    return storage


def _prefix(prefix: str) -> str:
    """``prefix`` cleaned as a folder name: ``"a/b/"``, or ``""`` for the whole storage."""
    cleaned = clean_name(prefix)
    return f"{cleaned}/" if cleaned else ""


class DirectUploadView(View):
    """``POST filename=...`` -> ``{"name", "url", "signed_name"}``: a free name under ``prefix``,
    a link that accepts one ``PUT`` of that file for ``expire`` seconds, and the name
    signed for the form.

    The name comes from the storage (``get_valid_name``, ``get_available_name``);
    only the base name of what the browser sent is used. bk-repo lets the holder
    of an upload link replace an existing file (``X-BKREPO-OVERWRITE: true``), so
    the view signs only names that do not exist yet.
    """

    http_method_names = ["post"]
    #: The storage (or its ``STORAGES`` alias) the files go to.
    storage: Storage | str | None = None
    #: The folder the files go to; the field accepts names under it only.
    prefix = "uploads/"
    #: Lifetime of the link in seconds.
    expire = DEFAULT_UPLOAD_EXPIRE

    def post(self, request: HttpRequest) -> JsonResponse:
        storage = _storage(self.storage)
        filename = posixpath.basename(str(request.POST.get("filename", "")).replace("\\", "/"))
        try:
            name = self.pick_name(storage, filename)
            url = storage.upload_url(name, expire=self.expire, permits=1)  # type: ignore[attr-defined]
        except (SuspiciousFileOperation, ValueError) as error:
            return JsonResponse({"error": str(error)}, status=400)
        except BKStorageError as error:  # e.g. no WRITE permission, or sharing is off for the project
            return JsonResponse({"error": f"bk-repo refused to sign an upload link (code {error.code})"}, status=502)
        return JsonResponse({"name": name, "url": url, "signed_name": signing.dumps(name, salt=SALT)})

    def pick_name(self, storage: Storage, filename: str) -> str:
        """A name under ``prefix`` that no file has yet, from the storage's own naming rules."""
        valid = storage.get_valid_name(filename or "upload")
        name = storage.get_available_name(_prefix(self.prefix) + valid)
        while storage.exists(name):  # a storage with overwrite on keeps names: add a random part
            root, ext = posixpath.splitext(name)
            name = f"{root}_{get_random_string(7)}{ext}"
        return name


class DirectUploadWidget(forms.Widget):
    """A file chooser that uploads the chosen file straight to bk-repo; submits the stored name."""

    input_type = "hidden"

    class Media:
        js = ("bkstorages_contrib/direct_upload.js",)

    def __init__(self, sign_url: str = "", attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs)
        self.sign_url = sign_url

    def render(self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None) -> SafeString:
        final = self.build_attrs(self.attrs, attrs)
        element_id = final.get("id") or f"id_{name}"
        try:
            stored = signing.loads(value, salt=SALT) if value else ""
        except signing.BadSignature:
            stored, value = "", ""
        return format_html(
            '<span class="direct-upload" data-sign-url="{}">'
            '<input type="file" id="{}" data-direct-upload="{}">'
            '<input type="hidden" name="{}" value="{}">'
            '<span class="direct-upload-status" role="status">{}</span></span>',
            str(self.sign_url),
            element_id,
            name,
            name,
            value or "",
            f"Stored as {stored}" if stored else "",
        )

    def value_from_datadict(self, data: Any, files: Any, name: str) -> Any:
        return data.get(name)


class DirectUploadField(forms.CharField):
    """The name of a file the browser uploaded to ``storage`` under ``prefix``, checked on submit.

    ``clean()`` returns the name; it refuses values the signing view did not
    sign (or signed more than ``NAME_MAX_AGE`` ago), names outside ``prefix``,
    names with no file behind them (or a folder), and files over ``max_size``
    bytes (which it deletes, as nothing else would).
    """

    widget = DirectUploadWidget
    default_error_messages = {
        "outside": "This upload is not one this form accepts.",
        "missing": "The upload did not finish; choose the file again.",
        "too_large": "This file is %(size)s; files up to %(limit)s are accepted.",
    }

    def __init__(
        self,
        *,
        sign_url: str = "",
        storage: Storage | str | None = None,
        prefix: str = "uploads/",
        max_size: int | None = None,
        **kwargs: Any,
    ) -> None:
        kwargs.setdefault("widget", DirectUploadWidget(sign_url=sign_url))
        super().__init__(**kwargs)
        self.storage = storage
        self.prefix = prefix
        self.max_size = max_size

    def clean(self, value: Any) -> str:
        value = super().clean(value)
        if not value:
            return str(value)
        storage = _storage(self.storage)
        try:
            name = clean_name(signing.loads(value, salt=SALT, max_age=NAME_MAX_AGE))
        except (signing.BadSignature, SuspiciousFileOperation, TypeError):
            raise ValidationError(self.error_messages["outside"], code="outside") from None
        prefix = _prefix(self.prefix)
        if not name.startswith(prefix) or name == prefix.rstrip("/"):
            raise ValidationError(self.error_messages["outside"], code="outside")
        try:
            stat = storage.stat(name)  # type: ignore[attr-defined]
        except FileNotFoundError:
            raise ValidationError(self.error_messages["missing"], code="missing") from None
        if stat.is_dir:
            raise ValidationError(self.error_messages["missing"], code="missing")
        if self.max_size is not None and stat.size > self.max_size:
            storage.delete(name)
            params = {"size": filesizeformat(stat.size), "limit": filesizeformat(self.max_size)}
            raise ValidationError(self.error_messages["too_large"], code="too_large", params=params)
        return name
