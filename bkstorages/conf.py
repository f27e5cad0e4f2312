"""Storage settings: the one place that reads ``BKREPO_*`` Django settings and environment variables.

Each option of a storage is resolved at its first use (and again after
Django's ``setting_changed`` for a ``BKREPO_*`` setting), in this order:

1. the keyword argument (``STORAGES[...]["OPTIONS"]`` arrive as keyword arguments);
2. a class attribute of the same name on a storage subclass;
3. the Django setting (``BKREPO_*``; a class may name another one, e.g.
   ``bucket_setting = "BKREPO_PUBLIC_BUCKET"``);
4. the environment variable of the same name;
5. the default in :data:`OPTIONS`, the one table of defaults.

:func:`resolve` never raises for a bad configuration: it returns the values
and a list of :class:`Problem` records. A storage raises the first one as
``ImproperlyConfigured`` (all missing settings at once); the system checks
in ``bkstorages_contrib.checks`` report every one. Messages name settings and
options, never the values of secrets.

Values written in Python (keyword, class attribute, Django setting) must have
their type (``False``, not ``"false"``); environment variables are text and
are parsed. The endpoint is the gateway root: a URL with credentials, a query
or fragment, or the ``/generic`` service suffix is refused.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import zoneinfo
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The client never imports Django, so it keeps the defaults of its own options;
# the table below takes them from there (one place for each number).
from bkstorages.client import DEFAULTS as _CLIENT_DEFAULTS
from bkstorages.client import metadata_headers

MiB = 1024 * 1024

__all__ = [
    "CLIENT_OPTIONS",
    "OPTIONS",
    "Option",
    "Problem",
    "Resolution",
    "file_upload_temp_dir",
    "raise_for",
    "resolve",
    "setting_problems",
    "settings_configured",
    "use_tz",
]

#: Where a value came from, in order of precedence.
KEYWORD = "keyword"
CLASS_ATTRIBUTE = "class attribute"
SETTING = "setting"
ENVIRONMENT = "environment"
DEFAULT = "default"


@dataclass(frozen=True)
class Option:
    """One storage option: its keyword, its setting/environment name and default.

    ``client`` options are passed to :class:`~bkstorages.client.BKGenericRepoClient` as they are.
    """

    name: str
    setting: str | None
    default: Any
    kind: str  # str | bool | float | int | optional_bool
    help: str
    aliases: tuple[str, ...] = ()
    required: bool = False
    secret: bool = False
    client: bool = False


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
    Option(
        "connect_timeout",
        "BKREPO_CONNECT_TIMEOUT",
        _CLIENT_DEFAULTS["connect_timeout"],
        "float",
        "seconds to wait for a connection",
        client=True,
    ),
    Option(
        "read_timeout",
        "BKREPO_READ_TIMEOUT",
        _CLIENT_DEFAULTS["read_timeout"],
        "float",
        "seconds to wait for each read from the server",
        client=True,
    ),
    Option(
        "deadline",
        "BKREPO_DEADLINE",
        _CLIENT_DEFAULTS["deadline"],
        "float",
        "seconds an operation may take for its requests, retries and waits",
        client=True,
    ),
    Option(
        "max_retries",
        "BKREPO_MAX_RETRIES",
        _CLIENT_DEFAULTS["max_retries"],
        "int",
        "retries of a failed idempotent request",
        client=True,
    ),
    Option(
        "backoff",
        "BKREPO_RETRY_BACKOFF",
        _CLIENT_DEFAULTS["backoff"],
        "float",
        "first retry delay in seconds, doubled each retry, with jitter",
        client=True,
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
        "host for signed URLs: the gateway root or its /generic root (default: bk-repo's generic domain)",
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
        _CLIENT_DEFAULTS["block_upload_threshold"],
        "int",
        "files larger than this many bytes use block upload",
        client=True,
    ),
    Option(
        "block_size",
        "BKREPO_BLOCK_SIZE",
        _CLIENT_DEFAULTS["block_size"],
        "int",
        "part size of block uploads in bytes",
        client=True,
    ),
    Option(
        "block_upload_workers",
        "BKREPO_BLOCK_UPLOAD_WORKERS",
        _CLIENT_DEFAULTS["block_upload_workers"],
        "int",
        "parts uploaded in parallel",
        client=True,
    ),
    Option(
        "list_page_size",
        "BKREPO_LIST_PAGE_SIZE",
        _CLIENT_DEFAULTS["list_page_size"],
        "int",
        "entries per listing request",
        client=True,
    ),
    Option(
        "verify_downloads",
        "BKREPO_VERIFY_DOWNLOADS",
        _CLIENT_DEFAULTS["verify_downloads"],
        "bool",
        "check the sha256 of every whole download against the object's ETag",
        client=True,
    ),
    Option("cache_control", "BKREPO_CACHE_CONTROL", None, "str", "Cache-Control stored with saved files"),
    Option("object_metadata", "BKREPO_OBJECT_METADATA", None, "dict", "metadata stored with saved files"),
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

OPTION_BY_NAME = {option.name: option for option in OPTIONS}
OPTION_NAMES = frozenset(OPTION_BY_NAME)
ALIASES = {alias: option.name for option in OPTIONS for alias in option.aliases}
#: The options the client takes as they are (derived from the table).
CLIENT_OPTIONS = tuple(option.name for option in OPTIONS if option.client)

# Settings that storage classes read instead of an option's own (``bucket_setting``,
# ``location_setting``), with the option whose rules they follow.
CLASS_SETTINGS = {
    "BKREPO_BUCKET": "bucket",
    "BKREPO_PUBLIC_BUCKET": "bucket",
    "BKREPO_PRIVATE_BUCKET": "bucket",
    "BKREPO_STATIC_BUCKET": "bucket",
    "BKREPO_STATIC_LOCATION": "location",
    "BKREPO_STATIC_CACHE_CONTROL": "cache_control",
    "BKREPO_BUCKET_PUBLIC": "public",
}
# Which buckets are public, by the first bucket setting of the class.
PUBLIC_BY_BUCKET_SETTING = {"BKREPO_PUBLIC_BUCKET": True, "BKREPO_PRIVATE_BUCKET": False}
# Only the plain bucket has a setting saying whether it is public.
PUBLIC_SETTING_BY_BUCKET_SETTING = {"BKREPO_BUCKET": "BKREPO_BUCKET_PUBLIC"}
# Django settings besides BKREPO_* that a resolution depends on.
OTHER_SETTINGS = frozenset({"FILE_UPLOAD_TEMP_DIR"})

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}
_EXPECTED = {
    "str": "a string",
    "bool": "a boolean",
    "optional_bool": "a boolean",
    "float": "a number",
    "int": "an integer",
    "dict": "a dict of strings (the environment variable: a JSON object)",
}
_POSITIVE_SECONDS = ("connect_timeout", "read_timeout", "deadline", "timeout")
_POSITIVE = ("block_size", "block_upload_workers", "list_page_size", "url_cache_size")
_NOT_NEGATIVE = ("max_retries", "block_upload_threshold", "max_memory_size", "backoff")

ENDPOINT_HINT = (
    "Use the bk-repo gateway address, e.g. 'https://bkrepo.example.com' "
    "(requests then go to {endpoint}/generic/... and {endpoint}/repository/...)."
)


# -- Problems --------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """One thing wrong with a storage's configuration.

    ``kind`` is ``missing``, ``endpoint``, ``type``, ``expiry``, ``value`` or
    ``unknown``; ``source`` is where the value came from (``keyword``,
    ``class attribute``, ``setting``, ``environment``, ``default``);
    ``where`` names it for people (``settings.BKREPO_ENDPOINT_URL``, ...).
    Neither ``message`` nor ``hint`` contains the value of a secret.
    """

    option: str
    source: str
    where: str
    kind: str
    message: str
    hint: str = ""
    setting: str | None = None


def raise_for(problems: list[Problem], owner: str) -> None:
    """Raise ``ImproperlyConfigured`` for the first problem; missing settings are all named at once."""
    if not problems:
        return
    missing = [problem for problem in problems if problem.kind == "missing"]
    if missing:
        names = ", ".join(problem.where for problem in missing)
        raise ImproperlyConfigured(
            f"{owner} is not configured: set {names} (Django settings, environment variables or storage OPTIONS)."
        )
    raise ImproperlyConfigured(f"{owner}: {problems[0].message}")


# -- Reading Django settings and the environment ---------------------------------


def settings_configured() -> bool:
    """Whether there are Django settings to read (a plain script may use storages without any)."""
    return bool(settings.configured)


def use_tz() -> bool:
    """Django's USE_TZ, read at call time (tests flip it with override_settings)."""
    return settings_configured() and bool(getattr(settings, "USE_TZ", False))


