"""The Django admin for every sandbox model; files are uploaded straight to bk-repo."""

from typing import Any

from django.contrib import admin
from django.db.models.fields.files import FieldFile
from django.forms import ModelForm
from django.http import HttpRequest
from django.template.defaultfilters import filesizeformat

from sandbox_project.gallery.models import Document, Photo, Upload


@admin.display(description="size", ordering="size")
def human_size(obj: Upload | Photo | Document) -> str:
    return filesizeformat(obj.size)


class FileAdmin(admin.ModelAdmin):
    """Records the size of a newly uploaded file, as the site's own forms do."""

    file_field = "file"

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        if self.file_field in form.changed_data:
            field_file: FieldFile = getattr(obj, self.file_field)
            obj.size = field_file.size if field_file else 0
        super().save_model(request, obj, form, change)


@admin.register(Upload)
class UploadAdmin(FileAdmin):
    list_display = ["__str__", "file", "requested_name", "overwrite", "replaced_existing", human_size, "uploaded_at"]
    list_filter = ["overwrite", "replaced_existing"]
    search_fields = ["title", "file", "requested_name"]
    readonly_fields = ["requested_name", "overwrite", "replaced_existing", "size", "uploaded_at"]

    def save_model(self, request: HttpRequest, obj: Any, form: ModelForm, change: bool) -> None:
        super().save_model(request, obj, form, change)
        if not obj.requested_name:
            # The admin saves under the default storage's rules (overwrite on): the name is kept.
            obj.requested_name = obj.file.name
            obj.save(update_fields=["requested_name"])


@admin.register(Photo)
class PhotoAdmin(FileAdmin):
    file_field = "image"
    list_display = ["__str__", "image", "width", "height", human_size, "uploaded_at"]
    search_fields = ["title", "image"]
    readonly_fields = ["width", "height", "size", "uploaded_at"]


@admin.register(Document)
class DocumentAdmin(FileAdmin):
    list_display = ["__str__", "file", human_size, "uploaded_at"]
    search_fields = ["title", "file"]
    readonly_fields = ["size", "uploaded_at"]
