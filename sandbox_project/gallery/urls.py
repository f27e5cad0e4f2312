from django.urls import path

from sandbox_project.gallery import views

urlpatterns = [
    path("", views.home, name="home"),
    path("files/", views.uploads, name="uploads"),
    path("gallery/", views.gallery, name="gallery"),
    path("documents/", views.documents, name="documents"),
    path("documents/<int:pk>/short-link/", views.short_link, name="short_link"),
    path("direct/", views.direct, name="direct"),
    path("direct/sign/", views.direct_sign, name="direct_sign"),
    path("browse/<str:alias>/", views.browse, name="browse"),
    path("browse/<str:alias>/delete/", views.browse_delete, name="browse_delete"),
    path("docs/", views.docs, name="docs"),
    path("docs/<path:page>", views.docs, name="docs_page"),
]
