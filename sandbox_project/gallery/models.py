"""One model per storage the sandbox shows off."""

from django.db import models

from sandbox_project.gallery.storages import private_storage, public_storage


class Upload(models.Model):
    """A file on the default storage (``STORAGES["default"]``, a ``BKRepoStorage``).

    ``requested_name`` is what the visitor asked for and ``file.name`` what
    the storage chose, so the page can show what the overwrite setting did.
    """

    title = models.CharField(max_length=200, blank=True)
    file = models.FileField(upload_to="uploads/", max_length=500)
    requested_name = models.CharField(max_length=500, blank=True)
    overwrite = models.BooleanField(
        default=True, help_text="On: replace a file of the same name. Off: pick a free name."
    )
    replaced_existing = models.BooleanField(default=False)
    size = models.BigIntegerField(default=0)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title or self.file.name or ""


class Photo(models.Model):
    """An image in the public bucket: its URL is permanent and needs no signing."""

    title = models.CharField(max_length=200, blank=True)
    image = models.ImageField(
        upload_to="photos/",
        storage=public_storage,
        width_field="width",
        height_field="height",
        max_length=500,
    )
    width = models.PositiveIntegerField(default=0, editable=False)
    height = models.PositiveIntegerField(default=0, editable=False)
    size = models.BigIntegerField(default=0, editable=False)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title or self.image.name or ""


class Document(models.Model):
    """A file in the private bucket: every link to it is temporary."""

    title = models.CharField(max_length=200, blank=True)
    file = models.FileField(upload_to="documents/", storage=private_storage, max_length=500)
    size = models.BigIntegerField(default=0, editable=False)
    uploaded_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-uploaded_at", "-id"]

    def __str__(self) -> str:
        return self.title or self.file.name or ""
