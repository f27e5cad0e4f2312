"""Django settings for the test suite.

Storage settings (BKREPO_*) are not set here: the fixtures in
``bkstorages_contrib.testing`` start a dev server and point each test at it.
"""

SECRET_KEY = "tests-only-not-secret"
DEBUG = False
USE_TZ = True
TIME_ZONE = "UTC"

INSTALLED_APPS = [
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.staticfiles",
    "tests.models_app",
    "bkstorages_contrib",
    # The sandbox site (tests/sandbox/); its URLs, templates and STORAGES are set by its fixtures.
    "django.contrib.admin",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.humanize",
    "sandbox_project.gallery",
]

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
STATIC_URL = "/static/"
MEDIA_URL = "/media/"