def file_upload_temp_dir() -> str | None:
    """Where to spool files to disk (Django's FILE_UPLOAD_TEMP_DIR, default the system's)."""
    if not settings_configured():
        return None
    return getattr(settings, "FILE_UPLOAD_TEMP_DIR", None)


def affects_storages(setting: str) -> bool:
    """Whether a change of this Django setting must drop the storages' resolved options."""
    return setting.startswith("BKREPO_") or setting in OTHER_SETTINGS


def _django_setting(name: str) -> Any:
    if not settings_configured():
        return None
    return getattr(settings, name, None)


def _is_unset(option: Option, value: Any, setting: str | None = None) -> bool:
    """None, or a blank string for a required option or a class's own setting (the next source is tried)."""
    blank = isinstance(value, str) and not value.strip()
    return value is None or (blank and (option.required or setting in CLASS_SETTINGS))


# -- Checking one value ----------------------------------------------------------


def endpoint_problem(value: str) -> str | None:
    """What is wrong with an endpoint URL (never quoting it), or None."""
    try:
        parts = urlsplit(value.strip())
        parts.port  # noqa: B018 - raises ValueError for a bad port
    except ValueError:
        return "it cannot be parsed (check the host and port)"
    if parts.scheme not in {"http", "https"}:
        return "it must start with http:// or https://"
    if not parts.hostname:
        return "it has no host name"
    if parts.username or parts.password:
        return "it must not contain credentials; set BKREPO_USERNAME and BKREPO_PASSWORD instead"
    if parts.query or parts.fragment:
        return "it must not contain a query string or fragment"
    if parts.path.rstrip("/").endswith("/generic"):
        return "it must be the gateway root, without the /generic service prefix"
    return None


