"""Django system checks for the bkstorages settings (``manage.py check``).

The checks report every problem ``bkstorages.conf`` finds (the storages raise
the first of the same problems at first use); they never talk to bk-repo
(``manage.py bkrepo_check`` does that). Every message has an id and a hint
saying how to fix it.

:data:`CHECKS` is the table of every check: its id, level, the problem it
reports and a configuration that shows it. The messages are made from it
(:func:`report`), and the documentation's reference page is written from it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import django
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from bkstorages import compat, conf

# Keyword arguments a manifest storage takes besides the bkstorages options.
MANIFEST_OPTIONS = frozenset({"manifest_location", "manifest_storage", "manifest_strict"})
# The check id of each kind of conf.Problem.
CHECK_IDS = {
    "missing": "bkstorages.E001",
    "endpoint": "bkstorages.E002",
    "type": "bkstorages.E003",
    "expiry": "bkstorages.E004",
    "unknown": "bkstorages.E007",
    "value": "bkstorages.E008",
}

_MISSING: Any = object()

# A configuration the checks accept, which each example below changes in one place.
_EXAMPLE_BASE: dict[str, Any] = {
    "BKREPO_ENDPOINT_URL": "https://bkrepo.example.com",
    "BKREPO_USERNAME": "site",
    "BKREPO_PASSWORD": "secret",
    "BKREPO_PROJECT": "demo",
    "BKREPO_BUCKET": "files",
    "BKREPO_PUBLIC_BUCKET": "public",
    "BKREPO_PRIVATE_BUCKET": "private",
    "STORAGES": {
        "default": {"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage"},
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    },
}


@dataclass(frozen=True)
class Check:
    """One system check: its id, level and the problem it reports.

    ``example`` holds Django settings that make it report (on top of a good
    configuration); ``since`` is the first Django version it applies to.
    """

    id: str
    level: type[checks.Error] | type[checks.Warning]
    problem: str
    example: dict[str, Any]
    since: tuple[int, int] = (4, 2)

    def settings(self) -> dict[str, Any]:
        """The example's whole configuration."""
        return {**_EXAMPLE_BASE, **self.example}


def _storages(**aliases: dict[str, Any]) -> dict[str, Any]:
    return {"STORAGES": {**_EXAMPLE_BASE["STORAGES"], **aliases}}


