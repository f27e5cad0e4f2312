"""Storage settings: the one place that reads Django settings and the environment.

Each option is resolved when a storage is constructed, in this order:

1. the keyword argument (``STORAGES[...]["OPTIONS"]`` arrive as keyword arguments);
2. a class attribute of the same name on a storage subclass;
3. the Django setting (``BKREPO_*``);
4. the environment variable of the same name;
5. the documented default.

Nothing here runs at import time, so ``override_settings`` just works for
storages built inside it. Error messages name settings, never their values.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

MiB = 1024 * 1024

__all__ = ["OPTIONS", "Option", "file_upload_temp_dir", "resolve", "use_tz"]


@dataclass(frozen=True)
class Option:
    """One storage option: its keyword, its setting/environment name and default."""

    name: str
    setting: str | None
    default: Any
    kind: str  # str | bool | float | int | optional_bool
    help: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False


OPTIONS: tuple[Option, ...] = (
    Option(
        "endpoint_url",
        "BKREPO_ENDPOINT_URL",
        None,
        "str",
        "bk-repo gateway URL, e.g. https://bkrepo.example.com",
        required=True,
    ),
    Option(
        "username", "BKREPO_USERNAME", None, "str", "user for HTTP Basic auth (empty: anonymous, public reads only)"
    ),
    Option(
        "password",
        "BKREPO_PASSWORD",
        None,
        "str",
        "password for HTTP Basic auth; never logged or deconstructed",
        secret=True,
    ),
    Option("project", "BKREPO_PROJECT", None, "str", "bk-repo project id", aliases=("project_id",), required=True),
    # The bucket's setting name depends on the class (``bucket_setting``); see resolve().
    Option("bucket", None, None, "str", "repository name", required=True),
    Option("public", None, None, "optional_bool", "whether the repository is public (default: ask bk-repo once)"),
    Option(
        "location",
        "BKREPO_LOCATION",
        "",
        "str",
        "prefix (folder) inside the repository for every name",
        aliases=("root_path",),
    ),
    Option(
        "file_overwrite",
        "BKREPO_FILE_OVERWRITE",
        True,
        "bool",
        "replace files of the same name (False: Django picks a free name)",
    ),
    Option(
        "timeout",
        "BKREPO_TIMEOUT_THRESHOLD",
        None,
        "float",
        "3.x single timeout in seconds; the default of both timeouts below",
    ),
    Option("connect_timeout", "BKREPO_CONNECT_TIMEOUT", 10.0, "float", "seconds to wait for a connection"),
    Option("read_timeout", "BKREPO_READ_TIMEOUT", 30.0, "float", "seconds to wait for each read from the server"),
    Option(
        "deadline",
        "BKREPO_DEADLINE",
        120.0,
        "float",
        "seconds an operation may take for its requests, retries and waits",
    ),
    Option("max_retries", "BKREPO_MAX_RETRIES", 3, "int", "retries of a failed idempotent request"),
    Option(
        "backoff", "BKREPO_RETRY_BACKOFF", 0.2, "float", "first retry delay in seconds, doubled each retry, with jitter"
    ),
    Option(
        "url_expire_seconds",
        "BKREPO_URL_EXPIRE_SECONDS",
        3600,
        "int",
        "lifetime of signed URLs for private repositories",
    ),
    Option(
        "public_base_url",
        "BKREPO_PUBLIC_BASE_URL",
        None,
        "str",
        "base of public URLs (CDN / custom domain) instead of {endpoint}/generic/{project}/{bucket}",
    ),
    Option(
        "url_preview", "BKREPO_URL_PREVIEW", False, "bool", "add preview=true to URLs so browsers show files inline"
    ),
    Option(
        "temporary_url_host",
        "BKREPO_TEMPORARY_URL_HOST",
        None,
        "str",
        "host for signed URLs (default: bk-repo's generic domain)",
    ),
    Option(
        "url_cache_alias",
        "BKREPO_URL_CACHE_ALIAS",
        None,
        "str",
        "Django cache alias to share signed URLs between processes",
    ),
    Option("url_cache_size", "BKREPO_URL_CACHE_SIZE", 10000, "int", "signed URLs kept in memory per storage"),
    Option(
        "block_upload_threshold",
        "BKREPO_BLOCK_UPLOAD_THRESHOLD",
        1024 * MiB,
        "int",
        "files larger than this many bytes use block upload",
    ),
    Option("block_size", "BKREPO_BLOCK_SIZE", 16 * MiB, "int", "part size of block uploads in bytes"),
    Option("block_upload_workers", "BKREPO_BLOCK_UPLOAD_WORKERS", 4, "int", "parts uploaded in parallel"),
    Option("list_page_size", "BKREPO_LIST_PAGE_SIZE", 10_000, "int", "entries per listing request"),
    Option(
        "verify_downloads",
        "BKREPO_VERIFY_DOWNLOADS",
        True,
        "bool",
        "check the sha256 of every whole download against the object's ETag",
    ),
    Option(
        "max_memory_size",
        "BKREPO_MAX_MEMORY_SIZE",
        8 * MiB,
        "int",
        "bytes a written file keeps in memory before spooling to disk",
    ),
    Option(
        "time_zone",
        "BKREPO_TIME_ZONE",
        "Asia/Shanghai",
        "str",
        "time zone of bk-repo dates when the server does not say",
    ),
)

OPTION_NAMES = frozenset(option.name for option in OPTIONS)
ALIASES = {alias: option.name for option in OPTIONS for alias in option.aliases}

# Which buckets are public by the name of the setting the class reads.
PUBLIC_BY_BUCKET_SETTING = {"BKREPO_PUBLIC_BUCKET": True, "BKREPO_PRIVATE_BUCKET": False}
# Only the plain bucket has a setting saying whether it is public.
PUBLIC_SETTING_BY_BUCKET_SETTING = {"BKREPO_BUCKET": "BKREPO_BUCKET_PUBLIC"}

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def use_tz() -> bool:
    """Django's USE_TZ, read at call time (tests flip it with override_settings)."""
    return bool(getattr(settings, "USE_TZ", False))


