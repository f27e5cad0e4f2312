"""Settings for the sandbox site.

The bk-repo connection (``BKREPO_ENDPOINT_URL``, ``BKREPO_USERNAME``,
``BKREPO_PASSWORD``, ``BKREPO_PROJECT``, ``BKREPO_BUCKET``,
``BKREPO_PUBLIC_BUCKET``, ``BKREPO_PRIVATE_BUCKET``) is not repeated here:
bkstorages reads those environment variables itself when a storage is first
built, and ``make sandbox`` exports them (from the dev server it starts, or
from your shell if you point it at a real bk-repo).
"""

import os
from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent
REPO_DIR = PACKAGE_DIR.parent
DATA_DIR = Path(os.environ.get("SANDBOX_DATA_DIR", REPO_DIR / ".sandbox")).resolve()

# A demo site on loopback: a fixed key is fine unless you expose it (then set SANDBOX_SECRET_KEY).
SECRET_KEY = os.environ.get("SANDBOX_SECRET_KEY", "sandbox-only-not-a-secret-0f6c1d2e")
DEBUG = os.environ.get("SANDBOX_DEBUG", "1") == "1"
ALLOWED_HOSTS = ["127.0.0.1", "localhost", "[::1]", *os.environ.get("SANDBOX_ALLOWED_HOSTS", "").split()]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    # System checks for the BKREPO_* settings and the bkrepo_check / bkrepo_ls / bkrepo_sync commands.
    "bkstorages_contrib",
    "sandbox_project.gallery",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "sandbox_project.urls"
WSGI_APPLICATION = "sandbox_project.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("SANDBOX_DATABASE", str(DATA_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

USE_TZ = True
TIME_ZONE = os.environ.get("SANDBOX_TIME_ZONE", "UTC")
LANGUAGE_CODE = "en-us"

STATIC_URL = "/static/"

# Every file the site stores goes to bk-repo. FileFields without ``storage=``
# use "default"; the models reach the others by name (see gallery/storages.py).
STORAGES = {
    # BKREPO_BUCKET, overwrite on: saving "a.txt" twice replaces the first file.
    "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"file_overwrite": True}},
    # The same bucket with overwrite off: Django picks a free name instead.
    "keep_both": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"file_overwrite": False}},
    # BKREPO_PUBLIC_BUCKET: permanent links, built without asking bk-repo.
    "public": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoPublicStorage"},
    # BKREPO_PRIVATE_BUCKET: temporary signed links.
    "private": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoPrivateStorage"},
    # collectstatic (run by `make sandbox`) uploads the static files to BKREPO_PUBLIC_BUCKET under static/;
    # bk-repo serves them with Cache-Control: public, max-age=300 (BKREPO_STATIC_CACHE_CONTROL).
    "staticfiles": {"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"},
}

# The expiry demo asks for links that stop working after this many seconds.
SANDBOX_SHORT_LINK_SECONDS = int(os.environ.get("SANDBOX_SHORT_LINK_SECONDS", "5"))

# The documentation built by `make docs`, served at /docs/ (a hint how to build it until then).
SANDBOX_DOCS_DIR = Path(os.environ.get("SANDBOX_DOCS_DIR", REPO_DIR / "docs" / "_build" / "html"))

# Uploads larger than this are refused with a form error.
SANDBOX_MAX_UPLOAD_BYTES = int(os.environ.get("SANDBOX_MAX_UPLOAD_BYTES", str(20 * 1024 * 1024)))

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "loggers": {"bkstorages": {"handlers": ["console"], "level": os.environ.get("SANDBOX_LOG_LEVEL", "INFO")}},
}
