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

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

# The option table (bkstorages.options) and the checks of one value (bkstorages.validation)
# read nothing; they are re-exported here so that ``conf`` stays the one entry point.
from bkstorages.options import (
    ALIASES,
    CLASS_ATTRIBUTE,
    CLASS_SETTINGS,
    CLIENT_OPTIONS,
    DEFAULT,
    ENVIRONMENT,
    KEYWORD,
    OPTION_BY_NAME,
    OPTION_NAMES,
    OPTIONS,
    OTHER_SETTINGS,
    PUBLIC_BY_BUCKET_SETTING,
    PUBLIC_SETTING_BY_BUCKET_SETTING,
    SETTING,
    Option,
)
from bkstorages.options import MiB as MiB
from bkstorages.validation import ENDPOINT_HINT as ENDPOINT_HINT
from bkstorages.validation import Problem, check_value
from bkstorages.validation import endpoint_problem as endpoint_problem

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


# -- Problems --------------------------------------------------------------------


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
        from bkstorages.backends.names import clean_name

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
