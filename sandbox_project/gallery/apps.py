from django.apps import AppConfig


class GalleryConfig(AppConfig):
    name = "sandbox_project.gallery"
    label = "gallery"
    verbose_name = "Sandbox files"
