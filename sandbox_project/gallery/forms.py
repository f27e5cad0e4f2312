"""Upload forms. Every mistake a visitor can make becomes a form error, never a crash."""

from typing import Any

from django import forms
from django.conf import settings
from django.core.files.uploadedfile import UploadedFile
from django.template.defaultfilters import filesizeformat
from django.urls import reverse_lazy

from bkstorages_contrib.forms import DirectUploadField
from sandbox_project.gallery.models import Document, Photo


def check_size(upload: UploadedFile | None) -> None:
    """Refuse files larger than ``SANDBOX_MAX_UPLOAD_BYTES``."""
    limit = settings.SANDBOX_MAX_UPLOAD_BYTES
    if upload is not None and upload.size is not None and upload.size > limit:
        raise forms.ValidationError(
            "This file is %(size)s; the sandbox accepts files up to %(limit)s.",
            code="too_large",
            params={"size": filesizeformat(upload.size), "limit": filesizeformat(limit)},
        )


def clean_bucket_name(value: str) -> str:
    """Turn what a visitor typed into a name inside the bucket, or explain why not.

    A leading ``/`` means the bucket root, as in bk-repo; ``..`` would climb
    out of the bucket and is refused here, before the storage ever sees it.
    """
    name = value.strip().replace("\\", "/")
    if any(ord(char) < 32 or ord(char) == 127 for char in name):
        raise forms.ValidationError("Names cannot contain control characters.", code="control")
    parts = [part for part in name.split("/") if part not in ("", ".")]
    if ".." in parts:
        raise forms.ValidationError(
            "Names cannot contain “..”: every file must stay inside the bucket.", code="traversal"
        )
    if not parts or name.endswith("/"):
        raise forms.ValidationError("Give a file name, not just a folder.", code="folder")
    return "/".join(parts)


class UploadForm(forms.Form):
    """A file for the default storage, with the overwrite choice made visible."""

    REPLACE = "replace"
    KEEP_BOTH = "keep_both"

    title = forms.CharField(max_length=200, required=False)
    file = forms.FileField(validators=[check_size])
    save_as = forms.CharField(
        max_length=400,
        required=False,
        label="Name in the bucket",
        help_text="Optional, e.g. reports/2024/summary.txt. Empty: uploads/ + the file's own name.",
    )
    on_conflict = forms.ChoiceField(
        label="If a file with that name exists",
        choices=[
            (REPLACE, "Replace it (overwrite on)"),
            (KEEP_BOTH, "Keep both: Django picks a new name (overwrite off)"),
        ],
        initial=REPLACE,
        widget=forms.RadioSelect,
    )

    def clean_save_as(self) -> str:
        value: str = self.cleaned_data["save_as"]
        return clean_bucket_name(value) if value.strip() else ""

    def requested_name(self) -> str:
        """The name the visitor asked for (valid only after ``is_valid()``)."""
        data: dict[str, Any] = self.cleaned_data
        return data["save_as"] or f"uploads/{data['file'].name}"


class PhotoForm(forms.ModelForm):
    class Meta:
        model = Photo
        fields = ["title", "image"]
        error_messages = {
            "image": {
                "invalid_image": "That file is not an image we can read. Try a PNG, JPEG, GIF or WebP file.",
            }
        }

    def clean_image(self) -> UploadedFile:
        image: UploadedFile = self.cleaned_data["image"]
        check_size(image)
        return image


class DocumentForm(forms.ModelForm):
    class Meta:
        model = Document
        fields = ["title", "file"]

    def clean_file(self) -> UploadedFile:
        upload: UploadedFile = self.cleaned_data["file"]
        check_size(upload)
        return upload


#: Where the browser's direct uploads go in the private bucket; the form accepts names under it only.
DIRECT_PREFIX = "direct/"


class DirectUploadForm(forms.Form):
    """A file the browser sends straight to bk-repo; the form receives only its (signed) name."""

    title = forms.CharField(max_length=200, required=False)
    file = DirectUploadField(sign_url=reverse_lazy("direct_sign"), storage="private", prefix=DIRECT_PREFIX)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["file"].max_size = settings.SANDBOX_MAX_UPLOAD_BYTES  # type: ignore[attr-defined]