def _describe(option: Option, value: Any) -> str:
    if option.secret:
        return type(value).__name__
    return f"{type(value).__name__} {value!r}"


def _type_hint(option: Option, name: str, value: Any) -> str:
    if option.kind in ("bool", "optional_bool"):
        example = "False" if str(value).strip().lower() in _FALSE | {""} else "True"
        return (
            f"Write {name} = {example} without quotes: any other code reading the setting sees a "
            "non-empty string such as 'false' as true."
        )
    if option.name == "url_expire_seconds":
        return f"Write {name} = 3600 (a number, without quotes)."
    if option.kind in ("float", "int"):
        return f"Write {name} as a number, without quotes."
    return f"Write {name} as a string, e.g. os.environ['{name}'] or '...'."


def _convert(option: Option, value: Any, source: str) -> tuple[Any, bool]:
    """``(value, ok)``: Python values must have their type; environment text is parsed."""
    kind = option.kind
    text = value.strip().lower() if isinstance(value, str) else None
    if kind == "str":
        return value, isinstance(value, str)
    if kind == "dict":  # the environment's is JSON text
        with contextlib.suppress(ValueError):
            value = json.loads(value) if source == ENVIRONMENT and isinstance(value, str) else value
        return (dict(value), True) if isinstance(value, Mapping) else (value, False)
    if kind in ("bool", "optional_bool"):
        if isinstance(value, bool):
            return value, True
        if source == ENVIRONMENT and text in _TRUE | _FALSE:
            return text in _TRUE, True
        return value, False
    if isinstance(value, bool):
        return value, False
    if source == ENVIRONMENT and isinstance(value, str):
        try:
            value = float(value) if kind == "float" else int(value)
        except ValueError:
            return value, False
        return value, True
    if kind == "float":
        return (float(value), True) if isinstance(value, (int, float)) else (value, False)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return int(value), True
    return value, False


def _value_problem(option: Option, value: Any) -> tuple[str, str, str] | None:
    """``(kind, what is wrong, hint)`` for a value of the right type, or None."""
    name = option.name
    if name == "endpoint_url":
        problem = endpoint_problem(value)
        return ("endpoint", f"is not a valid bk-repo endpoint URL: {problem}", ENDPOINT_HINT) if problem else None
    if name == "public_base_url" and value:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            return "value", "must be an http:// or https:// URL", "e.g. 'https://cdn.example.com/static-bucket'"
    if name == "url_expire_seconds" and not (value > 0 and math.isfinite(value)):
        return (
            "expiry",
            "must be a positive number of seconds; signed URLs that never expire are not offered",
            "Signed URLs need a finite lifetime; use e.g. 3600 for one hour.",
        )
    if name in _POSITIVE_SECONDS and value is not None and not value > 0:
        return "value", "must be a positive number of seconds", "e.g. 10"
    if name in _POSITIVE and not value > 0:
        return "value", "must be positive", ""
    if name in _NOT_NEGATIVE and value < 0:
        return "value", "must not be negative", ""
    if name == "time_zone":
        try:
            zoneinfo.ZoneInfo(value)
        except (ValueError, zoneinfo.ZoneInfoNotFoundError):
            return "value", "is not a known time zone", "e.g. 'Asia/Shanghai' or 'UTC'"
    if name in ("cache_control", "object_metadata") and value:
        try:
            metadata_headers({"Cache-Control": value} if name == "cache_control" else value)
        except ValueError as error:
            return "value", f"cannot be stored with files ({error})", ""
    if name == "location":
        from django.core.exceptions import SuspiciousFileOperation

        from bkstorages.backends.base import clean_name

        try:
            clean_name(value)
        except SuspiciousFileOperation as error:
            return "value", f"is not a valid location ({error})", "Use a relative folder such as 'media'."
    return None


