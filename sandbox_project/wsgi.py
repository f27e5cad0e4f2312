"""WSGI entry point of the sandbox site."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sandbox_project.settings")

application = get_wsgi_application()
