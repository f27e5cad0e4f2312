"""Django system checks for the bkstorages settings (``manage.py check``).

The checks only read Django settings and environment variables; they never
talk to bk-repo (``manage.py bkrepo_check`` does that). Every message has an
id and a hint saying how to fix it.

=================  ============================================================
Id                 Problem
=================  ============================================================
bkstorages.E001    a required setting is missing for a configured storage
bkstorages.E002    the endpoint URL is malformed
bkstorages.E003    a setting or option has the wrong type (e.g. ``"false"``)
bkstorages.E004    the signed-URL expiry is not a positive number
bkstorages.E005    a private storage uses the public bucket
bkstorages.E006    a storage ``BACKEND`` inside bkstorages cannot be imported
bkstorages.E007    a storage's ``OPTIONS`` contain an unknown key
bkstorages.W001    ``DEFAULT_FILE_STORAGE`` is set but ignored (Django >= 5.1)
bkstorages.W002    ``STATICFILES_STORAGE`` is set but ignored (Django >= 5.1)
bkstorages.W003    no username or password: only public reads will work
bkstorages.W004    the static storage points at the private bucket
=================  ============================================================
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import django
from django.apps import AppConfig
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string

from bkstorages import conf

# Settings bkstorages_contrib adds (the static storage), and the per-class bucket settings.
EXTRA_STRING_SETTINGS = (
    "BKREPO_BUCKET",
    "BKREPO_PUBLIC_BUCKET",
    "BKREPO_PRIVATE_BUCKET",
    "BKREPO_STATIC_BUCKET",
    "BKREPO_STATIC_LOCATION",
)
EXTRA_BOOL_SETTINGS = ("BKREPO_BUCKET_PUBLIC",)
# Keyword arguments a manifest storage takes besides the bkstorages options.
MANIFEST_OPTIONS = frozenset({"manifest_location", "manifest_storage", "manifest_strict"})

_MISSING: Any = object()


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
    return getattr(settings, name, _MISSING)


def _lookup(name: str) -> tuple[Any, str]:
    """A BKREPO_* value and where it came from, looked up as bkstorages does (setting, then environment)."""
    value = _setting(name)
    if value is not _MISSING and value is not None:
        return value, f"settings.{name}"
    env = os.environ.get(name)
    if env is not None:
        return env, f"environment variable {name}"
    return _MISSING, name


def _is_blank(value: Any) -> bool:
    return value is _MISSING or value is None or (isinstance(value, str) and not value.strip())


def _option_by_name() -> dict[str, conf.Option]:
    """Every storage keyword (aliases included, e.g. ``project_id``) -> its option."""
    found = {}
    for option in conf.OPTIONS:
        found[option.name] = option
        for alias in option.aliases:
            found[alias] = option
    return found


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
    if django.VERSION < (5, 1):
        # Django 4.2 still honours the old settings, and they win over STORAGES (as in its StorageHandler).
        # The same backend in both is not a conflict: override_settings(STORAGES=...) sets the old names too.
        by_alias = {entry[0]: entry for entry in entries}
        for alias, name in (("default", "DEFAULT_FILE_STORAGE"), ("staticfiles", "STATICFILES_STORAGE")):
            value = _setting(name)
            if not isinstance(value, str) or not settings.is_overridden(name):  # type: ignore[misc]  # missing from django-stubs
                continue
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


def bucket_settings_for(storage_class: type) -> Sequence[str]:
    """The bucket settings a storage class reads, in the order it tries them."""
    static = _bkstorages_classes()[3]
    if issubclass(storage_class, static):
        return ("BKREPO_STATIC_BUCKET", "BKREPO_PUBLIC_BUCKET")
    return (str(getattr(storage_class, "bucket_setting", "BKREPO_BUCKET")),)


def resolve_option(storage: ConfiguredStorage, name: str) -> tuple[Any, str]:
    """The value option ``name`` gets for a configured storage (OPTIONS > class > settings > environment)."""
    option = _option_by_name()[name]
    for key in (option.name, *option.aliases):
        if storage.options.get(key) is not None:
            return storage.options[key], f"{storage.source}['OPTIONS'][{key!r}]"
    if storage.storage_class is not None:
        class_value = getattr(storage.storage_class, option.name, None)
        if class_value is not None and not callable(class_value) and not isinstance(class_value, property):
            return class_value, f"{storage.storage_class.__name__}.{option.name}"
    if option.name == "bucket" and storage.storage_class is not None:
        names: Sequence[str] = bucket_settings_for(storage.storage_class)
    else:
        names = (option.setting,) if option.setting else ()
    for setting_name in names:
        value, where = _lookup(setting_name)
        if not _is_blank(value):
            return value, where
    return _MISSING, " or ".join(names) or name


# --------------------------------------------------------------------------
# Value validation, shared by settings and STORAGES OPTIONS
# --------------------------------------------------------------------------


def _endpoint_problem(value: str) -> str | None:
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError as exc:
        return f"it cannot be parsed ({exc})"
    if parts.scheme not in {"http", "https"}:
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if parts.query or parts.fragment:
        return "it must not contain a query string or fragment"
    if parts.username or parts.password:
        return "it must not contain credentials; use BKREPO_USERNAME and BKREPO_PASSWORD"
    if parts.path.rstrip("/").endswith("/generic"):
        return "it must be the gateway root, without the /generic service prefix"
    return None


def _kind(option: conf.Option) -> str:
    if option.name == "endpoint_url":
        return "endpoint"
    if option.name == "url_expire_seconds":
        return "expiry"
    return {"str": "string", "bool": "bool", "optional_bool": "bool", "float": "number", "int": "number"}.get(
        option.kind, "any"
    )


def _value_errors(name: str, kind: str, value: Any) -> list[checks.CheckMessage]:
    """Type and format problems of one value; ``name`` says where it was set."""
    if kind == "string" and not isinstance(value, str):
        return [
            checks.Error(
                f"{name} must be a string, not {type(value).__name__}.",
                hint=f"Write {name} as a string, e.g. os.environ['BKREPO_...'] or '...'.",
                id="bkstorages.E003",
            )
        ]
    if kind == "endpoint":
        if not isinstance(value, str):
            return _value_errors(name, "string", value)
        problem = _endpoint_problem(value)
        if problem:
            return [
                checks.Error(
                    f"{name} is not a valid bk-repo endpoint URL: {problem}.",
                    hint="Use the bk-repo gateway address, e.g. 'https://bkrepo.example.com' "
                    "(requests then go to {endpoint}/generic/... and {endpoint}/repository/...).",
                    id="bkstorages.E002",
                )
            ]
    if kind == "bool" and not isinstance(value, bool):
        example = "False" if str(value).strip().lower() in {"false", "0", "no", "off", ""} else "True"
        return [
            checks.Error(
                f"{name} must be True or False, not {type(value).__name__} {value!r}.",
                hint=f"Write {name} = {example} without quotes: any other code reading the setting sees a "
                "non-empty string such as 'false' as true.",
                id="bkstorages.E003",
            )
        ]
    if kind in {"number", "expiry"} and (isinstance(value, bool) or not isinstance(value, (int, float))):
        return [
            checks.Error(
                f"{name} must be a number, not {type(value).__name__} {value!r}.",
                hint=f"Write {name} = 3600 (a number, without quotes)."
                if kind == "expiry"
                else f"Write {name} as a number, without quotes.",
                id="bkstorages.E003",
            )
        ]
    if kind == "expiry" and not (value > 0 and math.isfinite(value)):
        return [
            checks.Error(
                f"{name} must be a positive number of seconds, not {value!r}.",
                hint="Signed URLs need a finite lifetime; use e.g. 3600 for one hour.",
                id="bkstorages.E004",
            )
        ]
    return []


# --------------------------------------------------------------------------
# The checks
# --------------------------------------------------------------------------


def check_settings_types(app_configs: Sequence[AppConfig] | None = None, **kwargs: Any) -> list[checks.CheckMessage]:
    """Every BKREPO_* Django setting that is set has the right type and format."""
    wanted: dict[str, str] = dict.fromkeys(EXTRA_STRING_SETTINGS, "string")
    wanted.update(dict.fromkeys(EXTRA_BOOL_SETTINGS, "bool"))
    for option in conf.OPTIONS:
        if option.setting:
            wanted[option.setting] = _kind(option)
    messages: list[checks.CheckMessage] = []
    for name, kind in wanted.items():
        value = _setting(name)
        if value is _MISSING or value is None:
            continue
        messages.extend(_value_errors(f"settings.{name}", kind, value))
    return messages


def check_legacy_storage_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[checks.CheckMessage]:
    """DEFAULT_FILE_STORAGE / STATICFILES_STORAGE are silently ignored from Django 5.1 on."""
    if django.VERSION < (5, 1):
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
            checks.Warning(
                f"{name} = {value!r} is ignored: Django {django.get_version()} only reads the STORAGES setting.",
                hint=f"Replace {name} with STORAGES, e.g.\n{_storages_example(storages_setting, alias, value)}",
                id=check_id,
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
        messages.extend(_check_storage(storage))
    return messages


def _check_storage(storage: ConfiguredStorage) -> Iterable[checks.CheckMessage]:
    if storage.storage_class is None:
        yield checks.Error(
            f"{storage.label}: the backend cannot be imported.",
            hint="Check the dotted path; the storages are bkstorages.backends.bkrepo.BKRepoStorage, "
            "BKRepoPublicStorage, BKRepoPrivateStorage and bkstorages_contrib.staticfiles.BKRepoStaticStorage "
            "(or BKRepoManifestStaticStorage).",
            id="bkstorages.E006",
        )
        return

    options = _option_by_name()
    from django.contrib.staticfiles.storage import ManifestFilesMixin

    extra = MANIFEST_OPTIONS if issubclass(storage.storage_class, ManifestFilesMixin) else frozenset()
    for key, value in storage.options.items():
        if key in extra:
            continue
        if key not in options:
            yield checks.Error(
                f"{storage.source}['OPTIONS'] has an unknown key {key!r}.",
                hint="The options are: " + ", ".join(sorted(o.name for o in conf.OPTIONS)) + ".",
                id="bkstorages.E007",
            )
        elif value is not None:
            yield from _value_errors(f"{storage.source}['OPTIONS'][{key!r}]", _kind(options[key]), value)

    for option in conf.OPTIONS:
        if not option.required:
            continue
        value, where = resolve_option(storage, option.name)
        if _is_blank(value):
            yield checks.Error(
                f"{storage.label} has no {option.name}: {where} is not set.",
                hint=f"Set {where.split(' or ')[0]} in your settings or environment, or pass "
                f"{option.name!r} in {storage.source}['OPTIONS'].",
                id="bkstorages.E001",
            )

    missing_credentials = [name for name in ("username", "password") if _is_blank(resolve_option(storage, name)[0])]
    if missing_credentials:
        names = " and ".join(f"BKREPO_{name.upper()}" for name in missing_credentials)
        yield checks.Warning(
            f"{storage.label} has no {' or '.join(missing_credentials)}: only anonymous reads of public buckets "
            "will work.",
            hint=f"Set {names} (or the matching OPTIONS) so that uploads, deletes and signed URLs work.",
            id="bkstorages.W003",
        )

    _, _, private, static = _bkstorages_classes()
    bucket, _ = resolve_option(storage, "bucket")
    if _is_blank(bucket):
        return
    if issubclass(storage.storage_class, private):
        public_bucket, _ = _lookup("BKREPO_PUBLIC_BUCKET")
        if public_bucket == bucket:
            yield checks.Error(
                f"{storage.label} stores private files in bucket {bucket!r}, which is also BKREPO_PUBLIC_BUCKET.",
                hint="Anyone could download these files. Point BKREPO_PRIVATE_BUCKET at a private bk-repo "
                "repository that is not the public one.",
                id="bkstorages.E005",
            )
    if issubclass(storage.storage_class, static):
        private_bucket, _ = _lookup("BKREPO_PRIVATE_BUCKET")
        if private_bucket == bucket:
            yield checks.Warning(
                f"{storage.label} serves static files from bucket {bucket!r}, which is BKREPO_PRIVATE_BUCKET.",
                hint="Static URLs are never signed, so browsers cannot load them from a private repository. "
                "Set BKREPO_STATIC_BUCKET (or BKREPO_PUBLIC_BUCKET) to a public repository.",
                id="bkstorages.W004",
            )