def check_value(option: Option, value: Any, source: str, where: str, setting: str | None) -> tuple[Any, Problem | None]:
    """The converted value of ``option`` from ``source``, or a problem saying what is wrong."""
    converted, ok = _convert(option, value, source)
    hint_name = setting or option.name
    if not ok:
        message = f"{where} must be {_EXPECTED[option.kind]}, not {_describe(option, value)}."
        hint = _type_hint(option, hint_name, value)
        return None, Problem(option.name, source, where, "type", message, hint, setting)
    found = _value_problem(option, converted)
    if found:
        kind, what, hint = found
        return None, Problem(option.name, source, where, kind, f"{where} {what}.", hint, setting)
    return converted, None


def _where(source: str, option: Option, setting: str | None, key: str, cls_name: str, keyword_where: str) -> str:
    if source == KEYWORD:
        return keyword_where.format(key=key, setting=setting or option.name)
    if source == CLASS_ATTRIBUTE:
        return f"{cls_name}.{option.name}"
    if source == SETTING:
        return f"settings.{setting}"
    if source == ENVIRONMENT:
        return f"The environment variable {setting}"
    return option.name


# -- Resolving every option of a storage class -----------------------------------


@dataclass
class Resolution:
    """Resolved option values, where each came from, and what is wrong."""

    values: dict[str, Any] = field(default_factory=dict)
    sources: dict[str, str] = field(default_factory=dict)
    problems: list[Problem] = field(default_factory=list)


KEYWORD_WHERE = "The '{key}' option ({setting})"


def setting_names(storage_class: type, option: Option) -> tuple[str, ...]:
    """The Django settings (and environment variables) ``option`` is read from for ``storage_class``."""
    override = getattr(storage_class, f"{option.name}_setting", None)
    if option.name == "public":
        first = bucket_settings(storage_class)[0]
        override = PUBLIC_SETTING_BY_BUCKET_SETTING.get(first)
        return (override,) if override else ()
    if override is None:
        return (option.setting,) if option.setting else ()
    return (override,) if isinstance(override, str) else tuple(override)


def bucket_settings(storage_class: type) -> tuple[str, ...]:
    value = getattr(storage_class, "bucket_setting", "BKREPO_BUCKET")
    return (value,) if isinstance(value, str) else tuple(value)


def _class_value(storage_class: type, name: str) -> Any:
    # Storages keep the class attributes that shadow their resolved attributes in ``_class_values``.
    value = getattr(storage_class, "_class_values", {}).get(name)
    if value is None:
        value = getattr(storage_class, name, None)
    # Methods, properties and the storages' own attribute descriptors are no configuration.
    if value is None or callable(value) or hasattr(type(value), "__get__"):
        return None
    return value


def keyword_problems(
    storage_class: type, kwargs: Mapping[str, Any], keyword_where: str = KEYWORD_WHERE
) -> tuple[dict[str, tuple[str, Any]], list[Problem]]:
    """The given keywords by option (``{name: (key, value)}``) and the problems of the keywords alone."""
    cls_name = storage_class.__name__
    given: dict[str, tuple[str, Any]] = {}
    problems: list[Problem] = []
    for key, value in kwargs.items():
        name = ALIASES.get(key, key)
        if name not in OPTION_NAMES:
            where = keyword_where.format(key=key, setting=key)
            message = f"Invalid setting '{key}' for {cls_name}."
            hint = "The options are: " + ", ".join(sorted(OPTION_NAMES)) + "."
            problems.append(Problem(key, KEYWORD, where, "unknown", message, hint))
            continue
        if value is None:
            continue
        if name in given:
            where = keyword_where.format(key=key, setting=key)
            message = f"{cls_name} got both '{given[name][0]}' and '{key}' for the same option."
            problems.append(Problem(name, KEYWORD, where, "value", message))
            continue
        given[name] = (key, value)
        option = OPTION_BY_NAME[name]
        settings_ = setting_names(storage_class, option)
        where = _where(KEYWORD, option, settings_[0] if settings_ else None, key, cls_name, keyword_where)
        if not (option.required and isinstance(value, str) and not value.strip()):
            _value, problem = check_value(option, value, KEYWORD, where, settings_[0] if settings_ else None)
            if problem:
                problems.append(problem)
    return given, problems