def file_upload_temp_dir() -> str | None:
    """Where to spool files to disk (Django's FILE_UPLOAD_TEMP_DIR, default the system's)."""
    return getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)


def _convert(option: Option, value: Any, source: str) -> Any:
    kind = option.kind
    try:
        if kind == "str":
            if not isinstance(value, str):
                raise TypeError
            return value
        if kind in ("bool", "optional_bool"):
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE | _FALSE:
                return value.strip().lower() in _TRUE
            raise TypeError
        if kind == "float":
            if isinstance(value, bool):
                raise TypeError
            return float(value)
        if kind == "int":
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise TypeError
            return int(value)
    except (TypeError, ValueError):
        pass
    expected = {
        "str": "a string",
        "bool": "a boolean",
        "optional_bool": "a boolean",
        "float": "a number",
        "int": "an integer",
    }
    raise ImproperlyConfigured(f"{source} must be {expected[kind]}.")


@dataclass(frozen=True)
class Resolved:
    """The resolved options (``values``) and the keyword arguments the caller gave (``given``)."""

    values: Mapping[str, Any]
    given: Mapping[str, Any]


def resolve(storage_class: type, kwargs: Mapping[str, Any], bucket_setting: str) -> Resolved:
    """Resolve every option for ``storage_class`` from ``kwargs``, class attributes, settings and environment."""
    cls_name = storage_class.__name__
    given: dict[str, Any] = {}
    for key, value in kwargs.items():
        name = ALIASES.get(key, key)
        if name not in OPTION_NAMES:
            raise ImproperlyConfigured(f"Invalid setting '{key}' for {cls_name}.")
        if name in given and value is not None:
            raise ImproperlyConfigured(f"{cls_name} got both '{key}' and another name for the same option.")
        if value is not None or name not in given:
            given[name] = value

    values: dict[str, Any] = {}
    explicit: set[str] = set()
    missing: list[str] = []
    for option in OPTIONS:
        setting_name = option.setting
        if option.name == "bucket":
            setting_name = bucket_setting
        elif option.name == "public":
            setting_name = PUBLIC_SETTING_BY_BUCKET_SETTING.get(bucket_setting)
        value, source = _lookup(storage_class, option, given, setting_name)
        if value is not None:
            explicit.add(option.name)
        if value is None:
            value = PUBLIC_BY_BUCKET_SETTING.get(bucket_setting) if option.name == "public" else option.default
        elif not (option.kind == "str" and isinstance(value, str) and not value.strip() and option.required):
            value = _convert(option, value, source)
        if option.required and (value is None or (isinstance(value, str) and not value.strip())):
            missing.append(setting_name or option.name)
            continue
        values[option.name] = value
    if missing:
        names = ", ".join(missing)
        raise ImproperlyConfigured(
            f"{cls_name} is not configured: set {names} (Django settings, environment variables or storage OPTIONS)."
        )
    _validate(cls_name, values, explicit)
    return Resolved(values=values, given=given)