CHECKS: tuple[Check, ...] = (
    Check(
        "bkstorages.E001",
        checks.Error,
        "a configured bkstorages storage has no endpoint, project or bucket",
        {"BKREPO_PROJECT": None},
    ),
    Check(
        "bkstorages.E002",
        checks.Error,
        "the endpoint is not the ``http(s)://`` URL of bk-repo's gateway root",
        {"BKREPO_ENDPOINT_URL": "https://bkrepo.example.com/generic"},
    ),
    Check(
        "bkstorages.E003",
        checks.Error,
        'a setting or option has the wrong type, such as the string ``"false"`` for a boolean',
        {"BKREPO_FILE_OVERWRITE": "false"},
    ),
    Check(
        "bkstorages.E004",
        checks.Error,
        "the lifetime of signed links is not a positive number of seconds",
        {"BKREPO_URL_EXPIRE_SECONDS": 0},
    ),
    Check(
        "bkstorages.E005",
        checks.Error,
        "a private storage uses the public bucket",
        {
            "BKREPO_PRIVATE_BUCKET": "public",
            **_storages(private={"BACKEND": "bkstorages.backends.bkrepo.BKRepoPrivateStorage"}),
        },
    ),
    Check(
        "bkstorages.E006",
        checks.Error,
        "a storage ``BACKEND`` inside bkstorages cannot be imported",
        _storages(default={"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorge"}),
    ),
    Check(
        "bkstorages.E007",
        checks.Error,
        "a storage's ``OPTIONS`` have a key that is no option",
        _storages(default={"BACKEND": "bkstorages.backends.bkrepo.BKRepoStorage", "OPTIONS": {"bukcet": "files"}}),
    ),
    Check(
        "bkstorages.E008",
        checks.Error,
        "an option has a value out of range (a timeout or size, the location, the time zone, the public base URL)",
        {"BKREPO_CONNECT_TIMEOUT": 0},
    ),
    Check(
        "bkstorages.W001",
        checks.Warning,
        "``DEFAULT_FILE_STORAGE`` is set, but Django 5.1 and later ignore it",
        {"DEFAULT_FILE_STORAGE": "bkstorages.backends.bkrepo.BKRepoPublicStorage"},
        since=(5, 1),
    ),
    Check(
        "bkstorages.W002",
        checks.Warning,
        "``STATICFILES_STORAGE`` is set, but Django 5.1 and later ignore it",
        {"STATICFILES_STORAGE": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"},
        since=(5, 1),
    ),
    Check(
        "bkstorages.W003",
        checks.Warning,
        "a configured storage has no username or password, so only anonymous reads of public buckets work",
        {"BKREPO_PASSWORD": None},
    ),
    Check(
        "bkstorages.W004",
        checks.Warning,
        "the static-files storage uses the private bucket, whose files browsers cannot load without a signed link",
        {
            "BKREPO_STATIC_BUCKET": "private",
            **_storages(staticfiles={"BACKEND": "bkstorages_contrib.staticfiles.BKRepoStaticStorage"}),
        },
    ),
)
CHECK_BY_ID = {check.id: check for check in CHECKS}


def report(check_id: str, message: str, hint: str | None) -> checks.CheckMessage:
    """The message of check ``check_id`` (one of :data:`CHECKS`), at its level."""
    return CHECK_BY_ID[check_id].level(message, hint=hint, id=check_id)


@dataclass(frozen=True)
class ConfiguredStorage:
    """One storage the project configures with a bkstorages backend."""

    alias: str
    source: str  # where it is configured, for messages: "STORAGES['default']" or "DEFAULT_FILE_STORAGE"
    backend: str
    storage_class: type | None
    options: dict[str, Any]

    @property
    def label(self) -> str:
        return f"{self.source} ({self.backend})"


def register() -> None:
    """Register every bkstorages check with Django (called from the app's ready())."""
    checks.register(check_settings_types, "bkstorages")
    checks.register(check_legacy_storage_settings, "bkstorages")
    checks.register(check_configured_storages, "bkstorages")


# --------------------------------------------------------------------------
# Reading settings
# --------------------------------------------------------------------------


def _setting(name: str) -> Any:
    """A Django setting that is not a BKREPO_* one (STORAGES and the legacy storage settings)."""
    return getattr(settings, name, _MISSING)


def _bkstorages_classes() -> tuple[type, type, type, type]:
    from bkstorages.backends.bkrepo import BKRepoPrivateStorage, BKRepoPublicStorage, BKRepoStorage
    from bkstorages_contrib.staticfiles import BKRepoStaticStorage

    return BKRepoStorage, BKRepoPublicStorage, BKRepoPrivateStorage, BKRepoStaticStorage


def _is_bkstorages_path(backend: str) -> bool:
    return backend.split(".", 1)[0] in {"bkstorages", "bkstorages_contrib"}


def configured_storages() -> list[ConfiguredStorage]:
    """Every storage in STORAGES (and, before Django 5.1, the legacy settings) that uses bkstorages."""
    base = _bkstorages_classes()[0]
    entries: list[tuple[str, str, str, dict[str, Any]]] = []
    storages_setting = _setting("STORAGES")
    if isinstance(storages_setting, dict):
        for alias, config in storages_setting.items():
            if isinstance(config, dict) and isinstance(config.get("BACKEND"), str):
                options = config.get("OPTIONS") or {}
                entries.append((str(alias), f"STORAGES[{alias!r}]", config["BACKEND"], dict(options)))
    # Django 4.2 still honours the old settings, and they win over STORAGES (as in its StorageHandler).
    # The same backend in both is not a conflict: override_settings(STORAGES=...) sets the old names too.
    by_alias = {entry[0]: entry for entry in entries}
    for alias, (name, value) in compat.legacy_storage_backends().items():
        if alias in by_alias and by_alias[alias][2] == value:
            continue
        entries = [entry for entry in entries if entry[0] != alias]
        entries.append((alias, name, value, {}))

    found = []
    for alias, source, backend, options in entries:
        try:
            storage_class = import_string(backend)
        except ImportError:
            if _is_bkstorages_path(backend):
                found.append(ConfiguredStorage(alias, source, backend, None, options))
            continue
        if isinstance(storage_class, type) and issubclass(storage_class, base):
            found.append(ConfiguredStorage(alias, source, backend, storage_class, options))
    return found


def _message(problem: conf.Problem, label: str = "") -> checks.CheckMessage:
    check_id = CHECK_IDS[problem.kind]
    message = problem.message
    if label and problem.kind == "missing":
        message = f"{label} has no {problem.option}: {problem.message}"
    return report(check_id, message, problem.hint or None)


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------


def check_settings_types(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every BKREPO_* Django setting that is set has the right type and format."""
    return [_message(problem) for problem in conf.setting_problems()]


def check_legacy_storage_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """DEFAULT_FILE_STORAGE / STATICFILES_STORAGE are silently ignored from Django 5.1 on."""
    if compat.READS_LEGACY_STORAGE_SETTINGS:
        return []
    messages: list[checks.CheckMessage] = []
    storages_setting = _setting("STORAGES")
    storages_setting = storages_setting if isinstance(storages_setting, dict) else {}
    for name, alias, check_id in (
        ("DEFAULT_FILE_STORAGE", "default", "bkstorages.W001"),
        ("STATICFILES_STORAGE", "staticfiles", "bkstorages.W002"),
    ):
        value = _setting(name)
        if not isinstance(value, str) or not value:
            continue
        current = storages_setting.get(alias) or {}
        if isinstance(current, dict) and current.get("BACKEND") == value:
            continue  # STORAGES already says the same thing; the old setting is only dead weight
        messages.append(
            report(
                check_id,
                f"{name} = {value!r} is ignored: Django {django.get_version()} only reads the STORAGES setting.",
                f"Replace {name} with STORAGES, e.g.\n{_storages_example(storages_setting, alias, value)}",
            )
        )
    return messages


def _storages_example(current: dict[str, Any], alias: str, backend: str) -> str:
    defaults = {
        "default": "django.core.files.storage.FileSystemStorage",
        "staticfiles": "django.contrib.staticfiles.storage.StaticFilesStorage",
    }
    lines = ["STORAGES = {"]
    for key in ("default", "staticfiles"):
        if key == alias:
            value = backend
        else:
            config = current.get(key)
            value = config.get("BACKEND", defaults[key]) if isinstance(config, dict) else defaults[key]
        lines.append(f'    "{key}": {{"BACKEND": "{value}"}},')
    lines.append("}")
    return "\n".join(lines)


def check_configured_storages(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """Each configured bkstorages storage has what it needs, with sensible values."""
    messages: list[checks.CheckMessage] = []
    for storage in configured_storages():
        for message in _check_storage(storage):
            if message not in messages:  # an environment variable shared by several storages: once
                messages.append(message)
    return messages


def _check_storage(storage: ConfiguredStorage) -> Iterable[checks.CheckMessage]:
    if storage.storage_class is None:
        yield report(
            "bkstorages.E006",
            f"{storage.label}: the backend cannot be imported.",
            "Check the dotted path; the storages are bkstorages.backends.bkrepo.BKRepoStorage, "
            "BKRepoPublicStorage, BKRepoPrivateStorage and bkstorages_contrib.staticfiles.BKRepoStaticStorage "
            "(or BKRepoManifestStaticStorage).",
        )
        return

    from django.contrib.staticfiles.storage import ManifestFilesMixin

    extra = MANIFEST_OPTIONS if issubclass(storage.storage_class, ManifestFilesMixin) else frozenset()
    options = {key: value for key, value in storage.options.items() if key not in extra}
    resolution = conf.resolve(storage.storage_class, options, keyword_where=f"{storage.source}['OPTIONS'][{{key!r}}]")
    for problem in resolution.problems:
        if problem.source == conf.SETTING and problem.kind != "missing":
            continue  # check_settings_types reports the Django settings
        message = _message(problem, storage.label)
        if problem.kind == "missing":
            message.hint = (
                f"Set {problem.where.split(' or ')[0]} in your settings or environment, or pass "
                f"{problem.option!r} in {storage.source}['OPTIONS']."
            )
        yield message

    values = resolution.values
    missing_credentials = [name for name in ("username", "password") if not values.get(name)]
    if missing_credentials:
        names = " and ".join(f"BKREPO_{name.upper()}" for name in missing_credentials)
        yield report(
            "bkstorages.W003",
            f"{storage.label} has no {' or '.join(missing_credentials)}: only anonymous reads of public buckets "
            "will work.",
            f"Set {names} (or the matching OPTIONS) so that uploads, deletes and signed URLs work.",
        )

    from bkstorages.backends.bkrepo import BKRepoPrivateStorage
    from bkstorages_contrib.staticfiles import BKRepoStaticStorage

    bucket = values.get("bucket")
    if not bucket:
        return
    if issubclass(storage.storage_class, BKRepoPrivateStorage):
        public_bucket, _ = conf.lookup_setting("BKREPO_PUBLIC_BUCKET")
        if public_bucket == bucket:
            yield report(
                "bkstorages.E005",
                f"{storage.label} stores private files in bucket {bucket!r}, which is also BKREPO_PUBLIC_BUCKET.",
                "Anyone could download these files. Point BKREPO_PRIVATE_BUCKET at a private bk-repo "
                "repository that is not the public one.",
            )
    if issubclass(storage.storage_class, BKRepoStaticStorage):
        private_bucket, _ = conf.lookup_setting("BKREPO_PRIVATE_BUCKET")
        if private_bucket == bucket:
            yield report(
                "bkstorages.W004",
                f"{storage.label} serves static files from bucket {bucket!r}, which is BKREPO_PRIVATE_BUCKET.",
                "Static URLs are never signed, so browsers cannot load them from a private repository. "
                "Set BKREPO_STATIC_BUCKET (or BKREPO_PUBLIC_BUCKET) to a public repository.",
            )
