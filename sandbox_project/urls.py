"""URLs of the sandbox site: the gallery app and the Django admin."""

from django.contrib import admin
from django.urls import include, path

admin.site.site_header = "bkstorages sandbox admin"
admin.site.site_title = "bkstorages sandbox"

urlpatterns = [
    path("admin/", admin.site.urls),
    path("", include("sandbox_project.gallery.urls")),
]