def _lookup(storage_class: type, option: Option, given: Mapping[str, Any], setting_name: str | None) -> tuple[Any, str]:
    value = given.get(option.name)
    if value is not None:
        return value, f"The '{option.name}' option"
    class_value = getattr(storage_class, option.name, None)
    if class_value is not None and not isinstance(class_value, property) and not callable(class_value):
        return class_value, f"{storage_class.__name__}.{option.name}"
    if setting_name:
        value = getattr(settings, setting_name, None)
        if value is not None:
            return value, f"settings.{setting_name}"
        env = os.environ.get(setting_name)
        if env is not None and (env.strip() or not option.required):
            return env, f"The environment variable {setting_name}"
    return None, option.name


def _validate(cls_name: str, values: dict[str, Any], explicit: set[str]) -> None:
    endpoint = values["endpoint_url"].strip()
    parts = urlsplit(endpoint)
    if parts.scheme not in ("http", "https") or not parts.netloc:
        raise ImproperlyConfigured(f"{cls_name}: BKREPO_ENDPOINT_URL must be an http:// or https:// URL.")
    values["endpoint_url"] = endpoint.rstrip("/")
    if values["timeout"] is not None:
        # The 3.x single timeout is the default of both timeouts unless they are set themselves.
        for name in ("connect_timeout", "read_timeout"):
            if name not in explicit:
                values[name] = values["timeout"]
    for name in ("connect_timeout", "read_timeout", "deadline", "backoff"):
        if values[name] is None or values[name] < 0 or (name != "backoff" and values[name] == 0):
            raise ImproperlyConfigured(f"{cls_name}: the '{name}' option must be a positive number of seconds.")
    if values["url_expire_seconds"] <= 0:
        raise ImproperlyConfigured(
            f"{cls_name}: BKREPO_URL_EXPIRE_SECONDS (url_expire_seconds) must be positive; "
            "signed URLs that never expire are not offered."
        )
    for name in ("block_size", "block_upload_workers", "list_page_size", "url_cache_size"):
        if values[name] <= 0:
            raise ImproperlyConfigured(f"{cls_name}: the '{name}' option must be positive.")
    for name in ("max_retries", "block_upload_threshold", "max_memory_size"):
        if values[name] < 0:
            raise ImproperlyConfigured(f"{cls_name}: the '{name}' option must not be negative.")
    if values["public_base_url"]:
        base = urlsplit(values["public_base_url"])
        if base.scheme not in ("http", "https") or not base.netloc:
            raise ImproperlyConfigured(f"{cls_name}: BKREPO_PUBLIC_BASE_URL must be an http:// or https:// URL.")
    try:
        import zoneinfo

        zoneinfo.ZoneInfo(values["time_zone"])
    except (ValueError, KeyError, zoneinfo.ZoneInfoNotFoundError):
        raise ImproperlyConfigured(f"{cls_name}: BKREPO_TIME_ZONE is not a known time zone.") from None


def settings_table() -> list[tuple[str, str, str, str]]:
    """(setting, keyword, default, meaning) rows, for documentation."""
    rows = []
    for option in OPTIONS:
        setting_name = option.setting or ("BKREPO_BUCKET" if option.name == "bucket" else "BKREPO_BUCKET_PUBLIC")
        rows.append((setting_name, option.name, repr(option.default), option.help))
    return rows
