"""Settings for management commands run in a subprocess: the test settings, with bk-repo as the default storage.

The BKREPO_* values come from environment variables, which bkstorages reads
when Django settings do not set them.
"""

from tests.settings import *  # noqa: F403

STORAGES = {
    "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"},
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}

# Only what the bkrepo_* commands need (the sandbox apps want templates and middleware).
INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "django.contrib.staticfiles",
    "bkstorages_contrib",
]