def _lookup(storage_class: type, option: Option, given: Mapping[str, tuple[str, Any]]) -> tuple[Any, str, str | None]:
    """``(value, source, setting)`` of the first source that sets ``option``."""
    names = setting_names(storage_class, option)
    if option.name in given:
        return given[option.name][1], KEYWORD, names[0] if names else None
    class_value = _class_value(storage_class, option.name)
    if class_value is not None:
        return class_value, CLASS_ATTRIBUTE, names[0] if names else None
    for name in names:
        value = _django_setting(name)
        if not _is_unset(option, value, name):
            return value, SETTING, name
        value = os.environ.get(name)
        if not _is_unset(option, value, name):
            return value, ENVIRONMENT, name
    return None, DEFAULT, names[0] if names else None


def resolve(
    storage_class: type,
    kwargs: Mapping[str, Any],
    *,
    keyword_where: str = KEYWORD_WHERE,
    skip: Callable[[Option], bool] | None = None,
) -> Resolution:
    """Resolve every option for ``storage_class``: values, sources and every problem (never raises)."""
    cls_name = storage_class.__name__
    given, problems = keyword_problems(storage_class, kwargs, keyword_where)
    result = Resolution(problems=problems)
    problem_options = {problem.option for problem in problems}
    for option in OPTIONS:
        value, source, setting = _lookup(storage_class, option, given)
        key = given[option.name][0] if option.name in given else option.name
        where = _where(source, option, setting, key, cls_name, keyword_where)
        if source == DEFAULT:
            if option.name == "public":
                value = PUBLIC_BY_BUCKET_SETTING.get(bucket_settings(storage_class)[0])
            else:
                value = getattr(storage_class, f"{option.name}_default", option.default)
        if option.required and (value is None or (isinstance(value, str) and not value.strip())):
            names = setting_names(storage_class, option)
            missing_where = " or ".join(names) or option.name
            message = f"{missing_where} is not set."
            hint = (
                f"Set {names[0] if names else option.name} in your settings or environment, "
                f"or pass '{option.name}' in the storage's OPTIONS."
            )
            result.problems.append(Problem(option.name, source, missing_where, "missing", message, hint, setting))
            continue
        if source != DEFAULT and value is not None:
            if option.name in problem_options and source == KEYWORD:
                continue  # already reported with the keywords
            value, problem = check_value(option, value, source, where, setting)
            if problem:
                result.problems.append(problem)
                continue
        result.values[option.name] = value
        result.sources[option.name] = source
    values = result.values
    if "endpoint_url" in values:
        values["endpoint_url"] = values["endpoint_url"].strip().rstrip("/")
    if "location" in values:
        from bkstorages.backends.base import clean_name

        values["location"] = clean_name(values["location"])
    if values.get("timeout") is not None:
        # The 3.x single timeout is the default of both timeouts unless they are set themselves.
        for name in ("connect_timeout", "read_timeout"):
            if result.sources.get(name) == DEFAULT:
                values[name] = values["timeout"]
    return result


def setting_problems() -> list[Problem]:
    """Problems of every ``BKREPO_*`` Django setting that is set, each on its own."""
    problems: list[Problem] = []
    names: dict[str, Option] = {option.setting: option for option in OPTIONS if option.setting}
    names.update({name: OPTION_BY_NAME[option] for name, option in CLASS_SETTINGS.items()})
    for name, option in names.items():
        value = _django_setting(name)
        if value is None:
            continue
        if option.required and isinstance(value, str) and not value.strip():
            continue  # blank: reported as missing by the storages that need it
        _value, problem = check_value(option, value, SETTING, f"settings.{name}", name)
        if problem:
            problems.append(problem)
    return problems


def lookup_setting(name: str) -> tuple[Any, str]:
    """A ``BKREPO_*`` value and its source: the Django setting, else the environment variable."""
    value = _django_setting(name)
    if value is not None:
        return value, SETTING
    value = os.environ.get(name)
    if value is not None:
        return value, ENVIRONMENT
    return None, DEFAULT
